package idp_test

// The modules of the OpenID Foundation's Basic OP and Config OP
// certification test plans (oidcc-basic-certification-test-plan,
// oidcc-config-certification-test-plan), one subtest each, named as the
// conformance suite names them, so coverage can be read off the test list;
// then the promises this provider makes beyond them. Each drives the
// provider as the suite does: a browser through the hosted pages (the PIN
// read from the SMS outbox), and an RP at the token, userinfo and logout
// endpoints that checks only what an RP can see.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

const (
	ocSecret    = "rp-secret-0123456789-0123456789-0123456789"
	ocLogoutURI = "https://rp.example.com/logged-out"
	ocAttacker  = "https://attacker.example/callback"
)

func TestOIDCC(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// --- Basic OP plan --------------------------------------------------

		t.Run("oidcc-server", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			if n, ok := tk.resp["expires_in"].(float64); !ok || n <= 0 {
				t.Errorf("expires_in = %v, want a positive number (RFC 6749 5.1)", tk.resp["expires_in"])
			}
			status, _, info := o.userinfo(http.MethodGet, "header", tk.access)
			if status != http.StatusOK || info["sub"] != tk.id["sub"] {
				t.Errorf("userinfo: %d %v, want 200 with the ID token's sub", status, info)
			}
		})

		t.Run("oidcc-response-type-missing", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "response_type", "")
			p := o.e.NewBrowser().Get(o.url(a))
			// OIDC Core 3.1.2.6: an error to the RP (invalid_request or
			// unsupported_response_type), or an error page; never a code.
			if loc := p.Header.Get("Location"); loc != "" {
				q := o.callback(p, a)
				if e := q.Get("error"); (e != "invalid_request" && e != "unsupported_response_type") || q.Get("code") != "" {
					t.Fatalf("redirected with %v, want error=invalid_request or unsupported_response_type and no code", q)
				}
				return
			}
			if p.Status < 400 {
				t.Fatalf("status %d at %s, want an error (redirect or page)", p.Status, p.URL)
			}
		})

		t.Run("oidcc-idtoken-signature", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a)) // exchange verifies against the JWKS
			hdr := ocJOSEHeader(t, tk.rawID)
			if kid, _ := hdr["kid"].(string); kid == "" || o.jwk(kid) == nil {
				t.Errorf("ID token header %v: kid missing or not in the JWKS", hdr)
			}
			// A changed payload must not verify (the signature covers it).
			parts := strings.Split(tk.rawID, ".")
			forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]
			if _, err := o.provider.Verifier(&oidc.Config{ClientID: o.client.ID}).Verify(o.ctx(), forged); err == nil {
				t.Error("an ID token with a changed payload verified")
			}
		})

		t.Run("oidcc-idtoken-unsigned", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			if algs := ocStrings(o.discovery()["id_token_signing_alg_values_supported"]); slices.Contains(algs, "none") {
				t.Fatalf("id_token_signing_alg_values_supported = %v advertises none", algs)
			}
			t.Skip("unsigned ID tokens (alg none) are not offered, so the suite skips this module")
		})

		for _, m := range []struct{ name, method, how string }{
			{"oidcc-userinfo-get", http.MethodGet, "header"},
			{"oidcc-userinfo-post-header", http.MethodPost, "header"},
			{"oidcc-userinfo-post-body", http.MethodPost, "body"},
		} {
			t.Run(m.name, func(t *testing.T) {
				o := newOC(t, open, idptest.Options{})
				a := o.auth(o.client, "openid profile phone")
				tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
				status, hdr, info := o.userinfo(m.method, m.how, tk.access)
				if status != http.StatusOK {
					t.Fatalf("userinfo %s with the token in the %s: status %d %v", m.method, m.how, status, info)
				}
				if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
					t.Errorf("Content-Type = %q, want application/json", hdr.Get("Content-Type"))
				}
				if info["sub"] != tk.id["sub"] || info["preferred_username"] != o.user.Username || info["phone_number"] != o.user.Phone {
					t.Errorf("userinfo = %v", info)
				}
			})
		}

		t.Run("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "nonce", "")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			if _, ok := tk.id["nonce"]; ok {
				t.Errorf("ID token has nonce %v though none was sent", tk.id["nonce"])
			}
		})

		t.Run("oidcc-scope-profile", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			info := o.scopeClaims(o.auth(o.client, "openid profile"))
			if info["preferred_username"] != o.user.Username {
				t.Errorf("userinfo for scope profile = %v, want preferred_username %q", info, o.user.Username)
			}
			if _, ok := info["phone_number"]; ok {
				t.Errorf("userinfo for scope profile releases phone_number: %v", info)
			}
		})

		for _, scope := range []string{"email", "address"} {
			t.Run("oidcc-scope-"+scope, func(t *testing.T) {
				o := newOC(t, open, idptest.Options{})
				if s := ocStrings(o.discovery()["scopes_supported"]); slices.Contains(s, scope) {
					t.Fatalf("scopes_supported = %v lists %s: this module must then run", s, scope)
				}
				t.Skipf("scope %s is not in scopes_supported, so the suite skips this module", scope)
			})
		}

		t.Run("oidcc-scope-phone", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			info := o.scopeClaims(o.auth(o.client, "openid phone"))
			if info["phone_number"] != o.user.Phone || info["phone_number_verified"] != true {
				t.Errorf("userinfo for scope phone = %v, want phone_number %s, phone_number_verified true", info, o.user.Phone)
			}
			if _, ok := info["preferred_username"]; ok {
				t.Errorf("userinfo for scope phone releases profile claims: %v", info)
			}
		})

		t.Run("oidcc-scope-all", func(t *testing.T) {
			// The suite asks for openid email profile address phone, and skips
			// when scopes_supported lacks one; here: every scope advertised.
			o := newOC(t, open, idptest.Options{})
			all := ocStrings(o.discovery()["scopes_supported"])
			a := o.auth(o.client, strings.Join(all, " "))
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			_, _, info := o.userinfo(http.MethodGet, "header", tk.access)
			if info["preferred_username"] != o.user.Username || info["phone_number"] != o.user.Phone {
				t.Errorf("userinfo for scope %q = %v", all, info)
			}
			if slices.Contains(all, "offline_access") && tk.refresh == "" {
				t.Error("no refresh token though offline_access was asked")
			}
		})

		t.Run("oidcc-ensure-other-scope-order-succeeds", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			for _, scope := range []string{"phone openid", "profile phone openid"} {
				info := o.scopeClaims(o.auth(o.client, scope))
				if info["phone_number"] != o.user.Phone {
					t.Errorf("scope %q: userinfo = %v", scope, info)
				}
			}
		})

		t.Run("oidcc-alternate-happy-flow", func(t *testing.T) {
			// Scopes reversed and the query in another order (RFC 6749 3.3).
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "phone profile openid")
			keys := []string{"state", "nonce", "scope", "redirect_uri", "client_id", "response_type"}
			var q []string
			for _, k := range keys {
				q = append(q, url.QueryEscape(k)+"="+url.QueryEscape(a.q.Get(k)))
			}
			b := o.e.NewBrowser()
			p, _ := o.drive(b, b.Get(o.e.Issuer+"/oauth2/auth?"+strings.Join(q, "&")))
			tk := o.exchange(a, o.code(p, a))
			if _, _, info := o.userinfo(http.MethodGet, "header", tk.access); info["phone_number"] != o.user.Phone || info["preferred_username"] != o.user.Username {
				t.Errorf("userinfo = %v", info)
			}
		})

		for _, display := range []string{"page", "popup"} {
			t.Run("oidcc-display-"+display, func(t *testing.T) {
				o := newOC(t, open, idptest.Options{})
				a := o.auth(o.client, "openid", "display", display)
				p, steps := o.login(o.e.NewBrowser(), a)
				if !steps.password {
					t.Error("no login page was shown")
				}
				o.exchange(a, o.code(p, a))
			})
		}

		t.Run("oidcc-prompt-login", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			first := o.signedIn(b, o.client)
			sent := len(o.e.Messages())
			start := time.Now().Truncate(time.Second)
			a := o.auth(o.client, "openid", "prompt", "login")
			p, steps := o.login(b, a)
			if !steps.password || !steps.pin || len(o.e.Messages()) != sent+1 {
				t.Fatalf("prompt=login with a session: steps %+v, %d new SMS; want the password and a new PIN", steps, len(o.e.Messages())-sent)
			}
			second := o.exchange(a, o.code(p, a))
			if second.id["sub"] != first.id["sub"] {
				t.Errorf("sub %v, then %v", first.id["sub"], second.id["sub"])
			}
			// The suite checks the two auth_time differ; at one-second
			// resolution that needs a second between the logins, so this
			// checks the second is of the new login instead.
			if at := ocUnix(second.id["auth_time"]); at.Before(start) || at.Before(ocUnix(first.id["auth_time"])) {
				t.Errorf("auth_time after prompt=login = %v, want the new login's (at or after %v)", at, start)
			}
		})

		t.Run("oidcc-prompt-none-not-logged-in", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "prompt", "none")
			q := o.callback(o.e.NewBrowser().Get(o.url(a)), a)
			if q.Get("error") != "login_required" || q.Get("code") != "" {
				t.Fatalf("prompt=none without a session: %v, want error=login_required", q)
			}
			if n := len(o.e.Messages()); n != 0 {
				t.Errorf("%d SMS sent for prompt=none", n)
			}
		})

		t.Run("oidcc-prompt-none-logged-in", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			first := o.signedIn(b, o.client)
			o.sameAuthTwice(b, first, "prompt", "none")
		})

		t.Run("oidcc-max-age-1", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			first := o.signedIn(b, o.client)
			// max_age counts whole seconds since the login: real time must pass.
			time.Sleep(1500 * time.Millisecond)
			a := o.auth(o.client, "openid", "max_age", "1")
			p, steps := o.login(b, a)
			if !steps.password || !steps.pin {
				t.Fatalf("max_age=1 after 1.5 s: steps %+v, want the login asked again", steps)
			}
			second := o.exchange(a, o.code(p, a))
			at, ok := second.id["auth_time"]
			if !ok {
				t.Fatal("no auth_time in the ID token though max_age was sent (OIDC Core 2)")
			}
			if !ocUnix(at).After(ocUnix(first.id["auth_time"])) {
				t.Errorf("auth_time %v is not later than the first login's %v", ocUnix(at), ocUnix(first.id["auth_time"]))
			}
			if d := time.Since(ocUnix(at)); d > time.Minute || d < -5*time.Second {
				t.Errorf("auth_time %v is not recent", ocUnix(at))
			}
		})

		t.Run("oidcc-max-age-10000", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			first := o.signedIn(b, o.client)
			second := o.sameAuthTwice(b, first, "max_age", "10000")
			if _, ok := second.id["auth_time"]; !ok {
				t.Error("no auth_time in the ID token though max_age was sent (OIDC Core 2)")
			}
		})

		t.Run("oidcc-ensure-request-with-unknown-parameter-succeeds", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "extra", "foobar")
			o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
		})

		t.Run("oidcc-id-token-hint", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			first := o.signedIn(b, o.client)
			o.sameAuthTwice(b, first, "prompt", "none", "id_token_hint", first.rawID)
		})

		t.Run("oidcc-login-hint", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "login_hint", o.user.Username)
			b := o.e.NewBrowser()
			p := b.Get(o.url(a))
			if p.URL.Path != "/login" || !strings.Contains(p.Body, `name="username" type="text" value="`+o.user.Username+`"`) {
				t.Errorf("login page at %s does not prefill the username %q from login_hint", p.URL.Path, o.user.Username)
			}
			p, _ = o.drive(b, p)
			o.exchange(a, o.code(p, a))
		})

		t.Run("oidcc-ui-locales", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "ui_locales", "ja en")
			b := o.e.NewBrowser()
			p := b.Get(o.url(a))
			if !strings.Contains(p.Body, `<html lang="ja">`) {
				t.Errorf("ui_locales=ja: the login page is not in Japanese:\n%.300s", p.Body)
			}
			p, _ = o.drive(b, p)
			o.exchange(a, o.code(p, a))
			// A language the provider lacks is no error.
			a = o.auth(o.client, "openid", "ui_locales", "se")
			o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
		})

		t.Run("oidcc-claims-locales", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid profile", "claims_locales", "se")
			o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
		})

		t.Run("oidcc-ensure-request-with-acr-values-succeeds", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "acr_values", "1 2")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			if acr, ok := tk.id["acr"]; ok {
				if s, _ := acr.(string); s == "" {
					t.Errorf("acr = %v, want a string", acr)
				}
			}
		})

		t.Run("oidcc-codereuse", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			code := o.codeOf(o.e.NewBrowser(), a)
			o.exchange(a, code)
			o.reuseRefused(a, code)
		})

		t.Run("oidcc-codereuse-30seconds", func(t *testing.T) {
			// The suite waits 30 s first; what it checks after is the same
			// refusal, and that the first exchange's tokens are revoked
			// (RFC 6749 4.1.2). No wait here: the store has no clock to skip.
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid offline_access")
			code := o.codeOf(o.e.NewBrowser(), a)
			tk := o.exchange(a, code)
			if tk.refresh == "" {
				t.Fatal("no refresh token for offline_access")
			}
			o.reuseRefused(a, code)
			if status, _, _ := o.userinfo(http.MethodGet, "header", tk.access); status != http.StatusUnauthorized {
				t.Errorf("userinfo with the access token of a replayed code: status %d, want 401", status)
			}
			if status, body := o.refresh(o.client, tk.refresh); status == http.StatusOK {
				t.Errorf("the refresh token of a replayed code still works: %v", body)
			}
		})

		t.Run("oidcc-ensure-registered-redirect-uri", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "redirect_uri", ocAttacker)
			p := o.e.NewBrowser().Get(o.url(a))
			o.errorPageNoRedirect(p, ui.MsgBadRedirectURI)
		})

		t.Run("oidcc-ensure-post-request-succeeds", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid profile")
			b := o.e.NewBrowser()
			// A cross-site form post from the RP's page, as a browser sends it.
			req, _ := http.NewRequest(http.MethodPost, o.e.Issuer+"/oauth2/auth", strings.NewReader(a.q.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://rp.example.com")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := b.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p := &idptest.Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
			p, steps := o.drive(b, p)
			if !steps.password {
				t.Errorf("POST to the authorization endpoint: no login page (status %d at %s)", p.Status, p.URL)
			}
			o.exchange(a, o.code(p, a))
		})

		t.Run("oidcc-server-client-secret-post", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			c := o.register("rp-post", "client_secret_post", true)
			a := o.auth(c, "openid")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			if status, _, info := o.userinfo(http.MethodGet, "header", tk.access); status != http.StatusOK || info["sub"] != o.user.ID {
				t.Errorf("userinfo: %d %v", status, info)
			}
		})

		t.Run("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			object := o.requestObject(a)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
				io.WriteString(w, object)
			}))
			t.Cleanup(srv.Close)
			// OIDC Core 6.2: request_uri by reference; state and nonce only inside.
			outer := url.Values{"response_type": {"code"}, "client_id": {o.client.ID}, "scope": {"openid"},
				"redirect_uri": {o.client.RedirectURI}, "request_uri": {srv.URL + "/request.jwt"}}
			o.requestObjectOutcome(a, outer, "request_uri_not_supported")
		})

		t.Run("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			outer := url.Values{"response_type": {"code"}, "client_id": {o.client.ID}, "scope": {"openid"},
				"redirect_uri": {o.client.RedirectURI}, "request": {o.requestObject(a)}}
			o.requestObjectOutcome(a, outer, "request_not_supported")
		})

		t.Run("oidcc-ensure-request-object-with-redirect-uri", func(t *testing.T) {
			// The request object names the registered redirect URI, the query
			// an unregistered one: the object wins, or the request is refused;
			// the unregistered URI is never redirected to.
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			outer := url.Values{"response_type": {"code"}, "client_id": {o.client.ID}, "scope": {"openid"},
				"redirect_uri": {ocAttacker}, "request": {o.requestObject(a)}}
			b := o.e.NewBrowser()
			p, _ := o.drive(b, b.Get(o.e.Issuer+"/oauth2/auth?"+outer.Encode()))
			if loc := p.Header.Get("Location"); strings.HasPrefix(loc, ocAttacker) {
				t.Fatalf("redirected to the unregistered URI %s", loc)
			} else if strings.HasPrefix(loc, rpCallback) {
				if q := p.Location().Query(); q.Get("code") != "" {
					o.exchange(a, o.code(p, a))
				}
			} else if p.Status < 400 {
				t.Fatalf("status %d at %s, location %q: want the object's redirect URI or an error", p.Status, p.URL, loc)
			}
		})

		t.Run("oidcc-claims-essential", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "claims", `{"userinfo":{"name":{"essential":true}}}`)
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			// name is not a claim this provider has (the suite warns); the
			// request must still succeed and userinfo answer.
			if status, _, info := o.userinfo(http.MethodGet, "header", tk.access); status != http.StatusOK || info["sub"] != o.user.ID {
				t.Errorf("userinfo: %d %v", status, info)
			}
		})

		t.Run("oidcc-refresh-token", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			// OIDC Core 11: offline_access comes with prompt=consent.
			a := o.auth(o.client, "openid offline_access", "prompt", "consent")
			p, steps := o.login(o.e.NewBrowser(), a)
			if !steps.consent {
				t.Error("prompt=consent showed no consent page")
			}
			tk := o.exchange(a, o.code(p, a))
			if tk.refresh == "" {
				t.Fatal("no refresh token")
			}
			for _, r := range tk.refresh { // RFC 6749 A.17: VSCHAR
				if r < 0x20 || r > 0x7e {
					t.Fatalf("refresh token has character %q", r)
				}
			}
			status, body := o.refresh(o.client, tk.refresh)
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, body)
			}
			rt := o.tokens(o.client, body)
			if rt.access == tk.access || rt.refresh == "" || rt.rawID == "" {
				t.Fatalf("refresh response: new access token %t, refresh token %t, ID token %t", rt.access != tk.access, rt.refresh != "", rt.rawID != "")
			}
			// OIDC Core 12.2: the same iss, sub, aud and auth_time; a new iat.
			for _, c := range []string{"iss", "sub", "auth_time", "azp"} {
				if !ocSame(rt.id[c], tk.id[c]) {
					t.Errorf("refreshed ID token %s = %v, was %v", c, rt.id[c], tk.id[c])
				}
			}
			if !ocSame(ocStrings(rt.id["aud"]), ocStrings(tk.id["aud"])) {
				t.Errorf("refreshed ID token aud = %v, was %v", rt.id["aud"], tk.id["aud"])
			}
			if ocUnix(rt.id["iat"]).Before(ocUnix(tk.id["iat"])) {
				t.Errorf("refreshed ID token iat %v is before the first's %v", rt.id["iat"], tk.id["iat"])
			}
			if status, _, info := o.userinfo(http.MethodGet, "header", rt.access); status != http.StatusOK || info["sub"] != o.user.ID {
				t.Errorf("userinfo with the refreshed access token: %d %v", status, info)
			}
			// A refresh token is bound to its client (RFC 6749 6).
			other := o.register("rp2", "client_secret_basic", true)
			if status, body := o.refresh(other, rt.refresh); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Errorf("another client's refresh token: %d %v, want 400 invalid_grant", status, body)
			}
		})

		t.Run("oidcc-ensure-request-with-valid-pkce-succeeds", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid").pkce()
			o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
		})

		// --- Config OP plan ---------------------------------------------------

		t.Run("oidcc-discovery-endpoint-verification", func(t *testing.T) {
			// Over https, as the suite requires of every endpoint.
			o := newOC(t, open, idptest.Options{TLS: true})
			resp, err := o.http.Get(o.e.Issuer + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("discovery: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			d := o.discovery()
			if d["issuer"] != o.e.Issuer {
				t.Errorf("issuer = %v, want %s (OIDC Discovery 4.3)", d["issuer"], o.e.Issuer)
			}
			if u, err := url.Parse(o.e.Issuer); err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
				t.Errorf("issuer %s: want https, no query or fragment", o.e.Issuer)
			}
			for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
				"subject_types_supported", "id_token_signing_alg_values_supported"} {
				if _, ok := d[k]; !ok {
					t.Errorf("required %s missing (OIDC Discovery 3)", k)
				}
			}
			for k, v := range d {
				if !strings.HasSuffix(k, "_endpoint") && k != "jwks_uri" {
					continue
				}
				s, _ := v.(string)
				if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
					t.Errorf("%s = %v: want an absolute https URL", k, v)
				}
			}
			for k, want := range map[string]string{
				"response_types_supported":              "code",
				"subject_types_supported":               "public",
				"id_token_signing_alg_values_supported": "RS256",
				"scopes_supported":                      "openid",
				"grant_types_supported":                 "authorization_code",
				"code_challenge_methods_supported":      "S256",
			} {
				if !slices.Contains(ocStrings(d[k]), want) {
					t.Errorf("%s = %v, want it to contain %s", k, d[k], want)
				}
			}
			for _, k := range []string{"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
				"scopes_supported", "claims_supported", "grant_types_supported", "response_modes_supported", "ui_locales_supported",
				"acr_values_supported", "token_endpoint_auth_methods_supported", "code_challenge_methods_supported"} {
				if _, ok := d[k].([]any); !ok {
					t.Errorf("%s = %v, want a JSON array", k, d[k])
				}
			}
			if slices.Contains(ocStrings(d["subject_types_supported"]), "pairwise") {
				t.Error("pairwise subjects advertised but not served")
			}
			for _, l := range ocStrings(d["ui_locales_supported"]) {
				if !regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`).MatchString(l) {
					t.Errorf("ui_locales_supported %q is not a BCP 47 tag", l)
				}
			}
			if d["end_session_endpoint"] != o.e.Issuer+"/oauth2/logout" {
				t.Errorf("end_session_endpoint = %v", d["end_session_endpoint"])
			}
			if !slices.Contains(ocStrings(d["acr_values_supported"]), idp.ACRPasswordSMS) {
				t.Errorf("acr_values_supported = %v lacks %s", d["acr_values_supported"], idp.ACRPasswordSMS)
			}

			// jwks_uri: public signing keys only, each with kid, kty, use, alg.
			keys := o.jwks()
			if len(keys) == 0 {
				t.Fatal("the JWKS has no keys")
			}
			seen := map[string]bool{}
			for _, k := range keys {
				for _, f := range []string{"kid", "kty", "use", "alg"} {
					if s, _ := k[f].(string); s == "" {
						t.Errorf("JWKS key %v lacks %s", k["kid"], f)
					}
				}
				if k["use"] != "sig" {
					t.Errorf("JWKS key %v has use %v, want sig", k["kid"], k["use"])
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS key %v publishes the private or symmetric member %q", k["kid"], private)
					}
				}
				for f, v := range k {
					if s, ok := v.(string); ok && (f == "n" || f == "e" || f == "x" || f == "y") {
						if _, err := base64.RawURLEncoding.DecodeString(s); err != nil {
							t.Errorf("JWKS key %v member %s is not unpadded base64url", k["kid"], f)
						}
					}
				}
				kid, _ := k["kid"].(string)
				if seen[kid] {
					t.Errorf("kid %s appears twice", kid)
				}
				seen[kid] = true
			}
			if !slices.ContainsFunc(keys, func(k map[string]any) bool { return k["alg"] == "RS256" && k["kty"] == "RSA" }) {
				t.Error("no RS256 key in the JWKS")
			}

			// Every advertised endpoint answers (not 404, 405 nor 5xx) with
			// the method it is meant for.
			noRedirect := *o.http
			noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			for k, v := range d {
				if !strings.HasSuffix(k, "_endpoint") && k != "jwks_uri" {
					continue
				}
				method := http.MethodGet
				switch k {
				case "token_endpoint", "introspection_endpoint", "revocation_endpoint", "pushed_authorization_request_endpoint",
					"device_authorization_endpoint":
					method = http.MethodPost
				}
				req, _ := http.NewRequest(method, v.(string), strings.NewReader(""))
				if method == http.MethodPost {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, k, err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode >= 500 {
					t.Errorf("%s %s (%s): status %d", method, k, v, resp.StatusCode)
				}
			}
			if resp, err := o.http.Get(d["userinfo_endpoint"].(string)); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("userinfo without a token: %d, WWW-Authenticate %q; want 401 Bearer (RFC 6750 3)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			}

			// claims_supported lists what is released: every claim userinfo
			// and the ID token carry for all scopes (beside the JWT and
			// protocol ones).
			a := o.auth(o.client, strings.Join(ocStrings(d["scopes_supported"]), " "))
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			_, _, info := o.userinfo(http.MethodGet, "header", tk.access)
			supported := ocStrings(d["claims_supported"])
			protocol := []string{"iss", "aud", "exp", "iat", "nbf", "jti", "azp", "at_hash", "c_hash", "rat", "sid", "nonce"}
			for _, set := range []map[string]any{info, tk.id} {
				for c := range set {
					if !slices.Contains(supported, c) && !slices.Contains(protocol, c) {
						t.Errorf("claim %q is released but not in claims_supported %v", c, supported)
					}
				}
			}
		})

		t.Run("oidcc-idtoken-rs256", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			hdr := ocJOSEHeader(t, tk.rawID)
			if hdr["alg"] != "RS256" {
				t.Errorf("ID token alg = %v, want RS256", hdr["alg"])
			}
			kid, _ := hdr["kid"].(string)
			k := o.jwk(kid)
			if kid == "" || k == nil {
				t.Fatalf("ID token kid %q is not in the JWKS", kid)
			}
			if k["kty"] != "RSA" || (k["alg"] != nil && k["alg"] != "RS256") {
				t.Errorf("the JWKS key %s is %v/%v, want RSA/RS256", kid, k["kty"], k["alg"])
			}
		})

		// --- this provider's promises ---------------------------------------

		t.Run("refresh-token-reuse-revokes-chain", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid offline_access")
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			chain := []*ocTokens{tk}
			for range 2 {
				status, body := o.refresh(o.client, chain[len(chain)-1].refresh)
				if status != http.StatusOK {
					t.Fatalf("refresh: %d %v", status, body)
				}
				chain = append(chain, o.tokens(o.client, body))
			}
			// The first refresh token, rotated out, is used again.
			if status, body := o.refresh(o.client, chain[0].refresh); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("reused refresh token: %d %v, want 400 invalid_grant", status, body)
			}
			newest := chain[len(chain)-1]
			if status, body := o.refresh(o.client, newest.refresh); status == http.StatusOK {
				t.Errorf("after reuse the newest refresh token still works: %v", body)
			}
			if in := introspect(t, o.e, o.client.idp(), newest.access); in["active"] != false {
				t.Errorf("after reuse the newest access token is still active: %v", in)
			}
			if status, _, _ := o.userinfo(http.MethodGet, "header", newest.access); status != http.StatusUnauthorized {
				t.Errorf("after reuse userinfo with the newest access token: %d, want 401", status)
			}
		})

		t.Run("response-mode-query", func(t *testing.T) {
			// The default for code, asked for by name (advertised in
			// response_modes_supported).
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "response_mode", "query")
			o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
		})

		t.Run("response-mode-form-post", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid", "response_mode", "form_post")
			p, _ := o.login(o.e.NewBrowser(), a)
			if p.Status != http.StatusOK || p.Header.Get("Location") != "" || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("form_post: status %d, Location %q, Content-Type %q; want 200 HTML", p.Status, p.Header.Get("Location"), p.Header.Get("Content-Type"))
			}
			form := regexp.MustCompile(`(?is)<form[^>]*method="post"[^>]*action="([^"]+)"`).FindStringSubmatch(p.Body)
			if form == nil || html.UnescapeString(form[1]) != a.c.RedirectURI {
				t.Fatalf("form_post page has no form posting to %s:\n%s", a.c.RedirectURI, p.Body)
			}
			fields := url.Values{}
			for _, m := range regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`).FindAllStringSubmatch(p.Body, -1) {
				fields.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
			if fields.Get("state") != a.state || fields.Get("code") == "" || fields.Get("error") != "" {
				t.Fatalf("form_post fields = %v, want code and state %q", fields, a.state)
			}
			o.exchange(a, fields.Get("code"))
		})

		t.Run("rp-initiated-logout-with-hint", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			a := o.auth(o.client, "openid offline_access")
			tk := o.exchange(a, o.codeOf(b, a))
			old := o.cloneBrowser(b) // keeps the session cookie as it was
			state := rand.Text()
			p := b.Get(o.e.Issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.rawID},
				"post_logout_redirect_uri": {ocLogoutURI}, "state": {state}}.Encode())
			if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
				t.Fatalf("logout with a valid hint: status %d at %s, want a redirect at once:\n%.500s", p.Status, p.URL, p.Body)
			}
			if loc := p.Location(); loc.Scheme+"://"+loc.Host+loc.Path != ocLogoutURI || loc.Query().Get("state") != state {
				t.Fatalf("logout redirected to %s, want %s?state=%s", loc, ocLogoutURI, state)
			}
			// The session is gone on the server, not only the cookie.
			for name, br := range map[string]*idptest.Browser{"this browser": b, "the old session cookie": old} {
				na := o.auth(o.client, "openid", "prompt", "none")
				if q := o.callback(br.Get(o.url(na)), na); q.Get("error") != "login_required" {
					t.Errorf("prompt=none after logout with %s: %v, want error=login_required", name, q)
				}
			}
			if in := introspect(t, o.e, o.client.idp(), tk.access); in["active"] != false {
				t.Errorf("the session's access token is active after logout: %v", in)
			}
			if status, body := o.refresh(o.client, tk.refresh); status != http.StatusOK {
				t.Errorf("an offline_access refresh token stopped working at logout: %d %v", status, body)
			}
		})

		t.Run("rp-initiated-logout-without-hint-asks", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			o.signedIn(b, o.client)
			state := rand.Text()
			p := b.Get(o.e.Issuer + "/oauth2/logout?" + url.Values{"client_id": {o.client.ID},
				"post_logout_redirect_uri": {ocLogoutURI}, "state": {state}}.Encode())
			if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="logout" value="yes"`) || !strings.Contains(p.Body, `name="logout" value="no"`) {
				t.Fatalf("logout without a hint: status %d, want a confirmation page with yes and no:\n%.800s", p.Status, p.Body)
			}
			// The form is CSRF-protected: a post without the token ends nothing.
			if r := b.Submit(p.Action(t), url.Values{"logout": {"yes"}}); r.Status != http.StatusForbidden || r.Header.Get("Location") != "" {
				t.Errorf("confirmation posted without its CSRF token: status %d, location %q; want 403", r.Status, r.Header.Get("Location"))
			}
			o.stillSignedIn(b, "after a confirmation post without CSRF token")
			// "No" keeps the session.
			r := b.Fill(p, url.Values{"logout": {"no"}})
			if loc := r.Header.Get("Location"); loc != "" && !strings.HasPrefix(loc, ocLogoutURI) {
				t.Errorf("answering no redirected to %s", loc)
			}
			o.stillSignedIn(b, `after answering "no"`)
			// "Yes" ends it and returns to the RP with its state.
			r = b.Fill(p, url.Values{"logout": {"yes"}})
			if loc := r.Location(); r.Header.Get("Location") == "" || loc.Query().Get("state") != state || !strings.HasPrefix(loc.String(), ocLogoutURI) {
				t.Errorf("answering yes: status %d, location %q; want %s?state=%s", r.Status, r.Header.Get("Location"), ocLogoutURI, state)
			}
			na := o.auth(o.client, "openid", "prompt", "none")
			if q := o.callback(b.Get(o.url(na)), na); q.Get("error") != "login_required" {
				t.Errorf(`prompt=none after answering "yes": %v, want error=login_required`, q)
			}
		})

		t.Run("logout-unregistered-post-logout-redirect-uri", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			a := o.auth(o.client, "openid")
			tk := o.exchange(a, o.codeOf(b, a))
			p := b.Get(o.e.Issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tk.rawID},
				"post_logout_redirect_uri": {ocAttacker}, "state": {"s"}}.Encode())
			o.errorPageNoRedirect(p, ui.MsgBadRedirectURI)
			o.stillSignedIn(b, "after a refused logout")
		})

		t.Run("sso-second-rp-skips-password", func(t *testing.T) {
			t.Run("pin-remembered", func(t *testing.T) {
				o := newOC(t, open, idptest.Options{})
				rp2 := o.register("rp2", "client_secret_basic", true)
				b := o.e.NewBrowser()
				first := o.signedIn(b, o.client)
				a := o.auth(rp2, "openid")
				p, steps := o.login(b, a)
				if steps.password || steps.pin {
					t.Errorf("second RP within IDP_MFA_REMEMBER: steps %+v, want neither password nor PIN", steps)
				}
				if n := len(o.e.Messages()); n != 1 {
					t.Errorf("%d SMS for two logins, want 1", n)
				}
				second := o.exchange(a, o.code(p, a))
				if second.id["sub"] != first.id["sub"] || !ocSame(second.id["auth_time"], first.id["auth_time"]) {
					t.Errorf("second RP's ID token sub %v auth_time %v; first's %v %v", second.id["sub"], second.id["auth_time"], first.id["sub"], first.id["auth_time"])
				}
				if !ocSame(ocStrings(second.id["amr"]), []string{"pwd", "sms", "mfa"}) {
					t.Errorf("amr = %v, want [pwd sms mfa]: the session's login", second.id["amr"])
				}
			})
			t.Run("pin-not-remembered", func(t *testing.T) {
				o := newOC(t, open, idptest.Options{MFARemember: -1})
				rp2 := o.register("rp2", "client_secret_basic", true)
				b := o.e.NewBrowser()
				first := o.signedIn(b, o.client)
				a := o.auth(rp2, "openid")
				p, steps := o.login(b, a)
				if steps.password || !steps.pin {
					t.Errorf("second RP with the PIN not remembered: steps %+v, want the PIN but not the password", steps)
				}
				second := o.exchange(a, o.code(p, a))
				if second.id["sub"] != first.id["sub"] || !slices.Contains(ocStrings(second.id["amr"]), "sms") {
					t.Errorf("second ID token sub %v amr %v", second.id["sub"], second.id["amr"])
				}
			})
		})

		t.Run("acr-values-forces-pin", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			o.signedIn(b, o.client)
			a := o.auth(o.client, "openid", "acr_values", idp.ACRPasswordSMS)
			p, steps := o.login(b, a)
			if steps.password || !steps.pin || len(o.e.Messages()) != 2 {
				t.Errorf("acr_values=%s with a remembered PIN: steps %+v, %d SMS; want a new PIN, no password", idp.ACRPasswordSMS, steps, len(o.e.Messages()))
			}
			tk := o.exchange(a, o.code(p, a))
			if tk.id["acr"] != idp.ACRPasswordSMS {
				t.Errorf("acr = %v, want %s", tk.id["acr"], idp.ACRPasswordSMS)
			}
			if !ocSame(ocStrings(tk.id["amr"]), []string{"pwd", "sms", "mfa"}) {
				t.Errorf("amr = %v", tk.id["amr"])
			}
		})

		t.Run("claims-parameter-id-token", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			a := o.auth(o.client, "openid phone", "claims", `{"id_token":{"phone_number":null}}`)
			tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
			if tk.id["phone_number"] != o.user.Phone {
				t.Errorf("ID token phone_number = %v, want %s (OIDC Core 5.5)", tk.id["phone_number"], o.user.Phone)
			}
			// Without the phone scope the claim is not released there.
			a = o.auth(o.client, "openid", "claims", `{"id_token":{"phone_number":null}}`)
			if tk = o.exchange(a, o.codeOf(o.e.NewBrowser(), a)); tk.id["phone_number"] != nil {
				t.Errorf("ID token phone_number = %v without the phone scope", tk.id["phone_number"])
			}
		})

		t.Run("client-credentials", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			svc := ocClient{ID: "svc", Secret: ocSecret, Method: "client_secret_basic"}
			if err := o.e.Store.CreateClient(t.Context(), store.NewClient{ID: svc.ID, Name: "Service", Secret: ocSecret,
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports.read", "openid", "offline_access"},
				TokenEndpointAuthMethod: svc.Method}); err != nil {
				t.Fatal(err)
			}
			status, _, body := o.token(svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"reports.read openid offline_access"}})
			if status != http.StatusOK {
				t.Fatalf("client_credentials: %d %v", status, body)
			}
			access, _ := body["access_token"].(string)
			if access == "" || !strings.EqualFold(body["token_type"].(string), "bearer") {
				t.Fatalf("no bearer access token: %v", body)
			}
			for _, k := range []string{"id_token", "refresh_token"} {
				if _, ok := body[k]; ok {
					t.Errorf("client_credentials response has %s", k)
				}
			}
			if s := strings.Fields(ocString(body["scope"])); !slices.Contains(s, "reports.read") || slices.Contains(s, "openid") || slices.Contains(s, "offline_access") {
				t.Errorf("granted scope %q, want reports.read without openid and offline_access", body["scope"])
			}
			if n := len(o.e.Messages()); n != 0 {
				t.Errorf("%d SMS sent for a service token", n)
			}
			in := introspect(t, o.e, svc.idp(), access)
			if in["active"] != true || in["client_id"] != svc.ID {
				t.Errorf("introspection: %v", in)
			}
			if status, _, _ := o.userinfo(http.MethodGet, "header", access); status != http.StatusForbidden {
				t.Errorf("userinfo with a service token: %d, want 403 insufficient_scope (it has no openid scope)", status)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// The RP of these tests.

type ocClient struct {
	ID, Secret, RedirectURI, Method string
}

func (c ocClient) idp() idptest.Client {
	return idptest.Client{ID: c.ID, Secret: c.Secret, RedirectURI: c.RedirectURI}
}

type oc struct {
	t        *testing.T
	e        *idptest.Env
	user     idptest.User
	client   ocClient // first-party, client_secret_basic, with a post-logout URI
	provider *oidc.Provider
	http     *http.Client
}

func newOC(t *testing.T, open func(*testing.T) *dbtest.DB, opts idptest.Options) *oc {
	t.Helper()
	e := idptest.New(t, open(t), opts)
	o := &oc{t: t, e: e, http: e.Server.Client()}
	o.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	o.client = o.register("rp1", "client_secret_basic", true)
	p, err := oidc.NewProvider(o.ctx(), e.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	o.provider = p
	return o
}

func (o *oc) ctx() context.Context { return oidc.ClientContext(o.t.Context(), o.http) }

// register adds a confidential client with the token endpoint
// authentication method given and a registered post-logout redirect URI.
func (o *oc) register(id, method string, firstParty bool) ocClient {
	o.t.Helper()
	c := ocClient{ID: id, Secret: ocSecret, RedirectURI: rpCallback, Method: method}
	err := o.e.Store.CreateClient(o.t.Context(), store.NewClient{
		ID: id, Name: "RP " + id, Secret: ocSecret, FirstParty: firstParty,
		RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{ocLogoutURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "phone", "offline_access"}, TokenEndpointAuthMethod: method,
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return c
}

// ocAuth is an authorization request and what the RP keeps to check the
// answer.
type ocAuth struct {
	c                      ocClient
	q                      url.Values
	state, nonce, verifier string
}

// auth builds an authorization request (code flow, state and nonce) for
// scope; kv are more parameters as key, value pairs, an empty value
// removing the key.
func (o *oc) auth(c ocClient, scope string, kv ...string) *ocAuth {
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURI},
		"scope": {scope}, "state": {rand.Text()}, "nonce": {rand.Text()}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return &ocAuth{c: c, q: q, state: q.Get("state"), nonce: q.Get("nonce")}
}

// pkce adds a PKCE S256 challenge (RFC 7636).
func (a *ocAuth) pkce() *ocAuth {
	a.verifier = oauth2.GenerateVerifier()
	a.q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(a.verifier))
	a.q.Set("code_challenge_method", "S256")
	return a
}

func (o *oc) url(a *ocAuth) string { return o.e.Issuer + "/oauth2/auth?" + a.q.Encode() }

// ocSteps records which pages a login showed.
type ocSteps struct{ password, pin, consent bool }

// login sends the browser to the authorization endpoint and goes through
// whatever pages the provider shows.
func (o *oc) login(b *idptest.Browser, a *ocAuth) (*idptest.Page, ocSteps) {
	o.t.Helper()
	return o.drive(b, b.Get(o.url(a)))
}

// drive answers the provider's pages from p on, as the user would: the
// password, the PIN from the SMS outbox, consent. It stops at the first
// response that is none of them: normally the answer to the RP.
func (o *oc) drive(b *idptest.Browser, p *idptest.Page) (*idptest.Page, ocSteps) {
	o.t.Helper()
	var s ocSteps
	for range 5 {
		if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), o.e.Issuer) {
			return p, s
		}
		switch {
		case p.URL.Path == "/login" && strings.Contains(p.Body, `name="password"`):
			s.password = true
			p = b.Fill(p, url.Values{"username": {o.user.Username}, "password": {o.user.Password}})
		case p.URL.Path == "/login/pin" && strings.Contains(p.Body, `autocomplete="one-time-code"`):
			s.pin = true
			p = b.Fill(p, url.Values{"code": {o.e.LastCode(o.user.Phone)}})
		case p.URL.Path == "/login/consent" && strings.Contains(p.Body, `name="consent"`):
			s.consent = true
			p = b.Fill(p, url.Values{"consent": {"allow"}})
		default:
			return p, s
		}
	}
	return p, s
}

