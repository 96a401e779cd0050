package idp_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// logoutRP is an RP's back-channel logout endpoint: it records the logout
// tokens it is sent and answers fail times with 500 before it takes them.
type logoutRP struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	fail   atomic.Int32
}

func newLogoutRP(t *testing.T) *logoutRP {
	rp := &logoutRP{}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rp.fail.Add(-1) >= 0 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form", http.StatusBadRequest)
			return
		}
		rp.mu.Lock()
		rp.tokens = append(rp.tokens, r.PostFormValue("logout_token"))
		rp.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) received() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.tokens...)
}

// waitFor polls until f holds or five seconds pass.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !f(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// checkLogoutToken verifies a logout token as an RP must (Back-Channel
// Logout 1.0 section 2.6) and returns its claims.
func (o *oc) checkLogoutToken(raw, clientID string) map[string]any {
	o.t.Helper()
	// Signature, iss, aud and exp, against the JWKS; a logout token has
	// no nonce, so the ID token verifier's checks apply as they are.
	tok, err := o.provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256"}}).Verify(o.ctx(), raw)
	if err != nil {
		o.t.Fatalf("logout token does not verify: %v", err)
	}
	var claims map[string]any
	tok.Claims(&claims)
	if hdr := ocJOSEHeader(o.t, raw); hdr["typ"] != "logout+jwt" {
		o.t.Errorf("logout token header %v: typ must be logout+jwt", hdr)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		o.t.Errorf("logout token events = %v, want the back-channel logout event", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		o.t.Error("a logout token must not carry a nonce")
	}
	for _, c := range []string{"iat", "jti", "sid", "sub"} {
		if claims[c] == nil || claims[c] == "" {
			o.t.Errorf("logout token lacks %s: %v", c, claims)
		}
	}
	return claims
}

func (o *oc) registerWithLogout(id, backchannel, frontchannel string) ocClient {
	o.t.Helper()
	err := o.e.Store.CreateClient(o.t.Context(), store.NewClient{
		ID: id, Name: "RP " + id, Secret: ocSecret, FirstParty: true,
		RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{ocLogoutURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "phone", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic",
		BackchannelLogoutURI: backchannel, FrontchannelLogoutURI: frontchannel,
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return ocClient{ID: id, Secret: ocSecret, RedirectURI: rpCallback, Method: "client_secret_basic"}
}

func TestBackchannelLogout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		if d := newOC(t, open, idptest.Options{}).discovery(); d["backchannel_logout_supported"] != true || d["backchannel_logout_session_supported"] != true {
			t.Errorf("discovery: backchannel_logout_supported %v, _session_supported %v; want true", d["backchannel_logout_supported"], d["backchannel_logout_session_supported"])
		}

		t.Run("logout tells each RP of the session, once", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			rpA, rpB := newLogoutRP(t), newLogoutRP(t)
			a := o.registerWithLogout("bc-a", rpA.srv.URL+"/logout", "")
			bc := o.registerWithLogout("bc-b", rpB.srv.URL+"/logout", "")
			b := o.e.NewBrowser()
			tkA := o.signedIn(b, a)
			// A second RP in the same session: no page, the same sid.
			ab := o.auth(bc, "openid")
			tkB := o.exchange(ab, o.code(b.Get(o.url(ab)), ab))
			if tkB.id["sid"] != tkA.id["sid"] {
				t.Fatalf("sid %v then %v: want one session", tkA.id["sid"], tkB.id["sid"])
			}
			if p := b.Get(o.logoutURL("id_token_hint", tkA.rawID)); p.Status != http.StatusOK {
				t.Fatalf("logout: %d", p.Status)
			}
			waitFor(t, "both RPs to get a logout token", func() bool { return len(rpA.received()) == 1 && len(rpB.received()) == 1 })
			time.Sleep(100 * time.Millisecond) // and no more
			if len(rpA.received()) != 1 || len(rpB.received()) != 1 {
				t.Fatalf("RPs got %d and %d logout tokens, want 1 each", len(rpA.received()), len(rpB.received()))
			}
			for _, raw := range rpB.received() {
				claims := o.checkLogoutToken(raw, bc.ID)
				if claims["sid"] != tkB.id["sid"] || claims["sub"] != tkB.id["sub"] {
					t.Errorf("logout token sid %v sub %v, want the session's %v and %v", claims["sid"], claims["sub"], tkA.id["sid"], tkA.id["sub"])
				}
			}
			if claims := o.checkLogoutToken(rpA.received()[0], a.ID); claims["sid"] != tkA.id["sid"] {
				t.Errorf("logout token to %s: sid %v, want %v", a.ID, claims["sid"], tkA.id["sid"])
			}
			list, err := o.e.Store.LogoutDeliveries(t.Context(), store.DeliveryDelivered, bc.ID, 10)
			if err != nil || len(list) != 1 || list[0].Attempts != 1 || list[0].LastStatus != 200 {
				t.Errorf("delivery record of %s: %+v %v, want one delivered at the first attempt", bc.ID, list, err)
			}
		})

		t.Run("an operator's revoke tells the RP; retries until it answers; one instance sends each", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			rp := newLogoutRP(t)
			c := o.registerWithLogout("bc", rp.srv.URL+"/logout", "")
			tk := o.signedIn(o.e.NewBrowser(), c)
			rp.fail.Store(1)
			sid, _ := tk.id["sid"].(string)
			if ended, err := o.e.Store.RevokeSession(t.Context(), sid); err != nil || !ended {
				t.Fatalf("RevokeSession: %v %v", ended, err)
			}
			// Another instance, or a restarted one: only the database is shared.
			other := idp.NewLogoutNotifier(o.e.Store, o.e.Keys, o.e.Issuer, keys.RS256, nil)
			if n, err := other.RunOnce(t.Context()); n != 0 || err != nil {
				t.Fatalf("first pass against a failing RP: %d delivered, %v", n, err)
			}
			pending, _ := o.e.Store.LogoutDeliveries(t.Context(), store.DeliveryPending, c.ID, 10)
			if len(pending) != 1 || pending[0].Attempts != 1 || pending[0].LastStatus != 500 || !pending[0].NextAttemptAt.After(time.Now()) {
				t.Fatalf("after a failed attempt: %+v, want one pending with the 500 recorded and a later retry", pending)
			}
			if n, _ := other.RunOnce(t.Context()); n != 0 || len(rp.received()) != 0 {
				t.Fatal("a retry was made before its time")
			}
			// The retry falls due; several instances race for it.
			o.e.DB.Gorm.Exec("UPDATE logout_deliveries SET next_attempt_at = ?", time.Now().UTC().Add(-time.Second))
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					idp.NewLogoutNotifier(o.e.Store, o.e.Keys, o.e.Issuer, keys.RS256, nil).RunOnce(t.Context())
				})
			}
			wg.Wait()
			if got := rp.received(); len(got) != 1 {
				t.Fatalf("the RP got %d logout tokens, want exactly 1", len(got))
			}
			o.checkLogoutToken(rp.received()[0], c.ID)
			done, _ := o.e.Store.LogoutDeliveries(t.Context(), store.DeliveryDelivered, c.ID, 10)
			if len(done) != 1 || done[0].Attempts != 2 || done[0].DeliveredAt == nil {
				t.Errorf("delivery record: %+v, want delivered at the second attempt", done)
			}
		})
	})
}

