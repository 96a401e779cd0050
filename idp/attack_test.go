package idp_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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

// Attacks on the hosted login, each met the way an attacker meets it:
// over HTTP.
func TestAttacks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("PasswordGuessingIsThrottledThenLocked", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			for i := range 5 {
				q := b.Fill(p, url.Values{"username": {"alice"}, "password": {fmt.Sprint("guess ", i)}})
				if q.Status != http.StatusUnauthorized {
					t.Fatalf("guess %d: status %d", i, q.Status)
				}
			}
			// Now even the right password waits, and says for how long.
			q := b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
				t.Fatalf("right password after 5 failures: status %d, want 429 with the paused message", q.Status)
			}
			if len(f.e.Messages()) != 0 {
				t.Fatal("a throttled sign-in sent an SMS")
			}
			// The operator lifts it (idp users unlock).
			if _, err := f.e.Store.ThrottleReset(t.Context(), idp.AccountThrottleKey("alice")); err != nil {
				t.Fatal(err)
			}
			q = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			if q.URL.Path != "/login/pin" {
				t.Fatalf("after unlock: at %s (%d)", q.URL.Path, q.Status)
			}
		})

		t.Run("UsernameEnumerationSeesNoDifference", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			statuses := func(name string) []int {
				var out []int
				for i := range 6 {
					q := b.Fill(p, url.Values{"username": {name}, "password": {fmt.Sprint("guess ", i)}})
					out = append(out, q.Status)
				}
				return out
			}
			known, unknown := statuses("alice"), statuses("nobody-here")
			if fmt.Sprint(known) != fmt.Sprint(unknown) {
				t.Fatalf("a known user answers %v, an unknown one %v", known, unknown)
			}
		})

		t.Run("OneNetworkGuessingManyAccountsIsThrottled", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			var last *idptest.Page
			for i := range 31 {
				last = b.Fill(p, url.Values{"username": {fmt.Sprint("user", i)}, "password": {"Password1!"}})
			}
			if last.Status != http.StatusTooManyRequests {
				t.Fatalf("31st failure from one address: status %d, want 429", last.Status)
			}
		})

		t.Run("AuditLogRecordsEventsButNeverSecrets", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			b.Fill(p, url.Values{"username": {"alice"}, "password": {"wrong password 123"}})
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			code := f.e.LastCode(f.user.Phone)
			b.Fill(p, url.Values{"code": {wrongCode(code)}})
			codeFrom(t, b.Fill(p, url.Values{"code": {code}}), "state-0123456789")
			events, err := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, ev := range events {
				seen[ev.Event+"/"+ev.Outcome] = true
				all := fmt.Sprintf("%+v", ev)
				for _, secret := range []string{f.user.Password, "wrong password 123", code, wrongCode(code), f.user.Phone} {
					if strings.Contains(all, secret) {
						t.Errorf("audit event holds a secret (%q): %s", secret, all)
					}
				}
				if ev.IP == "" {
					t.Errorf("audit event without the client address: %+v", ev)
				}
			}
			for _, want := range []string{"login.password/failed", "login.password/ok", "pin.sent/ok", "pin.verify/failed", "pin.verify/ok", "login.completed/ok"} {
				if !seen[want] {
					t.Errorf("no %s event; have %v", want, seen)
				}
			}
		})

		t.Run("NoCodeFromAnyStateButMFAOK", func(t *testing.T) {
			// The one place that issues codes (issue) needs a flow at
			// mfa_ok; force a flow into every state and try every way in.
			// At mfa_ok itself, the consent form does yield a code: the
			// positive control that shows the tries could succeed.
			f := setup(t, open)
			for _, state := range store.States {
				b := f.e.NewBrowser()
				p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
				flow := p.URL.Query().Get("flow")
				// A challenge for the flow, so the PIN pages have one to show.
				c, err := f.e.MFA.Start(t.Context(), mfa.StartRequest{FlowID: flow, UserID: f.user.ID, Phone: f.user.Phone, Locale: "en"})
				if err != nil {
					t.Fatal(err)
				}
				err = f.e.DB.Gorm.Exec(`UPDATE login_flows SET state = ?, user_id = ?, challenge_id = ?, amr = 'pwd sms mfa', auth_time = ? WHERE id = ?`,
					string(state), f.user.ID, c.ID, time.Now().UTC(), flow).Error
				if err != nil {
					t.Fatal(err)
				}
				csrf := p.CSRF(t)
				issued := false
				for _, try := range []func() *idptest.Page{
					func() *idptest.Page { return b.Get(f.e.Issuer + "/login/consent?flow=" + flow) },
					func() *idptest.Page {
						return b.Submit("/login/consent?flow="+flow, url.Values{"consent": {"allow"}, "csrf_token": {csrf}})
					},
					func() *idptest.Page {
						return b.Submit("/login/pin?flow="+flow, url.Values{"code": {"000000"}, "csrf_token": {csrf}})
					},
					func() *idptest.Page {
						return b.Submit("/login/wait?flow="+flow, url.Values{"csrf_token": {csrf}})
					},
					func() *idptest.Page {
						return b.Submit("/login/pin/resend?flow="+flow, url.Values{"csrf_token": {csrf}})
					},
					func() *idptest.Page {
						return b.Submit("/login/pin/reroute?flow="+flow, url.Values{"csrf_token": {csrf}})
					},
					func() *idptest.Page { return b.Get(f.e.Issuer + "/account/phone/verify?flow=" + flow) },
					func() *idptest.Page {
						return b.Submit("/login/cancel?flow="+flow, url.Values{"csrf_token": {csrf}})
					},
				} {
					q := try()
					if loc := q.Header.Get("Location"); strings.Contains(loc, "code=") {
						issued = true
					}
				}
				if issued != (state == store.FlowMFAOK) {
					t.Errorf("state %s: a code was issued: %v", state, issued)
				}
			}
		})
	})
}

