package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// MaxUsernameLength bounds a username, in characters, after normalisation.
const MaxUsernameLength = 128

// ErrInvalidUsername is wrapped by NormalizeUsername's errors.
var ErrInvalidUsername = errors.New("invalid username")

// NormalizeUsername returns the one spelling under which a username is
// stored and looked up, so that "Alice", "alice" and "ａｌｉｃｅ"
// (full width) are one user. It is the PRECIS UsernameCaseMapped profile
// of RFC 8265 section 3.3: full- and half-width forms mapped to their
// ordinary ones, lower case, Unicode NFC, and the IdentifierClass of
// RFC 8264 (letters and digits of any script and printable ASCII such as
// . _ - @ +; no spaces, controls or symbols). Spaces around the name are
// dropped first, since operators and users paste them; spaces inside are
// refused. The result has 1 to MaxUsernameLength characters.
//
// Every way a username comes in applies it: creating and importing users
// (Store.CreateUser, the import), the sign-in form and every lookup by
// name (Store.UserByUsername compares the normal form as given), and the
// throttle key of the account, so that another spelling is neither
// another account nor another allowance of password tries.
func NormalizeUsername(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidUsername)
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidUsername)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: control character %U", ErrInvalidUsername, r)
		case unicode.IsSpace(r):
			return "", fmt.Errorf("%w: a space inside", ErrInvalidUsername)
		}
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q has a character a username cannot have (letters, digits and . _ - @ + are fine)", ErrInvalidUsername, s)
	}
	if c := utf8.RuneCountInString(n); c > MaxUsernameLength {
		return "", fmt.Errorf("%w: %d characters, more than %d", ErrInvalidUsername, c, MaxUsernameLength)
	}
	return n, nil
}
