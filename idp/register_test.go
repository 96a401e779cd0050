package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const initialToken = "initial-access-token-0123456789-0123456789"

// regCall sends a JSON request with a bearer token (none when "") and
// returns the status and the decoded JSON answer.
func regCall(t *testing.T, e *idptest.Env, method, u, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

func discoveryOf(t *testing.T, e *idptest.Env) map[string]any {
	t.Helper()
	status, d := regCall(t, e, http.MethodGet, e.Issuer+"/.well-known/openid-configuration", "", nil)
	if status != http.StatusOK {
		t.Fatalf("discovery: %d", status)
	}
	return d
}

func TestRegistrationIsOffByDefault(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		if v, ok := discoveryOf(t, e)["registration_endpoint"]; ok {
			t.Errorf("discovery lists registration_endpoint %v though registration is off", v)
		}
		meta := map[string]any{"redirect_uris": []string{rpCallback}}
		for _, tok := range []string{"", initialToken} {
			if status, _ := regCall(t, e, http.MethodPost, e.Issuer+"/oauth2/register", tok, meta); status != http.StatusNotFound {
				t.Errorf("POST /oauth2/register (token %q) with registration off: %d, want 404", tok, status)
			}
		}
		if status, _ := regCall(t, e, http.MethodGet, e.Issuer+"/oauth2/register/shop", "x", nil); status != http.StatusNotFound {
			t.Errorf("GET /oauth2/register/shop with registration off: %d, want 404", status)
		}
	})
}

func TestRegistrationRefusesWithoutTheInitialToken(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{RegistrationToken: initialToken})
		if got := discoveryOf(t, e)["registration_endpoint"]; got != e.Issuer+"/oauth2/register" {
			t.Errorf("registration_endpoint = %v, want %s/oauth2/register", got, e.Issuer)
		}
		meta := map[string]any{"redirect_uris": []string{rpCallback}}
		for _, tok := range []string{"", "wrong", initialToken + "x", initialToken[:len(initialToken)-1]} {
			status, out := regCall(t, e, http.MethodPost, e.Issuer+"/oauth2/register", tok, meta)
			if status != http.StatusUnauthorized || out["error"] != "invalid_token" {
				t.Errorf("register with token %q: %d %v, want 401 invalid_token", tok, status, out)
			}
		}
		clients, err := e.Store.ListClients(t.Context())
		if err != nil || len(clients) != 0 {
			t.Errorf("clients after refused registrations: %d (%v), want none", len(clients), err)
		}
	})
}

