package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// signsIn reports whether a user's password opens the PIN page now.
func signsIn(t *testing.T, f *fixture, pw string) bool {
	t.Helper()
	b := f.e.NewBrowser()
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "login")))
	p = b.Fill(p, url.Values{"username": {f.user.Username}, "password": {pw}})
	return p.URL.Path == "/login/pin"
}

// signedInBrowser is a browser with a live session of the fixture's user.
func signedInBrowser(t *testing.T, f *fixture) *idptest.Browser {
	t.Helper()
	b := f.e.NewBrowser()
	codeFrom(t, b.Login(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), f.user), "state-0123456789")
	return b
}

func liveSessions(t *testing.T, f *fixture) int {
	t.Helper()
	list, err := f.e.Store.UserSessions(context.Background(), f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestPasswordReset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("OperatorLink", func(t *testing.T) {
			f := setup(t, open)
			signedInBrowser(t, f)
			signedInBrowser(t, f)
			if n := liveSessions(t, f); n != 2 {
				t.Fatalf("%d sessions before the reset, want 2", n)
			}
			b := f.e.NewBrowser()
			p := b.Get(f.e.ResetLink(f.user))
			if p.URL.Path != "/login/password" || !strings.Contains(p.Body, `autocomplete="new-password"`) {
				t.Fatalf("the reset link opens at %s (%d)", p.URL.Path, p.Status)
			}
			for _, tc := range []struct {
				pw, again string
				msg       ui.MsgID
			}{
				{"a brand new passphrase", "a brand new passphrasE", ui.MsgPasswordMismatch},
				{"short", "short", ui.MsgPasswordTooShort},
				{"password123", "password123", ui.MsgPasswordCommon},
				{"alicealice", "alicealice", ui.MsgPasswordWeak},
			} {
				q := b.Fill(p, url.Values{"new_password": {tc.pw}, "confirm_password": {tc.again}})
				if q.Status != http.StatusBadRequest || !shows(q, tc.msg) {
					t.Errorf("new password %q/%q: %d, want 400 saying %s", tc.pw, tc.again, q.Status, tc.msg)
				}
			}
			q := b.Fill(p, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
			if q.Status != http.StatusOK || !titled(q, ui.MsgPasswordReset) {
				t.Fatalf("the new password: %d at %s:\n%s", q.Status, q.URL.Path, q.Body)
			}
			if n := liveSessions(t, f); n != 0 {
				t.Errorf("%d sessions live after the reset, want none", n)
			}
			if signsIn(t, f, f.user.Password) || !signsIn(t, f, "a brand new passphrase") {
				t.Error("after the reset the old password works, or the new one does not")
			}
			msgs := f.e.Messages()
			var told bool
			for _, m := range msgs {
				told = told || (m.To == f.user.Phone && strings.Contains(m.Body, "password of your account was reset"))
			}
			if !told {
				t.Errorf("the phone was not told of the reset: %+v", msgs)
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "password.reset"})
			if len(ev) != 1 || ev[0].UserID != f.user.ID || ev[0].Detail != "operator's link" {
				t.Errorf("audit: %+v", ev)
			}
		})

		t.Run("SelfServiceWithARecoveryCodeAndThePhone", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			signedInBrowser(t, f)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			if !strings.Contains(p.Body, `href="/password/forgot"`) {
				t.Fatal("the sign-in page has no way to a forgotten password")
			}
			p = b.Get(f.e.Issuer + "/password/forgot")
			if p.URL.Path != "/login/forgot" || !strings.Contains(p.Body, ui.T("en", "reset.no_codes")) {
				t.Fatalf("forgot: at %s (%d), want the page that says what it takes", p.URL.Path, p.Status)
			}
			sent := len(f.e.Messages())
			p = b.Fill(p, url.Values{"username": {"Alice"}, "recovery_code": {codes[2]}})
			if p.URL.Path != "/login/pin" || len(f.e.Messages()) != sent+1 {
				t.Fatalf("username and a recovery code: at %s (%d), %d SMS", p.URL.Path, p.Status, len(f.e.Messages())-sent)
			}
			if strings.Contains(p.Body, "/login/factor/") {
				t.Error("the reset's PIN page offers another factor instead of the phone")
			}
			p = b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}})
			if p.URL.Path != "/login/password" {
				t.Fatalf("after the PIN: at %s (%d)", p.URL.Path, p.Status)
			}
			q := b.Fill(p, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
			if !titled(q, ui.MsgPasswordReset) || liveSessions(t, f) != 0 {
				t.Fatalf("the new password: %d at %s, %d sessions", q.Status, q.URL.Path, liveSessions(t, f))
			}
			if !signsIn(t, f, "a brand new passphrase") {
				t.Error("the new password does not sign in")
			}
			if left, _, _ := f.e.Store.RecoveryCodesLeft(t.Context(), f.user.ID); left != 9 {
				t.Errorf("%d codes left, want 9", left)
			}
		})

		t.Run("CancelledLeavesThePassword", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.e.ResetLink(f.user))
			q := b.Submit("/login/cancel?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			if !titled(q, ui.MsgPasswordUnchanged) || !signsIn(t, f, f.user.Password) {
				t.Fatalf("cancelled: %d at %s", q.Status, q.URL.Path)
			}
		})
	})
}
