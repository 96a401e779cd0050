package idp_test

import (
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

func TestSMSSendLimitsOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("PerPhoneLimitHeldAcrossTwoInstances", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Instances: 2, Limits: mfa.Limits{PhoneHour: 2}})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, c)
			for i := range 2 {
				codeFrom(t, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()), user), "state-0123456789")
				if n := len(e.Messages()); n != i+1 {
					t.Fatalf("after login %d: %d SMS", i+1, n)
				}
			}
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			if p.Status != http.StatusTooManyRequests || !shows(p, ui.MsgSMSRateLimited) || p.Header.Get("Retry-After") == "" {
				t.Fatalf("third send within the hour: status %d, Retry-After %q; want 429 with the limit page", p.Status, p.Header.Get("Retry-After"))
			}
			if !strings.Contains(p.Body, "minutes") {
				t.Errorf("the limit page does not say when to try again:\n%s", p.Body)
			}
			if n := len(e.Messages()); n != 2 {
				t.Fatalf("%d SMS sent, want 2", n)
			}
		})

		t.Run("RefusedResendShowsWhenToRetry", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Limits: mfa.Limits{PhoneHour: 1},
				Policy: &mfa.Policy{CodeLength: 6, TTL: mfa.DefaultPolicy.TTL, MaxAttempts: 5, ResendCooldown: 0, MaxResends: 3}})
			user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, c)
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			code := e.LastCode(user.Phone)
			resend := b.Submit(strings.Replace(p.Action(t), "/login/pin", "/login/pin/resend", 1), url.Values{"csrf_token": {p.CSRF(t)}})
			if resend.Status != http.StatusTooManyRequests || !shows(resend, ui.MsgSMSRateLimited) {
				t.Fatalf("resend over the limit: status %d, want 429 with the limit message", resend.Status)
			}
			codeFrom(t, b.Fill(resend, url.Values{"code": {code}}), "state-0123456789")
		})

		t.Run("PerNetworkLimitUsesTheForwardedAddressOfATrustedProxy", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Limits: mfa.Limits{IPHour: 1},
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
			c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
			r := newRP(t, e, c)
			login := func(username, phone, forwarded string) *idptest.Page {
				user := e.CreateUser(username, "correct horse battery", phone, true)
				b := e.NewBrowser()
				b.Client.Transport = forwardedFor{forwarded, b.Client.Transport}
				p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
				return b.Fill(p, url.Values{"username": {username}, "password": {user.Password}})
			}
			if p := login("a", "+819011110001", "198.51.100.1"); p.URL.Path != "/login/pin" {
				t.Fatalf("first client: at %s (%d)", p.URL.Path, p.Status)
			}
			// A forged left-most entry does not escape the limit.
			if p := login("b", "+819011110002", "10.9.9.9, 198.51.100.1"); p.Status != http.StatusTooManyRequests {
				t.Fatalf("same client behind a forged entry: status %d, want 429", p.Status)
			}
			if p := login("c", "+819011110003", "198.51.100.2"); p.URL.Path != "/login/pin" {
				t.Fatalf("another client: at %s (%d)", p.URL.Path, p.Status)
			}
		})
	})
}

// forwardedFor adds X-Forwarded-For as a proxy in front of the server would.
type forwardedFor struct {
	value string
	next  http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.value)
	return f.next.RoundTrip(r)
}

func TestResendOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
		r := newRP(t, e, c)
		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		if !strings.Contains(html.UnescapeString(p.Body), "+81 •• •••• 5678") {
			t.Errorf("the PIN page does not show the masked number")
		}
		resendURL := strings.Replace(p.Action(t), "/login/pin", "/login/pin/resend", 1)
		resend := func() *idptest.Page {
			return b.Submit(resendURL, url.Values{"csrf_token": {p.CSRF(t)}})
		}
		// Within the cooldown: refused, said plainly, nothing sent.
		if q := resend(); q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgResendTooSoon) || len(e.Messages()) != 1 {
			t.Fatalf("resend at once: status %d, %d SMS; want 429 and the wait message", q.Status, len(e.Messages()))
		}
		first := e.LastCode(user.Phone)
		for i := 1; i <= 3; i++ {
			e.Advance(mfa.DefaultPolicy.ResendCooldown)
			if q := resend(); q.URL.Path != "/login/pin" || len(e.Messages()) != i+1 {
				t.Fatalf("resend %d after the cooldown: at %s, %d SMS", i, q.URL.Path, len(e.Messages()))
			}
		}
		e.Advance(mfa.DefaultPolicy.ResendCooldown)
		if q := resend(); q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgResendLimit) || len(e.Messages()) != 4 {
			t.Fatalf("fourth resend: status %d, %d SMS; want 429 and the limit message", q.Status, len(e.Messages()))
		}
		// The first code died with the first resend; the newest works.
		if q := b.Fill(p, url.Values{"code": {first}}); q.Status != http.StatusUnauthorized {
			t.Fatalf("the replaced code: status %d, want 401", q.Status)
		}
		codeFrom(t, b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}}), "state-0123456789")
	})
}
