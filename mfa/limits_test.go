package mfa_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func startFor(e *env, t *testing.T, flow, user, phone string, ip netip.Addr) (*mfa.Challenge, error) {
	t.Helper()
	return e.svc.Start(t.Context(), mfa.StartRequest{FlowID: flow, UserID: user, Phone: phone, Locale: "en", ClientIP: ip})
}

func wantLimited(t *testing.T, err error, scope string, window time.Duration) *mfa.RateLimitError {
	t.Helper()
	var rl *mfa.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, mfa.ErrRateLimited) {
		t.Fatalf("err = %v, want a rate limit error", err)
	}
	if rl.Scope != scope || rl.Window != window || rl.RetryAfter <= 0 || rl.RetryAfter > window {
		t.Fatalf("refused by %s per %s, retry in %s; want %s per %s within the window", rl.Scope, rl.Window, rl.RetryAfter, scope, window)
	}
	return rl
}

func TestSendLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		ip := netip.MustParseAddr("203.0.113.7")
		t.Run("PerPhoneHourThenWindowPasses", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{PhoneHour: 2}
			for i := range 2 {
				if _, err := startFor(e, t, fmt.Sprint("f", i), fmt.Sprint("u", i), testPhone, ip); err != nil {
					t.Fatal(err)
				}
			}
			c, err := startFor(e, t, "f2", "u2", testPhone, ip)
			rl := wantLimited(t, err, "phone", time.Hour)
			if c != nil || e.sender.Tries() != 2 {
				t.Fatalf("refused start returned %v and made %d sends, want nil and 2", c, e.sender.Tries())
			}
			if n := len(e.rows(t, `SELECT id FROM sms_challenges WHERE flow_id = 'f2'`)); n != 0 {
				t.Fatalf("a refused start left %d challenge rows", n)
			}
			e.clock.Advance(rl.RetryAfter)
			if _, err := startFor(e, t, "f3", "u3", testPhone, ip); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})

		t.Run("PerUserAndPerNetwork", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{UserDay: 1, IPHour: 2}
			if _, err := startFor(e, t, "f1", "alice", "+819011110001", ip); err != nil {
				t.Fatal(err)
			}
			_, err := startFor(e, t, "f2", "alice", "+819011110002", netip.MustParseAddr("198.51.100.1"))
			wantLimited(t, err, "user", 24*time.Hour)
			// Two addresses of one IPv6 /64 are one network.
			a, b := netip.MustParseAddr("2001:db8:1:2::10"), netip.MustParseAddr("2001:db8:1:2:ffff::1")
			if _, err := startFor(e, t, "f3", "bob", "+819011110003", a); err != nil {
				t.Fatal(err)
			}
			if _, err := startFor(e, t, "f4", "carol", "+819011110004", b); err != nil {
				t.Fatal(err)
			}
			_, err = startFor(e, t, "f5", "dave", "+819011110005", b)
			wantLimited(t, err, "ip", time.Hour)
			if _, err := startFor(e, t, "f6", "erin", "+819011110006", netip.MustParseAddr("2001:db8:1:3::10")); err != nil {
				t.Fatalf("another /64: %v", err)
			}
		})

		t.Run("RefusedResendKeepsTheOldCode", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{PhoneHour: 1}
			c, code := e.start(t)
			e.clock.Advance(mfa.DefaultPolicy.ResendCooldown)
			_, err := e.svc.Resend(t.Context(), c.ID, "en", ip)
			wantLimited(t, err, "phone", time.Hour)
			if e.sender.Tries() != 1 {
				t.Fatalf("%d sends, want 1", e.sender.Tries())
			}
			got, err := e.svc.Get(t.Context(), c.ID)
			if err != nil || got.Resends != 0 {
				t.Fatalf("a refused resend used one up: %+v, %v", got, err)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
				t.Fatalf("the code sent before a refused resend: %v", err)
			}
		})

		t.Run("GlobalBudgetSharedByInstances", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{GlobalHour: 3}
			// A second instance: its own connections and service, one database.
			db2, err := database.Open(t.Context(), e.db.URL, database.Options{MaxOpenConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if s, err := db2.DB(); err == nil {
					s.Close()
				}
			})
			other := mfa.Service{Store: store.New(db2, nil), Sender: e.svc.Sender, Policy: e.svc.Policy, Secret: e.svc.Secret, Text: e.svc.Text,
				Limits: e.svc.Limits, Now: e.svc.Now}
			svcs := []*mfa.Service{e.svc, &other}
			ok, limited := 0, 0
			for i := range 6 {
				_, err := svcs[i%2].Start(t.Context(), mfa.StartRequest{FlowID: fmt.Sprint("g", i), UserID: fmt.Sprint("u", i),
					Phone: fmt.Sprintf("+8190222200%02d", i), Locale: "en"})
				switch {
				case err == nil:
					ok++
				case errors.Is(err, mfa.ErrRateLimited):
					limited++
				default:
					t.Fatal(err)
				}
			}
			if ok != 3 || limited != 3 {
				t.Fatalf("%d sent, %d refused across two instances; want 3 and 3", ok, limited)
			}
		})

		t.Run("ConcurrentStartsNeverExceedTheLimit", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{PhoneHour: 3}
			errs := race(12, func(i int) error {
				_, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: fmt.Sprint("c", i), UserID: "u", Phone: testPhone, Locale: "en"})
				return err
			})
			sent := 0
			for _, err := range errs {
				if err == nil {
					sent++
				} else if !errors.Is(err, mfa.ErrRateLimited) {
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if sent != 3 || e.sender.Tries() != 3 {
				t.Fatalf("%d starts succeeded, %d SMS sent; want 3 and 3", sent, e.sender.Tries())
			}
		})
	})
}

