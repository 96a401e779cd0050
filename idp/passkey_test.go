package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
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

// softKey is a software authenticator: an ES256 key that answers WebAuthn
// ceremonies the way a browser and a platform authenticator would, built
// by hand (clientDataJSON, authenticatorData, a none attestation, the
// signature), so the server's checks are tested without a browser.
type softKey struct {
	id         []byte
	key        *ecdsa.PrivateKey
	origin     string
	userHandle []byte
	count      uint32
	noUV       bool // the authenticator does not verify the user
}

func newSoftKey(t *testing.T, origin string) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{id: id, key: k, origin: origin}
}

var b64 = base64.RawURLEncoding

// cborHead is a CBOR item head of major type major and argument n.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }

// coseKey is the key as a COSE_Key: EC2, ES256, P-256, x, y.
func (k *softKey) coseKey() []byte {
	pub, _ := k.key.PublicKey.Bytes() // 0x04 | x | y
	out := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21}
	out = append(out, cborBytes(pub[1:33])...)
	out = append(out, 0x22)
	return append(out, cborBytes(pub[33:65])...)
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func (k *softKey) authData(rpID string, flags byte, attested bool) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:0:0], h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID: none
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		out = append(out, k.coseKey()...)
	}
	return out
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// ceremonyOptions are the parts of the options the tests read.
type ceremonyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func parseOptions(t *testing.T, p *idptest.Page) ceremonyOptions {
	t.Helper()
	var o ceremonyOptions
	if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("options: %d %s at %s:\n%s", p.Status, p.Header.Get("Content-Type"), p.URL.Path, p.Body)
	}
	if err := json.Unmarshal([]byte(p.Body), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("options: %v:\n%s", err, p.Body)
	}
	return o
}

// create answers registration options: a new credential, none attestation.
func (k *softKey) create(t *testing.T, o ceremonyOptions) string {
	t.Helper()
	uh, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.PublicKey.User.ID, err)
	}
	k.userHandle = uh
	att := []byte{0xa3}
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, 0xa0)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(k.authData(o.PublicKey.RP.ID, flagUP|flagUV|flagAT, true))...)
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}})
	return string(b)
}

// get answers login options with an assertion signed by the key, its
// counter one more.
func (k *softKey) get(t *testing.T, o ceremonyOptions) string {
	t.Helper()
	k.count++
	flags := byte(flagUP | flagUV)
	if k.noUV {
		flags = flagUP
	}
	ad := k.authData(o.PublicKey.RPID, flags, false)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(ad), h[:]...)) // ES256 signs the SHA-256 of authData || hash
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.userHandle)}})
	return string(b)
}

// passkeyFixture is a provider named by a domain (a relying party needs
// one), with alice, bob and an RP.
func passkeyFixture(t *testing.T, open func(*testing.T) *dbtest.DB) *fixture {
	e := idptest.New(t, open(t), idptest.Options{Localhost: true})
	f := &fixture{e: e}
	f.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	f.client = e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	f.rp = newRP(t, e, f.client)
	return f
}

// addPasskey registers a new software passkey named name on the account
// page p, and returns it and the account page after.
func addPasskey(t *testing.T, e *idptest.Env, b *idptest.Browser, p *idptest.Page, name string) (*softKey, *idptest.Page) {
	t.Helper()
	if !strings.Contains(p.Body, `data-options="/account/passkeys/options"`) {
		t.Fatalf("the account page has no passkey form:\n%s", p.Body)
	}
	o := parseOptions(t, b.Submit("/account/passkeys/options", url.Values{"csrf_token": {p.CSRF(t)}}))
	if host := strings.TrimPrefix(strings.Split(e.Issuer, ":")[1], "//"); o.PublicKey.RP.ID != host {
		t.Fatalf("rp.id = %q, want the issuer's host %q", o.PublicKey.RP.ID, host)
	}
	k := newSoftKey(t, e.Issuer)
	q := post(t, b, p, "/account/passkeys", url.Values{"passkey_credential": {k.create(t, o)}, "passkey_name": {name}})
	body := html.UnescapeString(q.Body)
	added := strings.Contains(body, ui.T("en", ui.MsgPasskeyAdded)) || strings.Contains(body, ui.T("ja", ui.MsgPasskeyAdded))
	if q.URL.Path != "/account" || !added || !strings.Contains(body, name) {
		t.Fatalf("adding a passkey: at %s (%d):\n%s", q.URL.Path, q.Status, q.Body)
	}
	return k, q
}