func TestRegistrationValidatesMetadata(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{RegistrationToken: initialToken})
		reg := e.Issuer + "/oauth2/register"
		for _, c := range []struct {
			name string
			body any
			want string
		}{
			{"fragment", map[string]any{"redirect_uris": []string{"https://rp.example.com/cb#x"}}, "invalid_redirect_uri"},
			{"http off the loopback", map[string]any{"redirect_uris": []string{"http://rp.example.com/cb"}}, "invalid_redirect_uri"},
			{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
			{"javascript", map[string]any{"redirect_uris": []string{"javascript:alert(1)"}, "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
			{"private-use scheme, confidential", map[string]any{"redirect_uris": []string{"com.example.app:/cb"}}, "invalid_redirect_uri"},
			{"no redirect URI for the code grant", map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
			{"unknown grant", map[string]any{"redirect_uris": []string{rpCallback}, "grant_types": []string{"authorization_code", "password"}}, "invalid_client_metadata"},
			{"implicit", map[string]any{"redirect_uris": []string{rpCallback}, "grant_types": []string{"implicit"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
			{"token response", map[string]any{"redirect_uris": []string{rpCallback}, "response_types": []string{"code", "id_token"}}, "invalid_client_metadata"},
			{"code without its grant", map[string]any{"redirect_uris": []string{rpCallback}, "grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}, "invalid_client_metadata"},
			{"unknown auth method", map[string]any{"redirect_uris": []string{rpCallback}, "token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata"},
			{"public client_credentials", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
			{"private_key_jwt without keys", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
			{"jwks_uri", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://rp.example.com/jwks"}, "invalid_client_metadata"},
			{"private key in jwks", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
				"jwks": map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0"}}}}, "invalid_client_metadata"},
			{"unknown scope", map[string]any{"redirect_uris": []string{rpCallback}, "scope": "openid admin"}, "invalid_client_metadata"},
			{"http logo", map[string]any{"redirect_uris": []string{rpCallback}, "logo_uri": "http://rp.example.com/logo.png"}, "invalid_client_metadata"},
			{"bad back-channel URI", map[string]any{"redirect_uris": []string{rpCallback}, "backchannel_logout_uri": "ftp://rp.example.com/x"}, "invalid_client_metadata"},
			{"bad post-logout URI", map[string]any{"redirect_uris": []string{rpCallback}, "post_logout_redirect_uris": []string{"https://rp.example.com/#x"}}, "invalid_client_metadata"},
			{"long name", map[string]any{"redirect_uris": []string{rpCallback}, "client_name": strings.Repeat("n", 201)}, "invalid_client_metadata"},
			{"a wrong type", map[string]any{"redirect_uris": rpCallback}, "invalid_client_metadata"},
			{"not JSON", "redirect_uris=https://rp.example.com/cb", "invalid_client_metadata"},
		} {
			status, out := regCall(t, e, http.MethodPost, reg, initialToken, c.body)
			if status != http.StatusBadRequest || out["error"] != c.want || out["error_description"] == "" {
				t.Errorf("%s: %d %v, want 400 %s with a description", c.name, status, out, c.want)
			}
		}
		big := `{"redirect_uris":["` + rpCallback + `"],"client_name":"` + strings.Repeat("x", 70<<10) + `"}`
		if status, out := regCall(t, e, http.MethodPost, reg, initialToken, big); status != http.StatusRequestEntityTooLarge || out["error"] != "invalid_client_metadata" {
			t.Errorf("a 70 KiB body: %d %v, want 413 invalid_client_metadata", status, out)
		}
		if clients, _ := e.Store.ListClients(t.Context()); len(clients) != 0 {
			t.Errorf("%d clients registered by refused requests", len(clients))
		}

		// Fields this provider does not know are ignored (RFC 7591 section 2).
		status, out := regCall(t, e, http.MethodPost, reg, initialToken, map[string]any{
			"redirect_uris": []string{rpCallback}, "tos_uri": "https://rp.example.com/tos", "software_id": "x", "contacts": []string{"a@example.com"},
		})
		if status != http.StatusCreated {
			t.Fatalf("registration with unknown fields: %d %v, want 201", status, out)
		}
		if _, ok := out["tos_uri"]; ok {
			t.Errorf("the answer echoes the unknown field tos_uri: %v", out)
		}
	})
}

// registration is a registered client as its answer described it.
type registration struct {
	ID, Secret, Token, URI string
	raw                    map[string]any
}

func register(t *testing.T, e *idptest.Env, meta map[string]any) registration {
	t.Helper()
	status, out := regCall(t, e, http.MethodPost, e.Issuer+"/oauth2/register", initialToken, meta)
	if status != http.StatusCreated {
		t.Fatalf("register %v: %d %v", meta, status, out)
	}
	s := func(k string) string { v, _ := out[k].(string); return v }
	return registration{ID: s("client_id"), Secret: s("client_secret"), Token: s("registration_access_token"), URI: s("registration_client_uri"), raw: out}
}

func TestRegisteredClientsSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{RegistrationToken: initialToken})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)

		conf := register(t, e, map[string]any{
			"redirect_uris": []string{rpCallback}, "grant_types": []string{"authorization_code", "refresh_token"},
			"client_name": "Shop", "scope": "openid profile offline_access", "post_logout_redirect_uris": []string{"https://rp.example.com/bye"},
		})
		if conf.ID == "" || conf.Secret == "" || conf.Token == "" || conf.URI != e.Issuer+"/oauth2/register/"+conf.ID {
			t.Fatalf("registration answer lacks a part: %v", conf.raw)
		}
		if conf.raw["client_secret_expires_at"] != float64(0) || conf.raw["client_id_issued_at"] == nil ||
			conf.raw["token_endpoint_auth_method"] != "client_secret_basic" || !slices.Equal(ocStrings(conf.raw["response_types"]), []string{"code"}) {
			t.Errorf("registration answer: %v", conf.raw)
		}
		pub := register(t, e, map[string]any{"redirect_uris": []string{"http://127.0.0.1:7777/cb", rpCallback}, "token_endpoint_auth_method": "none"})
		if pub.Secret != "" || pub.raw["client_secret_expires_at"] != nil {
			t.Errorf("a public client was given a secret: %v", pub.raw)
		}

		for _, c := range []struct {
			name   string
			client idptest.Client
			scopes []string
		}{
			{"confidential", idptest.Client{ID: conf.ID, Secret: conf.Secret, RedirectURI: rpCallback}, []string{"openid", "profile", "offline_access"}},
			{"public with PKCE", idptest.Client{ID: pub.ID, RedirectURI: rpCallback}, []string{"openid", "profile", "phone"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := newRP(t, e, c.client, c.scopes...)
				ctx := r.ctx(t.Context())
				verifier := oauth2.GenerateVerifier()
				p := e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user)
				code := codeFrom(t, p, "state-0123456789")
				tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("code exchange: %v", err)
				}
				rawID, _ := tok.Extra("id_token").(string)
				idt, err := r.verifier.Verify(ctx, rawID)
				if err != nil {
					t.Fatalf("ID token: %v", err)
				}
				if idt.Subject != user.ID {
					t.Errorf("sub = %q, want %q", idt.Subject, user.ID)
				}
			})
		}

		// A public client without PKCE is refused.
		r := newRP(t, e, idptest.Client{ID: pub.ID, RedirectURI: rpCallback}, "openid")
		p := e.NewBrowser().NoFollow().Get(r.conf.AuthCodeURL("state-0123456789"))
		if loc := p.Location(); p.Status < 300 || p.Status > 399 || loc.Query().Get("error") == "" {
			t.Errorf("a public client's authorize request without PKCE: %d %v, want an error redirect", p.Status, loc)
		}
	})
}

func TestRegistrationManagement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{RegistrationToken: initialToken})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		a := register(t, e, map[string]any{"redirect_uris": []string{rpCallback}, "grant_types": []string{"authorization_code", "refresh_token"}, "client_name": "A"})
		b := register(t, e, map[string]any{"grant_types": []string{"client_credentials"}, "client_name": "B"})
		op := e.CreateClient("operator-made", "operator-secret-0123456789-0123456789", rpCallback, false)

		// Read.
		status, got := regCall(t, e, http.MethodGet, a.URI, a.Token, nil)
		if status != http.StatusOK || got["client_id"] != a.ID || got["client_name"] != "A" || got["registration_access_token"] != a.Token ||
			got["registration_client_uri"] != a.URI || got["client_secret"] != nil {
			t.Errorf("GET own registration: %d %v", status, got)
		}

		// Nobody manages a registration without its own token: not with
		// none, a wrong one, another client's, the initial token, nor an
		// operator-made client with any. All at once, as attackers would.
		type try struct{ method, uri, token string }
		var tries []try
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			tries = append(tries, try{m, a.URI, ""}, try{m, a.URI, "wrong"}, try{m, a.URI, b.Token}, try{m, b.URI, a.Token},
				try{m, a.URI, initialToken}, try{m, e.Issuer + "/oauth2/register/" + op.ID, a.Token},
				try{m, e.Issuer + "/oauth2/register/no-such-client", a.Token})
		}
		var wg sync.WaitGroup
		for _, tr := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, out := regCallNoBody(t, e, tr.method, tr.uri, tr.token)
				if tr.method == http.MethodPut {
					st, out = regCall(t, e, tr.method, tr.uri, tr.token, map[string]any{"client_id": a.ID, "redirect_uris": []string{"https://evil.example.com/cb"}})
				}
				if st != http.StatusUnauthorized || out["error"] != "invalid_token" {
					t.Errorf("%s %s with token %.10q: %d %v, want 401 invalid_token", tr.method, tr.uri, tr.token, st, out)
				}
			}()
		}
		wg.Wait()
		for _, id := range []string{a.ID, b.ID, op.ID} {
			if _, err := e.Store.FreshClient(t.Context(), id); err != nil {
				t.Errorf("client %s after the attempts: %v", id, err)
			}
		}
		if c, _ := e.Store.FreshClient(t.Context(), a.ID); !slices.Equal(c.RedirectURIs, []string{rpCallback}) {
			t.Errorf("an attacker changed the redirect URIs: %v", c.RedirectURIs)
		}

		// The operator sees which clients registered themselves.
		svc := &admin.Service{Store: e.Store, Issuer: e.Issuer}
		for id, want := range map[string]bool{a.ID: true, op.ID: false} {
			if v, err := svc.ShowClient(t.Context(), id); err != nil || v.Registered != want {
				t.Errorf("operator's view of %s: registered %v (%v), want %v", id, v != nil && v.Registered, err, want)
			}
		}

		// Update: the whole metadata is replaced; the token rotates.
		status, got = regCall(t, e, http.MethodPut, a.URI, a.Token, map[string]any{
			"client_id": a.ID, "client_name": "A renamed", "redirect_uris": []string{rpCallback, "https://rp.example.com/other"},
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid profile offline_access",
		})
		newToken, _ := got["registration_access_token"].(string)
		if status != http.StatusOK || got["client_name"] != "A renamed" || len(ocStrings(got["redirect_uris"])) != 2 || newToken == "" || newToken == a.Token {
			t.Fatalf("PUT own registration: %d %v", status, got)
		}
		if status, _ := regCall(t, e, http.MethodGet, a.URI, a.Token, nil); status != http.StatusUnauthorized {
			t.Errorf("the token replaced by a PUT still reads: %d", status)
		}

		// A token spent by a PUT is spent once: of two PUTs with it at
		// once, one changes the client and gets the next token.
		put := map[string]any{"client_id": a.ID, "client_name": "A renamed", "redirect_uris": []string{rpCallback, "https://rp.example.com/other"},
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid profile offline_access"}
		results := make(chan map[string]any, 2)
		for range 2 {
			go func() {
				st, out := regCall(t, e, http.MethodPut, a.URI, newToken, put)
				out["status"] = float64(st)
				results <- out
			}()
		}
		var codes []float64
		for range 2 {
			out := <-results
			codes = append(codes, out["status"].(float64))
			if out["status"] == float64(http.StatusOK) {
				newToken = out["registration_access_token"].(string)
			}
		}
		slices.Sort(codes)
		if !slices.Equal(codes, []float64{http.StatusOK, http.StatusUnauthorized}) {
			t.Fatalf("two PUTs at once with one token: %v, want one 200 and one 401", codes)
		}
		if status, got := regCall(t, e, http.MethodGet, a.URI, newToken, nil); status != http.StatusOK || got["client_name"] != "A renamed" {
			t.Errorf("GET with the new token: %d %v", status, got)
		}
		for name, body := range map[string]map[string]any{
			"another client_id":  {"client_id": b.ID, "redirect_uris": []string{rpCallback}},
			"a new auth method":  {"client_id": a.ID, "redirect_uris": []string{rpCallback}, "token_endpoint_auth_method": "none"},
			"a fragment":         {"client_id": a.ID, "redirect_uris": []string{rpCallback + "#f"}},
			"an unknown grant":   {"client_id": a.ID, "redirect_uris": []string{rpCallback}, "grant_types": []string{"password"}},
			"no redirect at all": {"client_id": a.ID},
		} {
			if status, out := regCall(t, e, http.MethodPut, a.URI, newToken, body); status != http.StatusBadRequest || out["error"] == nil {
				t.Errorf("PUT with %s: %d %v, want 400", name, status, out)
			}
		}

		// A session before the delete: its refresh token ends with the client.
		r := newRP(t, e, idptest.Client{ID: a.ID, Secret: a.Secret, RedirectURI: rpCallback}, "openid", "profile", "offline_access")
		ctx := r.ctx(t.Context())
		verifier := oauth2.GenerateVerifier()
		code := codeFrom(t, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
		tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange after the PUT (the secret stays): %v", err)
		}

		// Delete.
		if status, _ := regCallNoBody(t, e, http.MethodDelete, a.URI, newToken); status != http.StatusNoContent {
			t.Fatalf("DELETE own registration: %d, want 204", status)
		}
		if status, _ := regCall(t, e, http.MethodGet, a.URI, newToken, nil); status != http.StatusUnauthorized {
			t.Errorf("GET a deleted registration: %d, want 401", status)
		}
		tok.Expiry = tok.Expiry.Add(-24 * 3600e9)
		if _, err := r.conf.TokenSource(ctx, tok).Token(); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("a deleted client refreshed its token: %v, want invalid_client", err)
		}
		form := url.Values{"grant_type": {"client_credentials"}}
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(b.ID, b.Secret)
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("client B's client_credentials after A's deletion: %d, want 200", resp.StatusCode)
		}

		// The audit log: registered, updated and deleted, each by the client.
		events, err := e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "client."})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, ev := range events {
			if ev.ClientID == a.ID {
				seen = append(seen, ev.Event)
				if !strings.Contains(ev.Detail, "dynamic registration") {
					t.Errorf("event %s detail %q does not say the client acted", ev.Event, ev.Detail)
				}
			}
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []string{"client.deleted", "client.registered", "client.updated", "client.updated"}) {
			t.Errorf("audit events of the client: %v", seen)
		}
	})
}

