package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// endpointCall is one request to a protocol endpoint, authenticated one
// way or another.
type endpointCall struct {
	form   url.Values
	basic  [2]string // client id and secret for HTTP Basic, if set
	bearer string
}

func (c endpointCall) do(t *testing.T, e *idptest.Env, path string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+path, strings.NewReader(c.form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: status %d, body not JSON: %q", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// serviceToken gets a client_credentials access token for a client
// authenticated with HTTP Basic.
func serviceToken(t *testing.T, e *idptest.Env, id, secret string) string {
	t.Helper()
	status, _, out := endpointCall{form: url.Values{"grant_type": {"client_credentials"}}, basic: [2]string{id, secret}}.do(t, e, "/oauth2/token")
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials for %s: %d %v", id, status, out)
	}
	return tok
}

// keyedClient registers a private_key_jwt client and returns a maker of
// its assertions for an audience.
func keyedClient(t *testing.T, e *idptest.Env, id string, grants ...string) func(aud, jti string, exp time.Time) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	err := e.Store.CreateClient(t.Context(), store.NewClient{ID: id, GrantTypes: grants, Scopes: []string{"openid"},
		TokenEndpointAuthMethod: "private_key_jwt", JWKS: string(pub)})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	return func(aud, jti string, exp time.Time) string {
		s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{aud},
			ID: jti, IssuedAt: jwt.NewNumericDate(exp.Add(-time.Minute)), Expiry: jwt.NewNumericDate(exp)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func assertionForm(id, assertion string, more url.Values) url.Values {
	f := url.Values{"client_id": {id}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion}}
	for k, v := range more {
		f[k] = v
	}
	return f
}

// TestIntrospectionAttacks: introspection (RFC 7662) answers only
// authenticated confidential clients, about their own tokens or those of
// clients they are a registered resource server for, by every
// authentication method discovery lists.
func TestIntrospectionAttacks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		e := o.e
		const secret = "service-secret-0123456789-0123456789-0123456789"
		e.CreateClient("billing", secret, "", false, "client_credentials")
		e.CreateClient("reports", secret, "", false, "client_credentials")
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "api", Secret: secret, GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: "client_secret_basic", ResourceServerFor: []string{"billing"}}); err != nil {
			t.Fatal(err)
		}
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "poster", Secret: secret, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"openid"}, TokenEndpointAuthMethod: "client_secret_post"}); err != nil {
			t.Fatal(err)
		}
		assertion := keyedClient(t, e, "keyed", "client_credentials")
		spa := e.CreateClient("spa", "", rpCallback, true)

		// A user's tokens at a confidential RP, and a public client's.
		rpAuth := o.auth(o.client, "openid offline_access")
		rp, _ := o.login(e.NewBrowser(), rpAuth)
		rpTokens := o.exchange(rpAuth, o.code(rp, rpAuth))
		if rpTokens.refresh == "" {
			t.Fatal("no refresh token for offline_access")
		}
		spaAuth := o.auth(ocClient{ID: spa.ID, RedirectURI: rpCallback, Method: "none"}, "openid offline_access").pkce()
		p, _ := o.login(e.NewBrowser(), spaAuth)
		status, _, spaTok := endpointCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {o.code(p, spaAuth)},
			"redirect_uri": {rpCallback}, "client_id": {spa.ID}, "code_verifier": {spaAuth.verifier}}}.do(t, e, "/oauth2/token")
		if status != http.StatusOK {
			t.Fatalf("public client exchange: %d %v", status, spaTok)
		}
		billingTok := serviceToken(t, e, "billing", secret)
		_, _, out := endpointCall{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"poster"}, "client_secret": {secret}}}.do(t, e, "/oauth2/token")
		posterTok, _ := out["access_token"].(string)

		introspect := func(c endpointCall, token string) (int, http.Header, map[string]any) {
			if c.form == nil {
				c.form = url.Values{}
			}
			c.form.Set("token", token)
			return c.do(t, e, "/oauth2/introspect")
		}
		cases := []struct {
			name       string
			call       endpointCall
			token      string
			wantStatus int
			wantActive bool
		}{
			{"a public client's access token as a bearer", endpointCall{bearer: spaTok["access_token"].(string)}, rpTokens.refresh, 401, false},
			{"a public client by its id alone", endpointCall{form: url.Values{"client_id": {spa.ID}}}, spaTok["access_token"].(string), 401, false},
			{"no authentication at all", endpointCall{}, rpTokens.access, 401, false},
			{"a wrong secret", endpointCall{basic: [2]string{"billing", "wrong"}}, billingTok, 401, false},
			{"an unknown client", endpointCall{basic: [2]string{"nobody", secret}}, billingTok, 401, false},
			{"another client's access token", endpointCall{basic: [2]string{"reports", secret}}, rpTokens.access, 200, false},
			{"another client's refresh token", endpointCall{basic: [2]string{"reports", secret}}, rpTokens.refresh, 200, false},
			{"its own token", endpointCall{basic: [2]string{"billing", secret}}, billingTok, 200, true},
			{"a token of a client it is resource server for", endpointCall{basic: [2]string{"api", secret}}, billingTok, 200, true},
			{"a token of a client it is not resource server for", endpointCall{basic: [2]string{"api", secret}}, rpTokens.access, 200, false},
			{"client_secret_post, as discovery lists", endpointCall{form: url.Values{"client_id": {"poster"}, "client_secret": {secret}}},
				posterTok, 200, true},
			{"client_secret_post with a wrong secret", endpointCall{form: url.Values{"client_id": {"poster"}, "client_secret": {"wrong"}}},
				billingTok, 401, false},
			{"private_key_jwt, as discovery lists", endpointCall{form: assertionForm("keyed", assertion(e.Issuer+"/oauth2/token", "i-1", time.Now().Add(time.Minute)), nil)},
				tokenByAssertion(t, e, "keyed", assertion(e.Issuer+"/oauth2/token", "t-1", time.Now().Add(time.Minute))), 200, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, hdr, out := introspect(c.call, c.token)
				if status != c.wantStatus {
					t.Fatalf("status %d %v, want %d", status, out, c.wantStatus)
				}
				if status == http.StatusUnauthorized {
					if out["error"] != "invalid_client" {
						t.Errorf("error = %v, want invalid_client (RFC 6749 5.2)", out["error"])
					}
					if c.call.basic[0] != "" && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
						t.Errorf("WWW-Authenticate = %q, want a Basic challenge", hdr.Get("WWW-Authenticate"))
					}
					return
				}
				if out["active"] != c.wantActive {
					t.Errorf("active = %v, want %v (%v)", out["active"], c.wantActive, out)
				}
				if !c.wantActive && len(out) != 1 {
					t.Errorf("an inactive answer says more than active: %v", out)
				}
			})
		}

		methods := ocStrings(o.discovery()["introspection_endpoint_auth_methods_supported"])
		for _, m := range []string{"client_secret_basic", "client_secret_post", "private_key_jwt"} {
			if !slicesContains(methods, m) {
				t.Errorf("discovery lists %v for introspection; %s is accepted and tested above", methods, m)
			}
		}
	})
}

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// tokenByAssertion gets a client_credentials token with private_key_jwt.
func tokenByAssertion(t *testing.T, e *idptest.Env, id, assertion string) string {
	t.Helper()
	status, _, out := endpointCall{form: assertionForm(id, assertion, url.Values{"grant_type": {"client_credentials"}})}.do(t, e, "/oauth2/token")
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials by assertion: %d %v", status, out)
	}
	return tok
}

