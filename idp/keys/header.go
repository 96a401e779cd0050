package keys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// jwtParser reads a compact JWS header without verifying anything; only
// the kid is taken from it, to choose the key that then verifies.
type jwtParser struct{}

func (jwtParser) parseUnverified(token string) (map[string]any, string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, "", errors.New("malformed token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, "", errors.New("malformed token header")
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, "", errors.New("malformed token header")
	}
	return h, head, nil
}
