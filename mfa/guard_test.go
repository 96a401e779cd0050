package mfa_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func wantHeld(t *testing.T, err error, scope string) *mfa.HoldError {
	t.Helper()
	var he *mfa.HoldError
	if !errors.As(err, &he) || !errors.Is(err, mfa.ErrHeld) || he.Hold.Scope != scope {
		t.Fatalf("err = %v, want sends to %s held", err, scope)
	}
	return he
}

func TestSlidingWindows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("BurstAcrossTheTopOfTheHour", func(t *testing.T) {
			e := newEnv(t, open)
			e.svc.Limits = mfa.Limits{PhoneHour: 3}
			// Three sends in the last two minutes of an hour...
			top := e.clock.Now().Truncate(time.Hour).Add(time.Hour)
			e.clock.Set(top.Add(-2 * time.Minute))
			for i := range 3 {
				if _, err := startFor(e, t, fmt.Sprint("f", i), "u", testPhone, netip.Addr{}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				e.clock.Advance(30 * time.Second)
			}
			// ...and a burst in the first minutes of the next: a calendar
			// hour would count these afresh.
			e.clock.Set(top.Add(time.Minute))
			for i := range 3 {
				_, err := startFor(e, t, fmt.Sprint("g", i), "u", testPhone, netip.Addr{})
				rl := wantLimited(t, err, "phone", time.Hour)
				if want := top.Add(58 * time.Minute).Sub(e.clock.Now()); rl.RetryAfter != want {
					t.Fatalf("retry in %v, want %v (when the oldest send is an hour old)", rl.RetryAfter, want)
				}
				e.clock.Advance(10 * time.Second)
			}
			if n := e.sender.Tries(); n != 3 {
				t.Fatalf("%d SMS sent within an hour under a limit of 3", n)
			}
			e.clock.Set(top.Add(58 * time.Minute))
			if _, err := startFor(e, t, "h", "u", testPhone, netip.Addr{}); err != nil {
				t.Fatalf("once the oldest send slid out: %v", err)
			}
			if _, err := startFor(e, t, "i", "u", testPhone, netip.Addr{}); err == nil {
				t.Fatal("one place freed let two sends through")
			}
		})
	})
}

func TestBudget(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		// 3 JPY a send to Japan; a budget of 10 JPY a UTC day: three sends.
		e.svc.Budget = mfa.Budget{Currency: "JPY", Daily: 10_000_000, Prices: map[string]map[string]int64{
			"fake": {"+81": 3_000_000, "*": 50_000_000}}}
		day := e.clock.Now().Truncate(24 * time.Hour)
		e.clock.Set(day.Add(23 * time.Hour))
		for i := range 3 {
			if _, err := startFor(e, t, fmt.Sprint("f", i), fmt.Sprint("u", i), fmt.Sprintf("+8190333300%02d", i), netip.Addr{}); err != nil {
				t.Fatalf("send %d within the budget: %v", i, err)
			}
		}
		_, err := startFor(e, t, "f3", "u3", "+819033330003", netip.Addr{})
		if he := wantHeld(t, err, "budget:"+day.Format(time.DateOnly)); !he.New {
			t.Error("the send that reached the budget did not report setting the hold")
		}
		_, err = startFor(e, t, "f4", "u4", "+819033330004", netip.Addr{})
		if he := wantHeld(t, err, "budget:"+day.Format(time.DateOnly)); he.New {
			t.Error("a second refusal reported a new hold")
		}
		if n := e.sender.Tries(); n != 3 {
			t.Fatalf("%d SMS sent, want 3 within the budget", n)
		}
		if got := e.svc.Counters()["spend_estimated_micros"]; got != 9_000_000 {
			t.Errorf("estimated spend %d micro-JPY, want 9000000", got)
		}
		if spent, err := e.svc.Spent(t.Context()); err != nil || spent != 9_000_000 {
			t.Errorf("Spent = %d, %v", spent, err)
		}
		// The next UTC day has a budget of its own.
		e.clock.Set(day.Add(24 * time.Hour))
		if _, err := startFor(e, t, "f5", "u5", "+819033330005", netip.Addr{}); err != nil {
			t.Fatalf("the next UTC day: %v", err)
		}
		// An unpriced country costs the dearest price in the table.
		e.clock.Set(day.Add(47 * time.Hour))
		e.svc.Phones.AllowedCountries = nil
		_, err = startFor(e, t, "f6", "u6", "+447911123456", netip.Addr{})
		wantHeld(t, err, "budget:"+day.Add(24*time.Hour).Format(time.DateOnly))
		// The operator lifts today's hold: sends go on for the rest of it.
		if ok, err := e.svc.LiftHold(t.Context(), "budget:"+day.Add(24*time.Hour).Format(time.DateOnly), "ops"); err != nil || !ok {
			t.Fatalf("LiftHold: %v %v", ok, err)
		}
		if _, err := startFor(e, t, "f7", "u7", "+447911123456", netip.Addr{}); err != nil {
			t.Fatalf("after the operator lifted the budget hold: %v", err)
		}
	})
}

func TestPumpingGuard(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		e.svc.Pumping = mfa.Pumping{PrefixDigits: 5, Window: time.Hour, MinSends: 10, MinConversion: 0.5}
		// Normal traffic to another prefix: every code is typed.
		for i := range 12 {
			c, err := startFor(e, t, fmt.Sprint("ok", i), fmt.Sprint("good", i), fmt.Sprintf("+8180444400%02d", i), netip.Addr{})
			if err != nil {
				t.Fatalf("normal send %d: %v", i, err)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, e.lastCode(t)); err != nil {
				t.Fatal(err)
			}
		}
		// Fresh numbers of one prefix whose codes nobody types.
		sent := 0
		var held *mfa.HoldError
		for i := range 30 {
			_, err := startFor(e, t, fmt.Sprint("bot", i), fmt.Sprint("bot", i), fmt.Sprintf("+8190555500%02d", i), netip.Addr{})
			if err != nil {
				held = wantHeld(t, err, "prefix:+8190555")
				break
			}
			sent++
		}
		if held == nil || !held.New || sent != 10 {
			t.Fatalf("%d sent before the hold (%v), want the hold at the 11th", sent, held)
		}
		if h := held.Hold; h.Sends != 10 || h.Verified != 0 || h.Reason != "conversion" {
			t.Errorf("hold = %+v", h)
		}
		// A number its user verified before is never held.
		if _, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "known", UserID: "old", Phone: "+819055559999", Locale: "en", KnownNumber: true}); err != nil {
			t.Fatalf("a verified number in a held prefix: %v", err)
		}
		// Other prefixes are unaffected.
		if _, err := startFor(e, t, "other", "other", "+819066660001", netip.Addr{}); err != nil {
			t.Fatalf("another prefix: %v", err)
		}
		// The operator lifts the hold: the prefix is judged afresh.
		if ok, err := e.svc.LiftHold(t.Context(), "+8190555", "ops"); err != nil || !ok {
			t.Fatalf("LiftHold: %v %v", ok, err)
		}
		if _, err := startFor(e, t, "after", "after", "+819055550099", netip.Addr{}); err != nil {
			t.Fatalf("after the lift: %v", err)
		}
		c := e.svc.Counters()
		if c["holds_set"] != 1 || c["held"] != 1 {
			t.Errorf("counters holds_set %d, held %d; want 1 and 1", c["holds_set"], c["held"])
		}
	})
}