// TestRevocationErrors: revocation answers RFC 6749 5.2 errors (RFC 7009
// 2.2.1), and a client cannot revoke another client's token.
func TestRevocationErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		const secret = "service-secret-0123456789-0123456789-0123456789"
		e.CreateClient("billing", secret, "", false, "client_credentials")
		e.CreateClient("reports", secret, "", false, "client_credentials")
		tok := serviceToken(t, e, "billing", secret)
		revoke := func(c endpointCall) (int, map[string]any) {
			if c.form == nil {
				c.form = url.Values{}
			}
			c.form.Set("token", tok)
			status, _, out := c.do(t, e, "/oauth2/revoke")
			return status, out
		}
		active := func() bool {
			_, _, out := endpointCall{form: url.Values{"token": {tok}}, basic: [2]string{"billing", secret}}.do(t, e, "/oauth2/introspect")
			return out["active"] == true
		}
		for _, c := range []struct {
			name   string
			call   endpointCall
			status int
			error  string
		}{
			{"a wrong secret", endpointCall{basic: [2]string{"billing", "wrong"}}, 401, "invalid_client"},
			{"no authentication", endpointCall{}, 401, "invalid_client"},
			{"another client", endpointCall{basic: [2]string{"reports", secret}}, 400, "unauthorized_client"},
		} {
			if status, out := revoke(c.call); status != c.status || out["error"] != c.error {
				t.Errorf("revocation by %s: %d %v, want %d %s", c.name, status, out, c.status, c.error)
			}
			if !active() {
				t.Fatalf("the token was revoked by %s", c.name)
			}
		}
		if status, out := revoke(endpointCall{basic: [2]string{"billing", secret}}); status != http.StatusOK {
			t.Fatalf("revocation by the owner: %d %v", status, out)
		}
		if active() {
			t.Fatal("the token is active after its owner revoked it")
		}
	})
}

// TestPrivateKeyJWTFailuresAreInvalidClient: an expired or replayed client
// assertion is a failed client authentication: 401 invalid_client (RFC
// 6749 5.2, RFC 7523 3), never a 500 or jti_known; replays racing in
// parallel are refused all but once.
func TestPrivateKeyJWTFailuresAreInvalidClient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		assertion := keyedClient(t, e, "keyed", "client_credentials")
		tokenURL := e.Issuer + "/oauth2/token"
		call := func(a string) (int, map[string]any) {
			status, _, out := endpointCall{form: assertionForm("keyed", a, url.Values{"grant_type": {"client_credentials"}})}.do(t, e, "/oauth2/token")
			return status, out
		}
		if status, out := call(assertion(tokenURL, "expired", time.Now().Add(-time.Minute))); status != 401 || out["error"] != "invalid_client" {
			t.Errorf("expired assertion: %d %v, want 401 invalid_client", status, out)
		}
		once := assertion(tokenURL, "once", time.Now().Add(time.Minute))
		if status, out := call(once); status != 200 {
			t.Fatalf("fresh assertion: %d %v", status, out)
		}
		if status, out := call(once); status != 401 || out["error"] != "invalid_client" {
			t.Errorf("replayed assertion: %d %v, want 401 invalid_client", status, out)
		}
		// Sixteen copies of one new assertion at once: one token.
		racing := assertion(tokenURL, "racing", time.Now().Add(time.Minute))
		var wg sync.WaitGroup
		results := make(chan int, 16)
		for range 16 {
			wg.Go(func() {
				status, out := call(racing)
				if status != 200 && (status != 401 || out["error"] != "invalid_client") {
					t.Errorf("racing replay: %d %v, want 200 once and 401 invalid_client", status, out)
				}
				results <- status
			})
		}
		wg.Wait()
		close(results)
		ok := 0
		for s := range results {
			if s == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d of 16 copies of one assertion got a token, want exactly 1", ok)
		}
	})
}
