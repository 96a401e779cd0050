package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const rpCallback = "https://rp.example.com/callback"

// rp is a relying party as a real one is written: go-oidc and x/oauth2.
type rp struct {
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	http     *http.Client
}

func newRP(t testing.TB, e *idptest.Env, c idptest.Client, scopes ...string) *rp {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), e.Server.Client())
	p, err := oidc.NewProvider(ctx, e.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "phone", oidc.ScopeOfflineAccess}
	}
	ep := p.Endpoint()
	// The client is registered for client_secret_basic; saying so keeps
	// x/oauth2 from retrying a failed request with the secret in the body,
	// which would hide the first error behind invalid_client.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if c.Secret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &rp{
		provider: p,
		conf:     oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURI, Endpoint: ep, Scopes: scopes},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
		http:     e.Server.Client(),
	}
}

func (r *rp) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, r.http)
}

// authorize returns an authorize URL with PKCE (S256), state and nonce.
func (r *rp) authorize(state, nonce, verifier string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, extra...)
	return r.conf.AuthCodeURL(state, opts...)
}

// codeFrom checks the redirect to the RP and returns its code.
func codeFrom(t testing.TB, p *idptest.Page, state string) string {
	t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("want a redirect to the RP, got %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	loc := p.Location()
	if !strings.HasPrefix(loc.String(), rpCallback) {
		t.Fatalf("redirected to %s, want %s", loc, rpCallback)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorize error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	return q.Get("code")
}

func TestEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false)
		r := newRP(t, e, client)
		ctx := r.ctx(t.Context())

		verifier := oauth2.GenerateVerifier()
		before := time.Now().Add(-time.Second).Truncate(time.Second)
		p := e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user)
		code := codeFrom(t, p, "state-0123456789")

		// The SMS: to the user's phone, with the origin-bound last line.
		msgs := e.Messages()
		if len(msgs) != 1 || msgs[0].To != user.Phone {
			t.Fatalf("outbox = %+v, want one SMS to %s", msgs, user.Phone)
		}
		host := strings.TrimPrefix(e.Issuer, "http://")
		if !strings.Contains(msgs[0].Body, "@"+host+" #") {
			t.Errorf("SMS %q lacks the origin-bound line @%s #code", msgs[0].Body, host)
		}

		tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token though offline_access was granted")
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := r.verifier.Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("ID token does not verify against the JWKS: %v", err)
		}
		var claims struct {
			Nonce    string   `json:"nonce"`
			AMR      []string `json:"amr"`
			AuthTime int64    `json:"auth_time"`
			Sub      string   `json:"sub"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.Nonce != "nonce-0123456789" {
			t.Errorf("nonce = %q", claims.Nonce)
		}
		if !slices.Equal(claims.AMR, []string{"pwd", "sms", "mfa"}) {
			t.Errorf("amr = %v, want [pwd sms mfa]", claims.AMR)
		}
		if at := time.Unix(claims.AuthTime, 0); at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("auth_time = %v, want about now", at)
		}
		if claims.Sub != user.ID {
			t.Errorf("sub = %q, want %q", claims.Sub, user.ID)
		}

		info, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var ui map[string]any
		info.Claims(&ui)
		if ui["sub"] != user.ID || ui["preferred_username"] != "alice" || ui["phone_number"] != user.Phone || ui["phone_number_verified"] != true {
			t.Errorf("userinfo = %v", ui)
		}

		// Introspection (RFC 7662) by the client.
		intro := introspect(t, e, client, tok.AccessToken)
		if intro["active"] != true || intro["client_id"] != client.ID || intro["sub"] != user.ID {
			t.Errorf("introspection of a live token = %v", intro)
		}

		// Refresh: a new access and refresh token, and a new ID token.
		refreshed, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if rid, _ := refreshed.Extra("id_token").(string); rid == "" {
			t.Error("refresh returned no ID token")
		} else if _, err := r.verifier.Verify(ctx, rid); err != nil {
			t.Errorf("refreshed ID token: %v", err)
		}
		if intro := introspect(t, e, client, tok.AccessToken); intro["active"] != false {
			t.Errorf("the access token replaced by refresh is still active: %v", intro)
		}

		// Revocation (RFC 7009) of the refresh token ends its access token too.
		revoke(t, e, client, refreshed.RefreshToken)
		if intro := introspect(t, e, client, refreshed.AccessToken); intro["active"] != false {
			t.Errorf("access token still active after its refresh token was revoked: %v", intro)
		}
		if _, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
			t.Error("a revoked refresh token still works")
		}
	})
}

func introspect(t *testing.T, e *idptest.Env, c idptest.Client, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("introspection: status %d: %v", resp.StatusCode, err)
	}
	return out
}

func revoke(t *testing.T, e *idptest.Env, c idptest.Client, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: status %d", resp.StatusCode)
	}
}
