package idp_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// TestCommitsPerStep counts, through a probe on the database connection,
// the durable commits and the client loads of every request of a whole
// login (authorize, password, PIN, consent, token): each step commits
// once. The password request commits three times by design: the try is
// counted before the hash, the step is one transaction (the code reserved
// in it), and the provider's answer is recorded after the send, outside
// any transaction. Each request loads its client at most once.
func TestCommitsPerStep(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		db, probe := dbtest.Instrument(t, open(t), map[string]string{"client": "(?i)FROM [`\"]?clients[`\"]? ",
			"code read": "(?i)^SELECT .* FROM [`\"]?oauth_authorize_codes[`\"]? "})
		e := idptest.New(t, db, idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, false) // third party: consent is asked
		r := newRP(t, e, c)
		nb := e.NewBrowser().NoFollow()
		verifier := oauth2.GenerateVerifier()

		type budget struct {
			step           string
			commits, loads int
		}
		var seen []string
		measure := func(want budget, do func() *idptest.Page) *idptest.Page {
			t.Helper()
			before := probe.Snapshot()
			probe.Log()
			p := do()
			got := probe.Snapshot().Sub(before)
			seen = append(seen, fmt.Sprintf("%-10s %d commits, %d statements, %d client loads", want.step, got.Commits, got.Statements, got.Matches["client"]))
			if got.Matches["code read"] > 1 {
				t.Errorf("%s: the authorization code read %d times; once is enough", want.step, got.Matches["code read"])
			}
			if got.Commits > want.commits || got.Matches["client"] > want.loads {
				t.Errorf("%s: %d commits, %d client loads; want at most %d and %d. Statements:\n%s",
					want.step, got.Commits, got.Matches["client"], want.commits, want.loads, strings.Join(probe.Log(), "\n"))
			}
			return p
		}
		follow := func(p *idptest.Page) string {
			t.Helper()
			if p.Status != http.StatusSeeOther {
				t.Fatalf("status %d at %s, want a redirect:\n%s", p.Status, p.URL, p.Body)
			}
			return p.Header.Get("Location")
		}
		get := func(u string) func() *idptest.Page {
			return func() *idptest.Page {
				if strings.HasPrefix(u, "/") {
					u = e.Issuer + u
				}
				return nb.Get(u)
			}
		}
		next := measure(budget{"authorize", 1, 1}, get(r.authorize("state-0123456789", "nonce-0123456789", verifier)))
		page := measure(budget{"GET login", 0, 0}, get(follow(next)))
		next = measure(budget{"password", 3, 1}, func() *idptest.Page {
			return nb.Fill(page, url.Values{"username": {"alice"}, "password": {user.Password}})
		})
		page = measure(budget{"GET pin", 0, 1}, get(follow(next)))
		next = measure(budget{"pin", 1, 1}, func() *idptest.Page { return nb.Fill(page, url.Values{"code": {e.LastCode(user.Phone)}}) })
		page = measure(budget{"GET consent", 0, 1}, get(follow(next)))
		next = measure(budget{"consent", 1, 1}, func() *idptest.Page { return nb.Fill(page, url.Values{"consent": {"allow"}}) })
		code := codeFrom(t, next, "state-0123456789")
		measure(budget{"token", 1, 1}, func() *idptest.Page {
			if _, err := r.conf.Exchange(r.ctx(t.Context()), code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatal(err)
			}
			return nil
		})
		t.Logf("a whole login, step by step:\n%s", strings.Join(seen, "\n"))
	})
}

// TestPINStepAllOrNothing makes the database fail at each statement of
// the PIN step in turn (its commit included): nothing of the step is
// visible afterwards (the code unconsumed and its attempt uncounted, the
// number unconfirmed, no session, the flow where it was, no audit of
// success), and the same code then completes the login.
func TestPINStepAllOrNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		db, probe := dbtest.Instrument(t, open(t), nil)
		e := idptest.New(t, db, idptest.Options{})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", false) // unverified: the PIN confirms it
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		ctx := t.Context()
		for n := 1; ; n++ {
			if err := e.DB.Gorm.Exec(`UPDATE phones SET verified_at = NULL`).Error; err != nil {
				t.Fatal(err)
			}
			b := e.NewBrowser()
			p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
			flowID := p.URL.Query().Get("flow")
			before, err := e.Store.Flow(ctx, flowID)
			if err != nil {
				t.Fatal(err)
			}
			sessions := count(t, e, `SELECT COUNT(*) FROM sessions`)
			audits := count(t, e, `SELECT COUNT(*) FROM audit_events WHERE event = 'pin.verify' AND outcome = 'ok'`)
			code := e.LastCode(user.Phone)
			probe.FailAt(n)
			q := b.Fill(p, url.Values{"code": {code}})
			probe.FailAt(0)
			if loc := q.Location(); q.Status == http.StatusSeeOther && loc != nil && loc.Query().Get("code") != "" {
				if n == 1 {
					t.Fatal("the PIN step ran no statement")
				}
				t.Logf("the PIN request runs %d statements and commits: a failure at each left nothing behind", n-1)
				return
			}
			if q.Status != http.StatusServiceUnavailable {
				t.Fatalf("failure at statement %d: status %d, want 503", n, q.Status)
			}
			after, err := e.Store.Flow(ctx, flowID)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := e.MFA.Get(ctx, *before.ChallengeID)
			if err != nil {
				t.Fatal(err)
			}
			phone, _ := e.Store.PhoneOf(ctx, user.ID)
			switch {
			case after.State != before.State || after.Moves != before.Moves || after.SessionID != nil:
				t.Fatalf("failure at statement %d: the flow moved to %s (%s)", n, after.State, after.Moves)
			case ch.ConsumedAt != nil || ch.Attempts != 0:
				t.Fatalf("failure at statement %d: challenge consumed %v, attempts %d", n, ch.ConsumedAt, ch.Attempts)
			case phone.Verified():
				t.Fatalf("failure at statement %d: the number was confirmed", n)
			case count(t, e, `SELECT COUNT(*) FROM sessions`) != sessions:
				t.Fatalf("failure at statement %d: a session was made", n)
			case count(t, e, `SELECT COUNT(*) FROM audit_events WHERE event = 'pin.verify' AND outcome = 'ok'`) != audits:
				t.Fatalf("failure at statement %d: success was audited", n)
			}
			// The same code, now that the database answers, completes it.
			codeFrom(t, b.Fill(p, url.Values{"code": {code}}), "state-0123456789")
			if n > 40 {
				t.Fatal("the PIN step never completed")
			}
		}
	})
}

func count(t *testing.T, e *idptest.Env, q string) int {
	t.Helper()
	var n int
	if err := e.DB.Gorm.Raw(q).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
