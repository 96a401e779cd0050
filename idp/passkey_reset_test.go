package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// forgotWithPasskey opens the forgot page in b and asks its passkey form
// for the options of username's assertion.
func forgotWithPasskey(t *testing.T, e *idptest.Env, b *idptest.Browser, username string) (*idptest.Page, string, ceremonyOptions) {
	t.Helper()
	p := b.Get(e.Issuer + "/password/forgot")
	flow := p.URL.Query().Get("flow")
	action := "/password/forgot/passkey?flow=" + flow
	if p.URL.Path != "/login/forgot" || !strings.Contains(p.Body, `data-options="/password/forgot/passkey/options?flow=`+flow+`"`) ||
		!strings.Contains(p.Body, `action="`+action+`"`) {
		t.Fatalf("the forgot page at %s (%d) has no passkey form:\n%s", p.URL.Path, p.Status, p.Body)
	}
	o := parseOptions(t, b.Submit("/password/forgot/passkey/options?flow="+flow, url.Values{"csrf_token": {p.CSRF(t)}, "username": {username}}))
	return p, action, o
}

func TestPasswordResetWithAPasskey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := passkeyFixture(t, open)
		bob := f.e.CreateUser("bob", "bob's long passphrase", "+819087654321", true)
		f.e.CreateUser("carol", "carol's long passphrase", "+819011112222", true)
		b := f.e.NewBrowser()
		k, _ := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
		bb := f.e.NewBrowser()
		bobKey, _ := addPasskey(t, f.e, bb, accountSignIn(t, f.e, bb, bob), "bob's key")

		// The options say nothing of the name: a user with passkeys, one
		// without and no user at all get the same (no credential named).
		for _, name := range []string{"alice", "carol", "nobody"} {
			_, _, o := forgotWithPasskey(t, f.e, f.e.NewBrowser(), name)
			if len(o.PublicKey.AllowCredentials) != 0 || o.PublicKey.Challenge == "" {
				t.Errorf("options for %s: allowCredentials %v, challenge %q; want none named and a challenge", name, o.PublicKey.AllowCredentials, o.PublicKey.Challenge)
			}
		}

		// Alice: her passkey, then the PIN to her phone, then the password.
		b2 := f.e.NewBrowser()
		p, action, o := forgotWithPasskey(t, f.e, b2, "Alice")
		assertion := k.get(t, o)
		sent := len(f.e.Messages())
		q := b2.Submit(action, url.Values{"csrf_token": {p.CSRF(t)}, "username": {"Alice"}, "passkey_assertion": {assertion}})
		if q.URL.Path != "/login/pin" || len(f.e.Messages()) != sent+1 {
			t.Fatalf("alice's passkey: at %s (%d), %d SMS; want the PIN page and one SMS:\n%s", q.URL.Path, q.Status, len(f.e.Messages())-sent, q.Body)
		}
		q = b2.Fill(q, url.Values{"code": {f.e.LastCode(f.user.Phone)}})
		if q.URL.Path != "/login/password" {
			t.Fatalf("after the PIN: at %s (%d)", q.URL.Path, q.Status)
		}
		q = b2.Fill(q, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
		if q.Status != http.StatusOK || !titled(q, ui.MsgPasswordReset) {
			t.Fatalf("the new password: %d at %s:\n%s", q.Status, q.URL.Path, q.Body)
		}
		var told bool
		for _, m := range f.e.Messages() {
			told = told || (m.To == f.user.Phone && strings.Contains(m.Body, "password of your account was reset"))
		}
		if !told {
			t.Error("the phone was not told of the reset")
		}
		ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.verify"})
		var ok int
		for _, e := range ev {
			if e.Outcome == "ok" && e.UserID == f.user.ID && strings.HasPrefix(e.Detail, "password reset") {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d passkey.verify ok events of a password reset, want 1: %+v", ok, ev)
		}
		if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "password.reset"}); len(ev) != 1 || ev[0].UserID != f.user.ID {
			t.Errorf("password.reset audit: %+v", ev)
		}

		refused := func(what string, b *idptest.Browser, p *idptest.Page, action, username, assertion string) {
			t.Helper()
			sent := len(f.e.Messages())
			q := b.Submit(action, url.Values{"csrf_token": {p.CSRF(t)}, "username": {username}, "passkey_assertion": {assertion}})
			if q.Status != http.StatusUnauthorized || !shows(q, ui.MsgResetRefused) || q.URL.Path == "/login/pin" || !strings.Contains(q.Body, `name="recovery_code"`) || len(f.e.Messages()) != sent {
				t.Errorf("%s: %d at %s, %d SMS; want 401, the refusal on the forgot page, no SMS", what, q.Status, q.URL.Path, len(f.e.Messages())-sent)
			}
		}
		// The same assertion in another reset: its challenge is not this one's.
		b3 := f.e.NewBrowser()
		p, action, _ = forgotWithPasskey(t, f.e, b3, "alice")
		refused("the assertion replayed in another reset", b3, p, action, "alice", assertion)
		// Bob's passkey (his user handle, then claiming Alice's) for Alice.
		b4 := f.e.NewBrowser()
		p, action, o = forgotWithPasskey(t, f.e, b4, "alice")
		refused("bob's passkey for alice", b4, p, action, "alice", bobKey.get(t, o))
		p, action, o = forgotWithPasskey(t, f.e, b4, "alice")
		forged := *bobKey
		forged.userHandle = []byte(f.user.ID)
		refused("bob's passkey with alice's user handle", b4, p, action, "alice", forged.get(t, o))
		// A name with no passkey, and no user at all.
		p, action, o = forgotWithPasskey(t, f.e, b4, "carol")
		refused("a passkey for carol, who has none", b4, p, action, "carol", bobKey.get(t, o))
		p, action, o = forgotWithPasskey(t, f.e, b4, "nobody")
		refused("a passkey for no user", b4, p, action, "nobody", bobKey.get(t, o))
		// One assertion posted by many tabs at once is accepted once: one
		// PIN sent (the other tabs follow the flow to its PIN page).
		b5 := f.e.NewBrowser()
		p5, action5, o5 := forgotWithPasskey(t, f.e, b5, "alice")
		once := k.get(t, o5)
		sent = len(f.e.Messages())
		const n = 6
		pages := make([]*idptest.Page, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				pages[i] = b5.Submit(action5, url.Values{"csrf_token": {p5.CSRF(t)}, "username": {"alice"}, "passkey_assertion": {once}})
			})
		}
		close(start)
		wg.Wait()
		for _, q := range pages {
			if q.Status >= 500 {
				t.Errorf("status %d", q.Status)
			}
		}
		ev, _ = f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.verify"})
		ok = 0
		for _, e := range ev {
			if e.Outcome == "ok" && strings.HasPrefix(e.Detail, "password reset") {
				ok++
			}
		}
		if ok != 2 || len(f.e.Messages()) != sent+1 {
			t.Errorf("one assertion posted %d times at once: accepted %d times, %d SMS; want once and one", n, ok-1, len(f.e.Messages())-sent)
		}
		// Forged assertions for bob are counted before they are verified,
		// with his sign-in's: at most five verified, then even his own
		// passkey waits.
		b6 := f.e.NewBrowser()
		p6, action6, o6 := forgotWithPasskey(t, f.e, b6, "bob")
		stranger := newSoftKey(t, f.e.Issuer)
		stranger.userHandle = []byte(bob.ID)
		junkSig := stranger.get(t, o6)
		var mu sync.Mutex
		statuses := map[int]int{}
		start = make(chan struct{})
		for range 12 {
			wg.Go(func() {
				<-start
				q := b6.Submit(action6, url.Values{"csrf_token": {p6.CSRF(t)}, "username": {"bob"}, "passkey_assertion": {junkSig}})
				mu.Lock()
				statuses[q.Status]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if statuses[http.StatusUnauthorized] > 5 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 12 {
			t.Errorf("12 forged assertions for bob at once: %v; want at most 5 verified (401), the rest 429", statuses)
		}
		p6, action6, o6 = forgotWithPasskey(t, f.e, b6, "bob")
		q = b6.Submit(action6, url.Values{"csrf_token": {p6.CSRF(t)}, "username": {"bob"}, "passkey_assertion": {bobKey.get(t, o6)}})
		if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
			t.Errorf("bob's own passkey after the burst: %d at %s, want 429 and the locked message", q.Status, q.URL.Path)
		}
		// Junk is a clear 4xx.
		for _, junk := range []string{"", "{}", "not json"} {
			q := b4.Submit(action, url.Values{"csrf_token": {p.CSRF(t)}, "username": {"alice"}, "passkey_assertion": {junk}})
			if q.Status < 400 || q.Status >= 500 {
				t.Errorf("passkey_assertion %q: %d", junk, q.Status)
			}
		}
	})
}
