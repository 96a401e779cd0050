package idp_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// The login engine's defects, each met over HTTP the way an attacker or a
// new user met it, on SQLite and PostgreSQL.

// 40 wrong passwords sent at once on one flow: no more than the
// allowance are checked (a 401 means a hash was computed; a 429 that none
// was), and a second burst whose last try is right gets nowhere.
func TestParallelWrongPasswordsAreThrottled(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		burst := func(right int) map[int]int {
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 40 {
				wg.Go(func() {
					pw := fmt.Sprint("wrong guess ", i)
					if i == right {
						pw = f.user.Password
					}
					<-start
					q := b.Fill(p, url.Values{"username": {f.user.Username}, "password": {pw}})
					mu.Lock()
					statuses[q.Status]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			return statuses
		}
		first := burst(-1)
		if first[http.StatusUnauthorized] > 5 || first[http.StatusUnauthorized]+first[http.StatusTooManyRequests] != 40 {
			t.Fatalf("40 parallel wrong passwords: %v; want at most 5 checked (401) and the rest refused (429)", first)
		}
		second := burst(39)
		if second[http.StatusTooManyRequests] != 40 {
			t.Fatalf("second burst, the last try right: %v; want all 40 refused", second)
		}
		if n := len(f.e.Messages()); n != 0 {
			t.Fatalf("%d SMS sent while the account was throttled", n)
		}
	})
}

// A first send refused by a limit is a page of its own: it says how long
// to wait and, once the wait is over, sends the code; never the
// enrolment page, never a 500. A wait longer than the sign-in lives sends
// the user back to the app instead of offering a button that cannot work.
func TestRefusedFirstSendShowsTheWaitThenSends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{Limits: mfa.Limits{PhoneHour: 1, UserDay: 2}})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		codeFrom(t, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), user), "state-0123456789")
		// 58 minutes after that send: the hour slides past it in two.
		e.Advance(58 * time.Minute)

		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		if p.URL.Path != "/login/wait" || p.Status != http.StatusTooManyRequests || !shows(p, ui.MsgSMSRateLimited) ||
			p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, "minutes") {
			t.Fatalf("refused first send: at %s, status %d; want the wait page, 429, saying how long:\n%s", p.URL.Path, p.Status, p.Body)
		}
		if !strings.Contains(p.Body, `id="retry"`) || !strings.Contains(p.Body, "/login/restart?") || !strings.Contains(p.Body, "/login/cancel?") {
			t.Fatalf("the wait page offers no way on:\n%s", p.Body)
		}
		// Asking before the wait is over sends nothing.
		q := b.Fill(p, nil)
		if q.URL.Path != "/login/wait" || q.Status != http.StatusTooManyRequests || len(e.Messages()) != 1 {
			t.Fatalf("retry during the wait: at %s, %d, %d SMS", q.URL.Path, q.Status, len(e.Messages()))
		}
		// The enrolment page of this flow is not where it is.
		if q := b.Get(e.Issuer + "/login/phone?flow=" + p.URL.Query().Get("flow")); q.URL.Path != "/login/wait" {
			t.Fatalf("the enrolment page of a refused flow: at %s (%d)", q.URL.Path, q.Status)
		}
		e.Advance(3 * time.Minute)
		q = b.Get(p.URL.String())
		if q.Status != http.StatusOK || !strings.Contains(q.Body, `id="retry"`) || strings.Contains(q.Body, `aria-disabled`) {
			t.Fatalf("after the wait: status %d, want the retry button enabled:\n%s", q.Status, q.Body)
		}
		q = b.Fill(q, nil)
		if q.URL.Path != "/login/pin" || len(e.Messages()) != 2 {
			t.Fatalf("retry after the wait: at %s (%d), %d SMS; want the PIN page and a second SMS", q.URL.Path, q.Status, len(e.Messages()))
		}
		codeFrom(t, b.Fill(q, url.Values{"code": {e.LastCode(user.Phone)}}), "state-0123456789")

		// The user's day is used up (two codes): the wait outlives the
		// sign-in, so the page sends the user back to the app for later.
		e.Advance(time.Hour)
		b = e.NewBrowser()
		p = b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "login")))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		if p.URL.Path != "/login/wait" || strings.Contains(p.Body, `id="retry"`) || !strings.Contains(p.Body, "/login/cancel?") {
			t.Fatalf("a wait longer than the sign-in: at %s; want no retry button and a way back to the app:\n%s", p.URL.Path, p.Body)
		}
	})
}

