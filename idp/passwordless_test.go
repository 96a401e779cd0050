package idp_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// passwordlessFixture is passkeyFixture with passwordless sign-in on.
func passwordlessFixture(t *testing.T, open func(*testing.T) *dbtest.DB) *fixture {
	e := idptest.New(t, open(t), idptest.Options{Localhost: true, PasskeyPasswordless: true})
	f := &fixture{e: e}
	f.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	f.rp = newRP(t, e, f.client)
	return f
}

// withPasskey registers a software passkey for u (a full sign-in to the
// account page first) and returns it.
func (f *fixture) withPasskey(t *testing.T, u idptest.User) *softKey {
	t.Helper()
	b := f.e.NewBrowser()
	k, _ := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, u), u.Username+"'s laptop")
	return k
}

// toSignIn opens the RP's sign-in page in b.
func (f *fixture) toSignIn(t *testing.T, b *idptest.Browser, verifier string) *idptest.Page {
	t.Helper()
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier))
	if p.URL.Path != "/login" || p.Status != http.StatusOK {
		t.Fatalf("authorize: at %s (%d), want the sign-in page", p.URL.Path, p.Status)
	}
	return p
}

// passwordlessOptions asks the sign-in page p for a passwordless challenge.
func passwordlessOptions(t *testing.T, b *idptest.Browser, p *idptest.Page) ceremonyOptions {
	t.Helper()
	return parseOptions(t, b.Submit("/login/passwordless/options?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}}))
}

// passwordless posts an assertion from the sign-in page p.
func passwordless(t *testing.T, b *idptest.Browser, p *idptest.Page, assertion string) *idptest.Page {
	t.Helper()
	return b.Submit("/login/passwordless?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}, "passkey_assertion": {assertion}})
}

func TestPasswordless(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// Off unless the operator turns it on: no form, and the endpoints
		// refuse even a right assertion.
		t.Run("OffByDefault", func(t *testing.T) {
			f := passkeyFixture(t, open)
			k := f.withPasskey(t, f.user)
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			if strings.Contains(p.Body, "/login/passwordless") || strings.Contains(p.Body, "passkey.js") {
				t.Error("the sign-in page offers a passkey alone, though passwordless sign-in is off")
			}
			flow := p.URL.Query().Get("flow")
			if q := b.Submit("/login/passwordless/options?flow="+flow, url.Values{"csrf_token": {p.CSRF(t)}}); q.Status != http.StatusNotFound {
				t.Errorf("options while off: %d, want 404", q.Status)
			}
			k.userHandle = []byte(f.user.ID)
			forged := k.get(t, ceremonyOptions{})
			if q := passwordless(t, b, p, forged); q.Status != http.StatusNotFound || !strings.Contains(q.Body, `name="password"`) {
				t.Errorf("an assertion while off: %d at %s, want 404 with the password form", q.Status, q.URL.Path)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
		})

		// On: the passkey alone signs in, no password, no SMS; the RP sees
		// amr swk user mfa and the phishing-resistant class. The assertion
		// is good once.
		t.Run("SignInAndReplay", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			sent := len(f.e.Messages())
			b := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p := f.toSignIn(t, b, verifier)
			if !strings.Contains(html.UnescapeString(p.Body), `action="/login/passwordless?flow=`) || !strings.Contains(p.Body, `name="password"`) ||
				!strings.Contains(p.Body, `<script src="/static/passkey.`) {
				t.Fatalf("the sign-in page does not offer both the password and a passkey:\n%s", p.Body)
			}
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("the sign-in page's CSP %q", csp)
			}
			raw := b.Submit("/login/passwordless/options?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			var opts struct {
				PublicKey map[string]any `json:"publicKey"`
			}
			if err := json.Unmarshal([]byte(raw.Body), &opts); err != nil {
				t.Fatalf("options: %v: %s", err, raw.Body)
			}
			if _, named := opts.PublicKey["allowCredentials"]; named || opts.PublicKey["userVerification"] != "required" {
				t.Errorf("options %s: want no allowCredentials (discoverable) and userVerification required", raw.Body)
			}
			o := passwordlessOptions(t, b, p) // a new challenge voids the last
			assertion := k.get(t, o)
			q := passwordless(t, b, p, assertion)
			c := f.rp.claims(t, codeFrom(t, q, "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"swk", "user", "mfa"}) || c.ACR != idp.ACRPhishingResistant {
				t.Errorf("the RP sees amr %v acr %q; want [swk user mfa] and %s", c.AMR, c.ACR, idp.ACRPhishingResistant)
			}
			if n := len(f.e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent for a passwordless sign-in", n)
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.verify"})
			if len(ev) != 1 || ev[0].Outcome != "ok" || ev[0].Detail != "passwordless" || ev[0].UserID != f.user.ID {
				t.Errorf("passkey.verify audited: %+v", ev)
			}
			if u, _ := f.e.Store.UserByID(t.Context(), f.user.ID); u.LastFactor != store.FactorPasskey {
				t.Errorf("last factor %q, want passkey", u.LastFactor)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 2 {
				t.Errorf("%d sessions, want the account's and the passwordless one", len(sessions))
			}

			// Replays: the assertion in another sign-in, and a challenge
			// answered twice.
			b2 := f.e.NewBrowser()
			p = f.toSignIn(t, b2, oauth2.GenerateVerifier())
			o = passwordlessOptions(t, b2, p)
			if q := passwordless(t, b2, p, assertion); q.Status != http.StatusUnauthorized || !shows(q, ui.MsgPasskeyInvalid) {
				t.Fatalf("the assertion replayed in another sign-in: %d at %s", q.Status, q.URL.Path)
			}
			if q := passwordless(t, b2, p, k.get(t, o)); q.Status != http.StatusUnauthorized {
				t.Fatalf("an answer to a challenge used up already: %d at %s", q.Status, q.URL.Path)
			}
			// Junk is refused with the page, never a 500.
			for _, junk := range []string{"", "{}", "not json", `{"id":"x","rawId":"x","type":"public-key","response":{}}`, strings.Repeat("a", 5000)} {
				if q := passwordless(t, b2, p, junk); q.Status >= 500 || q.Status == http.StatusOK {
					t.Errorf("passkey_assertion %.20q: %d", junk, q.Status)
				}
			}
			// Still good with a fresh challenge.
			if q := passwordless(t, b2, p, k.get(t, passwordlessOptions(t, b2, p))); q.Location() == nil || !strings.HasPrefix(q.Location().String(), rpCallback) {
				t.Fatalf("a fresh challenge's assertion: %d at %s", q.Status, q.URL.Path)
			}
		})

		// A passkey that did not verify its user cannot replace the
		// password: refused with a message that says so.
		t.Run("WithoutUserVerification", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			k.noUV = true
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			q := passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p)))
			if q.Status != http.StatusUnauthorized || !shows(q, ui.MsgPasskeyUnverified) || !strings.Contains(q.Body, `name="password"`) {
				t.Fatalf("an assertion without UV: %d at %s, want 401 with the unverified message and the password form:\n%s", q.Status, q.URL.Path, q.Body)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
		})

		// The user handle names the account, and the credential must be
		// one of its own.
		t.Run("AnotherUsersPasskey", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			bob := f.e.CreateUser("bob", "bob's long passphrase", "+819087654321", true)
			f.withPasskey(t, f.user)
			bobKey := f.withPasskey(t, bob)
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			forged := *bobKey
			forged.userHandle = []byte(f.user.ID) // bob's key claiming to be alice's
			if q := passwordless(t, b, p, forged.get(t, passwordlessOptions(t, b, p))); q.Status != http.StatusUnauthorized {
				t.Fatalf("bob's passkey with alice's user handle: %d at %s", q.Status, q.URL.Path)
			}
			stranger := newSoftKey(t, f.e.Issuer)
			stranger.userHandle = []byte(f.user.ID)
			if q := passwordless(t, b, p, stranger.get(t, passwordlessOptions(t, b, p))); q.Status != http.StatusUnauthorized {
				t.Fatalf("an unregistered key with alice's handle: %d at %s", q.Status, q.URL.Path)
			}
			nobody := *bobKey
			nobody.userHandle = []byte("no-such-user")
			if q := passwordless(t, b, p, nobody.get(t, passwordlessOptions(t, b, p))); q.Status != http.StatusUnauthorized {
				t.Fatalf("a handle of no user: %d at %s", q.Status, q.URL.Path)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
			// Bob's own key signs Bob in, and only Bob.
			verifier := oauth2.GenerateVerifier()
			b2 := f.e.NewBrowser()
			p = f.toSignIn(t, b2, verifier)
			c := f.rp.claims(t, codeFrom(t, passwordless(t, b2, p, bobKey.get(t, passwordlessOptions(t, b2, p))), "state-0123456789"), verifier)
			if c.Sub != bob.ID {
				t.Errorf("bob's passkey signed in %q, want bob %q", c.Sub, bob.ID)
			}
		})

		// Forged assertions in parallel, each for its own challenge: the
		// account's allowance is spent before any signature is checked;
		// then even the right passkey waits.
		t.Run("ThrottledInParallel", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			const n = 10
			type try struct {
				b *idptest.Browser
				p *idptest.Page
				a string
			}
			tries := make([]try, n)
			for i := range tries {
				b := f.e.NewBrowser()
				p := f.toSignIn(t, b, oauth2.GenerateVerifier())
				stranger := newSoftKey(t, f.e.Issuer)
				stranger.userHandle = []byte(f.user.ID)
				tries[i] = try{b, p, stranger.get(t, passwordlessOptions(t, b, p))}
			}
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, tr := range tries {
				wg.Go(func() {
					<-start
					q := passwordless(t, tr.b, tr.p, tr.a)
					mu.Lock()
					statuses[q.Status]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if statuses[http.StatusUnauthorized] > 5 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != n {
				t.Fatalf("%d forged assertions at once: %v; want at most 5 verified (401), the rest refused (429)", n, statuses)
			}
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			q := passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p)))
			if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
				t.Fatalf("the right passkey after the burst: %d at %s, want 429 and the locked message", q.Status, q.URL.Path)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
		})

		// A disabled account is refused as at the password step.
		t.Run("DisabledUser", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			if _, _, err := f.e.Store.DisableUser(t.Context(), f.user.ID); err != nil {
				t.Fatal(err)
			}
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			q := passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p)))
			if q.Status != http.StatusForbidden || !shows(q, ui.MsgAccountDisabled) {
				t.Fatalf("a disabled user's passkey: %d at %s, want 403 and the disabled message", q.Status, q.URL.Path)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 0 {
				t.Errorf("a disabled user has %d sessions", len(sessions))
			}
		})

		// An RP that requires the SMS class is not offered a passkey alone;
		// one that requires any second factor is, and gets that class.
		t.Run("ACRValues", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			b := f.e.NewBrowser()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("acr_values", idp.ACRPasswordSMS)))
			if p.URL.Path != "/login" || strings.Contains(p.Body, "/login/passwordless") {
				t.Fatalf("an RP requiring %s: at %s, passwordless offered %v", idp.ACRPasswordSMS, p.URL.Path, strings.Contains(p.Body, "/login/passwordless"))
			}
			if q := passwordless(t, b, p, "{}"); q.Status != http.StatusNotFound {
				t.Errorf("an assertion where it is not offered: %d", q.Status)
			}
			verifier := oauth2.GenerateVerifier()
			b = f.e.NewBrowser()
			p = b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, oauth2.SetAuthURLParam("acr_values", idp.ACRMFA)))
			c := f.rp.claims(t, codeFrom(t, passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p))), "state-0123456789"), verifier)
			if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"swk", "user", "mfa"}) {
				t.Errorf("acr %q amr %v, want %s [swk user mfa]", c.ACR, c.AMR, idp.ACRMFA)
			}
		})

		// A passwordless session spares the next sign-in while its factors
		// are remembered; after that it spares no password it never
		// proved: the sign-in page again, not a claim of pwd.
		t.Run("SessionAfterwards", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			b := f.e.NewBrowser()
			p := f.toSignIn(t, b, oauth2.GenerateVerifier())
			codeFrom(t, passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p))), "state-0123456789")
			verifier := oauth2.GenerateVerifier()
			c := f.rp.claims(t, codeFrom(t, b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier)), "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"swk", "user", "mfa"}) {
				t.Errorf("a remembered passwordless session: amr %v, want [swk user mfa]", c.AMR)
			}
			// Factors never remembered: the live session spares nothing.
			f.e.Restart(idptest.Options{Localhost: true, PasskeyPasswordless: true, MFARemember: -1})
			p = b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
			if p.URL.Path != "/login" || !strings.Contains(p.Body, `name="password"`) {
				t.Fatalf("a lapsed passwordless session: at %s (%d) to %v, want the sign-in page", p.URL.Path, p.Status, p.Location())
			}
		})

		// The account page's sign-in offers it too.
		t.Run("AccountPage", func(t *testing.T) {
			f := passwordlessFixture(t, open)
			k := f.withPasskey(t, f.user)
			b := f.e.NewBrowser()
			p := b.Get(f.e.Issuer + "/account/signin")
			if p.URL.Path != "/login" || !strings.Contains(p.Body, "/login/passwordless") {
				t.Fatalf("the account sign-in: at %s, offers passwordless %v", p.URL.Path, strings.Contains(p.Body, "/login/passwordless"))
			}
			q := passwordless(t, b, p, k.get(t, passwordlessOptions(t, b, p)))
			if q.URL.Path != "/account" || q.Status != http.StatusOK {
				t.Fatalf("after a passwordless account sign-in: at %s (%d)", q.URL.Path, q.Status)
			}
		})
	})
}
