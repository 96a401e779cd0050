package idp_test

import (
	"html"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// Words a new user read wrongly, as each page now says them.
func TestPageCopy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// After a resend the PIN page names the number once, not twice.
		t.Run("ResendNamesTheNumberOnce", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := f.toPIN(t, b, oauth2.GenerateVerifier())
			f.e.Advance(mfa.DefaultPolicy.ResendCooldown)
			q := b.Submit("/login/pin/resend?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			body := html.UnescapeString(q.Body)
			if !strings.Contains(body, ui.T("en", ui.MsgPINResent)) {
				t.Fatalf("no resend notice:\n%s", q.Body)
			}
			if n := strings.Count(body, mfa.Masked(f.user.Phone)); n != 1 {
				t.Errorf("the page after a resend names the number %d times, want once", n)
			}
		})

		// The consent page says who is signed in.
		t.Run("ConsentSaysWhoIsSignedIn", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false))
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			if p.URL.Path != "/login/consent" || !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "consent.signed_in_as", "alice")) {
				t.Errorf("the consent page at %s does not say who is signed in", p.URL.Path)
			}
		})
	})
}
