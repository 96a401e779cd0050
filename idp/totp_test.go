package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/idp/totp"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

var secretLine = regexp.MustCompile(`<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>`)

// totpCode is the code an authenticator app with secret shows now, by
// the server's clock.
func totpCode(t *testing.T, e *idptest.Env, secret string) string {
	t.Helper()
	c, err := totp.Code(secret, e.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the next time step: a code of a step
// already accepted is refused, as a person waiting for the app's next
// code would see.
func nextStep(e *idptest.Env) { e.Advance(totp.Period * time.Second) }

// addTOTP adds an authenticator app on the account page p, checking
// what the set-up page shows, and returns its secret.
func addTOTP(t *testing.T, e *idptest.Env, b *idptest.Browser, p *idptest.Page) string {
	t.Helper()
	q := post(t, b, p, "/account/totp/new", nil)
	if q.URL.Path != "/account/totp" || q.Status != http.StatusOK {
		t.Fatalf("adding an app: at %s (%d)", q.URL.Path, q.Status)
	}
	m := secretLine.FindStringSubmatch(q.Body)
	if m == nil || !strings.Contains(q.Body, `<img src="data:image/png;base64,iVBOR`) {
		t.Fatalf("the set-up page shows no QR code or no key:\n%s", q.Body)
	}
	if csp := q.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("the QR code's data: URL is not allowed by the CSP %q", csp)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	// A wrong code keeps the page, with the same key.
	w := post(t, b, q, "/account/totp", url.Values{"totp_code": {wrongTOTP(t, e, secret)}})
	if w.Status != http.StatusUnauthorized || !shows(w, ui.MsgTOTPInvalid) || !strings.Contains(w.Body, m[1]) {
		t.Fatalf("a wrong confirming code: %d at %s", w.Status, w.URL.Path)
	}
	done := post(t, b, w, "/account/totp", url.Values{"totp_code": {totpCode(t, e, secret)}})
	if done.URL.Path != "/account" || !shows(done, ui.MsgTOTPAdded) || !strings.Contains(done.Body, ui.T("en", "account.totp_remove")) {
		t.Fatalf("the confirming code: at %s (%d):\n%s", done.URL.Path, done.Status, done.Body)
	}
	return secret
}

// wrongTOTP is a code of the right shape that the app does not show now.
func wrongTOTP(t *testing.T, e *idptest.Env, secret string) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, ok := totp.Check(secret, c, e.Now()); !ok {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// toTOTP signs in to the RP with the password and expects the
// authenticator page, with no SMS sent.
func (f *fixture) toTOTP(t *testing.T, b *idptest.Browser, verifier string, extra ...oauth2.AuthCodeOption) *idptest.Page {
	t.Helper()
	sent := len(f.e.Messages())
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, extra...))
	p = b.Fill(p, url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
	if p.URL.Path != "/login/totp" || !strings.Contains(p.Body, `name="totp_code"`) {
		t.Fatalf("after the password: at %s (%d), want /login/totp", p.URL.Path, p.Status)
	}
	if n := len(f.e.Messages()) - sent; n != 0 {
		t.Fatalf("%d SMS sent to a user whose last factor was the app, want none", n)
	}
	return p
}

// withTOTP is a fixture whose user added an authenticator app.
func withTOTP(t *testing.T, open func(*testing.T) *dbtest.DB) (*fixture, string) {
	f := setup(t, open)
	b := f.e.NewBrowser()
	secret := addTOTP(t, f.e, b, accountSignIn(t, f.e, b, f.user))
	nextStep(f.e) // the confirming code is used
	return f, secret
}

func TestTOTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("EnrolSignInAndReplay", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := accountSignIn(t, f.e, b, f.user)
			if !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "account.totp_none")) {
				t.Error("the account page does not say there is no app yet")
			}
			secret := addTOTP(t, f.e, b, p)
			// The key is never shown again.
			if q := b.Get(f.e.Issuer + "/account/totp"); q.URL.Path != "/account" || secretLine.MatchString(q.Body) {
				t.Errorf("the set-up page after confirming: at %s, key shown %v", q.URL.Path, secretLine.MatchString(q.Body))
			}
			msgs := f.e.Messages()
			if last := msgs[len(msgs)-1]; last.To != f.user.Phone || !strings.Contains(last.Body, "authenticator app was added") {
				t.Errorf("no notice of the new app to the phone: %+v", last)
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "totp.added"}); len(ev) != 2 || ev[0].Outcome == ev[1].Outcome {
				t.Errorf("totp.added audited %d times, want a failure and a success", len(ev))
			}
			row, err := f.e.Store.TOTPOf(t.Context(), f.user.ID)
			if err != nil || strings.Contains(row.SecretSealed, secret) {
				t.Fatalf("the stored secret: %v; stored in the clear: %v", err, strings.Contains(row.SecretSealed, secret))
			}

			// The confirming code cannot sign in: its step was used.
			b2 := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p = f.toTOTP(t, b2, verifier)
			if q := b2.Fill(p, url.Values{"totp_code": {totpCode(t, f.e, secret)}}); q.Status != http.StatusUnauthorized || !shows(q, ui.MsgTOTPInvalid) {
				t.Fatalf("the confirming code again: %d at %s", q.Status, q.URL.Path)
			}
			nextStep(f.e)
			code := totpCode(t, f.e, secret)
			c := f.rp.claims(t, codeFrom(t, b2.Fill(p, url.Values{"totp_code": {code[:3] + " " + code[3:]}}), "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != idp.ACRMFA {
				t.Errorf("the RP sees amr %v acr %q; want [pwd otp mfa] and %s", c.AMR, c.ACR, idp.ACRMFA)
			}
			// The same code in another browser, inside its window: refused.
			b3 := f.e.NewBrowser()
			p = f.toTOTP(t, b3, oauth2.GenerateVerifier())
			if q := b3.Fill(p, url.Values{"totp_code": {code}}); q.Status != http.StatusUnauthorized || q.URL.Path != "/login/totp" || !shows(q, ui.MsgTOTPInvalid) {
				t.Fatalf("a replayed code: %d at %s", q.Status, q.URL.Path)
			}
			if row, _ := f.e.Store.TOTPOf(t.Context(), f.user.ID); row.LastUsedAt == nil {
				t.Error("last use not recorded")
			}
		})

		// One valid code sent by many sign-ins at once signs in one.
		t.Run("ParallelUsesOfOneCode", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			const n = 5 // the allowance: every one of them is checked
			type tab struct {
				b *idptest.Browser
				p *idptest.Page
			}
			var tabs []tab
			for range n {
				b := f.e.NewBrowser()
				tabs = append(tabs, tab{b, f.toTOTP(t, b, oauth2.GenerateVerifier())})
			}
			code := totpCode(t, f.e, secret)
			statuses := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, tb := range tabs {
				wg.Go(func() {
					<-start
					statuses[i] = tb.b.Fill(tb.p, url.Values{"totp_code": {code}}).Status
				})
			}
			close(start)
			wg.Wait()
			in := 0
			for _, s := range statuses {
				switch s {
				case http.StatusSeeOther, http.StatusFound:
					in++
				case http.StatusUnauthorized:
				default:
					t.Errorf("status %d", s)
				}
			}
			if in != 1 {
				t.Fatalf("one code sent by %d sign-ins at once: %v; want exactly one in", n, statuses)
			}
		})

		// Wrong codes are counted before they are checked: of a burst no
		// more than the allowance is checked, and then a right code waits.
		t.Run("WrongCodesExhaustTheBudget", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			b := f.e.NewBrowser()
			p := f.toTOTP(t, b, oauth2.GenerateVerifier())
			wrong := wrongTOTP(t, f.e, secret)
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 12 {
				wg.Go(func() {
					<-start
					q := b.Fill(p, url.Values{"totp_code": {wrong}})
					mu.Lock()
					statuses[q.Status]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if statuses[http.StatusUnauthorized] > 5 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 12 {
				t.Fatalf("12 wrong codes at once: %v; want at most 5 checked (401), the rest refused (429)", statuses)
			}
			q := b.Fill(p, url.Values{"totp_code": {totpCode(t, f.e, secret)}})
			if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
				t.Fatalf("a right code after the guesses: %d at %s, want 429", q.Status, q.URL.Path)
			}
			// Not the shape of a code: refused, not counted, not a 500.
			for _, junk := range []string{"", "12345", "abcdef", strings.Repeat("9", 100), "12\x00456"} {
				if q := b.Fill(p, url.Values{"totp_code": {junk}}); q.Status != http.StatusBadRequest {
					t.Errorf("totp_code %q: %d, want 400", junk, q.Status)
				}
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "totp.verify"}); len(ev) < 12 {
				t.Errorf("%d totp.verify events, want one a try", len(ev))
			}
		})

		// The last factor used is offered first; SMS is sent only when
		// chosen; an RP that requires SMS gets the PIN.
		t.Run("ChoosingTheFactor", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			b := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p := f.toTOTP(t, b, verifier)
			sent := len(f.e.Messages())
			p = chooseFactor(t, b, p, "sms")
			if p.URL.Path != "/login/pin" || len(f.e.Messages()) != sent+1 {
				t.Fatalf("choosing SMS: at %s, %d SMS sent, want the PIN page and one", p.URL.Path, len(f.e.Messages())-sent)
			}
			c := f.rp.claims(t, codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789"), verifier)
			if !slices.Contains(c.AMR, "sms") || c.ACR != idp.ACRPasswordSMS {
				t.Errorf("after SMS: amr %v acr %q", c.AMR, c.ACR)
			}
			// Now SMS was last: the PIN first, the app offered.
			b = f.e.NewBrowser()
			p = f.toPIN(t, b, oauth2.GenerateVerifier())
			p = chooseFactor(t, b, p, "totp")
			if p.URL.Path != "/login/totp" {
				t.Fatalf("choosing the app: at %s", p.URL.Path)
			}
			// An RP that requires SMS never gets the app, nor is it offered.
			b = f.e.NewBrowser()
			q := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(),
				oauth2.SetAuthURLParam("acr_values", idp.ACRPasswordSMS)))
			q = b.Fill(q, url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			if q.URL.Path != "/login/pin" || strings.Contains(q.Body, "/login/factor/totp") {
				t.Errorf("acr_values=pwd+sms: at %s, the app offered %v", q.URL.Path, strings.Contains(q.Body, "/login/factor/totp"))
			}
			// Signing in with the app makes it first again.
			b = f.e.NewBrowser()
			p = chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "totp")
			if q := b.Fill(p, url.Values{"totp_code": {totpCode(t, f.e, secret)}}); q.Status != http.StatusSeeOther {
				t.Fatalf("the app's code: %d at %s", q.Status, q.URL.Path)
			}
			nextStep(f.e)
			f.toTOTP(t, f.e.NewBrowser(), oauth2.GenerateVerifier())
		})

		t.Run("RemoveTellsThePhone", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			addTOTP(t, f.e, b, accountSignIn(t, f.e, b, f.user))
			// The app is asked first at this sign-in too.
			p := b.Get(f.e.Issuer + "/account/signin")
			p = b.Fill(p, url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			if p.URL.Path != "/login/totp" {
				t.Fatalf("the account sign-in of an app user: at %s", p.URL.Path)
			}
			p = chooseFactor(t, b, p, "sms")
			p = b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}})
			q := post(t, b, p, "/account/totp/remove", nil)
			if q.URL.Path != "/account" || !shows(q, ui.MsgTOTPRemoved) || !strings.Contains(html.UnescapeString(q.Body), ui.T("en", "account.totp_none")) {
				t.Fatalf("removing: at %s (%d)", q.URL.Path, q.Status)
			}
			msgs := f.e.Messages()
			if last := msgs[len(msgs)-1]; !strings.Contains(last.Body, "authenticator app was removed") {
				t.Errorf("no notice of the removal: %+v", last)
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "totp.removed"}); len(ev) != 1 {
				t.Errorf("totp.removed audited %d times", len(ev))
			}
			f.toPIN(t, f.e.NewBrowser(), oauth2.GenerateVerifier())
		})

		t.Run("AccountPageInJapanese", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := accountSignIn(t, f.e, b, f.user)
			p = b.Get(f.e.Issuer + "/account?lang=ja")
			body := html.UnescapeString(p.Body)
			for _, key := range []string{"account.totp", "account.totp_why", "account.totp_none", "account.totp_add"} {
				if !strings.Contains(body, ui.T("ja", ui.MsgID(key))) {
					t.Errorf("the Japanese account page lacks %s", key)
				}
			}
			q := post(t, b, p, "/account/totp/new", nil)
			body = html.UnescapeString(q.Body)
			for _, key := range []string{"totp_setup.title", "totp_setup.scan", "totp_setup.key", "totp_setup.confirm"} {
				if !strings.Contains(body, ui.T("ja", ui.MsgID(key))) {
					t.Errorf("the Japanese set-up page lacks %s", key)
				}
			}
		})

		// The app stands for the current number's PIN in a phone change
		// (a lost phone), and signs in to the account page.
		t.Run("PhoneChangeAndAccountSignIn", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			sent := len(f.e.Messages())
			b := f.e.NewBrowser()
			p := b.Fill(b.Get(f.e.Issuer+"/account/phone"), url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			if p.URL.Path != "/login/totp" {
				t.Fatalf("a phone change of an app user: at %s, want /login/totp", p.URL.Path)
			}
			p = b.Fill(p, url.Values{"totp_code": {totpCode(t, f.e, secret)}})
			if p.URL.Path != "/account/phone/new" {
				t.Fatalf("after the app's code: at %s, want the new number", p.URL.Path)
			}
			if n := len(f.e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent to the old number, want none", n)
			}
			nextStep(f.e)
			b = f.e.NewBrowser()
			p = b.Fill(b.Get(f.e.Issuer+"/account/signin"), url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			p = b.Fill(p, url.Values{"totp_code": {totpCode(t, f.e, secret)}})
			if p.URL.Path != "/account" || !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "account.totp_remove")) {
				t.Fatalf("the account sign-in with the app: at %s (%d)", p.URL.Path, p.Status)
			}
		})

		// A live session spares the password, not the second factor (none
		// remembered here): the app is asked again, with no SMS.
		t.Run("SessionAsksTheAppAgain", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{MFARemember: -1})
			f := &fixture{e: e, user: e.CreateUser("alice", "correct horse battery", "+819012345678", true),
				client: e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)}
			f.rp = newRP(t, e, f.client)
			b := e.NewBrowser()
			secret := addTOTP(t, e, b, accountSignIn(t, e, b, f.user))
			nextStep(e)
			b = e.NewBrowser()
			codeFrom(t, b.Fill(f.toTOTP(t, b, oauth2.GenerateVerifier()), url.Values{"totp_code": {totpCode(t, e, secret)}}), "state-0123456789")
			nextStep(e)
			sent := len(e.Messages())
			verifier := oauth2.GenerateVerifier()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier))
			if p.URL.Path != "/login/totp" || len(e.Messages()) != sent {
				t.Fatalf("a second sign-in in the same browser: at %s, %d SMS; want /login/totp and none", p.URL.Path, len(e.Messages())-sent)
			}
			c := f.rp.claims(t, codeFrom(t, b.Fill(p, url.Values{"totp_code": {totpCode(t, e, secret)}}), "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != idp.ACRMFA {
				t.Errorf("amr %v acr %q", c.AMR, c.ACR)
			}
		})

		// A rotated IDP_SECRET keeps the apps working; a use seals the
		// secret anew, and then the old secret can go.
		t.Run("SecretRotation", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			oldSecret := f.e.Secret
			before, _ := f.e.Store.TOTPOf(t.Context(), f.user.ID)
			next := []byte("the-next-secret-the-next-secret-0123456789")
			f.e.Restart(idptest.Options{Secret: next, OldSecrets: [][]byte{oldSecret}})
			b := f.e.NewBrowser()
			codeFrom(t, b.Fill(f.toTOTP(t, b, oauth2.GenerateVerifier()), url.Values{"totp_code": {totpCode(t, f.e, secret)}}), "state-0123456789")
			after, _ := f.e.Store.TOTPOf(t.Context(), f.user.ID)
			if after.SecretSealed == before.SecretSealed {
				t.Fatal("the secret was not sealed anew under the new IDP_SECRET")
			}
			f.e.Restart(idptest.Options{Secret: next})
			nextStep(f.e)
			b = f.e.NewBrowser()
			codeFrom(t, b.Fill(f.toTOTP(t, b, oauth2.GenerateVerifier()), url.Values{"totp_code": {totpCode(t, f.e, secret)}}), "state-0123456789")
		})

		// With the secret it was sealed under gone (IDP_SECRET changed, the
		// old one not kept), the app cannot be checked: the page says so
		// and offers the text message, which completes the sign-in.
		t.Run("SecretDropped", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			// As if sealed under a secret this server no longer has.
			row, err := f.e.Store.TOTPOf(t.Context(), f.user.ID)
			if err != nil {
				t.Fatal(err)
			}
			foreign, err := totp.NewSealer([]byte("a-secret-no-longer-configured-0123456789")).Seal(f.user.ID, secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.e.Store.ResealTOTP(t.Context(), f.user.ID, row.SecretSealed, foreign); err != nil {
				t.Fatal(err)
			}
			b := f.e.NewBrowser()
			p := b.Fill(f.toTOTP(t, b, oauth2.GenerateVerifier()), url.Values{"totp_code": {totpCode(t, f.e, secret)}})
			if p.Status != http.StatusConflict || !shows(p, ui.MsgTOTPUnreadable) || !strings.Contains(p.Body, "/login/factor/sms") {
				t.Fatalf("an unreadable app: %d at %s, want 409 with the message and the SMS offered:\n%s", p.Status, p.URL.Path, p.Body)
			}
			p = b.Submit("/login/factor/sms?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			if p.URL.Path != "/login/pin" {
				t.Fatalf("choosing SMS: at %s (%d)", p.URL.Path, p.Status)
			}
			codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")
		})

		// Forgot password: the app's code is the first proof, the PIN the
		// second; the code does not serve twice.
		t.Run("ResetWithTheApp", func(t *testing.T) {
			f, secret := withTOTP(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.e.Issuer + "/password/forgot")
			code := totpCode(t, f.e, secret)
			q := b.Fill(p, url.Values{"username": {f.user.Username}, "recovery_code": {code}})
			if q.URL.Path != "/login/pin" {
				t.Fatalf("username and the app's code: at %s (%d)", q.URL.Path, q.Status)
			}
			other := f.e.NewBrowser()
			r := other.Fill(other.Get(f.e.Issuer+"/password/forgot"), url.Values{"username": {f.user.Username}, "recovery_code": {code}})
			if r.Status != http.StatusUnauthorized || !shows(r, ui.MsgResetRefused) {
				t.Errorf("the same code in another reset: %d at %s", r.Status, r.URL.Path)
			}
			q = b.Fill(q, url.Values{"code": {f.e.LastCode(f.user.Phone)}})
			if q.URL.Path != "/login/password" {
				t.Fatalf("the PIN after the app's code: at %s (%d)", q.URL.Path, q.Status)
			}
			q = b.Fill(q, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
			if !shows(q, ui.MsgPasswordReset) {
				t.Fatalf("the new password: %d at %s", q.Status, q.URL.Path)
			}
		})
	})
}
