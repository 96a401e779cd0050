package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func postForm(t *testing.T, e *idptest.Env, path string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestPushedAuthorizationRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		secret := "par-secret-0123456789-0123456789-0123456789"
		err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "par-app", Secret: secret, FirstParty: true, RequirePAR: true,
			RedirectURIs: []string{rpCallback}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "client_secret_basic"})
		if err != nil {
			t.Fatal(err)
		}
		verifier := oauth2.GenerateVerifier()
		params := url.Values{"response_type": {"code"}, "client_id": {"par-app"}, "redirect_uri": {rpCallback}, "scope": {"openid profile"},
			"state": {"state-0123456789"}, "nonce": {"nonce-0123456789"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}}

		t.Run("PlainRequestRefusedForAClientThatMustPush", func(t *testing.T) {
			p := e.NewBrowser().Get(e.Issuer + "/oauth2/auth?" + params.Encode())
			if p.Location().Query().Get("error") != "invalid_request" {
				t.Fatalf("plain authorize: %d %s", p.Status, p.Location())
			}
		})

		t.Run("PushedRequestUsedOnce", func(t *testing.T) {
			status, out := postForm(t, e, "/oauth2/par", params, "par-app", secret)
			uri, _ := out["request_uri"].(string)
			if status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || out["expires_in"] == nil {
				t.Fatalf("PAR: %d %v", status, out)
			}
			authURL := e.Issuer + "/oauth2/auth?" + url.Values{"client_id": {"par-app"}, "request_uri": {uri}}.Encode()
			code := codeFrom(t, e.NewBrowser().Login(authURL, user), "state-0123456789")
			status, tok := postForm(t, e, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {rpCallback}, "code_verifier": {verifier}}, "par-app", secret)
			if status != http.StatusOK || tok["id_token"] == nil {
				t.Fatalf("exchange after PAR: %d %v", status, tok)
			}
			// The request_uri was spent.
			p := e.NewBrowser().Get(authURL)
			if p.Status < 400 && p.Location().Query().Get("error") == "" {
				t.Fatalf("request_uri used twice: %d %s", p.Status, p.Location())
			}
		})

		t.Run("PushWithoutClientAuthenticationRefused", func(t *testing.T) {
			if status, _ := postForm(t, e, "/oauth2/par", params, "par-app", "wrong"); status != http.StatusUnauthorized {
				t.Fatalf("PAR with a wrong secret: %d", status)
			}
		})
	})
}

func TestPrivateKeyJWTAndES256(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "keyed", FirstParty: true, RedirectURIs: []string{rpCallback},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid"},
			TokenEndpointAuthMethod: "private_key_jwt", JWKS: string(pub), IDTokenAlg: "ES256"})
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		assertion := func(jti string) string {
			now := time.Now()
			s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "keyed", Subject: "keyed", Audience: jwt.Audience{e.Issuer + "/oauth2/token"},
				ID: jti, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		exchange := func(code, verifier, jti string) (int, map[string]any) {
			return postForm(t, e, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpCallback},
				"code_verifier": {verifier}, "client_id": {"keyed"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion(jti)}}, "", "")
		}
		login := func() (string, string) {
			verifier := oauth2.GenerateVerifier()
			q := url.Values{"response_type": {"code"}, "client_id": {"keyed"}, "redirect_uri": {rpCallback}, "scope": {"openid"},
				"state": {"state-0123456789"}, "nonce": {"nonce-0123456789"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
				"code_challenge_method": {"S256"}}
			return codeFrom(t, e.NewBrowser().Login(e.Issuer+"/oauth2/auth?"+q.Encode(), user), "state-0123456789"), verifier
		}

		code, verifier := login()
		status, tok := exchange(code, verifier, "jti-1")
		if status != http.StatusOK {
			t.Fatalf("private_key_jwt exchange: %d %v", status, tok)
		}
		// The ID token is signed with the client's registered ES256.
		ctx := oidc.ClientContext(t.Context(), e.Server.Client())
		provider, err := oidc.NewProvider(ctx, e.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		v := provider.Verifier(&oidc.Config{ClientID: "keyed", SupportedSigningAlgs: []string{"ES256"}})
		if _, err := v.Verify(ctx, tok["id_token"].(string)); err != nil {
			t.Fatalf("ES256 ID token: %v", err)
		}
		// A replayed assertion (same jti) is refused.
		code, verifier = login()
		if status, out := exchange(code, verifier, "jti-1"); status < 400 || (out["error"] != "invalid_client" && out["error"] != "jti_known") {
			t.Fatalf("replayed assertion: %d %v", status, out)
		}
		// An assertion signed by another key is refused.
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		signer, _ = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: "k1"}}, nil)
		if status, out := exchange(code, verifier, "jti-2"); status != http.StatusUnauthorized {
			t.Fatalf("assertion from another key: %d %v", status, out)
		}
	})
}

// Request objects are refused on every way in: at the authorize endpoint
// even without a redirect_uri to send the error to, and in a push.
func TestRequestObjectsRefusedEverywhere(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		secret := "par-secret-0123456789-0123456789-0123456789"
		c := e.CreateClient("app", secret, rpCallback, true)
		// An unsigned request object (alg none) naming the redirect itself.
		unsigned := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"response_type":"code","client_id":"app","redirect_uri":"`+rpCallback+`","scope":"openid"}`)) + "."
		p := e.NewBrowser().Get(e.Issuer + "/oauth2/auth?" + url.Values{"client_id": {c.ID}, "response_type": {"code"}, "request": {unsigned}}.Encode())
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("request object without redirect_uri: %d %q, want our 400 page", p.Status, p.Header.Get("Location"))
		}
		status, out := postForm(t, e, "/oauth2/par", url.Values{"request": {unsigned}, "client_id": {c.ID}}, c.ID, secret)
		if status != http.StatusBadRequest || out["error"] != "request_not_supported" {
			t.Fatalf("request object in a push: %d %v", status, out)
		}
	})
}