// Junk in any form field is the request's fault: a 4xx page on both
// databases, never "temporarily unavailable", never a 500.
func TestJunkInputIsA4xxPage(t *testing.T) {
	junk := []string{"nul\x00byte", "bad\xffutf8", "\xc3\x28", strings.Repeat("x", 100000)}
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		login := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		check := func(what string, q *idptest.Page) {
			t.Helper()
			if q.Status < 400 || q.Status >= 500 {
				t.Errorf("%s: status %d, want 4xx", what, q.Status)
			}
			if shows(q, ui.MsgTemporarilyUnavailable) || shows(q, ui.MsgServerError) {
				t.Errorf("%s: junk is shown as an outage", what)
			}
		}
		for _, j := range junk {
			for _, field := range []string{"username", "password"} {
				form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
				form.Set(field, j)
				check(fmt.Sprintf("login %s %q", field, j[:min(len(j), 12)]), b.Fill(login, form))
			}
			form := url.Values{"username": {"alice"}, "password": {"x"}, "csrf_token": {j}}
			check("csrf_token", b.Submit(login.Action(t), form))
			check("flow id", b.Submit("/login?flow="+url.QueryEscape(j), url.Values{"csrf_token": {login.CSRF(t)}}))
			check("flow id (GET)", b.Get(f.e.Issuer+"/login/pin?flow="+url.QueryEscape(j)))
		}
		pin := b.Fill(login, url.Values{"username": {"alice"}, "password": {f.user.Password}})
		for _, j := range junk {
			check("code", b.Fill(pin, url.Values{"code": {j}}))
		}
		if pin = b.Get(pin.URL.String()); !strings.Contains(pin.Body, `autocomplete="one-time-code"`) {
			t.Fatalf("after junk codes the PIN page is gone:\n%s", pin.Body)
		}
		codeFrom(t, b.Fill(pin, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")

		// Enrolment (through an invitation) takes a number; junk there is
		// refused the same way.
		e := f.e
		nophone := e.CreateUser("bob", "correct horse battery", "", false)
		b = e.NewBrowser()
		p := b.Get(e.Invite(nophone))
		p = b.Fill(p, url.Values{"username": {"bob"}, "password": {nophone.Password}})
		if p.URL.Path != "/login/phone" {
			t.Fatalf("enrolment: at %s", p.URL.Path)
		}
		for _, j := range junk {
			check("phone", b.Fill(p, url.Values{"phone": {j}}))
		}
	})
}