// TestDefaultLimitsBoundGuessing works out the best odds of an attacker
// who has the password and tries to guess PINs for one account under the
// default limits, and shows the limits hold: every challenge takes at most
// MaxAttempts guesses, and a UTC day gives at most PhoneDay codes (the
// windows are fixed: the day's limit holds per calendar day, so any 24
// hours astride midnight see at most twice as many).
func TestDefaultLimitsBoundGuessing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// The attacker either starts a new login for every code, or asks
		// each login for every new code it allows (a new code after wrong
		// ones gets the full tries again): the odds are the same, since
		// every code is a counted send.
		for _, resend := range []bool{false, true} {
			t.Run(fmt.Sprint("resend=", resend), func(t *testing.T) {
				e := newEnv(t, open)
				e.svc.Limits = mfa.DefaultLimits
				midnight := e.clock.Now().Truncate(24 * time.Hour).Add(24 * time.Hour)
				e.clock.Advance(midnight.Sub(e.clock.Now()))
				codes, guesses := 0, 0
				guess := func(id string) {
					for {
						_, err := e.svc.Verify(t.Context(), id, "000000")
						if errors.Is(err, mfa.ErrCodeMismatch) || errors.Is(err, mfa.ErrTooManyAttempts) {
							guesses++
						}
						if !errors.Is(err, mfa.ErrCodeMismatch) {
							return
						}
					}
				}
				for i := 0; e.clock.Now().Before(midnight.Add(24 * time.Hour)); i++ {
					ip := netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", i%250+1)) // a botnet: a new address each time
					c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: fmt.Sprint("attack-", i), UserID: "victim", Phone: testPhone, Locale: "en", ClientIP: ip})
					if errors.Is(err, mfa.ErrRateLimited) {
						e.clock.Advance(10 * time.Minute)
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					codes++
					guess(c.ID)
					for resend {
						e.clock.Advance(e.svc.Policy.ResendCooldown)
						_, err := e.svc.Resend(t.Context(), c.ID, "en", ip)
						if errors.Is(err, mfa.ErrResendLimit) || errors.Is(err, mfa.ErrRateLimited) {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						codes++
						guess(c.ID)
					}
				}
				perDay := min(mfa.DefaultLimits.PhoneDay, mfa.DefaultLimits.UserDay)
				if codes != perDay || guesses != perDay*mfa.DefaultPolicy.MaxAttempts {
					t.Fatalf("in a UTC day: %d codes sent, %d guesses; want %d and %d", codes, guesses, perDay, perDay*mfa.DefaultPolicy.MaxAttempts)
				}
				if n := e.sender.Tries(); n != codes {
					t.Errorf("%d SMS sent for %d codes", n, codes)
				}
				t.Logf("one account, one UTC day, default limits: %d codes, %d guesses: best odds %d in 1,000,000 (1 in %d) for a 6-digit code; "+
					"any 24 hours: at most %d guesses (1 in %d)", codes, guesses, guesses, 1000000/guesses, 2*guesses, 1000000/(2*guesses))
			})
		}
	})
}

// Notices are limited per number, on their own count: codes to the same
// number are not, and a refused notice sends nothing.
func TestNoticeLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		e.svc.Limits = mfa.Limits{NoticeHour: 2, PhoneHour: 1}
		for i := range 2 {
			if err := e.svc.Notify(t.Context(), fmt.Sprint("n", i), testPhone, "notice", "en"); err != nil {
				t.Fatalf("notice %d: %v", i, err)
			}
		}
		rl := wantLimited(t, e.svc.Notify(t.Context(), "n2", testPhone, "notice", "en"), "notice", time.Hour)
		if e.sender.Tries() != 2 {
			t.Fatalf("%d sends, want 2: a refused notice was sent", e.sender.Tries())
		}
		if err := e.svc.Notify(t.Context(), "n3", "+819011110009", "notice", "en"); err != nil {
			t.Fatalf("another number: %v", err)
		}
		// Codes keep their own allowance.
		if _, err := startFor(e, t, "f1", "u1", testPhone, netip.Addr{}); err != nil {
			t.Fatalf("a code after the notices: %v", err)
		}
		e.clock.Advance(rl.RetryAfter)
		if err := e.svc.Notify(t.Context(), "n4", testPhone, "notice", "en"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}
