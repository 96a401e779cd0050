package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const exchangeSecret = "exchange-secret-0123456789-0123456789-0123456789"

// exchangeForm is a token exchange of subject, with more parameters.
func exchangeForm(subject string, kv ...string) url.Values {
	f := url.Values{"grant_type": {idp.TokenExchangeGrantType}, "subject_token": {subject},
		"subject_token_type": {idp.AccessTokenType}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// exchangeAs posts a token exchange authenticated as a confidential
// client with HTTP Basic.
func exchangeAs(t *testing.T, e *idptest.Env, id string, form url.Values) (int, map[string]any) {
	t.Helper()
	status, _, out := endpointCall{form: form, basic: [2]string{id, exchangeSecret}}.do(t, e, "/oauth2/token")
	return status, out
}

// registerExchanger registers a confidential client that may exchange
// tokens of rp1 (it is rp1's resource server) for the audiences given.
func registerExchanger(t *testing.T, e *idptest.Env, id, format string, grants []string, aud ...string) idptest.Client {
	t.Helper()
	err := e.Store.CreateClient(t.Context(), store.NewClient{ID: id, Secret: exchangeSecret, GrantTypes: grants,
		Scopes: []string{"openid", "profile", "phone", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic",
		ResourceServerFor: []string{"rp1"}, TokenExchangeAudiences: aud, AccessTokenFormat: format})
	if err != nil {
		t.Fatal(err)
	}
	return idptest.Client{ID: id, Secret: exchangeSecret}
}

// TestTokenExchange: a service holding a user's access token trades it
// (RFC 8693) for a token for another service, never with more scope,
// audience or life than it may have, and only when registered for it.
func TestTokenExchange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		e := o.e
		b := e.NewBrowser()
		a := o.auth(o.client, "openid profile phone")
		tk := o.exchange(a, o.codeOf(b, a))

		grants := []string{"client_credentials", idp.TokenExchangeGrantType}
		orders := registerExchanger(t, e, "orders", "", grants, "inventory", "https://api.example/stock")
		registerExchanger(t, e, "plain", "", []string{"client_credentials"}, "inventory")
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "outsider", Secret: exchangeSecret, GrantTypes: grants,
			Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "client_secret_basic", TokenExchangeAudiences: []string{"inventory"}}); err != nil {
			t.Fatal(err)
		}
		// A public client the store was told may exchange (the admin
		// service refuses to register one): still refused.
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "spa-x", Public: true, GrantTypes: grants,
			Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "none", TokenExchangeAudiences: []string{"inventory"}}); err != nil {
			t.Fatal(err)
		}

		refused := func(name string, status int, out map[string]any, wantStatus int, wantErr string) {
			t.Helper()
			if status != wantStatus || out["error"] != wantErr || out["access_token"] != nil {
				t.Errorf("%s: %d %v, want %d %s", name, status, out, wantStatus, wantErr)
			}
		}

		t.Run("off by default", func(t *testing.T) {
			status, out := exchangeAs(t, e, "plain", exchangeForm(tk.access))
			refused("a client not registered for the grant", status, out, 400, "unauthorized_client")
		})
		t.Run("public client", func(t *testing.T) {
			f := exchangeForm(tk.access)
			f.Set("client_id", "spa-x")
			status, _, out := endpointCall{form: f}.do(t, e, "/oauth2/token")
			refused("a public client", status, out, 400, "unauthorized_client")
		})
		t.Run("wrong secret", func(t *testing.T) {
			status, _, out := endpointCall{form: exchangeForm(tk.access), basic: [2]string{"orders", "nope"}}.do(t, e, "/oauth2/token")
			refused("a wrong secret", status, out, 401, "invalid_client")
		})

		var narrow string
		t.Run("narrower scope", func(t *testing.T) {
			status, out := exchangeAs(t, e, "orders", exchangeForm(tk.access, "scope", "openid profile", "audience", "inventory"))
			if status != 200 {
				t.Fatalf("exchange: %d %v", status, out)
			}
			narrow, _ = out["access_token"].(string)
			exp, _ := out["expires_in"].(float64)
			if narrow == "" || out["issued_token_type"] != idp.AccessTokenType || !strings.EqualFold(ocString(out["token_type"]), "bearer") ||
				out["refresh_token"] != nil || out["scope"] != "openid profile" || exp <= 0 || exp > 3600 {
				t.Errorf("exchange answer: %v", out)
			}
			in := introspect(t, e, orders, narrow)
			if in["active"] != true || in["sub"] != o.user.ID || in["client_id"] != "orders" || in["scope"] != "openid profile" ||
				!ocSame(ocStrings(in["aud"]), []string{"inventory"}) || in["act"] != nil {
				t.Errorf("introspection of the exchanged token: %v", in)
			}
			// The user's claims at userinfo, within the narrower scope.
			if status, _, ui := o.userinfo(http.MethodGet, "header", narrow); status != 200 || ui["sub"] != o.user.ID || ui["phone_number"] != nil {
				t.Errorf("userinfo with the exchanged token: %d %v", status, ui)
			}
			// resource works as audience does.
			if status, out := exchangeAs(t, e, "orders", exchangeForm(tk.access, "resource", "https://api.example/stock")); status != 200 {
				t.Errorf("exchange for a registered resource: %d %v", status, out)
			}
		})
		t.Run("never wider scope", func(t *testing.T) {
			// The subject token was not granted offline_access; the narrow
			// one has no phone. In parallel, as an attacker would try.
			cases := []url.Values{
				exchangeForm(tk.access, "scope", "openid offline_access"),
				exchangeForm(tk.access, "scope", "openid email"),
				exchangeForm(narrow, "scope", "openid phone"),
				exchangeForm(narrow, "scope", "openid profile phone", "audience", "inventory"),
			}
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, out := exchangeAs(t, e, "orders", cases[i%len(cases)])
					refused("a wider scope", status, out, 400, "invalid_scope")
				}()
			}
			wg.Wait()
			// Absent, the scope is the subject token's: exchanging the
			// narrow token cannot give back phone.
			status, out := exchangeAs(t, e, "orders", exchangeForm(narrow))
			if status != 200 || out["scope"] != "openid profile" {
				t.Errorf("exchange without scope: %d %v, want the subject token's scope", status, out)
			}
		})
		t.Run("bad subject tokens", func(t *testing.T) {
			old := map[string]any{"iss": e.Issuer, "sub": o.user.ID, "aud": []string{"rp1"}, "client_id": "rp1", "scope": "openid",
				"jti": "expired-one", "iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}
			expired, _, err := (&keys.Signer{Keys: e.Keys, Alg: keys.ES256}).Generate(t.Context(), fjwt.MapClaims(old), &fjwt.Headers{Extra: map[string]any{"typ": "at+jwt"}})
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{
				"an unknown token": "not-a-token.at-all", "an expired token": expired,
				"an ID token": tk.rawID,
			} {
				status, out := exchangeAs(t, e, "orders", exchangeForm(tok))
				refused(name, status, out, 400, "invalid_grant")
			}
			// A client the token was neither issued to nor meant for.
			status, out := exchangeAs(t, e, "outsider", exchangeForm(tk.access))
			refused("another client's token", status, out, 400, "invalid_grant")
			for name, f := range map[string]url.Values{
				"no subject token":         {"grant_type": {idp.TokenExchangeGrantType}, "subject_token_type": {idp.AccessTokenType}},
				"a subject token type":     exchangeForm(tk.access),
				"a requested token type":   exchangeForm(tk.access, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
				"an actor token, no type":  exchangeForm(tk.access, "actor_token", tk.access),
				"an actor token type only": exchangeForm(tk.access, "actor_token_type", idp.AccessTokenType),
			} {
				if name == "a subject token type" {
					f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")
				}
				status, out := exchangeAs(t, e, "orders", f)
				refused(name, status, out, 400, "invalid_request")
			}
		})
		t.Run("audience not allowed", func(t *testing.T) {
			for _, kv := range [][]string{{"audience", "billing"}, {"resource", "https://evil.example/"}, {"audience", "inventory", "audience", "rp1"}} {
				status, out := exchangeAs(t, e, "orders", exchangeForm(tk.access, kv...))
				refused("audience "+strings.Join(kv, "="), status, out, 400, "invalid_target")
			}
		})
		t.Run("delegation", func(t *testing.T) {
			actor := serviceToken(t, e, "orders", exchangeSecret)
			status, out := exchangeAs(t, e, "orders", exchangeForm(tk.access, "audience", "inventory",
				"actor_token", actor, "actor_token_type", idp.AccessTokenType))
			if status != 200 {
				t.Fatalf("exchange with an actor: %d %v", status, out)
			}
			in := introspect(t, e, orders, ocString(out["access_token"]))
			act, _ := in["act"].(map[string]any)
			if in["active"] != true || in["sub"] != o.user.ID || act["sub"] != "orders" {
				t.Errorf("introspection of a delegated token: %v", in)
			}
			// Exchanged again, the chain is kept.
			status, out = exchangeAs(t, e, "orders", exchangeForm(ocString(out["access_token"]), "actor_token", actor, "actor_token_type", idp.AccessTokenType))
			in = introspect(t, e, orders, ocString(out["access_token"]))
			act, _ = in["act"].(map[string]any)
			if prior, _ := act["act"].(map[string]any); status != 200 || prior["sub"] != "orders" {
				t.Errorf("a delegation of a delegation: %d %v", status, in)
			}
			// Someone else's token is no proof of who acts.
			other := serviceToken(t, e, "plain", exchangeSecret)
			status, out = exchangeAs(t, e, "orders", exchangeForm(tk.access, "actor_token", other, "actor_token_type", idp.AccessTokenType))
			refused("another client's actor token", status, out, 400, "invalid_grant")
		})
		t.Run("jwt", func(t *testing.T) {
			registerExchanger(t, e, "orders-jwt", store.AccessTokenJWT, grants, "inventory")
			actor := serviceToken(t, e, "orders-jwt", exchangeSecret)
			status, out := exchangeAs(t, e, "orders-jwt", exchangeForm(tk.access, "scope", "openid", "audience", "inventory",
				"actor_token", actor, "actor_token_type", idp.AccessTokenType))
			if status != 200 {
				t.Fatalf("exchange for a JWT: %d %v", status, out)
			}
			claims := o.verifyAccessJWT(ocString(out["access_token"]))
			act, _ := claims["act"].(map[string]any)
			if claims["sub"] != o.user.ID || claims["client_id"] != "orders-jwt" || !ocSame(ocStrings(claims["aud"]), []string{"inventory"}) ||
				claims["scope"] != "openid" || act["sub"] != "orders-jwt" {
				t.Errorf("exchanged JWT: %v", claims)
			}
			// A JWT is a subject token too.
			if status, out := exchangeAs(t, e, "orders", exchangeForm(ocString(out["access_token"]))); status != 400 || out["error"] != "invalid_grant" {
				// orders-jwt's token names inventory, not orders: refused.
				t.Errorf("another client's JWT: %d %v", status, out)
			}
		})
		t.Run("no longer than the subject token", func(t *testing.T) {
			// A service whose tokens live 2 minutes; its resource server's
			// live an hour, but not those it exchanges from it.
			if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "brief", Secret: exchangeSecret, GrantTypes: []string{"client_credentials"},
				TokenEndpointAuthMethod: "client_secret_basic", AccessTokenLifespan: 2 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "brief-rs", Secret: exchangeSecret, GrantTypes: grants,
				TokenEndpointAuthMethod: "client_secret_basic", ResourceServerFor: []string{"brief"}}); err != nil {
				t.Fatal(err)
			}
			subject := serviceToken(t, e, "brief", exchangeSecret)
			status, out := exchangeAs(t, e, "brief-rs", exchangeForm(subject))
			if exp, _ := out["expires_in"].(float64); status != 200 || exp <= 0 || exp > 120 {
				t.Errorf("exchange of a 2-minute token: %d %v", status, out)
			}
			in := introspect(t, e, idptest.Client{ID: "brief-rs", Secret: exchangeSecret}, ocString(out["access_token"]))
			if exp, _ := in["exp"].(float64); in["active"] != true || in["sub"] != "brief" || int64(exp) > time.Now().Add(2*time.Minute).Unix() {
				t.Errorf("introspection of a token exchanged from a 2-minute one: %v", in)
			}
		})
		t.Run("revoked subject", func(t *testing.T) {
			b2 := e.NewBrowser()
			a2 := o.auth(o.client, "openid profile offline_access")
			tk2 := o.exchange(a2, o.codeOf(b2, a2))
			status, out := exchangeAs(t, e, "orders", exchangeForm(tk2.refresh))
			refused("a refresh token", status, out, 400, "invalid_grant")
			// offline_access is never granted: no refresh token comes of it.
			status, out = exchangeAs(t, e, "orders", exchangeForm(tk2.access, "scope", "openid offline_access"))
			if status != 200 || out["scope"] != "openid" || out["refresh_token"] != nil {
				t.Errorf("exchange asking offline_access: %d %v", status, out)
			}
			revoke(t, e, o.client.idp(), tk2.access)
			status, out = exchangeAs(t, e, "orders", exchangeForm(tk2.access))
			refused("a revoked token", status, out, 400, "invalid_grant")
		})
		t.Run("audit", func(t *testing.T) {
			var ok, no int64
			e.DB.Gorm.Model(&store.AuditEvent{}).Where("event = ? AND outcome = ? AND client_id = ?", "token.exchange", "ok", "orders").Count(&ok)
			e.DB.Gorm.Model(&store.AuditEvent{}).Where("event = ? AND outcome = ?", "token.exchange", "refused").Count(&no)
			if ok < 3 || no < 10 {
				t.Errorf("audit: %d exchanges and %d refusals recorded", ok, no)
			}
		})
		t.Run("disabling the user ends derived tokens", func(t *testing.T) {
			if _, _, err := e.Store.DisableUser(t.Context(), o.user.ID); err != nil {
				t.Fatal(err)
			}
			if in := introspect(t, e, orders, narrow); in["active"] != false {
				t.Errorf("a derived token after the user was disabled: %v", in)
			}
		})
	})
}

// TestTokenExchangeEndsWithTheSession: a token exchanged from a user's
// token keeps its sign-in session, so the user signing out ends it.
func TestTokenExchangeEndsWithTheSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		e := o.e
		b := e.NewBrowser()
		a := o.auth(o.client, "openid profile")
		tk := o.exchange(a, o.codeOf(b, a))
		orders := registerExchanger(t, e, "orders", "", []string{idp.TokenExchangeGrantType}, "inventory")
		status, out := exchangeAs(t, e, "orders", exchangeForm(tk.access, "audience", "inventory"))
		if status != 200 {
			t.Fatalf("exchange: %d %v", status, out)
		}
		derived := ocString(out["access_token"])
		b.Get(o.logoutURL("id_token_hint", tk.rawID))
		if in := introspect(t, e, orders, derived); in["active"] != false {
			t.Errorf("a derived token after logout: %v", in)
		}
	})
}
