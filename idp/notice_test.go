package idp_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// Each event that changes how an account signs in tells the phone by SMS,
// after the event, in the user's language (their own, not the browser's),
// and never with a code line.
func TestNoticesInTheUsersLanguage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		for _, lang := range []string{"en", "ja"} {
			t.Run(lang, func(t *testing.T) {
				f := setup(t, open)
				if err := f.e.DB.Gorm.Exec(`UPDATE users SET locale = ? WHERE id = ?`, lang, f.user.ID).Error; err != nil {
					t.Fatal(err)
				}
				// notice checks that the newest SMS is the notice want, to to.
				notice := func(what, to, want string) {
					t.Helper()
					msgs := f.e.Messages()
					last := msgs[len(msgs)-1]
					if last.To != to || last.Body != want {
						t.Errorf("after %s: the last SMS is %+v, want %q to %s", what, last, want, to)
					}
				}
				codes := f.e.RecoveryCodes(f.user)

				// A recovery code in place of the PIN (the browser asks in English).
				b := f.e.NewBrowser()
				p := chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "recovery")
				b.Fill(p, url.Values{"recovery_code": {codes[0]}})
				notice("a recovery code", f.user.Phone, mfa.RecoveryCodeUsed("IDP", lang, 9))

				// The password changed on the account page.
				b = f.e.NewBrowser()
				accountSignIn(t, f.e, b, f.user)
				p = b.Get(f.e.Issuer + "/account/password")
				b.Fill(p, url.Values{"current_password": {f.user.Password}, "new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
				notice("a password change", f.user.Phone, mfa.PasswordChanged("IDP", lang))

				// The phone changed: the old number is told.
				p = b.Get(f.e.Issuer + "/account/phone")
				p = b.Fill(p, url.Values{"phone": {"080-7777-0000"}})
				b.Fill(p, url.Values{"code": {f.e.LastCode("+818077770000")}})
				notice("a phone change", f.user.Phone, mfa.PhoneChanged("IDP", lang, "+818077770000"))

				// The password reset by the operator's link: the new number is told.
				b = f.e.NewBrowser()
				p = b.Get(f.e.ResetLink(f.user))
				b.Fill(p, url.Values{"new_password": {"yet another passphrase"}, "confirm_password": {"yet another passphrase"}})
				notice("a password reset", "+818077770000", mfa.PasswordReset("IDP", lang))

				for _, m := range f.e.Messages() {
					if !strings.Contains(m.Body, "#") && (lang == "ja") != strings.ContainsAny(m.Body, "アパ") {
						t.Errorf("a notice to a %s user in another language: %q", lang, m.Body)
					}
				}
			})
		}

		// Notices to one number are limited: past the limit none is sent,
		// and the action they tell of stands.
		t.Run("Limited", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Limits: mfa.Limits{NoticeHour: 1}})
			f := &fixture{e: e, user: e.CreateUser("alice", "correct horse battery", "+819012345678", true)}
			f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			f.rp = newRP(t, e, f.client)
			codes := e.RecoveryCodes(f.user)
			for i := range 2 {
				b := e.NewBrowser()
				p := chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "recovery")
				if q := b.Fill(p, url.Values{"recovery_code": {codes[i]}}); q.URL.Path != "/login/recovery/used" {
					t.Fatalf("recovery code %d: at %s", i, q.URL.Path)
				}
			}
			n := 0
			for _, m := range e.Messages() {
				if strings.Contains(m.Body, "recovery code was used") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d notices sent with a limit of one an hour", n)
			}
		})
	})
}