// A form post over the 1 MiB cap is 413, both with its length declared and
// streamed without one.
func TestOversizedPostIs413(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		big := url.Values{"username": {"alice"}, "password": {strings.Repeat("p", 1<<20)}, "csrf_token": {p.CSRF(t)}}.Encode()
		for _, chunked := range []bool{false, true} {
			req, _ := http.NewRequest(http.MethodPost, f.e.Issuer+p.Action(t), strings.NewReader(big))
			if chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(big)})
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", f.e.Issuer)
			resp, err := b.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("1 MiB form (chunked %v): status %d, want 413", chunked, resp.StatusCode)
			}
		}
		// The token endpoint answers in JSON.
		req, _ := http.NewRequest(http.MethodPost, f.e.Issuer+"/oauth2/token", strings.NewReader(big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := f.e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("1 MiB token request: %d %s, want 413 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

// "Too many tries" offers the ways on: a new code, start again, back to
// the app; one try before, the page warns. Reloading keeps the offer.
func TestTooManyTriesOffersAWayOn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := f.toPIN(t, b, oauth2.GenerateVerifier())
		code := f.e.LastCode(f.user.Phone)
		lastTry := ui.T("en", "pin.one_try_left")
		for i := range 4 {
			if strings.Contains(html.UnescapeString(p.Body), lastTry) {
				t.Fatalf("the last-try warning shows after %d wrong codes", i)
			}
			p = b.Fill(p, url.Values{"code": {wrongCode(code)}})
		}
		if !strings.Contains(html.UnescapeString(p.Body), lastTry) {
			t.Fatalf("after 4 wrong codes no warning of the last try:\n%s", p.Body)
		}
		p = b.Fill(p, url.Values{"code": {wrongCode(code)}})
		offers := func(q *idptest.Page) {
			t.Helper()
			if !shows(q, ui.MsgTooManyAttempts) || strings.Contains(q.Body, `name="code"`) {
				t.Fatalf("exhausted: not the too-many-tries page with the code form gone:\n%s", q.Body)
			}
			for _, want := range []string{"/login/pin/resend?", "/login/restart?", "/login/cancel?"} {
				if !strings.Contains(q.Body, want) {
					t.Errorf("the too-many-tries page offers no %s", want)
				}
			}
		}
		offers(p)
		flow := p.URL.Query().Get("flow")
		offers(b.Get(f.e.Issuer + "/login/pin?flow=" + flow))

		// A new code, once the cooldown is over: within the resends and the
		// send limits, and with the full tries again.
		f.e.Advance(mfa.DefaultPolicy.ResendCooldown)
		q := b.Submit("/login/pin/resend?flow="+flow, url.Values{"csrf_token": {p.CSRF(t)}})
		if q.URL.Path != "/login/pin" || !strings.Contains(q.Body, `autocomplete="one-time-code"`) || len(f.e.Messages()) != 2 {
			t.Fatalf("new code: at %s (%d), %d SMS", q.URL.Path, q.Status, len(f.e.Messages()))
		}
		codeFrom(t, b.Fill(q, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")

		// Start again: back to the password, in the same flow.
		b = f.e.NewBrowser()
		p = f.toPIN(t, b, oauth2.GenerateVerifier())
		q = b.Submit("/login/restart?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
		if q.URL.Path != "/login" || !strings.Contains(q.Body, `name="password"`) {
			t.Fatalf("start again: at %s (%d)", q.URL.Path, q.Status)
		}
		q = b.Fill(q, url.Values{"username": {"alice"}, "password": {f.user.Password}})
		codeFrom(t, b.Fill(q, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")

		// Back to the app: the RP is told the user gave up.
		b = f.e.NewBrowser()
		p = f.toPIN(t, b, oauth2.GenerateVerifier())
		q = b.Submit("/login/cancel?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
		loc := q.Location()
		if q.Status != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "state-0123456789" {
			t.Fatalf("back to the app: status %d, location %v; want access_denied to the RP", q.Status, loc)
		}
	})
}

// An expired flow shows the way back to its app; a done one too.
func TestFinishedFlowsShowTheWayBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := f.toPIN(t, b, oauth2.GenerateVerifier())
		flow := p.URL.Query().Get("flow")
		codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")
		q := b.Get(f.e.Issuer + "/login/pin?flow=" + flow)
		if q.Status != http.StatusConflict || !strings.Contains(q.Body, `href="https://rp.example.com/"`) {
			t.Fatalf("a done flow: %d, want 409 with a link back to the app:\n%s", q.Status, q.Body)
		}
		p = b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "login")))
		// Its time runs out (flows keep real time: moved in the database).
		if err := f.e.DB.Gorm.Exec(`UPDATE login_flows SET expires_at = ? WHERE id = ?`, time.Now().UTC().Add(-time.Second), p.URL.Query().Get("flow")).Error; err != nil {
			t.Fatal(err)
		}
		q = b.Get(p.URL.String())
		if q.Status != http.StatusNotFound || !shows(q, ui.MsgFlowExpired) || !strings.Contains(q.Body, `href="https://rp.example.com/"`) {
			t.Fatalf("an expired flow: %d, want 404 with a link back to the app:\n%s", q.Status, q.Body)
		}
	})
}

// No page's GET answers the RP: the consent page of a first-party login
// asks, it does not issue.
func TestNoGetIssuesACode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		flow := p.URL.Query().Get("flow")
		c, err := f.e.MFA.Start(t.Context(), mfa.StartRequest{FlowID: flow, UserID: f.user.ID, Phone: f.user.Phone, Locale: "en"})
		if err != nil {
			t.Fatal(err)
		}
		err = f.e.DB.Gorm.Exec(`UPDATE login_flows SET state = ?, user_id = ?, challenge_id = ?, amr = 'pwd sms mfa', auth_time = ? WHERE id = ?`,
			string(store.FlowMFAOK), f.user.ID, c.ID, time.Now().UTC(), flow).Error
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/login/consent", "/login", "/login/pin", "/login/wait", "/login/phone"} {
			q := b.Get(f.e.Issuer + path + "?flow=" + flow)
			if loc := q.Header.Get("Location"); strings.Contains(loc, "code=") {
				t.Fatalf("GET %s issued a code: %s", path, loc)
			}
		}
	})
}

// Every spelling of a username is the one account: it signs in, and it
// shares that account's throttle (another spelling is no new allowance).
func TestUsernameSpellingsAreOneAccount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		for i, spelling := range []string{"alice", "ALICE", "Alice", "ａｌｉｃｅ", " alice"} {
			if q := b.Fill(p, url.Values{"username": {spelling}, "password": {fmt.Sprint("wrong ", i)}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d as %q: status %d", i, spelling, q.Status)
			}
		}
		if q := b.Fill(p, url.Values{"username": {"ＡＬＩＣＥ"}, "password": {f.user.Password}}); q.Status != http.StatusTooManyRequests {
			t.Fatalf("a sixth spelling after five failures: status %d, want 429", q.Status)
		}
		if _, err := f.e.Store.ThrottleReset(t.Context(), idp.AccountThrottleKey("alice")); err != nil {
			t.Fatal(err)
		}
		q := b.Fill(p, url.Values{"username": {"Alice"}, "password": {f.user.Password}})
		codeFrom(t, b.Fill(q, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")
	})
}