// toPasskey signs in to the RP with the password and expects the passkey
// page, with no SMS sent.
func (f *fixture) toPasskey(t *testing.T, b *idptest.Browser, u idptest.User, verifier string, extra ...oauth2.AuthCodeOption) *idptest.Page {
	t.Helper()
	sent := len(f.e.Messages())
	p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, extra...))
	p = b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
	if p.URL.Path != "/login/passkey" || !strings.Contains(p.Body, `name="passkey_assertion"`) {
		t.Fatalf("after the password: at %s (%d), want /login/passkey:\n%s", p.URL.Path, p.Status, p.Body)
	}
	if n := len(f.e.Messages()) - sent; n != 0 {
		t.Fatalf("%d SMS sent to a user asked for a passkey, want none", n)
	}
	return p
}

// loginOptions asks the passkey page p for a new challenge.
func loginOptions(t *testing.T, b *idptest.Browser, p *idptest.Page) ceremonyOptions {
	t.Helper()
	return parseOptions(t, b.Submit("/login/passkey/options?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}}))
}

func TestPasskeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// Registered on the account page, then the sign-in the RP sees:
		// amr pwd swk user mfa, acr phr; the assertion cannot be used
		// again, not even once more for a fresh challenge.
		t.Run("RegisterSignInAndReplay", func(t *testing.T) {
			f := passkeyFixture(t, open)
			b := f.e.NewBrowser()
			p := accountSignIn(t, f.e, b, f.user)
			if !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "account.passkeys_none")) {
				t.Error("the account page does not say there is no passkey yet")
			}
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "script-src 'self'") ||
				strings.Contains(csp, "unsafe-inline") {
				t.Errorf("the account page's CSP %q: the passkey script cannot ask for options, or inline script is allowed", csp)
			}
			if !strings.Contains(p.Body, `<script src="/static/passkey.`) {
				t.Error("the account page does not load the passkey script")
			}
			k, p := addPasskey(t, f.e, b, p, "work laptop")
			_, p = addPasskey(t, f.e, b, p, "security key")
			msgs := f.e.Messages()
			if last := msgs[len(msgs)-1]; last.To != f.user.Phone || !strings.Contains(last.Body, "passkey was added") {
				t.Errorf("no notice of the new passkey to the phone: %+v", last)
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.added"}); len(ev) != 2 || ev[0].Outcome != "ok" {
				t.Errorf("passkey.added audited %d times", len(ev))
			}
			rows, _ := f.e.Store.PasskeysOf(t.Context(), f.user.ID)
			if len(rows) != 2 || rows[0].Transports != "internal" || rows[0].AttestationType != "none" || !rows[0].UserVerified {
				t.Fatalf("stored passkeys: %+v", rows)
			}
			// The same options cannot make another credential: used.
			if q := post(t, b, p, "/account/passkeys", url.Values{"passkey_credential": {newSoftKey(t, f.e.Issuer).create(t, ceremonyOptions{})}}); q.Status != http.StatusBadRequest || !shows(q, ui.MsgPasskeyNotAdded) {
				t.Errorf("a credential with no live challenge: %d at %s", q.Status, q.URL.Path)
			}

			b2 := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p = f.toPasskey(t, b2, f.user, verifier)
			if !strings.Contains(p.Body, "/login/factor/sms") {
				t.Error("the passkey page offers no SMS instead")
			}
			o := loginOptions(t, b2, p)
			if len(o.PublicKey.AllowCredentials) != 2 {
				t.Errorf("allowCredentials = %v, want alice's two", o.PublicKey.AllowCredentials)
			}
			assertion := k.get(t, o)
			q := b2.Fill(p, url.Values{"passkey_assertion": {assertion}})
			c := f.rp.claims(t, codeFrom(t, q, "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd", "swk", "user", "mfa"}) || c.ACR != idp.ACRPhishingResistant {
				t.Errorf("the RP sees amr %v acr %q; want [pwd swk user mfa] and %s", c.AMR, c.ACR, idp.ACRPhishingResistant)
			}
			if rows, _ := f.e.Store.PasskeysOf(t.Context(), f.user.ID); rows[0].SignCount != 1 || rows[0].LastUsedAt == nil {
				t.Errorf("after the sign-in: count %d, last used %v", rows[0].SignCount, rows[0].LastUsedAt)
			}

			// Replays: the same assertion in another sign-in (whose
			// challenge differs), and one sign-in's challenge answered twice.
			b3 := f.e.NewBrowser()
			p = f.toPasskey(t, b3, f.user, oauth2.GenerateVerifier())
			o = loginOptions(t, b3, p)
			if q := b3.Fill(p, url.Values{"passkey_assertion": {assertion}}); q.Status != http.StatusUnauthorized || !shows(q, ui.MsgPasskeyInvalid) {
				t.Fatalf("the assertion replayed in another sign-in: %d at %s", q.Status, q.URL.Path)
			}
			fresh := k.get(t, o) // for the challenge the replay used up
			if q := b3.Fill(p, url.Values{"passkey_assertion": {fresh}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("an assertion of a challenge answered once already: %d at %s", q.Status, q.URL.Path)
			}
			o = loginOptions(t, b3, p)
			ok := k.get(t, o)
			if q := b3.Fill(p, url.Values{"passkey_assertion": {ok}}); q.Status != http.StatusSeeOther && q.Status != http.StatusFound {
				t.Fatalf("a new challenge's assertion: %d at %s", q.Status, q.URL.Path)
			}
			// A counter that goes back: a cloned key.
			b4 := f.e.NewBrowser()
			p = f.toPasskey(t, b4, f.user, oauth2.GenerateVerifier())
			k.count = 0
			if q := b4.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b4, p))}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("a counter gone back: %d at %s", q.Status, q.URL.Path)
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.verify"})
			var failed int
			for _, e := range ev {
				if e.Outcome == "failed" {
					failed++
				}
			}
			if failed != 3 {
				t.Errorf("%d failed passkey.verify events, want 3 (two replays, one clone)", failed)
			}
			// Junk is refused with the page, never a 500.
			for _, junk := range []string{"", "{}", "not json", `{"id":"x","rawId":"x","type":"public-key","response":{}}`, strings.Repeat("a", 5000)} {
				if q := b4.Fill(p, url.Values{"passkey_assertion": {junk}}); q.Status >= 500 || q.Status == http.StatusOK {
					t.Errorf("passkey_assertion %.20q: %d", junk, q.Status)
				}
			}
		})

		// One assertion posted by many tabs at once signs in once.
		t.Run("ParallelAnswersOfOneChallenge", func(t *testing.T) {
			f := passkeyFixture(t, open)
			b := f.e.NewBrowser()
			k, _ := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
			b2 := f.e.NewBrowser()
			p := f.toPasskey(t, b2, f.user, oauth2.GenerateVerifier())
			assertion := k.get(t, loginOptions(t, b2, p))
			const n = 6
			pages := make([]*idptest.Page, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					pages[i] = b2.Fill(p, url.Values{"passkey_assertion": {assertion}})
				})
			}
			close(start)
			wg.Wait()
			codes := 0
			for _, q := range pages {
				if q.Status >= 500 {
					t.Errorf("status %d", q.Status)
				}
				if loc := q.Location(); loc != nil && strings.HasPrefix(loc.String(), rpCallback) && loc.Query().Get("code") != "" {
					codes++
				}
			}
			if codes != 1 {
				t.Fatalf("one assertion posted %d times at once gave %d codes, want 1", n, codes)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 2 {
				t.Errorf("%d sessions, want the account's and one sign-in", len(sessions))
			}
		})

		// An assertion by another user's passkey is refused, whatever user
		// handle it carries; so is one for a credential not registered.
		t.Run("AnotherUsersPasskey", func(t *testing.T) {
			f := passkeyFixture(t, open)
			bob := f.e.CreateUser("bob", "bob's long passphrase", "+819087654321", true)
			b := f.e.NewBrowser()
			addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "alice's key")
			bb := f.e.NewBrowser()
			bobKey, _ := addPasskey(t, f.e, bb, accountSignIn(t, f.e, bb, bob), "bob's key")

			ba := f.e.NewBrowser()
			p := f.toPasskey(t, ba, f.user, oauth2.GenerateVerifier())
			// Bob's key, Bob's user handle.
			if q := ba.Fill(p, url.Values{"passkey_assertion": {bobKey.get(t, loginOptions(t, ba, p))}}); q.Status != http.StatusUnauthorized || q.URL.Path != "/login/passkey" {
				t.Fatalf("bob's passkey in alice's sign-in: %d at %s", q.Status, q.URL.Path)
			}
			// Bob's key claiming to be Alice's.
			aliceHandle := []byte(f.user.ID)
			forged := *bobKey
			forged.userHandle = aliceHandle
			if q := ba.Fill(p, url.Values{"passkey_assertion": {forged.get(t, loginOptions(t, ba, p))}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("bob's passkey with alice's user handle: %d at %s", q.Status, q.URL.Path)
			}
			// A key never registered.
			stranger := newSoftKey(t, f.e.Issuer)
			stranger.userHandle = aliceHandle
			if q := ba.Fill(p, url.Values{"passkey_assertion": {stranger.get(t, loginOptions(t, ba, p))}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("an unregistered key: %d at %s", q.Status, q.URL.Path)
			}
			// An assertion made for another origin (a phishing site).
			phish := *bobKey
			phish.origin = "https://login.example.evil"
			bobFlow := f.e.NewBrowser()
			p = f.toPasskey(t, bobFlow, bob, oauth2.GenerateVerifier())
			if q := bobFlow.Fill(p, url.Values{"passkey_assertion": {phish.get(t, loginOptions(t, bobFlow, p))}}); q.Status != http.StatusUnauthorized {
				t.Fatalf("an assertion for another origin: %d at %s", q.Status, q.URL.Path)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
		})

		// Forged assertions are counted before they are verified: of a
		// burst no more than the allowance is verified, the rest are
		// refused 429, and then even the right passkey waits.
		t.Run("ForgedAssertionsExhaustTheBudget", func(t *testing.T) {
			f := passkeyFixture(t, open)
			b := f.e.NewBrowser()
			k, _ := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
			b2 := f.e.NewBrowser()
			p := f.toPasskey(t, b2, f.user, oauth2.GenerateVerifier())
			stranger := newSoftKey(t, f.e.Issuer)
			stranger.userHandle = []byte(f.user.ID)
			forged := stranger.get(t, loginOptions(t, b2, p))
			const n = 12
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					q := b2.Fill(p, url.Values{"passkey_assertion": {forged}})
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
			q := b2.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b2, p))}})
			if q.Status != http.StatusTooManyRequests || !shows(q, ui.MsgAccountLocked) || q.Header.Get("Retry-After") == "" {
				t.Fatalf("the right passkey after the burst: %d at %s (Retry-After %q), want 429 and the locked message", q.Status, q.URL.Path, q.Header.Get("Retry-After"))
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.verify"})
			outcomes := map[string]int{}
			for _, e := range ev {
				outcomes[e.Outcome]++
			}
			if outcomes["failed"] > 5 || outcomes["throttled"] < n-5+1 || outcomes["ok"] != 0 {
				t.Errorf("passkey.verify outcomes %v: want at most 5 failed, the rest throttled, none ok", outcomes)
			}
			if sessions, _ := f.e.Store.UserSessions(t.Context(), f.user.ID); len(sessions) != 1 {
				t.Errorf("alice has %d sessions, want only her account sign-in", len(sessions))
			}
		})

		// An RP asking for the phishing-resistant class gets the passkey
		// even from a user who last used SMS; one whose user has no
		// passkey is told unmet_authentication_requirements, no SMS sent.
		t.Run("ACRPhishingResistant", func(t *testing.T) {
			f := passkeyFixture(t, open)
			bob := f.e.CreateUser("bob", "bob's long passphrase", "+819087654321", true)
			b := f.e.NewBrowser()
			k, p := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
			// Remove-and-sign-in with SMS makes SMS the last factor.
			b1 := f.e.NewBrowser()
			p = f.toPasskey(t, b1, f.user, oauth2.GenerateVerifier())
			p = chooseFactor(t, b1, p, "sms")
			if p.URL.Path != "/login/pin" || !strings.Contains(p.Body, "/login/factor/passkey") {
				t.Fatalf("choosing SMS: at %s; the PIN page offers the passkey: %v", p.URL.Path, strings.Contains(p.Body, "/login/factor/passkey"))
			}
			codeFrom(t, b1.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789")
			// SMS was last: the PIN first, for an RP without acr_values.
			f.toPIN(t, f.e.NewBrowser(), oauth2.GenerateVerifier())

			b2 := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			phr := oauth2.SetAuthURLParam("acr_values", idp.ACRPhishingResistant)
			p = f.toPasskey(t, b2, f.user, verifier, phr)
			if strings.Contains(p.Body, "/login/factor/sms") || strings.Contains(p.Body, "/login/factor/recovery") {
				t.Error("an RP that requires a passkey is offered SMS or a recovery code")
			}
			c := f.rp.claims(t, codeFrom(t, b2.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b2, p))}}), "state-0123456789"), verifier)
			if c.ACR != idp.ACRPhishingResistant {
				t.Errorf("acr %q, want %s", c.ACR, idp.ACRPhishingResistant)
			}

			sent := len(f.e.Messages())
			bb := f.e.NewBrowser()
			q := bb.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), phr))
			q = bb.Fill(q, url.Values{"username": {bob.Username}, "password": {bob.Password}})
			loc := q.Location()
			if q.Status != http.StatusSeeOther && q.Status != http.StatusFound || loc == nil || loc.Query().Get("error") != "unmet_authentication_requirements" {
				t.Fatalf("phr for a user without a passkey: %d, location %v", q.Status, loc)
			}
			if n := len(f.e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent, want none", n)
			}
			doc := f.e.NewBrowser().Get(f.e.Issuer + "/.well-known/openid-configuration")
			if !strings.Contains(doc.Body, idp.ACRPhishingResistant) {
				t.Error("discovery does not list the phishing-resistant class")
			}
		})

		// Renamed and removed on the account page, only by their owner; a
		// removal tells the phone, and the next sign-in asks the PIN.
		t.Run("RenameAndRemove", func(t *testing.T) {
			f := passkeyFixture(t, open)
			bob := f.e.CreateUser("bob", "bob's long passphrase", "+819087654321", true)
			b := f.e.NewBrowser()
			_, p := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
			rows, _ := f.e.Store.PasskeysOf(t.Context(), f.user.ID)
			id := rows[0].CredentialID
			bb := f.e.NewBrowser()
			pb := accountSignIn(t, f.e, bb, bob)
			if q := bb.Submit("/account/passkeys/remove", url.Values{"csrf_token": {pb.CSRF(t)}, "credential": {id}}); q.Status != http.StatusNotFound {
				t.Errorf("bob removing alice's passkey: %d", q.Status)
			}
			if q := bb.Submit("/account/passkeys/rename", url.Values{"csrf_token": {pb.CSRF(t)}, "credential": {id}, "passkey_name": {"mine"}}); q.Status != http.StatusNotFound {
				t.Errorf("bob renaming alice's passkey: %d", q.Status)
			}
			q := post(t, b, p, "/account/passkeys/rename", url.Values{"credential": {id}, "passkey_name": {"  home desktop "}})
			if !shows(q, ui.MsgPasskeyRenamed) || !strings.Contains(q.Body, `value="home desktop"`) {
				t.Fatalf("renaming: at %s (%d)", q.URL.Path, q.Status)
			}
			if q := post(t, b, q, "/account/passkeys/rename", url.Values{"credential": {id}, "passkey_name": {strings.Repeat("x", 65)}}); q.Status != http.StatusBadRequest {
				t.Errorf("a name too long: %d", q.Status)
			}
			q = post(t, b, p, "/account/passkeys/remove", url.Values{"credential": {id}})
			if !shows(q, ui.MsgPasskeyRemoved) || !strings.Contains(html.UnescapeString(q.Body), ui.T("en", "account.passkeys_none")) {
				t.Fatalf("removing: at %s (%d)", q.URL.Path, q.Status)
			}
			msgs := f.e.Messages()
			if last := msgs[len(msgs)-1]; last.To != f.user.Phone || !strings.Contains(last.Body, "passkey was removed") {
				t.Errorf("no notice of the removal: %+v", last)
			}
			if ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "passkey.removed"}); len(ev) != 1 {
				t.Errorf("passkey.removed audited %d times", len(ev))
			}
			f.toPIN(t, f.e.NewBrowser(), oauth2.GenerateVerifier())
		})

		// A passkey stands for the current number's PIN in a phone change
		// (a lost phone), and signs in to the account page.
		t.Run("PhoneChangeAndAccountSignIn", func(t *testing.T) {
			f := passkeyFixture(t, open)
			b := f.e.NewBrowser()
			k, _ := addPasskey(t, f.e, b, accountSignIn(t, f.e, b, f.user), "laptop")
			sent := len(f.e.Messages())
			b = f.e.NewBrowser()
			p := b.Fill(b.Get(f.e.Issuer+"/account/phone"), url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			if p.URL.Path != "/login/passkey" {
				t.Fatalf("a phone change of a passkey user: at %s, want /login/passkey", p.URL.Path)
			}
			if p = b.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b, p))}}); p.URL.Path != "/account/phone/new" {
				t.Fatalf("after the passkey: at %s (%d), want the new number", p.URL.Path, p.Status)
			}
			if n := len(f.e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent to the old number, want none", n)
			}
			b = f.e.NewBrowser()
			p = b.Fill(b.Get(f.e.Issuer+"/account/signin"), url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			if p.URL.Path != "/login/passkey" {
				t.Fatalf("the account sign-in of a passkey user: at %s", p.URL.Path)
			}
			p = b.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b, p))}})
			if p.URL.Path != "/account" || !strings.Contains(html.UnescapeString(p.Body), "laptop") {
				t.Fatalf("the account sign-in with a passkey: at %s (%d)", p.URL.Path, p.Status)
			}
		})

		// A live session spares the password, not the second factor (none
		// remembered here): the passkey is asked again, with no SMS.
		t.Run("SessionAsksThePasskeyAgain", func(t *testing.T) {
			e := idptest.New(t, open(t), idptest.Options{Localhost: true, MFARemember: -1})
			f := &fixture{e: e, user: e.CreateUser("alice", "correct horse battery", "+819012345678", true),
				client: e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)}
			f.rp = newRP(t, e, f.client)
			b := e.NewBrowser()
			k, _ := addPasskey(t, e, b, accountSignIn(t, e, b, f.user), "laptop")
			b = e.NewBrowser()
			p := f.toPasskey(t, b, f.user, oauth2.GenerateVerifier())
			codeFrom(t, b.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b, p))}}), "state-0123456789")
			sent := len(e.Messages())
			verifier := oauth2.GenerateVerifier()
			p = b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier))
			if p.URL.Path != "/login/passkey" || len(e.Messages()) != sent {
				t.Fatalf("a second sign-in in the same browser: at %s, %d SMS; want /login/passkey and none", p.URL.Path, len(e.Messages())-sent)
			}
			c := f.rp.claims(t, codeFrom(t, b.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b, p))}}), "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd", "swk", "user", "mfa"}) || c.ACR != idp.ACRPhishingResistant {
				t.Errorf("amr %v acr %q", c.AMR, c.ACR)
			}
		})

		t.Run("Japanese", func(t *testing.T) {
			f := passkeyFixture(t, open)
			b := f.e.NewBrowser()
			accountSignIn(t, f.e, b, f.user)
			p := b.Get(f.e.Issuer + "/account?lang=ja")
			body := html.UnescapeString(p.Body)
			for _, key := range []string{"account.passkeys", "account.passkeys_why", "account.passkeys_none", "account.passkey_add"} {
				if !strings.Contains(body, ui.T("ja", ui.MsgID(key))) {
					t.Errorf("the Japanese account page lacks %s", key)
				}
			}
			addPasskey(t, f.e, b, p, "ノートPC")
			b2 := f.e.NewBrowser()
			q := b2.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("ui_locales", "ja")))
			q = b2.Fill(q, url.Values{"username": {f.user.Username}, "password": {f.user.Password}})
			body = html.UnescapeString(q.Body)
			for _, key := range []string{"passkey.title", "passkey.intro", "passkey.submit"} {
				if q.URL.Path != "/login/passkey" || !strings.Contains(body, ui.T("ja", ui.MsgID(key))) {
					t.Errorf("the Japanese passkey page (at %s) lacks %s", q.URL.Path, key)
				}
			}
		})
	})
}