// codeOf signs in with b and returns the code.
func (o *oc) codeOf(b *idptest.Browser, a *ocAuth) string {
	o.t.Helper()
	p, _ := o.login(b, a)
	return o.code(p, a)
}

// callback checks that p redirects to the request's redirect URI with
// its state, and returns the parameters.
func (o *oc) callback(p *idptest.Page, a *ocAuth) url.Values {
	o.t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		o.t.Fatalf("want a redirect to the RP, got status %d at %s:\n%.1000s", p.Status, p.URL, p.Body)
	}
	loc := p.Location()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != a.c.RedirectURI {
		o.t.Fatalf("redirected to %s, want %s", loc, a.c.RedirectURI)
	}
	q := loc.Query()
	if a.state != "" && q.Get("state") != a.state {
		o.t.Errorf("state = %q, want %q", q.Get("state"), a.state)
	}
	return q
}

// code is callback for a successful answer.
func (o *oc) code(p *idptest.Page, a *ocAuth) string {
	o.t.Helper()
	q := o.callback(p, a)
	if q.Get("error") != "" || q.Get("code") == "" {
		o.t.Fatalf("authorization failed: %v", q)
	}
	return q.Get("code")
}

// token calls the token endpoint with the client's authentication method.
func (o *oc) token(c ocClient, form url.Values) (int, http.Header, map[string]any) {
	o.t.Helper()
	if c.Method == "client_secret_post" {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	}
	req, _ := http.NewRequest(http.MethodPost, o.e.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Method != "client_secret_post" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret)) // RFC 6749 2.3.1
	}
	resp, err := o.http.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		o.t.Fatalf("token endpoint: status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, body
}

