package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const callback = "https://rp.example.com/callback"

// fixture is a provider with a user, a confidential client and the
// operator service on its database.
type fixture struct {
	e      *idptest.Env
	svc    *admin.Service
	user   idptest.User
	client idptest.Client
}

func newFixture(t *testing.T, open func(*testing.T) *dbtest.DB) *fixture {
	e := idptest.New(t, open(t), idptest.Options{})
	f := &fixture{e: e}
	f.svc = &admin.Service{Store: e.Store, Issuer: e.Issuer, Phones: e.MFA.Phones,
		Passwords: password.New(password.Params{Memory: 64, Time: 1, Threads: 1}, 1)}
	f.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", callback, true)
	return f
}

func (f *fixture) oauth(c idptest.Client) *oauth2.Config {
	return &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: f.e.Issuer + "/oauth2/auth", TokenURL: f.e.Issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile", "offline_access"}}
}

func (f *fixture) ctx(t *testing.T) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, f.e.Server.Client())
}

// signIn runs a whole sign-in of u with client c in a new browser and
// returns the final page (normally the redirect to the RP).
func (f *fixture) signIn(t *testing.T, c idptest.Client, u idptest.User) (*idptest.Page, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	auth := f.oauth(c).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789"))
	return f.e.NewBrowser().Login(auth, u), verifier
}

// tokens signs u in with c and exchanges the code.
func (f *fixture) tokens(t *testing.T, c idptest.Client, u idptest.User) *oauth2.Token {
	t.Helper()
	p, verifier := f.signIn(t, c, u)
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("sign-in: %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	code := p.Location().Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", p.Location())
	}
	tok, err := f.oauth(c).Exchange(f.ctx(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// refresh uses a refresh token once.
func (f *fixture) refresh(t *testing.T, c idptest.Client, rt string) (*oauth2.Token, error) {
	return f.oauth(c).TokenSource(f.ctx(t), &oauth2.Token{RefreshToken: rt}).Token()
}

// A disabled user is refused at the password step with a page saying
// so, loses their refresh tokens at once, and signs in again once
// enabled; the refusal is told only to whoever has the password.
func TestDisabledUserOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := newFixture(t, open)
		tok := f.tokens(t, f.client, f.user)
		if _, err := f.refresh(t, f.client, tok.RefreshToken); err != nil {
			t.Fatalf("refresh before disabling: %v", err)
		}
		tok = f.tokens(t, f.client, f.user) // a second browser: two sessions
		if _, n, err := f.svc.Disable(t.Context(), "alice", "test"); err != nil || n != 2 {
			t.Fatalf("Disable: %d sessions, %v", n, err)
		}
		if _, err := f.refresh(t, f.client, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("refresh of a disabled user: %v, want invalid_grant", err)
		}
		p, _ := f.signIn(t, f.client, f.user)
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "disabled") {
			t.Fatalf("sign-in of a disabled user: %d\n%s", p.Status, p.Body)
		}
		wrong := f.user
		wrong.Password = "not the password at all"
		if p, _ := f.signIn(t, f.client, wrong); p.Status != http.StatusUnauthorized || strings.Contains(p.Body, "disabled") {
			t.Fatalf("a wrong password for a disabled user: %d (the state of the account must not show)", p.Status)
		}
		// Nor does a forgotten-password reset, with a right recovery code,
		// send a PIN or set a password.
		codes := f.e.RecoveryCodes(f.user)
		b := f.e.NewBrowser()
		p = b.Get(f.e.Issuer + "/password/forgot")
		p = b.Fill(p, url.Values{"username": {"alice"}, "recovery_code": {codes[0]}})
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "disabled") {
			t.Fatalf("a reset for a disabled user: %d at %s\n%s", p.Status, p.URL.Path, p.Body)
		}
		if len(f.e.Messages()) != 2 {
			t.Errorf("%d SMS sent; want the two of the sign-ins before disabling", len(f.e.Messages()))
		}
		ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "user.disabled"})
		if len(ev) != 1 || ev[0].UserID != f.user.ID {
			t.Errorf("audit: %+v", ev)
		}
		if _, err := f.svc.Enable(t.Context(), f.user.ID, "test"); err != nil {
			t.Fatal(err)
		}
		f.tokens(t, f.client, f.user)
	})
}

// A login under way when the user is disabled issues nothing.
func TestDisabledDuringLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := newFixture(t, open)
		b := f.e.NewBrowser()
		auth := f.oauth(f.client).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		p := b.Get(auth)
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
		if p.URL.Path != "/login/pin" {
			t.Fatalf("at %s", p.URL.Path)
		}
		if _, _, err := f.svc.Disable(t.Context(), "alice", "test"); err != nil {
			t.Fatal(err)
		}
		p = b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}})
		if loc := p.Location(); (p.Status == http.StatusSeeOther || p.Status == http.StatusFound) && loc.Query().Get("code") != "" {
			t.Fatalf("a code was issued to a disabled user: %s", loc)
		}
	})
}