// A browser id seen or planted before the login is worthless after the
// password: the flow moves on bound to a new one.
func TestAttackSessionFixation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		b := f.e.NewBrowser()
		p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		issuer, _ := url.Parse(f.e.Issuer)
		before := b.Client.Jar.Cookies(issuer)
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
		after := b.Client.Jar.Cookies(issuer)
		if fmt.Sprint(before) == fmt.Sprint(after) {
			t.Fatal("the browser id did not change after the password")
		}
		// The attacker who knew the old id (a planted cookie) cannot go on.
		attacker := f.e.NewBrowser()
		attacker.Client.Jar.SetCookies(issuer, before)
		q := attacker.Submit(p.Action(t), url.Values{"code": {f.e.LastCode(f.user.Phone)}, "csrf_token": {p.CSRF(t)}})
		if q.Status != http.StatusForbidden {
			t.Fatalf("PIN posted with the pre-login browser id: status %d, want 403", q.Status)
		}
		codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")
	})
}

// An attacker who steals a code cannot redeem it elsewhere (code
// injection), nor strip PKCE from a flow that used it (downgrade).
func TestAttackCodeInjectionAndPKCEDowngrade(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := setup(t, open)
		other := f.e.CreateClient("other", "other-secret-0123456789-0123456789-0123456789", rpCallback, true)
		ctx := f.rp.ctx(t.Context())

		t.Run("CodeRedeemedByAnotherClient", func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier), f.user), "state-0123456789")
			thief := newRP(t, f.e, other)
			if _, err := thief.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
				t.Fatal("another client redeemed the code")
			}
		})

		t.Run("CodeRedeemedWithAnotherRedirectURI", func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier), f.user), "state-0123456789")
			conf := f.rp.conf
			conf.RedirectURL = "https://rp.example.com/elsewhere"
			if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
				t.Fatal("the code was redeemed with another redirect_uri")
			}
		})

		t.Run("PKCEDowngrade", func(t *testing.T) {
			// The authorize request carried a challenge; the exchange
			// without a verifier must fail...
			code := codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), f.user), "state-0123456789")
			if _, err := f.rp.conf.Exchange(ctx, code); err == nil {
				t.Fatal("a PKCE code was redeemed without the verifier")
			}
			// ...and one made without a challenge cannot be redeemed with an
			// injected verifier either.
			p := f.e.NewBrowser().Login(f.rp.conf.AuthCodeURL("state-0123456789", oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), f.user)
			code = codeFrom(t, p, "state-0123456789")
			if _, err := f.rp.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
				t.Fatal("a code made without PKCE was redeemed with a verifier")
			}
		})
	})
}
