package idp_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// An SMS-pumping attack over HTTP, with the default limits and guard:
// bot accounts, each from its own network and with a fresh number of one
// premium prefix, sign in in parallel and never type a code. The prefix
// is held after DefaultPumping.MinSends codes; the hold is audited once
// and counted; users with verified numbers (in that prefix too) and fresh
// numbers of other prefixes sign in as before; and once the operator
// lifts the hold, codes go to the prefix again.
func TestSMSPumpingAttackIsHeld(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{Limits: mfa.DefaultLimits,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
			TuneMFA:        func(s *mfa.Service) { s.Pumping = mfa.DefaultPumping }})
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		login := func(u idptest.User, network string) (*idptest.Browser, *idptest.Page) {
			b := e.NewBrowser()
			b.Client.Transport = forwardedFor{network, b.Client.Transport}
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			return b, b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
		}
		const premium = "+8190555"
		const bots = 60
		users := make([]idptest.User, bots)
		for i := range users {
			users[i] = e.CreateUser(fmt.Sprintf("bot%02d", i), "bot password 0123456789", fmt.Sprintf("%s%05d", premium, i), false)
		}
		var mu sync.Mutex
		pages := map[string]int{}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, u := range users {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				_, p := login(u, fmt.Sprintf("198.51.%d.%d", i/200, i%200+1))
				key := fmt.Sprint(p.URL.Path, " ", p.Status)
				if p.URL.Path == "/login/wait" && !shows(p, ui.MsgSMSHeld) {
					key += " (not the held message)"
				}
				mu.Lock()
				pages[key]++
				mu.Unlock()
			})
		}
		wg.Wait()
		sent := 0
		for _, m := range e.Messages() {
			if strings.HasPrefix(m.To, premium) {
				sent++
			}
		}
		t.Logf("SMS pumping with the default settings: %d of %d bot sign-ins got an SMS before the hold", sent, bots)
		if sent != mfa.DefaultPumping.MinSends || pages["/login/pin 200"] != sent || pages["/login/wait 503"] != bots-sent {
			t.Fatalf("%d SMS to the premium prefix, pages %v; want %d codes, then every other bot held", sent, pages, mfa.DefaultPumping.MinSends)
		}
		evs, err := e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "sms.held"})
		if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, "prefix:"+premium) {
			t.Fatalf("audit of the hold: %+v, %v; want one sms.held naming the prefix", evs, err)
		}
		if c := e.MFA.Counters(); c["holds_set"] != 1 || c["held"] != int64(bots-sent) {
			t.Errorf("counters holds_set %d, held %d; want 1 and %d", c["holds_set"], c["held"], bots-sent)
		}

		// Normal users are unaffected: verified numbers, the premium
		// prefix's included, and a fresh number of another prefix.
		for _, u := range []idptest.User{
			e.CreateUser("alice", "correct horse battery", "+819012345678", true),
			e.CreateUser("bob", "correct horse battery", premium+"99999", true),
			e.CreateUser("carol", "correct horse battery", "+818011112222", false),
		} {
			b, p := login(u, "203.0.113.9")
			if p.URL.Path != "/login/pin" {
				t.Fatalf("%s during the attack: at %s (%d)", u.Username, p.URL.Path, p.Status)
			}
			codeFrom(t, b.Fill(p, url.Values{"code": {e.LastCode(u.Phone)}}), "state-0123456789")
		}

		// The operator lifts the hold: the prefix gets codes again.
		if ok, err := e.MFA.LiftHold(t.Context(), premium, "ops"); err != nil || !ok {
			t.Fatalf("LiftHold: %v %v", ok, err)
		}
		late := e.CreateUser("late", "bot password 0123456789", premium+"77777", false)
		if _, p := login(late, "198.51.99.1"); p.URL.Path != "/login/pin" {
			t.Fatalf("after the lift: at %s (%d)", p.URL.Path, p.Status)
		}
	})
}

// The daily budget holds sends the way the guard does: priced from the
// table, counted per UTC day, the page says sends are on hold and offers
// to try again, and once the operator lifts the day's hold the same
// sign-in gets its code.
func TestBudgetHoldsSends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{TuneMFA: func(s *mfa.Service) {
			// 3 JPY a code to Japan through the file provider; 7 JPY a day.
			s.Budget = mfa.Budget{Currency: "JPY", Daily: 7_000_000, Prices: map[string]map[string]int64{"file": {"+81": 3_000_000}}}
		}})
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		login := func(u idptest.User) (*idptest.Browser, *idptest.Page) {
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			return b, b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
		}
		var users []idptest.User
		for i := range 3 {
			users = append(users, e.CreateUser(fmt.Sprint("user", i), "correct horse battery", fmt.Sprintf("+8190123400%02d", i), true))
		}
		for _, u := range users[:2] {
			if _, p := login(u); p.URL.Path != "/login/pin" {
				t.Fatalf("%s within the budget: at %s (%d)", u.Username, p.URL.Path, p.Status)
			}
		}
		b, p := login(users[2])
		if p.URL.Path != "/login/wait" || p.Status != http.StatusServiceUnavailable || !shows(p, ui.MsgSMSHeld) || !strings.Contains(p.Body, `id="retry"`) {
			t.Fatalf("over the budget: at %s (%d); want the held page with a retry:\n%s", p.URL.Path, p.Status, p.Body)
		}
		if n := len(e.Messages()); n != 2 {
			t.Fatalf("%d SMS sent, want 2 within a budget of 7 at 3 each", n)
		}
		if got := e.MFA.Counters()["spend_estimated_micros"]; got != 6_000_000 {
			t.Errorf("estimated spend %d micro-JPY, want 6000000", got)
		}
		day := "budget:" + e.Now().UTC().Format("2006-01-02")
		evs, _ := e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "sms.held"})
		if len(evs) != 1 || !strings.Contains(evs[0].Detail, day) {
			t.Fatalf("audit = %+v, want one sms.held for %s", evs, day)
		}
		// Trying again while held changes nothing.
		if q := b.Fill(p, nil); q.URL.Path != "/login/wait" || q.Status != http.StatusServiceUnavailable || len(e.Messages()) != 2 {
			t.Fatalf("retry while held: at %s (%d), %d SMS", q.URL.Path, q.Status, len(e.Messages()))
		}
		if ok, err := e.MFA.LiftHold(t.Context(), day, "ops"); err != nil || !ok {
			t.Fatalf("LiftHold %s: %v %v", day, ok, err)
		}
		p = b.Get(p.URL.String())
		q := b.Fill(p, nil)
		if q.URL.Path != "/login/pin" || len(e.Messages()) != 3 {
			t.Fatalf("retry after the lift: at %s (%d), %d SMS; want the PIN page and a third SMS", q.URL.Path, q.Status, len(e.Messages()))
		}
		codeFrom(t, b.Fill(q, url.Values{"code": {e.LastCode(users[2].Phone)}}), "state-0123456789")
	})
}
