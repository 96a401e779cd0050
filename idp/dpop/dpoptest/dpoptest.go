// Package dpoptest makes DPoP proofs (RFC 9449) for tests, as a client
// holding its own key would.
package dpoptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smspin/idp/idp/dpop"
)

// Key is a client's proof key.
type Key struct {
	Priv *ecdsa.PrivateKey
	JKT  string // its thumbprint, as tokens are bound to it
}

// NewKey makes a fresh P-256 key.
func NewKey() *Key {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	jkt, err := dpop.Thumbprint(&jose.JSONWebKey{Key: &priv.PublicKey})
	if err != nil {
		panic(err)
	}
	return &Key{Priv: priv, JKT: jkt}
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
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.Priv},
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
