package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// shows reports whether a page shows a catalogue message.
func shows(p *idptest.Page, id ui.MsgID) bool {
	return strings.Contains(html.UnescapeString(p.Body), ui.T("en", id))
}

type fixture struct {
	e      *idptest.Env
	user   idptest.User
	client idptest.Client
	rp     *rp
}

func setup(t *testing.T, open func(*testing.T) *dbtest.DB) *fixture {
	e := idptest.New(t, open(t), idptest.Options{})
	f := &fixture{e: e}
	f.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	f.rp = newRP(t, e, f.client)
	return f
}

// toPIN signs in with the password and returns the PIN page.
func (f *fixture) toPIN(t *testing.T, b *idptest.Browser, verifier string) *idptest.Page {
	t.Helper()
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier))
	p = b.Fill(p, url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
	if p.URL.Path != "/login/pin" {
		t.Fatalf("after the password: at %s (status %d), want /login/pin", p.URL, p.Status)
	}
	return p
}

func TestNegative(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("WrongPasswordAndUnknownUserLookAlike", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			wrong := b.Fill(p, url.Values{"username": {"alice"}, "password": {"wrong password"}})
			unknown := b.Fill(wrong, url.Values{"username": {"mallory"}, "password": {"wrong password"}})
			for name, r := range map[string]*idptest.Page{"wrong password": wrong, "unknown user": unknown} {
				if r.Status != http.StatusUnauthorized || r.URL.Path != "/login" || !shows(r, ui.MsgInvalidCredentials) {
					t.Errorf("%s: status %d at %s, want 401 on /login with the invalid-credentials message", name, r.Status, r.URL.Path)
				}
			}
			if n := len(f.e.Messages()); n != 0 {
				t.Errorf("%d SMS sent for failed passwords, want none", n)
			}
		})

		t.Run("WrongPINThenRightPIN", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			code := f.e.LastCode(f.user.Phone)
			p := b.Fill(pin, url.Values{"code": {wrongCode(code)}})
			if p.Status != http.StatusUnauthorized || p.URL.Path != "/login/pin" || !shows(p, ui.MsgPINInvalid) {
				t.Fatalf("wrong PIN: status %d at %s, want 401 on the PIN page with the invalid message", p.Status, p.URL.Path)
			}
			p = b.Fill(p, url.Values{"code": {code}})
			codeFrom(t, p, "state-0123456789")
		})

		t.Run("FifthWrongPINEndsTheLogin", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			code := f.e.LastCode(f.user.Phone)
			p := pin
			for i := 1; i <= 5; i++ {
				p = b.Fill(pin, url.Values{"code": {wrongCode(code)}})
			}
			if p.Status != http.StatusUnauthorized || !shows(p, ui.MsgTooManyAttempts) {
				t.Fatalf("5th wrong PIN: status %d, want 401 and the too-many-attempts page", p.Status)
			}
			p = b.Fill(pin, url.Values{"code": {code}})
			if p.Status < 400 || p.Header.Get("Location") != "" {
				t.Fatalf("right PIN after the 5th wrong one: status %d, location %q; want refused", p.Status, p.Header.Get("Location"))
			}
		})

		t.Run("ExpiredPIN", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			code := f.e.LastCode(f.user.Phone)
			f.e.Advance(5*time.Minute + time.Second)
			p := b.Fill(pin, url.Values{"code": {code}})
			if p.Status != http.StatusUnauthorized || !shows(p, ui.MsgPINExpired) || p.Header.Get("Location") != "" {
				t.Fatalf("expired PIN: status %d at %s, want 401 and the expired message", p.Status, p.URL.Path)
			}
		})

		t.Run("ReplayedCodeIsRefusedAndRevokesItsTokens", func(t *testing.T) {
			f := setup(t, open)
			verifier := oauth2.GenerateVerifier()
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier), f.user), "state-0123456789")
			ctx := f.rp.ctx(t.Context())
			tok, err := f.rp.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.rp.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			if !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("second exchange: %v, want invalid_grant", err)
			}
			if intro := introspect(t, f.e, f.client, tok.AccessToken); intro["active"] != false {
				t.Errorf("the first exchange's access token is still active after the code was replayed (RFC 6749 4.1.2)")
			}
		})

		t.Run("UnregisteredRedirectURIShowsErrorPage", func(t *testing.T) {
			f := setup(t, open)
			u := strings.Replace(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()),
				url.QueryEscape(rpCallback), url.QueryEscape("https://evil.example/callback"), 1)
			p := f.e.NewBrowser().Get(u)
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("status %d location %q, want 400 and no redirect", p.Status, p.Header.Get("Location"))
			}
			if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || !shows(p, ui.MsgBadRedirectURI) {
				t.Fatalf("want our HTML error page about the redirect URI, got %q:\n%s", p.Header.Get("Content-Type"), p.Body)
			}
		})

		t.Run("UnknownClientShowsErrorPage", func(t *testing.T) {
			f := setup(t, open)
			u := strings.Replace(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), "client_id=shop", "client_id=nobody", 1)
			p := f.e.NewBrowser().Get(u)
			if p.Status < 400 || p.Header.Get("Location") != "" || !shows(p, ui.MsgUnknownClient) {
				t.Fatalf("status %d location %q, want our error page for an unknown client", p.Status, p.Header.Get("Location"))
			}
		})

		t.Run("PKCEMissingForPublicClient", func(t *testing.T) {
			f := setup(t, open)
			pub := f.e.CreateClient("spa", "", rpCallback, true)
			r := newRP(t, f.e, pub)
			p := f.e.NewBrowser().Get(r.conf.AuthCodeURL("state-0123456789"))
			if q := p.Location().Query(); q.Get("error") != "invalid_request" {
				t.Fatalf("authorize without PKCE from a public client: %d %s, want error=invalid_request to the RP", p.Status, p.Location())
			}
		})

		t.Run("PKCEPlainRefused", func(t *testing.T) {
			f := setup(t, open)
			u := f.rp.conf.AuthCodeURL("state-0123456789", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
				oauth2.SetAuthURLParam("code_challenge_method", "plain"))
			p := f.e.NewBrowser().Get(u)
			if q := p.Location().Query(); q.Get("error") != "invalid_request" {
				t.Fatalf("plain PKCE: %d %s, want error=invalid_request to the RP", p.Status, p.Location())
			}
		})

		t.Run("PKCEWrongVerifier", func(t *testing.T) {
			f := setup(t, open)
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), f.user), "state-0123456789")
			_, err := f.rp.conf.Exchange(f.rp.ctx(t.Context()), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			var re *oauth2.RetrieveError
			if !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("exchange with the wrong verifier: %v, want invalid_grant", err)
			}
		})

		t.Run("PKCEVerifierMissingAtExchange", func(t *testing.T) {
			f := setup(t, open)
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), f.user), "state-0123456789")
			if _, err := f.rp.conf.Exchange(f.rp.ctx(t.Context()), code); err == nil {
				t.Fatal("exchange without the verifier succeeded")
			}
		})

		t.Run("FlowCannotBeFinishedInAnotherBrowser", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			other := f.e.NewBrowser()
			p := other.Submit(pin.Action(t), url.Values{"code": {f.e.LastCode(f.user.Phone)}, "csrf_token": {pin.CSRF(t)}})
			if p.Status != http.StatusForbidden || p.Header.Get("Location") != "" {
				t.Fatalf("PIN posted from another browser: status %d, want 403", p.Status)
			}
		})

		t.Run("MissingCSRFTokenRefused", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			p := b.Submit(pin.Action(t), url.Values{"code": {f.e.LastCode(f.user.Phone)}})
			if p.Status != http.StatusForbidden || !shows(p, ui.MsgCSRF) {
				t.Fatalf("PIN without CSRF token: status %d, want 403 and the CSRF message", p.Status)
			}
		})

		t.Run("CrossOriginPostRefused", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			req, _ := http.NewRequest(http.MethodPost, f.e.Issuer+pin.Action(t), strings.NewReader(url.Values{
				"code": {f.e.LastCode(f.user.Phone)}, "csrf_token": {pin.CSRF(t)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := b.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("cross-site PIN post: status %d, want 403", resp.StatusCode)
			}
		})

		t.Run("NoCodeWithoutPIN", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			pin := f.toPIN(t, b, oauth2.GenerateVerifier())
			flowID := strings.TrimPrefix(pin.URL.RawQuery, "flow=")
			// Skipping ahead to consent only sends the browser back to the PIN.
			p := b.Get(f.e.Issuer + "/login/consent?flow=" + flowID)
			if p.URL.Path != "/login/pin" || p.Header.Get("Location") != "" {
				t.Fatalf("consent before the PIN: at %s (status %d), want back on /login/pin", p.URL.Path, p.Status)
			}
			p = b.Submit("/login/consent?flow="+flowID, url.Values{"consent": {"allow"}, "csrf_token": {pin.CSRF(t)}})
			if p.Header.Get("Location") != "" || p.URL.Path != "/login/pin" {
				t.Fatalf("consent posted before the PIN: at %s, location %q", p.URL.Path, p.Header.Get("Location"))
			}
		})
	})
}

// wrongCode returns a code of the same length that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func asRetrieve(err error, target **oauth2.RetrieveError) bool {
	re, ok := err.(*oauth2.RetrieveError)
	if ok {
		*target = re
	}
	return ok
}

// Scopes the provider does not know are ignored (OIDC Core 3.1.2.1);
// RP libraries often ask for email by default.
func TestUnknownScopesIgnored(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		r := newRP(t, f.e, f.client, "openid", "email", "address", "profile")
		codeFrom(t, f.e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), f.user), "state-0123456789")
	})
}