type ocTokens struct {
	access, refresh, rawID string
	id                     map[string]any // the verified ID token's claims
	resp                   map[string]any
}

// exchange redeems a code and checks the response and its ID token as the
// suite does (RFC 6749 5.1, OIDC Core 3.1.3.7).
func (o *oc) exchange(a *ocAuth, code string) *ocTokens {
	o.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.c.RedirectURI}}
	if a.verifier != "" {
		form.Set("code_verifier", a.verifier)
	}
	status, hdr, body := o.token(a.c, form)
	if status != http.StatusOK {
		o.t.Fatalf("code exchange: %d %v", status, body)
	}
	if !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		o.t.Errorf("token response Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
	}
	tk := o.tokens(a.c, body)
	if tk.rawID == "" {
		o.t.Fatalf("no ID token for scope %q", a.q.Get("scope"))
	}
	c := tk.id
	if c["iss"] != o.e.Issuer || !slices.Contains(ocStrings(c["aud"]), a.c.ID) {
		o.t.Errorf("ID token iss %v aud %v", c["iss"], c["aud"])
	}
	if azp, ok := c["azp"]; ok && azp != a.c.ID {
		o.t.Errorf("ID token azp = %v", azp)
	}
	if sub, _ := c["sub"].(string); sub == "" || len(sub) > 255 {
		o.t.Errorf("ID token sub = %v", c["sub"])
	}
	now := time.Now()
	if iat := ocUnix(c["iat"]); iat.After(now.Add(5*time.Second)) || iat.Before(now.Add(-5*time.Minute)) {
		o.t.Errorf("ID token iat = %v, want about now", iat)
	}
	if !ocUnix(c["exp"]).After(now) {
		o.t.Errorf("ID token exp = %v is past", c["exp"])
	}
	if a.nonce != "" && c["nonce"] != a.nonce {
		o.t.Errorf("ID token nonce = %v, want %q", c["nonce"], a.nonce)
	}
	return tk
}

