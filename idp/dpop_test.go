package idp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/smspin/idp/idp/dpop/dpoptest"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// dpopCall is a request as a DPoP client makes it: a form (POST) or none
// (GET), client authentication, an Authorization header, a DPoP proof.
type dpopCall struct {
	method string
	form   url.Values
	basic  [2]string
	auth   string // the Authorization header
	proof  string
}

func (c dpopCall) do(t *testing.T, e *idptest.Env, path string) (int, http.Header, map[string]any) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if c.form != nil {
		body = strings.NewReader(c.form.Encode())
	}
	req, _ := http.NewRequest(method, e.Issuer+path, body)
	if c.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.proof != "" {
		req.Header.Set("DPoP", c.proof)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// TestDPoP is RFC 9449 over HTTP, as a public client holding a key and as
// an attacker holding its tokens (or its proofs) but not the key.
func TestDPoP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("public client: bound tokens at userinfo, introspection and refresh", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{Instances: 2})
			e := o.e
			ctx := t.Context()
			if err := e.Store.CreateClient(ctx, store.NewClient{ID: "spa", Public: true, FirstParty: true, RedirectURIs: []string{rpCallback},
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
				Scopes: []string{"openid", "profile", "offline_access"}, TokenEndpointAuthMethod: "none"}); err != nil {
				t.Fatal(err)
			}
			if err := e.Store.CreateClient(ctx, store.NewClient{ID: "api", Secret: ocSecret, GrantTypes: []string{"client_credentials"},
				TokenEndpointAuthMethod: "client_secret_basic", ResourceServerFor: []string{"spa"}}); err != nil {
				t.Fatal(err)
			}
			spa := ocClient{ID: "spa", RedirectURI: rpCallback, Method: "none"}
			a := o.auth(spa, "openid profile offline_access").pkce()
			code := o.codeOf(e.NewBrowser(), a)
			key, thief := dpoptest.NewKey(), dpoptest.NewKey()
			tokenURL, userinfoURL := e.Issuer+"/oauth2/token", e.Issuer+"/userinfo"

			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpCallback},
				"client_id": {"spa"}, "code_verifier": {a.verifier}}
			status, _, tok := dpopCall{form: form, proof: key.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})}.do(t, e, "/oauth2/token")
			if status != http.StatusOK || tok["token_type"] != "DPoP" {
				t.Fatalf("code exchange with a proof: %d %v, want 200 token_type DPoP", status, tok)
			}
			at, rt := tok["access_token"].(string), tok["refresh_token"].(string)

			in := introspect(t, e, ocClient{ID: "api", Secret: ocSecret}.idp(), at)
			if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || cnf["jkt"] != key.JKT || in["token_type"] != "DPoP" {
				t.Errorf("introspection: %v, want active, cnf.jkt %s, token_type DPoP", in, key.JKT)
			}
			if in := introspect(t, e, ocClient{ID: "api", Secret: ocSecret}.idp(), rt); in["active"] != true || in["cnf"] == nil {
				t.Errorf("introspection of the public client's refresh token: %v, want its cnf", in)
			}

			proof := key.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at})
			status, _, info := dpopCall{method: "GET", auth: "DPoP " + at, proof: proof}.do(t, e, "/userinfo")
			if status != http.StatusOK || info["sub"] != o.user.ID {
				t.Fatalf("userinfo with the bound token and a proof: %d %v", status, info)
			}

			refused := func(name string, c dpopCall, wantErr string) {
				t.Helper()
				status, hdr, out := c.do(t, e, "/userinfo")
				if status != http.StatusUnauthorized || out["error"] != wantErr || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "DPoP ") ||
					!strings.Contains(hdr.Get("WWW-Authenticate"), `error="`+wantErr+`"`) {
					t.Errorf("%s: %d %v %q, want 401 %s with a DPoP challenge", name, status, out, hdr.Get("WWW-Authenticate"), wantErr)
				}
			}
			get := func(p string) dpopCall { return dpopCall{method: "GET", auth: "DPoP " + at, proof: p} }
			refused("a replayed proof", get(proof), "invalid_dpop_proof")
			refused("a proof for another method", get(key.Proof(dpoptest.Claims{Method: "POST", URL: userinfoURL, Token: at})), "invalid_dpop_proof")
			refused("a proof for another URL", get(key.Proof(dpoptest.Claims{Method: "GET", URL: tokenURL, Token: at})), "invalid_dpop_proof")
			refused("a proof without ath", get(key.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL})), "invalid_dpop_proof")
			refused("a proof for another token", get(key.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at + "x"})), "invalid_dpop_proof")
			refused("a proof by another key", get(thief.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at})), "invalid_dpop_proof")
			refused("no proof", get(""), "invalid_dpop_proof")
			refused("the bound token as a bearer token", dpopCall{method: "GET", auth: "Bearer " + at}, "invalid_token")
			refused("the bound token as a bearer token, with a proof", dpopCall{method: "GET", auth: "Bearer " + at,
				proof: key.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at})}, "invalid_token")
			refused("the bound token in the body", dpopCall{form: url.Values{"access_token": {at}}}, "invalid_token")

			// The refresh token is bound too: a thief's key, or none, is refused
			// and leaves it usable by its owner.
			refresh := func(p string) (int, map[string]any) {
				status, _, out := dpopCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"spa"}}, proof: p}.do(t, e, "/oauth2/token")
				return status, out
			}
			if status, out := refresh(thief.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})); status != http.StatusBadRequest || out["error"] != "invalid_dpop_proof" {
				t.Errorf("refresh with another key's proof: %d %v, want 400 invalid_dpop_proof", status, out)
			}
			if status, out := refresh(""); status != http.StatusBadRequest || out["error"] != "invalid_dpop_proof" {
				t.Errorf("refresh without a proof: %d %v, want 400 invalid_dpop_proof", status, out)
			}
			good := key.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})
			status, again := refresh(good)
			if status != http.StatusOK || again["token_type"] != "DPoP" {
				t.Fatalf("refresh with the key's proof: %d %v", status, again)
			}
			rt = again["refresh_token"].(string)
			if status, out := refresh(good); status != http.StatusBadRequest || out["error"] != "invalid_dpop_proof" {
				t.Errorf("a replayed proof at the token endpoint: %d %v, want 400 invalid_dpop_proof", status, out)
			}
			at2 := again["access_token"].(string)
			if status, _, out := (dpopCall{method: "GET", auth: "DPoP " + at2, proof: key.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at2})}).do(t, e, "/userinfo"); status != http.StatusOK {
				t.Errorf("userinfo with the refreshed token: %d %v", status, out)
			}
			refused("the refreshed token with the thief's key", dpopCall{method: "GET", auth: "DPoP " + at2,
				proof: thief.Proof(dpoptest.Claims{Method: "GET", URL: userinfoURL, Token: at2})}, "invalid_dpop_proof")
		})

		t.Run("a confidential client's refresh token is not bound", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			e := o.e
			a := o.auth(o.client, "openid offline_access")
			code := o.codeOf(e.NewBrowser(), a)
			key := dpoptest.NewKey()
			tokenURL := e.Issuer + "/oauth2/token"
			basic := [2]string{o.client.ID, o.client.Secret}
			status, _, tok := dpopCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpCallback}},
				basic: basic, proof: key.Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})}.do(t, e, "/oauth2/token")
			if status != http.StatusOK || tok["token_type"] != "DPoP" {
				t.Fatalf("code exchange with a proof: %d %v", status, tok)
			}
			rt := tok["refresh_token"].(string)
			if in := introspect(t, e, o.client.idp(), rt); in["active"] != true || in["cnf"] != nil {
				t.Errorf("introspection of the refresh token: %v, want active without cnf", in)
			}
			// The client authenticates: a new key, or none, will do.
			status, _, out := dpopCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic: basic,
				proof: dpoptest.NewKey().Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})}.do(t, e, "/oauth2/token")
			if status != http.StatusOK || out["token_type"] != "DPoP" {
				t.Fatalf("refresh with another key: %d %v", status, out)
			}
			status, _, out = dpopCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}}, basic: basic}.do(t, e, "/oauth2/token")
			if status != http.StatusOK || !strings.EqualFold(out["token_type"].(string), "bearer") {
				t.Fatalf("refresh without a proof: %d %v, want a bearer token", status, out)
			}
			if status, _, info := o.userinfo(http.MethodGet, "header", out["access_token"].(string)); status != http.StatusOK {
				t.Errorf("the unbound token as a bearer token: %d %v", status, info)
			}
		})

		t.Run("a client registered for DPoP; JWT access tokens carry cnf", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "svc", Secret: ocSecret, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"profile"}, TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: store.AccessTokenJWT, DPoPBound: true}); err != nil {
				t.Fatal(err)
			}
			key := dpoptest.NewKey()
			cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"profile"}}
			if status, _, out := (dpopCall{form: cc, basic: [2]string{"svc", ocSecret}}).do(t, e, "/oauth2/token"); status != http.StatusBadRequest || out["error"] != "invalid_dpop_proof" {
				t.Errorf("a token request without a proof: %d %v, want 400 invalid_dpop_proof", status, out)
			}
			status, _, out := dpopCall{form: cc, basic: [2]string{"svc", ocSecret}, proof: key.Proof(dpoptest.Claims{Method: "POST", URL: e.Issuer + "/oauth2/token"})}.do(t, e, "/oauth2/token")
			if status != http.StatusOK || out["token_type"] != "DPoP" {
				t.Fatalf("with a proof: %d %v", status, out)
			}
			at := out["access_token"].(string)
			if cnf, _ := ocJWTClaims(t, at)["cnf"].(map[string]any); cnf["jkt"] != key.JKT {
				t.Errorf("JWT access token cnf = %v, want jkt %s (RFC 9449 6.1)", cnf, key.JKT)
			}
			in := introspect(t, e, ocClient{ID: "svc", Secret: ocSecret}.idp(), at)
			if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || cnf["jkt"] != key.JKT {
				t.Errorf("introspection of the JWT: %v, want cnf.jkt", in)
			}
			// Made for another endpoint, or by a proof-less attacker re-using
			// the header of someone else's request.
			for name, p := range map[string]string{
				"proof for userinfo":      key.Proof(dpoptest.Claims{Method: "POST", URL: e.Issuer + "/userinfo"}),
				"proof for another host":  key.Proof(dpoptest.Claims{Method: "POST", URL: "https://rp.example/oauth2/token"}),
				"proof for another verb":  key.Proof(dpoptest.Claims{Method: "GET", URL: e.Issuer + "/oauth2/token"}),
				"a token, not a proof":    at,
				"two proofs in one value": key.Proof(dpoptest.Claims{Method: "POST", URL: e.Issuer + "/oauth2/token"}) + ", x",
			} {
				if status, _, out := (dpopCall{form: cc, basic: [2]string{"svc", ocSecret}, proof: p}).do(t, e, "/oauth2/token"); status != http.StatusBadRequest || out["error"] != "invalid_dpop_proof" {
					t.Errorf("%s: %d %v, want 400 invalid_dpop_proof", name, status, out)
				}
			}
		})

		t.Run("one proof sent at once to two instances is accepted once", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Instances: 2})
			e.CreateClient("svc", ocSecret, "", false, "client_credentials")
			proof := dpoptest.NewKey().Proof(dpoptest.Claims{Method: "POST", URL: e.Issuer + "/oauth2/token"})
			var ok atomic.Int32
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, _, _ := dpopCall{form: url.Values{"grant_type": {"client_credentials"}}, basic: [2]string{"svc", ocSecret}, proof: proof}.do(t, e, "/oauth2/token")
					if status == http.StatusOK {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 {
				t.Errorf("one proof got %d token responses, want 1", ok.Load())
			}
		})

		t.Run("server nonce", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{DPoPNonce: true, Instances: 2})
			e.CreateClient("svc", ocSecret, "", false, "client_credentials")
			key := dpoptest.NewKey()
			call := func(nonce string) (int, http.Header, map[string]any) {
				return dpopCall{form: url.Values{"grant_type": {"client_credentials"}}, basic: [2]string{"svc", ocSecret},
					proof: key.Proof(dpoptest.Claims{Method: "POST", URL: e.Issuer + "/oauth2/token", Nonce: nonce})}.do(t, e, "/oauth2/token")
			}
			status, hdr, out := call("")
			nonce := hdr.Get("DPoP-Nonce")
			if status != http.StatusBadRequest || out["error"] != "use_dpop_nonce" || nonce == "" {
				t.Fatalf("a proof without a nonce: %d %v nonce %q, want 400 use_dpop_nonce and a DPoP-Nonce", status, out, nonce)
			}
			if status, _, out := call("made-up"); status != http.StatusBadRequest || out["error"] != "use_dpop_nonce" {
				t.Errorf("a made-up nonce: %d %v, want 400 use_dpop_nonce", status, out)
			}
			// Twice: the two instances share the nonce key.
			var at string
			for i := range 2 {
				status, _, out := call(nonce)
				if status != http.StatusOK || out["token_type"] != "DPoP" {
					t.Fatalf("request %d with the nonce: %d %v", i, status, out)
				}
				at = out["access_token"].(string)
			}
			// At userinfo too: 401 use_dpop_nonce, then past the binding (this
			// service token has no openid scope, so 403 after it).
			userinfo := func(nonce string) (int, http.Header, map[string]any) {
				return dpopCall{method: "GET", auth: "DPoP " + at,
					proof: key.Proof(dpoptest.Claims{Method: "GET", URL: e.Issuer + "/userinfo", Token: at, Nonce: nonce})}.do(t, e, "/userinfo")
			}
			status, hdr, out = userinfo("")
			if status != http.StatusUnauthorized || out["error"] != "use_dpop_nonce" || hdr.Get("DPoP-Nonce") == "" ||
				!strings.Contains(hdr.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
				t.Errorf("userinfo without a nonce: %d %v %v, want 401 use_dpop_nonce and a DPoP-Nonce", status, out, hdr)
			}
			if status, _, out := userinfo(hdr.Get("DPoP-Nonce")); status != http.StatusForbidden || out["error"] != "insufficient_scope" {
				t.Errorf("userinfo with the nonce: %d %v, want the binding accepted (403 insufficient_scope)", status, out)
			}
		})
	})
}
