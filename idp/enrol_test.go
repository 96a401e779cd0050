package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

func TestPhoneEnrolment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("UserWithoutPhoneEnrolsOneThroughAnInvitation", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Phones: mfa.PhonePolicy{DefaultRegion: "JP", AllowedCountries: []string{"JP"}}})
			user := e.CreateUser("bob", "correct horse battery", "", false)
			client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, client)
			b := e.NewBrowser()
			p := b.Get(e.Invite(user))
			if p.URL.Path != "/login" || !strings.Contains(p.Body, `value="bob"`) || !strings.Contains(p.Body, ui.T("en", "login.title_enrol")) {
				t.Fatalf("the invitation opens at %s (%d), want the set-up sign-in with the username filled in:\n%s", p.URL.Path, p.Status, p.Body)
			}
			p = b.Fill(p, url.Values{"username": {"bob"}, "password": {user.Password}})
			if p.URL.Path != "/login/phone" {
				t.Fatalf("after the password, a user without a phone is at %s, want /login/phone", p.URL.Path)
			}
			// A number outside the allow-list is refused, and no SMS goes out.
			bad := b.Fill(p, url.Values{"phone": {"+44 7400 123456"}})
			if bad.Status != http.StatusBadRequest || !shows(bad, ui.MsgPhoneCountryNotAllowed) {
				t.Fatalf("foreign number: status %d, want 400 with the country message", bad.Status)
			}
			// A landline gets no SMS, and the page says so (not "type the
			// country code").
			bad = b.Fill(p, url.Values{"phone": {"03-1234-5678"}})
			if bad.Status != http.StatusBadRequest || !shows(bad, ui.MsgPhoneNotMobile) {
				t.Fatalf("landline: status %d, want 400 with the not-a-mobile message", bad.Status)
			}
			if !strings.Contains(html.UnescapeString(bad.Body), ui.T("en", "phone.hint_jp")) {
				t.Error("the enrolment page's hint asks for +81 though 090-... is read as Japanese")
			}
			if n := len(e.Messages()); n != 0 {
				t.Fatalf("%d SMS sent to refused numbers", n)
			}
			// National input is read as Japanese and stored in E.164.
			p = b.Fill(p, url.Values{"phone": {"090-1111-2222"}})
			if p.URL.Path != "/login/pin" {
				t.Fatalf("after enrolment: at %s, want /login/pin", p.URL.Path)
			}
			p = b.Fill(p, url.Values{"code": {e.LastCode("+819011112222")}})
			if p.Status != http.StatusOK || !strings.Contains(html.UnescapeString(p.Body), ui.T("en", ui.MsgPhoneEnrolled, "+81 •• •••• 2222")) {
				t.Fatalf("after the PIN: status %d at %s, want the set-up notice:\n%s", p.Status, p.URL, p.Body)
			}
			ph, _ := e.Store.PhoneOf(t.Context(), user.ID)
			if ph == nil || ph.Number != "+819011112222" || !ph.Verified() {
				t.Fatalf("phone after enrolment = %+v", ph)
			}
			if ev, _ := e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "phone.enrolled"}); len(ev) != 1 || ev[0].UserID != user.ID || ev[0].Outcome != "ok" {
				t.Fatalf("audit of the enrolment = %+v", ev)
			}
			// The enrolment signed the browser in: the app's sign-in needs
			// nothing more, and the app sees the verified number.
			verifier := oauth2.GenerateVerifier()
			code := codeFrom(t, b.Get(r.authorize("state-0123456789", "nonce-0123456789", verifier)), "state-0123456789")
			tok, err := r.conf.Exchange(r.ctx(t.Context()), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			info, err := r.provider.UserInfo(r.ctx(t.Context()), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			info.Claims(&claims)
			if claims["phone_number"] != "+819011112222" || claims["phone_number_verified"] != true {
				t.Fatalf("userinfo after enrolment = %v", claims)
			}
		})

		t.Run("OperatorNumberVerifiedByFirstPIN", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{})
			user := e.CreateUser("carol", "correct horse battery", "+819033334444", false)
			client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, client)
			p, _ := e.Store.PhoneOf(t.Context(), user.ID)
			if p.Verified() {
				t.Fatal("a number registered without --phone-verified starts verified")
			}
			verifier := oauth2.GenerateVerifier()
			code := codeFrom(t, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
			if _, err := r.conf.Exchange(r.ctx(t.Context()), code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatal(err)
			}
			p, _ = e.Store.PhoneOf(t.Context(), user.ID)
			if !p.Verified() || p.Number != "+819033334444" {
				t.Fatalf("after the first PIN the phone is %+v, want verified", p)
			}
		})

		t.Run("RegisteredNumberOutsideAllowListGetsNoSMS", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Phones: mfa.PhonePolicy{DefaultRegion: "JP", AllowedCountries: []string{"JP"}}})
			user := e.CreateUser("dave", "correct horse battery", "+12015550123", true)
			client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, client)
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"dave"}, "password": {user.Password}})
			if p.Status != http.StatusForbidden || !shows(p, ui.MsgPhoneNotAllowed) || len(e.Messages()) != 0 {
				t.Fatalf("status %d, %d SMS; want 403, the number-not-allowed message and no SMS", p.Status, len(e.Messages()))
			}
			// Not a dead end: the page offers to start again or to go back.
			if !strings.Contains(p.Body, "/login/restart?") || !strings.Contains(p.Body, "/login/cancel?") {
				t.Fatalf("the refusal page offers no way on:\n%s", p.Body)
			}
		})
	})
}
