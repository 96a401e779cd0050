package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// resign returns the claims of an ID token we issued, changed by edit and
// signed again with our own key: what an RP holds after the token aged.
func resign(t *testing.T, e *idptest.Env, claims map[string]any, edit func(map[string]any)) string {
	t.Helper()
	c := fjwt.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	edit(c)
	tok, _, err := (&keys.Signer{Keys: e.Keys, Alg: keys.RS256}).Generate(t.Context(), c, &fjwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logoutURL is the end_session_endpoint with parameters as key, value
// pairs.
func (o *oc) logoutURL(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return o.e.Issuer + "/oauth2/logout?" + q.Encode()
}

// signedOut checks that b's session is over: prompt=none says
// login_required.
func (o *oc) signedOut(b *idptest.Browser, when string) {
	o.t.Helper()
	a := o.auth(o.client, "openid", "prompt", "none")
	if q := o.callback(b.Get(o.url(a)), a); q.Get("error") != "login_required" {
		o.t.Errorf("%s: prompt=none answered %v, want login_required: the session should be over", when, q)
	}
}

// signedOutPage checks for the signed-out page, with no redirect.
func signedOutPage(t *testing.T, p *idptest.Page, when string) {
	t.Helper()
	if p.Status != http.StatusOK || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "signed out") {
		t.Errorf("%s: status %d, Location %q; want the signed-out page and no redirect:\n%.600s", when, p.Status, p.Header.Get("Location"), p.Body)
	}
}

func TestLogoutAttacks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("no redirect without proof", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			// A link anyone can make: our logout as an open redirector.
			p := o.e.NewBrowser().Get(o.logoutURL("client_id", o.client.ID, "post_logout_redirect_uri", ocLogoutURI, "state", "s1"))
			signedOutPage(t, p, "no session, no hint")

			// A hint signed by someone else's key vouches for nothing.
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
			forged, _ := josejwt.Signed(signer).Claims(map[string]any{"iss": o.e.Issuer, "aud": o.client.ID, "sub": o.user.ID,
				"exp": time.Now().Add(time.Hour).Unix()}).Serialize()
			p = o.e.NewBrowser().Get(o.logoutURL("id_token_hint", forged, "client_id", o.client.ID, "post_logout_redirect_uri", ocLogoutURI))
			signedOutPage(t, p, "a forged hint")
		})

		t.Run("a hint ends its session without the cookie", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			tk := o.signedIn(b, o.client)
			// The RP calls from its server: no cookie of the browser's.
			p := o.e.NewBrowser().Get(o.logoutURL("id_token_hint", tk.rawID, "post_logout_redirect_uri", ocLogoutURI, "state", "s2"))
			if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, ocLogoutURI) || p.Location().Query().Get("state") != "s2" {
				t.Errorf("logout with a valid hint: status %d, Location %q, want %s?state=s2", p.Status, loc, ocLogoutURI)
			}
			o.signedOut(b, "after a logout by hint without the cookie")
			if in := introspect(t, o.e, o.client.idp(), tk.access); in["active"] != false {
				t.Errorf("the session's access token after logout: %v", in)
			}
		})

		t.Run("an expired hint is still proof", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			tk := o.signedIn(b, o.client)
			old := resign(t, o.e, tk.id, func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(-3*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
			})
			p := o.e.NewBrowser().Get(o.logoutURL("id_token_hint", old, "post_logout_redirect_uri", ocLogoutURI))
			if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, ocLogoutURI) {
				t.Errorf("logout with an expired hint: status %d, Location %q, want %s", p.Status, loc, ocLogoutURI)
			}
			o.signedOut(b, "after a logout by an expired hint")
		})

		t.Run("a hint cannot end another user's session", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			tk := o.signedIn(b, o.client)
			bob := o.e.CreateUser("bob", "another horse battery", "+819011112222", true)
			other := resign(t, o.e, tk.id, func(c map[string]any) { c["sub"] = bob.ID })
			o.e.NewBrowser().Get(o.logoutURL("id_token_hint", other))
			o.stillSignedIn(b, "after a hint of another subject named the session")
		})

		t.Run("the confirmation page outlives a secret rotation", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			b := o.e.NewBrowser()
			o.signedIn(b, o.client)
			p := b.Get(o.logoutURL("client_id", o.client.ID, "post_logout_redirect_uri", ocLogoutURI, "state", "s3"))
			if !strings.Contains(p.Body, `name="logout" value="yes"`) {
				t.Fatalf("logout without a hint: want the confirmation page, got %d:\n%.600s", p.Status, p.Body)
			}
			oldSecret := o.e.Secret
			o.e.Restart(idptest.Options{Secret: []byte("the-next-secret-the-next-secret-0123456789"), OldSecrets: [][]byte{oldSecret}})
			r := b.Fill(p, url.Values{"logout": {"yes"}})
			if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, ocLogoutURI) || r.Location().Query().Get("state") != "s3" {
				t.Fatalf("confirming with a page served before the rotation: status %d, Location %q; want %s?state=s3", r.Status, loc, ocLogoutURI)
			}
			o.signedOut(b, "after a confirmed logout")
		})
	})
}
