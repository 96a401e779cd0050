// Package dpop checks DPoP proofs (RFC 9449): the JWT a client signs with
// its own key for each request, so that a token bound to that key is
// useless to whoever steals it. It knows nothing of storage: the caller
// spends each proof's ID once (Proof.ReplayKey) and compares the key's
// thumbprint (Proof.JKT) with the one a token is bound to.
package dpop

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algs are the signature algorithms accepted for proofs: asymmetric only,
// since the verifier must not share the signer's secret (section 4.2).
var Algs = []string{"ES256", "EdDSA", "RS256"}

var joseAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// Window is how far a proof's iat may be from our clock, either way.
const Window = 60 * time.Second

// Header is the request header that carries a proof.
const Header = "DPoP"

// ErrInvalid is every refusal of a proof; its text says what is wrong.
var ErrInvalid = errors.New("invalid DPoP proof")

// ErrNonce means a nonce is required and the proof has none, or an old
// one: the client retries with the nonce in the DPoP-Nonce header.
var ErrNonce = errors.New("a DPoP nonce is required")

// Proof is a checked proof.
type Proof struct {
	JKT string    // the key's JWK SHA-256 thumbprint (RFC 7638), base64url
	JTI string    // the proof's own ID
	IAT time.Time // when the client made it
}

// ReplayKey is what the caller remembers to spend the proof once: its ID
// for this key (section 11.1).
func (p *Proof) ReplayKey() string { return p.JKT + " " + p.JTI }

// Expect says what a proof must match.
type Expect struct {
	Method string // the request's method (htm)
	URL    string // the request's URL without query and fragment (htu)
	// AccessToken, at a resource, is the token the proof must name (ath).
	AccessToken string
	Now         time.Time
	// Nonce, if set, checks the proof's nonce; nil means no nonce is needed.
	Nonce func(string) bool
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Check verifies one proof, compact-serialised, against what it must match.
func Check(proof string, want Expect) (*Proof, error) {
	if proof == "" || strings.Count(proof, ".") != 2 {
		return nil, invalid("the DPoP header is not one JWT")
	}
	jws, err := jose.ParseSigned(proof, joseAlgs)
	if err != nil {
		return nil, invalid("the proof is not a JWS signed with %s", strings.Join(Algs, ", "))
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("the proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, invalid("typ must be dpop+jwt")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() {
		return nil, invalid("the header must carry the public key (jwk)")
	}
	if !jwk.IsPublic() {
		return nil, invalid("the jwk must be a public key")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, invalid("the signature does not verify with the jwk")
	}
	var c struct {
		JTI   string      `json:"jti"`
		HTM   string      `json:"htm"`
		HTU   string      `json:"htu"`
		IAT   json.Number `json:"iat"`
		ATH   string      `json:"ath"`
		Nonce string      `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("the claims are not a JSON object")
	}
	if c.JTI == "" || len(c.JTI) > 256 {
		return nil, invalid("jti is required")
	}
	if c.HTM != want.Method {
		return nil, invalid("htm is not the request's method %s", want.Method)
	}
	if !sameURL(c.HTU, want.URL) {
		return nil, invalid("htu is not this endpoint's URL")
	}
	iatF, err := c.IAT.Float64()
	if err != nil || iatF <= 0 {
		return nil, invalid("iat is required")
	}
	iat := time.Unix(int64(iatF), 0)
	if d := want.Now.Sub(iat); d > Window || d < -Window {
		return nil, invalid("iat is not within %s of the server's time", Window)
	}
	if want.AccessToken != "" {
		sum := sha256.Sum256([]byte(want.AccessToken))
		if !hmac.Equal([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) {
			return nil, invalid("ath does not match the access token")
		}
	}
	if want.Nonce != nil && (c.Nonce == "" || !want.Nonce(c.Nonce)) {
		return nil, ErrNonce
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("the jwk has no thumbprint")
	}
	return &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: c.JTI, IAT: iat}, nil
}

// sameURL compares htu with the endpoint's URL as section 4.3 says:
// without query and fragment, scheme and host case-insensitive, default
// ports dropped.
func sameURL(htu, want string) bool {
	a, err1 := normalise(htu)
	b, err2 := normalise(want)
	return err1 == nil && err2 == nil && a == b
}

func normalise(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", errors.New("not an absolute URL")
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// Nonces makes and checks server nonces (section 8) without storing them:
// a nonce is the MAC of a time step, good for the step it was made in and
// the next, so every instance sharing the key accepts it.
type Nonces struct {
	Key  []byte
	Step time.Duration // how long a nonce is handed out; it lives up to twice this
}

func (n Nonces) mac(step int64) string {
	m := hmac.New(sha256.New, n.Key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (n Nonces) step(now time.Time) int64 { return now.Unix() / int64(n.Step/time.Second) }

// New is the nonce to hand out now.
func (n Nonces) New(now time.Time) string { return n.mac(n.step(now)) }

// Valid reports whether nonce was handed out in this step or the last.
func (n Nonces) Valid(nonce string, now time.Time) bool {
	s := n.step(now)
	return hmac.Equal([]byte(nonce), []byte(n.mac(s))) || hmac.Equal([]byte(nonce), []byte(n.mac(s-1)))
}

// Thumbprint is the base64url JWK SHA-256 thumbprint of a key (RFC 7638).
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
