package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

func TestPhoneChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("PasswordThenOldPhoneThenNewPhone", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			b := e.NewBrowser()
			p := b.Get(e.Issuer + "/account/phone")
			if !strings.Contains(p.Body, ui.T("en", "login.title_phone_change")) {
				t.Errorf("the phone change opens on a sign-in that does not say what for:\n%s", p.Body)
			}
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			if p.URL.Path != "/login/pin" {
				t.Fatalf("after the password: at %s", p.URL.Path)
			}
			// The PIN goes to the current number first.
			p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			if p.URL.Path != "/account/phone/new" {
				t.Fatalf("after the old number's PIN: at %s, want /account/phone/new", p.URL.Path)
			}
			if !strings.Contains(p.Body, ui.T("en", "phone.change_title")) || strings.Contains(p.Body, ui.T("en", "phone.title")) {
				t.Errorf("the new-number page does not say it changes the number:\n%s", p.Body)
			}
			same := b.Fill(p, url.Values{"phone": {"090-1234-5678"}})
			if same.Status != http.StatusBadRequest || !shows(same, ui.MsgPhoneSame) {
				t.Fatalf("the same number again: status %d", same.Status)
			}
			// A mistyped number: the PIN page offers to type another.
			p = b.Fill(p, url.Values{"phone": {"080-9999-0001"}})
			if p.URL.Path != "/account/phone/verify" || !strings.Contains(p.Body, "/account/phone/verify/again?") {
				t.Fatalf("after the new number: at %s, with no way to type another", p.URL.Path)
			}
			p = b.Submit("/account/phone/verify/again?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			if p.URL.Path != "/account/phone/new" {
				t.Fatalf("another number: at %s", p.URL.Path)
			}
			p = b.Fill(p, url.Values{"phone": {"080-9999-0000"}})
			if p.URL.Path != "/account/phone/verify" {
				t.Fatalf("after the new number: at %s", p.URL.Path)
			}
			// Until its PIN is typed, the number has not changed.
			if ph, _ := e.Store.PhoneOf(t.Context(), user.ID); ph.Number != user.Phone {
				t.Fatalf("number changed before its PIN: %s", ph.Number)
			}
			p = b.Fill(p, url.Values{"code": {e.LastCode("+818099990000")}})
			if p.Status != http.StatusOK || !strings.Contains(html.UnescapeString(p.Body), ui.T("en", ui.MsgPhoneChanged, "+81 •• •••• 0000")) {
				t.Fatalf("after the new number's PIN: status %d at %s", p.Status, p.URL.Path)
			}
			ph, _ := e.Store.PhoneOf(t.Context(), user.ID)
			if ph.Number != "+818099990000" || !ph.Verified() {
				t.Fatalf("phone after the change = %+v", ph)
			}
			msgs := e.Messages()
			last := msgs[len(msgs)-1]
			if last.To != user.Phone || !strings.Contains(last.Body, "changed") || strings.Contains(last.Body, "#") {
				t.Fatalf("the old number was not told of the change: %+v", last)
			}
		})

		t.Run("WrongPINOnOldPhoneStopsIt", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			b := e.NewBrowser()
			p := b.Get(e.Issuer + "/account/phone")
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			flow := p.URL.Query().Get("flow")
			p = b.Fill(p, url.Values{"code": {wrongCode(e.LastCode(user.Phone))}})
			if p.Status != http.StatusUnauthorized {
				t.Fatalf("wrong PIN: status %d", p.Status)
			}
			// Jumping to the new-number form goes back to the PIN.
			p = b.Get(e.Issuer + "/account/phone/new?flow=" + flow)
			if p.URL.Path != "/login/pin" {
				t.Fatalf("new-number form before the PIN: at %s", p.URL.Path)
			}
			// And posting it is refused the same way.
			p = b.Submit("/account/phone/new?flow="+flow, url.Values{"phone": {"080-9999-0000"}, "csrf_token": {p.CSRF(t)}})
			if p.URL.Path != "/login/pin" || len(e.Messages()) != 1 {
				t.Fatalf("new number posted before the PIN: at %s, %d SMS", p.URL.Path, len(e.Messages()))
			}
		})

		t.Run("PhoneChangeFlowIssuesNoCode", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			b := e.NewBrowser()
			p := b.Get(e.Issuer + "/account/phone")
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			flow := p.URL.Query().Get("flow")
			p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
			c := b.Get(e.Issuer + "/login/consent?flow=" + flow)
			if c.URL.Path != "/account/phone/new" || c.Header.Get("Location") != "" {
				t.Fatalf("consent of a phone-change flow: at %s, location %q", c.URL.Path, c.Header.Get("Location"))
			}
		})
	})
}
