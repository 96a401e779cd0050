package dpop_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/idp/dpop"
	"github.com/smspin/idp/idp/dpop/dpoptest"
)

const tokenURL = "https://idp.example/oauth2/token"

func TestCheckAcceptsAProofAndNamesItsKey(t *testing.T) {
	k := dpoptest.NewKey()
	now := time.Now()
	p, err := dpop.Check(k.Proof(dpoptest.Claims{Method: "POST", URL: "https://IDP.example:443/oauth2/token?x=1#f", JTI: "j1"}),
		dpop.Expect{Method: "POST", URL: tokenURL, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p.JKT != k.JKT || p.JTI != "j1" || p.ReplayKey() != k.JKT+" j1" {
		t.Errorf("proof %+v, want jkt %s", p, k.JKT)
	}
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestCheckRefuses(t *testing.T) {
	k := dpoptest.NewKey()
	now := time.Now()
	good := dpoptest.Claims{Method: "POST", URL: tokenURL}
	with := func(f func(*dpoptest.Claims)) string { c := good; f(&c); return k.Proof(c) }
	claims := map[string]any{"jti": "x", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	// alg none and HS256, each with a jwk: no key of the client's signs them.
	mac := hmac.New(sha256.New, []byte("secret"))
	hsInput := seg(map[string]any{"alg": "HS256", "typ": "dpop+jwt", "jwk": map[string]string{"kty": "oct", "k": "c2VjcmV0"}}) + "." + seg(claims)
	mac.Write([]byte(hsInput))
	// A private key in the header.
	privJWK := map[string]string{"kty": "EC", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(k.Priv.X.FillBytes(make([]byte, 32))),
		"y": base64.RawURLEncoding.EncodeToString(k.Priv.Y.FillBytes(make([]byte, 32))),
		"d": base64.RawURLEncoding.EncodeToString(k.Priv.D.FillBytes(make([]byte, 32)))}
	parts := strings.Split(k.Proof(good), ".")
	for name, proof := range map[string]string{
		"empty":         "",
		"not a jwt":     "abc",
		"alg none":      seg(map[string]any{"alg": "none", "typ": "dpop+jwt"}) + "." + seg(claims) + ".",
		"HS256":         hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		"private jwk":   seg(map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": privJWK}) + "." + parts[1] + "." + parts[2],
		"wrong typ":     k.Sign(claims, "JWT"),
		"no jti":        k.Sign(map[string]any{"htm": "POST", "htu": tokenURL, "iat": now.Unix()}, "dpop+jwt"),
		"no iat":        k.Sign(map[string]any{"jti": "x", "htm": "POST", "htu": tokenURL}, "dpop+jwt"),
		"other method":  with(func(c *dpoptest.Claims) { c.Method = "GET" }),
		"other URL":     with(func(c *dpoptest.Claims) { c.URL = "https://idp.example/userinfo" }),
		"other host":    with(func(c *dpoptest.Claims) { c.URL = "https://evil.example/oauth2/token" }),
		"old":           with(func(c *dpoptest.Claims) { c.IAT = now.Add(-2 * dpop.Window) }),
		"future":        with(func(c *dpoptest.Claims) { c.IAT = now.Add(2 * dpop.Window) }),
		"tampered body": parts[0] + "." + seg(map[string]any{"jti": "y", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}) + "." + parts[2],
		"other key":     parts[0] + "." + parts[1] + "." + strings.Split(dpoptest.NewKey().Proof(good), ".")[2],
	} {
		if _, err := dpop.Check(proof, dpop.Expect{Method: "POST", URL: tokenURL, Now: now}); !errors.Is(err, dpop.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestCheckAth(t *testing.T) {
	k := dpoptest.NewKey()
	url := "https://idp.example/userinfo"
	want := dpop.Expect{Method: "GET", URL: url, AccessToken: "tok", Now: time.Now()}
	if _, err := dpop.Check(k.Proof(dpoptest.Claims{Method: "GET", URL: url, Token: "tok"}), want); err != nil {
		t.Errorf("ath of the token: %v", err)
	}
	for name, c := range map[string]dpoptest.Claims{
		"missing ath":     {Method: "GET", URL: url},
		"other token ath": {Method: "GET", URL: url, Token: "other"},
	} {
		if _, err := dpop.Check(k.Proof(c), want); !errors.Is(err, dpop.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestNonces(t *testing.T) {
	n := dpop.Nonces{Key: []byte("0123456789abcdef0123456789abcdef"), Step: time.Minute}
	t0 := time.Unix(1_800_000_000, 0)
	nonce := n.New(t0)
	if !n.Valid(nonce, t0) || !n.Valid(nonce, t0.Add(time.Minute)) {
		t.Error("a nonce is refused in its step or the next")
	}
	if n.Valid(nonce, t0.Add(3*time.Minute)) || n.Valid("x", t0) {
		t.Error("an old or made-up nonce is accepted")
	}
	if (dpop.Nonces{Key: []byte("another key, another instance set"), Step: time.Minute}).Valid(nonce, t0) {
		t.Error("a nonce made under another key is accepted")
	}
	k := dpoptest.NewKey()
	want := dpop.Expect{Method: "POST", URL: tokenURL, Now: time.Now(), Nonce: func(s string) bool { return n.Valid(s, t0) }}
	if _, err := dpop.Check(k.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL}), want); !errors.Is(err, dpop.ErrNonce) {
		t.Errorf("no nonce: %v, want ErrNonce", err)
	}
	if _, err := dpop.Check(k.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL, Nonce: nonce}), want); err != nil {
		t.Errorf("with the nonce: %v", err)
	}
}
