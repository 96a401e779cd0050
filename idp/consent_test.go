package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func TestConsentAndSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("ConsentShownOnceThenRemembered", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false)
			r := newRP(t, e, c)
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			if p.URL.Path != "/login/consent" || !strings.Contains(p.Body, "Test app shop") {
				t.Fatalf("first login of a third-party client: at %s, want the consent page naming the client", p.URL.Path)
			}
			for _, scope := range []string{`value="allow"`, `value="deny"`} {
				if !strings.Contains(p.Body, scope) {
					t.Errorf("consent page lacks %s", scope)
				}
			}
			codeFrom(t, b.Fill(p, url.Values{"consent": {"allow"}}), "state-0123456789")

			// A later login, even in another browser, is not asked again.
			b2 := e.NewBrowser()
			p = b2.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b2.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			p = b2.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			codeFrom(t, p, "state-0123456789")
		})

		t.Run("ConsentDeniedTellsTheRP", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false)
			r := newRP(t, e, c)
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			p = b.Fill(p, url.Values{"consent": {"deny"}})
			q := p.Location().Query()
			if !strings.HasPrefix(p.Location().String(), rpCallback) || q.Get("error") != "access_denied" || q.Get("state") != "state-0123456789" || q.Get("code") != "" {
				t.Fatalf("deny: redirected to %s, want %s?error=access_denied&state=…", p.Location(), rpCallback)
			}
		})

		t.Run("TwoInstancesServeOneLogin", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Instances: 2})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false)
			r := newRP(t, e, c)
			verifier := oauth2.GenerateVerifier()
			// Every request goes to the other instance than the one before.
			code := codeFrom(t, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
			ctx := r.ctx(t.Context())
			tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // ID tokens from both instances verify against one JWKS
				if _, err := r.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
					t.Fatalf("ID token: %v", err)
				}
				if tok, err = r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
					t.Fatalf("refresh on another instance: %v", err)
				}
			}
		})

		t.Run("SecureCookiesOverHTTPS", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{TLS: true})
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, c)
			client := e.Server.Client()
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := client.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookie := resp.Header.Get("Set-Cookie")
			for _, want := range []string{"__Host-idp_browser=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(cookie, want) {
					t.Errorf("Set-Cookie %q lacks %s", cookie, want)
				}
			}
		})
	})
}

func TestConsentShowsClientLogo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "shop", Name: "The Shop", Secret: "shop-secret-0123456789-0123456789-0123456789",
			RedirectURIs: []string{rpCallback}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "client_secret_basic", LogoURI: "https://cdn.shop.example/logo.png"})
		if err != nil {
			t.Fatal(err)
		}
		r := newRP(t, e, idptest.Client{ID: "shop", Secret: "shop-secret-0123456789-0123456789-0123456789", RedirectURI: rpCallback}, "openid", "profile")
		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
		if !strings.Contains(p.Body, `src="https://cdn.shop.example/logo.png"`) || !strings.Contains(p.Header.Get("Content-Security-Policy"), "https://cdn.shop.example") {
			t.Fatalf("the consent page does not show the client's logo (or the CSP blocks it):\n%s", p.Header.Get("Content-Security-Policy"))
		}
	})
}
