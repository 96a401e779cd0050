package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// accountSignIn signs a browser in to the account page (password and
// PIN) and returns the page.
func accountSignIn(t *testing.T, e *idptest.Env, b *idptest.Browser, u idptest.User) *idptest.Page {
	t.Helper()
	p := b.Get(e.Issuer + "/account/signin")
	if p.URL.Path != "/login" || !strings.Contains(p.Body, ui.T("en", "login.title_account")) {
		t.Fatalf("/account without a sign-in: at %s (%d), want the account sign-in", p.URL.Path, p.Status)
	}
	p = b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
	p = b.Fill(p, url.Values{"code": {e.LastCode(u.Phone)}})
	if p.URL.Path != "/account" || p.Status != http.StatusOK {
		t.Fatalf("after the account sign-in: at %s (%d)", p.URL.Path, p.Status)
	}
	return p
}

// post submits a form of the account page: the one whose action is
// action (with its own CSRF token), with fields.
func post(t *testing.T, b *idptest.Browser, p *idptest.Page, action string, fields url.Values) *idptest.Page {
	t.Helper()
	if !strings.Contains(html.UnescapeString(p.Body), `action="`+action+`"`) {
		t.Fatalf("no form posting to %s on %s:\n%s", action, p.URL.Path, p.Body)
	}
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("csrf_token", p.CSRF(t))
	return b.Submit(action, fields)
}

var codeLine = regexp.MustCompile(`<code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code>`)

func TestAccountPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("SignInThenRecoveryCodesSessionsAndActivity", func(t *testing.T) {
			f := setup(t, open)
			other := signedInBrowser(t, f) // another browser, signed in through the app
			b := f.e.NewBrowser()
			if p := b.Get(f.e.Issuer + "/account"); p.URL.Path != "/login" {
				t.Fatalf("/account without a sign-in: at %s", p.URL.Path)
			}
			p := accountSignIn(t, f.e, b, f.user)
			body := html.UnescapeString(p.Body)
			for _, want := range []string{ui.T("en", "account.signed_in_as", "alice"), "+81 •• •••• 5678", ui.T("en", "account.recovery_none"),
				ui.T("en", "account.this_browser"), ui.T("en", ui.MsgActivitySignedIn) + ": Test app shop"} {
				if !strings.Contains(body, want) {
					t.Errorf("the account page lacks %q", want)
				}
			}
			if strings.Contains(body, ui.T("en", "account.confirm_first")) {
				t.Error("a fresh sign-in is asked to confirm again")
			}
			// Recovery codes, shown once; a new set voids the old one.
			q := post(t, b, p, "/account/recovery-codes", nil)
			first := codeLine.FindAllStringSubmatch(q.Body, -1)
			if len(first) != 10 {
				t.Fatalf("%d recovery codes shown, want 10:\n%s", len(first), q.Body)
			}
			p = b.Get(f.e.Issuer + "/account")
			if !strings.Contains(html.UnescapeString(p.Body), "Unused codes: 10") || codeLine.MatchString(p.Body) {
				t.Errorf("the account page after making codes: count missing, or codes shown again")
			}
			q = post(t, b, p, "/account/recovery-codes", nil)
			second := codeLine.FindAllStringSubmatch(q.Body, -1)
			b2 := f.e.NewBrowser()
			r := chooseFactor(t, b2, f.toPIN(t, b2, "verifier-0123456789-0123456789-0123456789-0123"), "recovery")
			if r2 := b2.Fill(r, url.Values{"recovery_code": {first[0][1]}}); r2.Status != http.StatusUnauthorized {
				t.Errorf("a code of the old set: %d, want refused", r2.Status)
			}
			if r2 := b2.Fill(r, url.Values{"recovery_code": {second[0][1]}}); r2.URL.Path != "/login/recovery/used" {
				t.Errorf("a code of the new set: at %s", r2.URL.Path)
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "recovery_codes.made"}); len(ev) != 2 {
				t.Errorf("%d recovery code sets in the audit log, want 2", len(ev))
			}
			// Ending the other browser's session signs it out.
			p = b.Get(f.e.Issuer + "/account")
			sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID)
			otherID := sessions[len(sessions)-1].ID // newest first: the oldest is the app's browser
			if !strings.Contains(p.Body, `value="`+otherID+`"`) {
				t.Fatalf("the account page does not list session %s", otherID)
			}
			q = post(t, b, p, "/account/sessions/revoke", url.Values{"session": {otherID}})
			if q.URL.Path != "/account" || !shows(q, ui.MsgSessionEnded) {
				t.Fatalf("ending a session: at %s (%d)", q.URL.Path, q.Status)
			}
			if live, _ := f.e.Store.SessionLive(t.Context(), otherID); live {
				t.Error("the ended session is live")
			}
			if q := other.Get(f.e.Issuer + "/account"); q.URL.Path != "/login" {
				t.Errorf("the signed-out browser still opens the account page: at %s", q.URL.Path)
			}
		})

		t.Run("ChangesNeedAFreshSignIn", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := accountSignIn(t, f.e, b, f.user)
			// Eleven minutes later the page still shows, but asks again
			// before any change.
			if err := f.e.DB.Gorm.Exec(`UPDATE sessions SET auth_time = ?, mfa_time = ?`,
				time.Now().UTC().Add(-11*time.Minute), time.Now().UTC().Add(-11*time.Minute)).Error; err != nil {
				t.Fatal(err)
			}
			p = b.Get(f.e.Issuer + "/account")
			if !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "account.confirm_first")) {
				t.Error("a stale sign-in is not asked to confirm")
			}
			q := post(t, b, p, "/account/recovery-codes", nil)
			if q.URL.Path != "/login" || codeLine.MatchString(q.Body) {
				t.Fatalf("a change from a stale sign-in: at %s, want the sign-in", q.URL.Path)
			}
			if left, _, _ := f.e.Store.RecoveryCodesLeft(t.Context(), f.user.ID); left != 0 {
				t.Fatal("a stale sign-in made recovery codes")
			}
			// And a phone change asks for the password and the PIN again.
			if q := b.Get(f.e.Issuer + "/account/phone"); q.URL.Path != "/login" {
				t.Errorf("a phone change from a stale sign-in: at %s, want the password", q.URL.Path)
			}
			// A forged form (no token of this session) changes nothing.
			accountSignIn(t, f.e, b, f.user)
			q = b.Submit("/account/recovery-codes", url.Values{"csrf_token": {"forged"}})
			if q.Status != http.StatusForbidden {
				t.Errorf("a forged change: %d, want 403", q.Status)
			}
			// Fresh, the phone change goes straight to the new number.
			if q := b.Get(f.e.Issuer + "/account/phone"); q.URL.Path != "/account/phone/new" {
				t.Errorf("a phone change from a fresh sign-in: at %s, want the new number", q.URL.Path)
			}
		})

		t.Run("PasswordChange", func(t *testing.T) {
			f := setup(t, open)
			other := signedInBrowser(t, f)
			b := f.e.NewBrowser()
			accountSignIn(t, f.e, b, f.user)
			p := b.Get(f.e.Issuer + "/account/password")
			change := func(current, pw, again string) *idptest.Page {
				return b.Fill(p, url.Values{"current_password": {current}, "new_password": {pw}, "confirm_password": {again}})
			}
			if q := change("not my password", "a brand new passphrase", "a brand new passphrase"); q.Status != http.StatusUnauthorized || !shows(q, ui.MsgCurrentPasswordWrong) {
				t.Errorf("a wrong current password: %d", q.Status)
			}
			if q := change(f.user.Password, "a brand new passphrase", "another"); q.Status != http.StatusBadRequest || !shows(q, ui.MsgPasswordMismatch) {
				t.Errorf("a mismatch: %d", q.Status)
			}
			q := change(f.user.Password, "a brand new passphrase", "a brand new passphrase")
			if q.URL.Path != "/account" || !shows(q, ui.MsgPasswordChanged) {
				t.Fatalf("the change: %d at %s", q.Status, q.URL.Path)
			}
			if r := other.Get(f.e.Issuer + "/account"); r.URL.Path != "/login" {
				t.Error("another browser stays signed in after the password changed")
			}
			if !signsIn(t, f, "a brand new passphrase") || signsIn(t, f, f.user.Password) {
				t.Error("the new password does not sign in, or the old one still does")
			}
			msgs := f.e.Messages()
			told := false
			for _, m := range msgs {
				told = told || (m.To == f.user.Phone && strings.Contains(m.Body, "password of your account was changed"))
			}
			if !told {
				t.Error("the phone was not told of the change")
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "password.changed"})
			if len(ev) != 2 || ev[0].Outcome != "ok" || ev[1].Outcome != "failed" {
				t.Errorf("audit: %+v", ev)
			}
		})

		// A lost phone: the account page opens with a recovery code, and
		// the fresh sign-in goes straight to the new number.
		t.Run("WithARecoveryCode", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			b := f.e.NewBrowser()
			p := b.Get(f.e.Issuer + "/account/signin")
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			p = b.Fill(chooseFactor(t, b, p, "recovery"), url.Values{"recovery_code": {codes[4]}})
			p = b.Fill(p, nil)
			if p.URL.Path != "/account" || !strings.Contains(html.UnescapeString(p.Body), "Unused codes: 9") {
				t.Fatalf("the account page after a recovery code: at %s (%d)", p.URL.Path, p.Status)
			}
			if q := b.Get(f.e.Issuer + "/account/phone"); q.URL.Path != "/account/phone/new" {
				t.Errorf("a phone change after it: at %s", q.URL.Path)
			}
		})

		// Another user's session is not the account page's to end.
		t.Run("OnlyOwnSessions", func(t *testing.T) {
			f := setup(t, open)
			bob := f.e.CreateUser("bob", "correct horse battery", "+819055556666", true)
			bb := f.e.NewBrowser()
			accountSignIn(t, f.e, bb, bob)
			b := f.e.NewBrowser()
			p := accountSignIn(t, f.e, b, f.user)
			bobs, _ := f.e.Store.UserSessions(t.Context(), bob.ID)
			q := post(t, b, p, "/account/sessions/revoke", url.Values{"session": {bobs[0].ID}})
			if q.Status != http.StatusNotFound {
				t.Errorf("ending another user's session: %d, want 404", q.Status)
			}
			if live, _ := f.e.Store.SessionLive(t.Context(), bobs[0].ID); !live {
				t.Error("alice ended bob's session")
			}
		})
	})
}
