package keys

import (
	"context"
	"errors"

	"github.com/ory/fosite/token/jwt"
)

// Signer is the jwt.Signer fosite signs ID tokens with. It signs with the
// active key, stamping its kid, and verifies (id_token_hint) with the key
// the token names, so tokens signed before a rotation still decode.
type Signer struct {
	Keys *Manager
	Alg  string
}

var _ jwt.Signer = (*Signer)(nil)

func (s *Signer) active() (*Key, error) { return s.Keys.Active(s.Alg) }

// Generate implements jwt.Signer.
func (s *Signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	k, err := s.active()
	if err != nil {
		return "", "", err
	}
	h := &jwt.Headers{Extra: map[string]interface{}{}}
	if header != nil {
		for key, v := range header.ToMap() {
			h.Add(key, v)
		}
	}
	h.Add("kid", k.KID)
	d := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return k.Private, nil }}
	return d.Generate(ctx, claims, h)
}

// keyFor picks the key a token names in its header.
func (s *Signer) keyFor(token string) (*Key, error) {
	t, _, err := new(jwtParser).parseUnverified(token)
	if err != nil {
		return nil, err
	}
	if kid, _ := t["kid"].(string); kid != "" {
		if k, ok := s.Keys.ByKID(kid); ok {
			return k, nil
		}
		return nil, errors.New("token signed by an unknown key")
	}
	return s.active()
}

func (s *Signer) defaultFor(token string) (*jwt.DefaultSigner, error) {
	k, err := s.keyFor(token)
	if err != nil {
		return nil, err
	}
	return &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return k.Private, nil }}, nil
}

// Validate implements jwt.Signer.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	d, err := s.defaultFor(token)
	if err != nil {
		return "", err
	}
	return d.Validate(ctx, token)
}

// Decode implements jwt.Signer.
func (s *Signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	d, err := s.defaultFor(token)
	if err != nil {
		return nil, err
	}
	return d.Decode(ctx, token)
}

// GetSignature implements jwt.Signer.
func (s *Signer) GetSignature(ctx context.Context, token string) (string, error) {
	return (&jwt.DefaultSigner{}).GetSignature(ctx, token)
}

// Hash implements jwt.Signer (at_hash and c_hash use SHA-256 for both
// RS256 and ES256).
func (s *Signer) Hash(ctx context.Context, in []byte) ([]byte, error) {
	return (&jwt.DefaultSigner{}).Hash(ctx, in)
}

// GetSigningMethodLength implements jwt.Signer.
func (s *Signer) GetSigningMethodLength(ctx context.Context) int {
	return (&jwt.DefaultSigner{}).GetSigningMethodLength(ctx)
}
