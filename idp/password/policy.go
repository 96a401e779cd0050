package password

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Rules for a new password, after NIST SP 800-63B 5.1.1.2: long enough,
// long ones allowed, no composition rules, and refused when it is one
// that attackers try first.
const (
	MinLength = 8
	MaxLength = 256
)

// Why a new password is refused.
var (
	ErrTooShort = fmt.Errorf("password: shorter than %d characters", MinLength)
	ErrTooLong  = fmt.Errorf("password: longer than %d characters", MaxLength)
	ErrCommon   = errors.New("password: one of the most common passwords, found in breaches")
	ErrContext  = errors.New("password: the username, or one character repeated")
)

//go:embed common.txt
var commonList string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

func commonSet() map[string]struct{} {
	commonOnce.Do(func() {
		common = make(map[string]struct{}, 18000)
		for _, line := range strings.Split(commonList, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				common[line] = struct{}{}
			}
		}
	})
	return common
}

// CheckNew applies the rules to a password chosen for username.
func CheckNew(pw, username string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return ErrTooShort
	case n > MaxLength:
		return ErrTooLong
	}
	lower := strings.ToLower(pw)
	if _, ok := commonSet()[lower]; ok {
		return ErrCommon
	}
	if name := strings.ToLower(username); name != "" && strings.Contains(lower, name) {
		// What is left once every copy of the username is taken out is
		// what an attacker who knows the username must guess:
		// "carol-carol" leaves "-".
		rest := strings.ReplaceAll(lower, name, "")
		if utf8.RuneCountInString(rest) <= 4 || oneRune(rest) {
			return ErrContext
		}
	}
	if oneRune(pw) {
		return ErrContext
	}
	return nil
}

// oneRune reports whether s is one character repeated (or empty).
func oneRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(first)) == ""
}