func regCallNoBody(t *testing.T, e *idptest.Env, method, u, token string) (int, map[string]any) {
	t.Helper()
	return regCall(t, e, method, u, token, nil)
}

// A client registers its public keys and authenticates with
// private_key_jwt (RFC 7523); it gets no secret.
func TestRegisteredKeyedClient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{RegistrationToken: initialToken})
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
		c := register(t, e, map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks": set, "scope": "openid"})
		if c.Secret != "" || c.raw["client_secret_expires_at"] != nil || c.raw["jwks"] == nil {
			t.Errorf("a private_key_jwt registration: %v", c.raw)
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		exp := time.Now().Add(time.Minute)
		assertion, err := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: c.ID, Subject: c.ID, Audience: josejwt.Audience{e.Issuer + "/oauth2/token"},
			ID: rand.Text(), IssuedAt: josejwt.NewNumericDate(exp.Add(-time.Minute)), Expiry: josejwt.NewNumericDate(exp)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		tokenByAssertion(t, e, c.ID, assertion)

		// The method stays as registered; a PUT keeps the keys.
		status, out := regCall(t, e, http.MethodPut, c.URI, c.Token, map[string]any{"client_id": c.ID, "grant_types": []string{"client_credentials"},
			"client_name": "keyed", "scope": "openid"})
		if status != http.StatusOK || out["token_endpoint_auth_method"] != "private_key_jwt" || out["jwks"] == nil {
			t.Errorf("PUT of a keyed client: %d %v", status, out)
		}
	})
}