// tokens reads a token response; an ID token in it is verified against
// the JWKS (signature, iss, aud, exp).
func (o *oc) tokens(c ocClient, body map[string]any) *ocTokens {
	o.t.Helper()
	tk := &ocTokens{resp: body, access: ocString(body["access_token"]), refresh: ocString(body["refresh_token"]), rawID: ocString(body["id_token"])}
	if tk.access == "" || !strings.EqualFold(ocString(body["token_type"]), "bearer") {
		o.t.Fatalf("token response without a bearer access token: %v", body)
	}
	if tk.rawID != "" {
		idt, err := o.provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(o.ctx(), tk.rawID)
		if err != nil {
			o.t.Fatalf("ID token does not verify: %v", err)
		}
		if err := idt.Claims(&tk.id); err != nil {
			o.t.Fatal(err)
		}
	}
	return tk
}

func (o *oc) refresh(c ocClient, rt string) (int, map[string]any) {
	o.t.Helper()
	status, _, body := o.token(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return status, body
}

// reuseRefused redeems a used code again: invalid_grant (RFC 6749 5.2).
func (o *oc) reuseRefused(a *ocAuth, code string) {
	o.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.c.RedirectURI}}
	if status, _, body := o.token(a.c, form); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		o.t.Fatalf("second use of a code: %d %v, want 400 invalid_grant", status, body)
	}
}

