package idp_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// Attacks on the account lifecycle (enrolment, recovery, resets, trusted
// browsers), each met over HTTP the way an attacker meets it, on SQLite
// and PostgreSQL.
func TestLifecycleAttacks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// The password of an account that has no phone yet must not let
		// anyone bind a number to it: only an invitation link does.
		t.Run("EnrolmentWithoutInvitationIsRefused", func(t *testing.T) {
			f := setup(t, open)
			bob := f.e.CreateUser("bob", "correct horse battery", "", false)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			q := b.Fill(p, url.Values{"username": {"bob"}, "password": {bob.Password}})
			if q.Status != http.StatusForbidden || q.URL.Path != "/login" || !shows(q, ui.MsgNeedInvitation) {
				t.Fatalf("password of an account without a phone: %d at %s, want 403 on the sign-in page asking for an invitation:\n%s", q.Status, q.URL.Path, q.Body)
			}
			if !strings.Contains(q.Body, "/login/cancel?") {
				t.Errorf("the refusal offers no way back to the app")
			}
			// Forging the enrolment form of the flow gets nowhere either.
			flow := p.URL.Query().Get("flow")
			q = b.Submit("/login/phone?flow="+flow, url.Values{"phone": {"090-6666-7777"}, "csrf_token": {p.CSRF(t)}})
			if q.URL.Path != "/login" {
				t.Fatalf("forged enrolment: at %s (%d), want the sign-in page", q.URL.Path, q.Status)
			}
			// Even once an invitation exists, the app's sign-in does not enrol.
			f.e.Invite(bob)
			q = b.Fill(p, url.Values{"username": {"bob"}, "password": {bob.Password}})
			if q.Status != http.StatusForbidden || !shows(q, ui.MsgNeedInvitation) {
				t.Fatalf("with an invitation made but not used: %d at %s", q.Status, q.URL.Path)
			}
			if n := len(f.e.Messages()); n != 0 {
				t.Fatalf("%d SMS sent for an account without a phone", n)
			}
			if ph, _ := f.e.Store.PhoneOf(t.Context(), bob.ID); ph != nil {
				t.Fatalf("a phone was bound without an invitation: %+v", ph)
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "phone.enrolled", Outcome: "refused"})
			if len(ev) != 2 || ev[0].UserID != bob.ID {
				t.Errorf("refused enrolments in the audit log: %+v", ev)
			}
		})

		// One invitation enrols one number: a second browser with the same
		// link, whether it started before or after, binds nothing.
		t.Run("InvitationUsedTwice", func(t *testing.T) {
			f := setup(t, open)
			bob := f.e.CreateUser("bob", "correct horse battery", "", false)
			link := f.e.Invite(bob)
			toPIN := func(b *idptest.Browser, number string) *idptest.Page {
				t.Helper()
				p := b.Get(link)
				p = b.Fill(p, url.Values{"username": {"bob"}, "password": {bob.Password}})
				p = b.Fill(p, url.Values{"phone": {number}})
				if p.URL.Path != "/login/pin" {
					t.Fatalf("enrolment: at %s (%d), want the PIN page:\n%s", p.URL.Path, p.Status, p.Body)
				}
				return p
			}
			owner, attacker := f.e.NewBrowser(), f.e.NewBrowser()
			pinOwner := toPIN(owner, "090-1111-2222")
			pinAttacker := toPIN(attacker, "090-6666-7777")
			p := owner.Fill(pinOwner, url.Values{"code": {f.e.LastCode("+819011112222")}})
			if !titled(p, ui.MsgPhoneEnrolled) {
				t.Fatalf("the owner's enrolment: %d at %s:\n%s", p.Status, p.URL.Path, p.Body)
			}
			// The attacker's right PIN, after the link was used, binds nothing.
			p = attacker.Fill(pinAttacker, url.Values{"code": {f.e.LastCode("+819066667777")}})
			if p.Status != http.StatusGone || !shows(p, ui.MsgInvitationInvalid) {
				t.Fatalf("a second enrolment with a used link: %d at %s, want 410 with the invitation message", p.Status, p.URL.Path)
			}
			if ph, _ := f.e.Store.PhoneOf(t.Context(), bob.ID); ph == nil || ph.Number != "+819011112222" {
				t.Fatalf("phone after two enrolments = %+v, want the first one's", ph)
			}
			// Opened again later, the link begins nothing and sends nothing.
			sent := len(f.e.Messages())
			p = f.e.NewBrowser().Get(link)
			if p.Status != http.StatusGone || !shows(p, ui.MsgInvitationInvalid) || strings.Contains(p.Body, `name="password"`) {
				t.Fatalf("a used invitation opened again: %d at %s", p.Status, p.URL.Path)
			}
			if len(f.e.Messages()) != sent {
				t.Fatal("a used invitation sent an SMS")
			}
		})

		// An invitation is for its user: another account's password with
		// it is refused like a wrong one, and nothing is sent.
		t.Run("InvitationWithAnotherAccountsPassword", func(t *testing.T) {
			f := setup(t, open)
			bob := f.e.CreateUser("bob", "correct horse battery", "", false)
			carol := f.e.CreateUser("carol", "another horse battery", "", false)
			b := f.e.NewBrowser()
			p := b.Get(f.e.Invite(bob))
			q := b.Fill(p, url.Values{"username": {"carol"}, "password": {carol.Password}})
			if q.Status != http.StatusUnauthorized || !shows(q, ui.MsgInvalidCredentials) {
				t.Fatalf("another account's password with bob's invitation: %d at %s", q.Status, q.URL.Path)
			}
			// A replaced invitation is dead too.
			old := f.e.Invite(bob)
			f.e.Invite(bob)
			if q := f.e.NewBrowser().Get(old); q.Status != http.StatusGone {
				t.Fatalf("a replaced invitation: %d at %s", q.Status, q.URL.Path)
			}
			if n := len(f.e.Messages()); n != 0 {
				t.Fatalf("%d SMS sent", n)
			}
		})

		// A recovery code works once: used in one sign-in, it opens no
		// other, and of many sign-ins sending it at once one gets in.
		t.Run("RecoveryCodeUsedTwice", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			atRecovery := func() (*idptest.Browser, *idptest.Page) {
				b := f.e.NewBrowser()
				return b, chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "recovery")
			}
			b, p := atRecovery()
			if q := b.Fill(p, url.Values{"recovery_code": {codes[0]}}); q.URL.Path != "/login/recovery/used" {
				t.Fatalf("first use: at %s (%d)", q.URL.Path, q.Status)
			}
			b, p = atRecovery()
			q := b.Fill(p, url.Values{"recovery_code": {codes[0]}})
			if q.Status != http.StatusUnauthorized || q.URL.Path != "/login/recovery" || !shows(q, ui.MsgRecoveryCodeInvalid) {
				t.Fatalf("the same code again: %d at %s", q.Status, q.URL.Path)
			}
			// Eight sign-ins send one fresh code at once.
			const n = 8
			type tab struct {
				b *idptest.Browser
				p *idptest.Page
			}
			var tabs []tab
			for range n {
				b, p := atRecovery()
				tabs = append(tabs, tab{b, p})
			}
			statuses := make([]string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, tb := range tabs {
				wg.Go(func() {
					<-start
					q := tb.b.Fill(tb.p, url.Values{"recovery_code": {codes[1]}})
					statuses[i] = q.URL.Path
				})
			}
			close(start)
			wg.Wait()
			if in := slices.Index(statuses, "/login/recovery/used"); in < 0 || slices.Contains(statuses[in+1:], "/login/recovery/used") {
				t.Fatalf("one code sent by %d sign-ins at once: they ended at %v; want exactly one in", n, statuses)
			}
			if left, _, _ := f.e.Store.RecoveryCodesLeft(t.Context(), f.user.ID); left != 8 {
				t.Errorf("%d codes left after two were used, want 8", left)
			}
		})

		// Guesses at recovery codes are counted before any is hashed: of
		// a burst, no more than the allowance is checked, and then even
		// a right code waits.
		t.Run("RecoveryCodeGuessingIsThrottled", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			b := f.e.NewBrowser()
			p := chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "recovery")
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 20 {
				wg.Go(func() {
					<-start
					q := b.Fill(p, url.Values{"recovery_code": {fmt.Sprintf("abcd-efgh-jkmn-%04d", i)}})
					mu.Lock()
					statuses[q.Status]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if statuses[http.StatusUnauthorized] > 5 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 20 {
				t.Fatalf("20 guesses at once: %v; want at most 5 checked (401), the rest refused (429)", statuses)
			}
			q := b.Fill(p, url.Values{"recovery_code": {codes[0]}})
			if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
				t.Fatalf("a right code after the guesses: %d at %s, want 429", q.Status, q.URL.Path)
			}
			if left, _, _ := f.e.Store.RecoveryCodesLeft(t.Context(), f.user.ID); left != 10 {
				t.Errorf("%d codes left, want 10: a throttled try used one", left)
			}
		})

		// A reset link works once and for an hour: a second browser with
		// it, before or after, sets nothing, and every dead link says
		// what to do instead.
		t.Run("ResetLinkUsedTwiceOrAfterExpiry", func(t *testing.T) {
			f := setup(t, open)
			link := f.e.ResetLink(f.user)
			owner, attacker := f.e.NewBrowser(), f.e.NewBrowser()
			po, pa := owner.Get(link), attacker.Get(link)
			if po.URL.Path != "/login/password" || pa.URL.Path != "/login/password" {
				t.Fatalf("the link opens at %s and %s", po.URL.Path, pa.URL.Path)
			}
			set := func(b *idptest.Browser, p *idptest.Page, pw string) *idptest.Page {
				return b.Fill(p, url.Values{"new_password": {pw}, "confirm_password": {pw}})
			}
			if q := set(owner, po, "the owner's new passphrase"); !titled(q, ui.MsgPasswordReset) {
				t.Fatalf("the owner's reset: %d at %s", q.Status, q.URL.Path)
			}
			q := set(attacker, pa, "the attacker's passphrase")
			if q.Status != http.StatusGone || !titled(q, ui.MsgResetLinkInvalid) {
				t.Fatalf("a second reset with a used link: %d at %s", q.Status, q.URL.Path)
			}
			if signsIn(t, f, "the attacker's passphrase") || !signsIn(t, f, "the owner's new passphrase") {
				t.Fatal("the used link set the attacker's password")
			}
			deadLink := func(what, link string) {
				t.Helper()
				q := f.e.NewBrowser().Get(link)
				if q.Status != http.StatusGone || !titled(q, ui.MsgResetLinkInvalid) || !strings.Contains(q.Body, `href="/password/forgot"`) ||
					strings.Contains(q.Body, `name="new_password"`) {
					t.Errorf("%s: %d at %s, want 410 with the way on and no form", what, q.Status, q.URL.Path)
				}
			}
			deadLink("a used link opened again", link)
			// An hour later a link is dead too, and a page opened in time
			// cannot use it any more.
			link = f.e.ResetLink(f.user)
			p := attacker.Get(link)
			if err := f.e.DB.Gorm.Exec(`UPDATE user_links SET expires_at = ?`, time.Now().UTC().Add(-time.Second)).Error; err != nil {
				t.Fatal(err)
			}
			deadLink("an expired link", link)
			if q := set(attacker, p, "the attacker's passphrase"); q.Status != http.StatusGone {
				t.Errorf("a page of an expired link: %d at %s, want 410", q.Status, q.URL.Path)
			}
			if !signsIn(t, f, "the owner's new passphrase") {
				t.Error("an expired link changed the password")
			}
		})

		// SMS alone never resets a password: a user with no recovery
		// code is told to ask the operator, and no SMS goes out.
		t.Run("SelfServiceResetBySMSOnlyUserIsRefused", func(t *testing.T) {
			f := setup(t, open) // alice: a verified phone, no recovery codes
			b := f.e.NewBrowser()
			p := b.Get(f.e.Issuer + "/password/forgot")
			for _, guess := range []string{"abcd-efgh-jkmn-pqrs", "0000-0000-0000-0000"} {
				q := b.Fill(p, url.Values{"username": {"alice"}, "recovery_code": {guess}})
				if q.Status != http.StatusUnauthorized || !shows(q, ui.MsgResetRefused) ||
					!strings.Contains(html.UnescapeString(q.Body), ui.T("en", "reset.refused.next")) {
					t.Fatalf("a reset by an SMS-only user: %d at %s, want 401 saying to ask the administrator", q.Status, q.URL.Path)
				}
			}
			// An unknown name answers the same.
			if q := b.Fill(p, url.Values{"username": {"nobody"}, "recovery_code": {"abcd-efgh-jkmn-pqrs"}}); q.Status != http.StatusUnauthorized {
				t.Errorf("an unknown user: %d", q.Status)
			}
			// With recovery codes but no confirmed phone, the second proof
			// is missing: ask the operator, nothing sent, the code kept.
			bob := f.e.CreateUser("bob", "correct horse battery", "+819044445555", false)
			codes := f.e.RecoveryCodes(bob)
			q := b.Fill(p, url.Values{"username": {"bob"}, "recovery_code": {codes[0]}})
			if q.Status != http.StatusForbidden || !shows(q, ui.MsgResetNeedsOperator) {
				t.Fatalf("a reset without a confirmed phone: %d at %s", q.Status, q.URL.Path)
			}
			if left, _, _ := f.e.Store.RecoveryCodesLeft(t.Context(), bob.ID); left != 10 {
				t.Errorf("the refused reset used a code: %d left", left)
			}
			if n := len(f.e.Messages()); n != 0 {
				t.Fatalf("%d SMS sent by refused resets", n)
			}
			if !signsIn(t, f, f.user.Password) {
				t.Error("the password changed")
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "recovery_code.used", Outcome: "failed"})
			if len(ev) != 3 {
				t.Errorf("%d failed reset tries in the audit log, want 3", len(ev))
			}
		})

		// A trusted browser's cookie is bound to the user who trusted it:
		// copied into a browser where another account signs in, it spares
		// nothing, and the PIN of that account is asked.
		t.Run("TrustedBrowserCookieCopiedToAnotherUser", func(t *testing.T) {
			f := trustedSetup(t, open, idptest.Options{})
			bob := f.e.CreateUser("bob", "another horse battery", "+819055556666", true)
			alices := f.e.NewBrowser()
			trustBrowser(t, f, alices, f.user)
			issuer, _ := url.Parse(f.e.Issuer)
			var device *http.Cookie
			for _, c := range alices.Client.Jar.Cookies(issuer) {
				if c.Name == "idp_device" {
					device = c
				}
			}
			if device == nil {
				t.Fatal("trusting the browser set no device cookie")
			}
			attacker := f.e.NewBrowser()
			attacker.Client.Jar.SetCookies(issuer, []*http.Cookie{{Name: device.Name, Value: device.Value, Path: "/"}})
			sent := len(f.e.Messages())
			p, c := passwordOnly(t, f, attacker, bob)
			if c != nil || p.URL.Path != "/login/pin" || len(f.e.Messages()) != sent+1 || f.e.Messages()[sent].To != bob.Phone {
				t.Fatalf("bob's password with alice's device cookie: at %s (%d); want bob's PIN asked", p.URL.Path, p.Status)
			}
			// A forged value is nothing either.
			forged := f.e.NewBrowser()
			forged.Client.Jar.SetCookies(issuer, []*http.Cookie{{Name: device.Name, Value: strings.Repeat("A", 43), Path: "/"}})
			if p, _ := passwordOnly(t, f, forged, f.user); p.URL.Path != "/login/pin" {
				t.Errorf("a forged device cookie: at %s, want the PIN", p.URL.Path)
			}
		})
	})
}

// titled reports whether a page shows the title of a catalogue message
// (for messages whose text takes arguments).
func titled(p *idptest.Page, id ui.MsgID) bool {
	return strings.Contains(html.UnescapeString(p.Body), ui.T("en", id+".title"))
}
