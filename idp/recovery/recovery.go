// Package recovery makes and reads recovery codes: single-use codes a
// user saves for the day their phone is lost, typed instead of an SMS
// PIN.
//
// A code is 16 characters of Crockford's base32 (no I, L, O or U, so no
// letter looks like a digit), shown in groups of four: abcd-efgh-jkmn-pqrs.
// The first four are its public id (20 bits), by which the one stored
// code it may be is found; the other twelve its secret (60 bits), of
// which only a slow hash is stored. Checking a code so costs one hash,
// never one a stored code.
package recovery

import (
	"crypto/rand"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// alphabet is Crockford's base32, lower case.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Lengths of a code's parts, in characters.
const (
	IDLength     = 4
	SecretLength = 12
)

// Count is how many codes a set holds.
const Count = 10

// Code is one recovery code.
type Code struct {
	ID     string // public: finds the stored code
	Secret string // stored only as a slow hash
}

// String is the code as shown to the user, in groups of four.
func (c Code) String() string {
	s := c.ID + c.Secret
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// New makes a set of n codes with distinct ids, from crypto/rand.
func New(n int) []Code {
	out := make([]Code, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		c := Code{ID: random(IDLength), Secret: random(SecretLength)}
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	return out
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(b)
}

// Parse reads a code as people type it: in any case, with or without
// hyphens and spaces, in full-width characters from a Japanese input
// method, and with the letters Crockford reads as digits (O as 0, I and
// L as 1). It reports false for anything that is not a code.
func Parse(typed string) (Code, bool) {
	if len(typed) > 200 {
		return Code{}, false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(norm.NFKC.String(typed)) {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == 'ー':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 127 || !strings.ContainsRune(alphabet, r) {
			return Code{}, false
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) != IDLength+SecretLength {
		return Code{}, false
	}
	return Code{ID: s[:IDLength], Secret: s[IDLength:]}, true
}