func TestFrontchannelLogout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		if d := o.discovery(); d["frontchannel_logout_supported"] != true || d["frontchannel_logout_session_supported"] != true {
			t.Errorf("discovery: frontchannel_logout_supported %v, _session_supported %v; want true", d["frontchannel_logout_supported"], d["frontchannel_logout_session_supported"])
		}
		c := o.registerWithLogout("fc", "", "https://fc.example.com/logout?x=1")
		b := o.e.NewBrowser()
		login := b.Get(o.url(o.auth(c, "openid")))
		if csp := login.Header.Get("Content-Security-Policy"); strings.Contains(csp, "frame-src") {
			t.Errorf("the login page allows frames: %s", csp)
		}
		tk := o.signedIn(b, c)
		p := b.Get(o.logoutURL("id_token_hint", tk.rawID, "post_logout_redirect_uri", ocLogoutURI, "state", "s4"))
		if p.Status != http.StatusOK {
			t.Fatalf("logout with a front-channel RP: status %d, want the signed-out page with its frames first", p.Status)
		}
		want := "https://fc.example.com/logout?" + url.Values{"iss": {o.e.Issuer}, "sid": {tk.id["sid"].(string)}, "x": {"1"}}.Encode()
		if !strings.Contains(p.Body, `<iframe hidden src="`+strings.ReplaceAll(want, "&", "&amp;")+`"`) {
			t.Errorf("signed-out page lacks the frame %s:\n%.1500s", want, p.Body)
		}
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src https://fc.example.com") {
			t.Errorf("signed-out page CSP %q does not allow the RP's frame", csp)
		}
		if !strings.Contains(p.Body, `href="`+ocLogoutURI+`?state=s4"`) {
			t.Errorf("signed-out page has no way back to %s?state=s4:\n%.1500s", ocLogoutURI, p.Body)
		}
		o.signedOut(b, "after a front-channel logout")
	})
}