// userinfo calls the userinfo endpoint with the token in the
// Authorization header or, on POST, in the body (RFC 6750 2.1, 2.2).
func (o *oc) userinfo(method, how, token string) (int, http.Header, map[string]any) {
	o.t.Helper()
	var body io.Reader
	if how == "body" {
		body = strings.NewReader(url.Values{"access_token": {token}}.Encode())
	}
	req, _ := http.NewRequest(method, o.e.Issuer+"/userinfo", body)
	if how == "body" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// scopeClaims signs in with a and returns the userinfo claims.
func (o *oc) scopeClaims(a *ocAuth) map[string]any {
	o.t.Helper()
	tk := o.exchange(a, o.codeOf(o.e.NewBrowser(), a))
	status, _, info := o.userinfo(http.MethodGet, "header", tk.access)
	if status != http.StatusOK {
		o.t.Fatalf("userinfo: %d %v", status, info)
	}
	return info
}

// signedIn does a full login of b at client c and returns its tokens.
func (o *oc) signedIn(b *idptest.Browser, c ocClient) *ocTokens {
	o.t.Helper()
	a := o.auth(c, "openid")
	p, steps := o.login(b, a)
	if !steps.password || !steps.pin {
		o.t.Fatalf("first login: steps %+v, want password and PIN", steps)
	}
	return o.exchange(a, o.code(p, a))
}

// sameAuthTwice is the suite's second authorization that the session
// answers at once: no page, the same sub and auth_time as the first.
func (o *oc) sameAuthTwice(b *idptest.Browser, first *ocTokens, kv ...string) *ocTokens {
	o.t.Helper()
	sent := len(o.e.Messages())
	a := o.auth(o.client, "openid", kv...)
	p := b.Get(o.url(a))
	if p.Header.Get("Location") == "" {
		o.t.Fatalf("%v with a session: status %d at %s, want an answer at once", kv, p.Status, p.URL)
	}
	second := o.exchange(a, o.code(p, a))
	if second.id["sub"] != first.id["sub"] {
		o.t.Errorf("sub %v, then %v", first.id["sub"], second.id["sub"])
	}
	if !ocSame(second.id["auth_time"], first.id["auth_time"]) {
		o.t.Errorf("auth_time %v, then %v: want the same login", first.id["auth_time"], second.id["auth_time"])
	}
	if n := len(o.e.Messages()); n != sent {
		o.t.Errorf("%d SMS sent for %v", n-sent, kv)
	}
	return second
}

// stillSignedIn checks that b's session answers prompt=none with a code.
func (o *oc) stillSignedIn(b *idptest.Browser, when string) {
	o.t.Helper()
	a := o.auth(o.client, "openid", "prompt", "none")
	if q := o.callback(b.Get(o.url(a)), a); q.Get("code") == "" {
		o.t.Errorf("%s: prompt=none answered %v, want a code: the session should be live", when, q)
	}
}

// errorPageNoRedirect checks for the provider's HTML error page with msg,
// and no redirect.
func (o *oc) errorPageNoRedirect(p *idptest.Page, msg ui.MsgID) {
	o.t.Helper()
	if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
		o.t.Fatalf("status %d, Location %q: want 400 and no redirect", p.Status, p.Header.Get("Location"))
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || !shows(p, msg) {
		o.t.Fatalf("want the HTML error page saying %q, got %q:\n%.800s", ui.T("en", msg), p.Header.Get("Content-Type"), p.Body)
	}
}

// cloneBrowser returns a new browser holding b's cookies as they are now.
func (o *oc) cloneBrowser(b *idptest.Browser) *idptest.Browser {
	nb := o.e.NewBrowser()
	u, _ := url.Parse(o.e.Issuer)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, b.Client.Jar.Cookies(u))
	nb.Client.Jar = jar
	return nb
}

