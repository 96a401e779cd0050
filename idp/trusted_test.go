package idp_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// trustedSetup is the usual fixture with trusted browsers offered for 30 days.
func trustedSetup(t *testing.T, open func(*testing.T) *dbtest.DB, o idptest.Options) *fixture {
	t.Helper()
	o.TrustedDeviceTTL = 30 * 24 * time.Hour
	e := idptest.New(t, open(t), o)
	f := &fixture{e: e, user: e.CreateUser("alice", "correct horse battery", "+819012345678", true)}
	f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	f.rp = newRP(t, e, f.client)
	return f
}

// trustBrowser signs u in on b ticking "don't ask for a code on this browser".
func trustBrowser(t *testing.T, f *fixture, b *idptest.Browser, u idptest.User) {
	t.Helper()
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "login")))
	p = b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
	if !strings.Contains(p.Body, `name="trust_device"`) || !strings.Contains(p.Body, "for 30 days") {
		t.Fatalf("the PIN page offers no trusted browser:\n%s", p.Body)
	}
	codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(u.Phone)}, "trust_device": {"yes"}}), "state-0123456789")
}

// passwordOnly signs u in on b with prompt=login and extra, and reports
// where the password led: the RP (with the ID token's claims) or a page.
func passwordOnly(t *testing.T, f *fixture, b *idptest.Browser, u idptest.User, extra ...oauth2.AuthCodeOption) (*idptest.Page, *idClaims) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}, extra...)
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, opts...))
	p = b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
	if p.Status != http.StatusSeeOther {
		return p, nil
	}
	c := f.rp.claims(t, codeFrom(t, p, "state-0123456789"), verifier)
	return p, &c
}

func TestTrustedBrowsers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("SkipTheCodeAndSaySo", func(t *testing.T) {
			f := trustedSetup(t, open, idptest.Options{})
			b := f.e.NewBrowser()
			trustBrowser(t, f, b, f.user)
			sent := len(f.e.Messages())
			p, c := passwordOnly(t, f, b, f.user)
			if c == nil || len(f.e.Messages()) != sent {
				t.Fatalf("the password on a trusted browser: at %s (%d), %d SMS; want the RP and none", p.URL.Path, p.Status, len(f.e.Messages())-sent)
			}
			if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != idp.ACRPassword {
				t.Errorf("a trusted browser's sign-in: amr %v acr %q; want [pwd] %s", c.AMR, c.ACR, idp.ACRPassword)
			}
			// An RP that requires a second factor gets the PIN.
			if p, _ := passwordOnly(t, f, b, f.user, oauth2.SetAuthURLParam("acr_values", idp.ACRMFA)); p.URL.Path != "/login/pin" {
				t.Errorf("acr_values=mfa on a trusted browser: at %s, want the PIN", p.URL.Path)
			}
			// The account page needs a full sign-in, whatever the browser.
			if p := b.Get(f.e.Issuer + "/account"); p.URL.Path != "/login" {
				t.Errorf("the account page on a trusted browser's session: at %s, want a sign-in", p.URL.Path)
			}
			p = accountSignIn(t, f.e, b, f.user)
			if !strings.Contains(p.Body, "/account/devices/forget") || !strings.Contains(p.Body, "(this browser)") {
				t.Fatalf("the account page does not list this trusted browser:\n%s", p.Body)
			}
			q := post(t, b, p, "/account/devices/forget", url.Values{"device": {deviceID(t, p)}})
			if q.URL.Path != "/account" {
				t.Fatalf("forget: at %s (%d)", q.URL.Path, q.Status)
			}
			if p, _ := passwordOnly(t, f, b, f.user); p.URL.Path != "/login/pin" {
				t.Errorf("a forgotten browser: at %s, want the PIN", p.URL.Path)
			}
		})

		// With a live session whose PIN is no longer remembered, a trusted
		// browser skips the PIN too (the password was checked in it).
		t.Run("SessionOnATrustedBrowser", func(t *testing.T) {
			f := trustedSetup(t, open, idptest.Options{MFARemember: -1})
			b := f.e.NewBrowser()
			trustBrowser(t, f, b, f.user)
			verifier := oauth2.GenerateVerifier()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier))
			c := f.rp.claims(t, codeFrom(t, p, "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != idp.ACRPassword {
				t.Errorf("amr %v acr %q", c.AMR, c.ACR)
			}
		})

		t.Run("NotOfferedUnlessTheOperatorSaysSo", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := f.toPIN(t, b, oauth2.GenerateVerifier())
			if strings.Contains(p.Body, "trust_device") {
				t.Error("the PIN page offers a trusted browser the operator did not")
			}
			codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}, "trust_device": {"yes"}}), "state-0123456789")
			if p, _ := passwordOnly(t, f, b, f.user); p.URL.Path != "/login/pin" {
				t.Errorf("a forced trust_device: at %s, want the PIN", p.URL.Path)
			}
		})

		t.Run("ResetForgetsThem", func(t *testing.T) {
			f := trustedSetup(t, open, idptest.Options{})
			b := f.e.NewBrowser()
			trustBrowser(t, f, b, f.user)
			p := b.Get(f.e.ResetLink(f.user))
			b.Fill(p, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
			f.user.Password = "a brand new passphrase"
			if p, _ := passwordOnly(t, f, b, f.user); p.URL.Path != "/login/pin" {
				t.Errorf("a trusted browser after a reset: at %s, want the PIN", p.URL.Path)
			}
		})
	})
}

// deviceID reads the id of the first trusted browser the account page lists.
func deviceID(t *testing.T, p *idptest.Page) string {
	t.Helper()
	i := strings.Index(p.Body, `name="device" value="`)
	if i < 0 {
		t.Fatal("no device on the page")
	}
	rest := p.Body[i+len(`name="device" value="`):]
	return rest[:strings.Index(rest, `"`)]
}
