// Package dpoptest makes DPoP proofs (RFC 9449) for tests, as a client
// holding its own key would.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smspin/idp/idp/dpop"
)

// Key is a client's proof key.
type Key struct {
	Priv   *ecdsa.PrivateKey // the ES256 key, for tests that take it apart
	signer crypto.Signer
	alg    jose.SignatureAlgorithm
	JKT    string // its thumbprint, as tokens are bound to it
}

// NewKey makes a fresh P-256 key (ES256).
func NewKey() *Key { return NewKeyAlg("ES256") }

// NewKeyAlg makes a fresh key for alg: ES256, ES384, EdDSA or RS256.
func NewKeyAlg(alg string) *Key {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		panic("dpoptest: no key for " + alg)
	}
	if err != nil {
		panic(err)
	}
	jkt, err := dpop.Thumbprint(&jose.JSONWebKey{Key: priv.Public()})
	if err != nil {
		panic(err)
	}
	k := &Key{signer: priv, alg: jose.SignatureAlgorithm(alg), JKT: jkt}
	k.Priv, _ = priv.(*ecdsa.PrivateKey)
	return k
}

// Claims of one proof; zero fields get sensible values.
type Claims struct {
	Method, URL string
	Token       string // the access token, for ath
	Nonce       string
	JTI         string
	IAT         time.Time
}

// Proof signs a proof for c with k.
func (k *Key) Proof(c Claims) string {
	if c.JTI == "" {
		b := make([]byte, 16)
		rand.Read(b)
		c.JTI = base64.RawURLEncoding.EncodeToString(b)
	}
	if c.IAT.IsZero() {
		c.IAT = time.Now()
	}
	claims := map[string]any{"jti": c.JTI, "htm": c.Method, "htu": c.URL, "iat": c.IAT.Unix()}
	if c.Token != "" {
		sum := sha256.Sum256([]byte(c.Token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	return k.Sign(claims, "dpop+jwt")
}

// Sign signs any claims with typ, embedding the public key.
func (k *Key) Sign(claims map[string]any, typ string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.signer},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(jose.ContentType(typ)))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}