// requestObject is a's parameters as an unsigned request object (OIDC
// Core 6.1, alg none).
func (o *oc) requestObject(a *ocAuth) string {
	claims := map[string]any{"iss": a.c.ID, "aud": o.e.Issuer}
	for k := range a.q {
		claims[k] = a.q.Get(k)
	}
	payload, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// requestObjectOutcome sends an authorization request whose state and
// nonce travel only in a request object. The provider must either process
// the object (the answer carries its state, the ID token its nonce) or
// answer the RP with unsupported (OIDC Core 3.1.2.6, 6).
func (o *oc) requestObjectOutcome(a *ocAuth, outer url.Values, unsupported string) {
	o.t.Helper()
	b := o.e.NewBrowser()
	p, _ := o.drive(b, b.Get(o.e.Issuer+"/oauth2/auth?"+outer.Encode()))
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		o.t.Fatalf("got status %d at %s: want the code (object processed) or error=%s at %s, not an error page:\n%.600s",
			p.Status, p.URL, unsupported, a.c.RedirectURI, p.Body)
	}
	loc := p.Location()
	if !strings.HasPrefix(loc.String(), a.c.RedirectURI) {
		o.t.Fatalf("redirected to %s", loc)
	}
	q := loc.Query()
	switch {
	case q.Get("error") == unsupported:
		return // rejected as unsupported: allowed
	case q.Get("code") != "":
		o.exchange(a, o.code(p, a)) // state and nonce from the object
	default:
		o.t.Fatalf("answer %v: want a code or error=%s", q, unsupported)
	}
}

func (o *oc) discovery() map[string]any {
	o.t.Helper()
	var d map[string]any
	if err := o.provider.Claims(&d); err != nil {
		o.t.Fatal(err)
	}
	return d
}

func (o *oc) jwks() []map[string]any {
	o.t.Helper()
	resp, err := o.http.Get(ocString(o.discovery()["jwks_uri"]))
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&set) != nil {
		o.t.Fatalf("jwks_uri: status %d or not a JWK set", resp.StatusCode)
	}
	return set.Keys
}

func (o *oc) jwk(kid string) map[string]any {
	for _, k := range o.jwks() {
		if k["kid"] == kid {
			return k
		}
	}
	return nil
}

func ocJOSEHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	var h map[string]any
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("JWT header %q does not decode", seg)
	}
	return h
}

func ocString(v any) string { s, _ := v.(string); return s }

// ocStrings reads a JSON string or array of strings.
func ocStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

// ocUnix reads a NumericDate.
func ocUnix(v any) time.Time {
	f, _ := v.(float64)
	return time.Unix(int64(f), 0)
}

func ocSame(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
