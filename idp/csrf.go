package idp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// csrfMAC is the CSRF token of a form bound to parts (a flow or session
// id, the browser id, a purpose): an HMAC under the key derived from
// IDP_SECRET, so a token needs no storage and cannot be made without the
// secret. Parts are joined with NUL, which none of them contains.
func csrfMAC(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfFor is the token to put in a form bound to parts.
func (s *Server) csrfFor(parts ...string) string { return csrfMAC(s.csrfKey, parts...) }

// csrfValid checks a posted token against parts under the current key and
// those of IDP_SECRET_OLD, so a page served just before a secret rotation
// can still be posted. Every key is tried, in constant time each.
func (s *Server) csrfValid(got string, parts ...string) bool {
	if got == "" {
		return false
	}
	ok := false
	for _, key := range append([][]byte{s.csrfKey}, s.csrfOld...) {
		ok = hmac.Equal([]byte(got), []byte(csrfMAC(key, parts...))) || ok
	}
	return ok
}
