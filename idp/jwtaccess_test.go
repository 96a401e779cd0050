package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// verifyAccessJWT checks an RFC 9068 access token the way a resource
// server does, locally against the JWKS, and returns its claims.
func (o *oc) verifyAccessJWT(raw string) map[string]any {
	o.t.Helper()
	if strings.Count(raw, ".") != 2 {
		o.t.Fatalf("access token %q is not a JWT", raw)
	}
	if _, err := oidc.NewRemoteKeySet(o.ctx(), o.e.Issuer+"/.well-known/jwks.json").VerifySignature(o.ctx(), raw); err != nil {
		o.t.Fatalf("access token does not verify against the JWKS: %v", err)
	}
	if hdr := ocJOSEHeader(o.t, raw); hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" {
		o.t.Errorf("access token header %v, want typ at+jwt and alg ES256 (RFC 9068 2.1)", hdr)
	}
	return ocJWTClaims(o.t, raw)
}

func ocJWTClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	var claims map[string]any
	parts := strings.Split(raw, ".")
	if err := decodeSegment(parts[1], &claims); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return claims
}

func countRows(t *testing.T, e *idptest.Env, table string) int64 {
	t.Helper()
	var n int64
	if err := e.DB.Gorm.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJWTAccessTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		const secret = "service-secret-0123456789-0123456789-0123456789"
		t.Run("client_credentials: local validation, no write, revocable", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			e := o.e
			if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "svc", Secret: secret, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"profile"}, TokenEndpointAuthMethod: "client_secret_basic",
				AccessTokenFormat: store.AccessTokenJWT, AccessTokenLifespan: 5 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			e.CreateClient("other", secret, "", false, "client_credentials")
			before := countRows(t, e, "oauth_access_tokens")
			status, _, out := endpointCall{form: url.Values{"grant_type": {"client_credentials"}, "scope": {"profile"}}, basic: [2]string{"svc", secret}}.do(t, e, "/oauth2/token")
			if status != http.StatusOK {
				t.Fatalf("client_credentials: %d %v", status, out)
			}
			tok := out["access_token"].(string)
			if n := countRows(t, e, "oauth_access_tokens"); n != before {
				t.Errorf("a client_credentials JWT wrote %d rows, want none", n-before)
			}
			claims := o.verifyAccessJWT(tok)
			if claims["iss"] != e.Issuer || claims["sub"] != "svc" || claims["client_id"] != "svc" || claims["scope"] != "profile" || claims["jti"] == nil {
				t.Errorf("claims %v, want iss, sub and client_id svc, scope profile, jti (RFC 9068 2.2)", claims)
			}
			if life := claimNum(claims["exp"]) - claimNum(claims["iat"]); life != 300 {
				t.Errorf("lifetime %v s, want the client's 300", life)
			}
			if out["expires_in"] != float64(300) && out["expires_in"] != float64(299) {
				t.Errorf("expires_in = %v, want 300", out["expires_in"])
			}
			intro := func() map[string]any {
				_, _, in := endpointCall{form: url.Values{"token": {tok}}, basic: [2]string{"svc", secret}}.do(t, e, "/oauth2/introspect")
				return in
			}
			if in := intro(); in["active"] != true || in["client_id"] != "svc" || in["scope"] != "profile" {
				t.Fatalf("introspection of a live JWT: %v", in)
			}
			// Forgeries: alg none; another algorithm than the key's; a
			// changed payload.
			parts := strings.Split(tok, ".")
			hdr := ocJOSEHeader(t, tok)
			reheader := func(alg string) string {
				b, _ := json.Marshal(map[string]any{"alg": alg, "kid": hdr["kid"], "typ": "at+jwt"})
				return base64.RawURLEncoding.EncodeToString(b)
			}
			richer, _ := json.Marshal(map[string]any{"iss": e.Issuer, "sub": "svc", "client_id": "svc", "scope": "profile openid",
				"exp": time.Now().Add(time.Hour).Unix(), "jti": "x"})
			for name, forged := range map[string]string{
				"alg none":        reheader("none") + "." + parts[1] + ".",
				"alg HS256":       reheader("HS256") + "." + parts[1] + "." + parts[2],
				"changed payload": parts[0] + "." + base64.RawURLEncoding.EncodeToString(richer) + "." + parts[2],
			} {
				_, _, in := endpointCall{form: url.Values{"token": {forged}}, basic: [2]string{"svc", secret}}.do(t, e, "/oauth2/introspect")
				if in["active"] != false {
					t.Errorf("forged JWT (%s) is active: %v", name, in)
				}
			}
			if status, _, out := (endpointCall{form: url.Values{"token": {tok}}, basic: [2]string{"other", secret}}).do(t, e, "/oauth2/revoke"); status != 400 || out["error"] != "unauthorized_client" {
				t.Errorf("revocation by another client: %d %v, want 400 unauthorized_client", status, out)
			}
			if status, _, out := (endpointCall{form: url.Values{"token": {tok}}, basic: [2]string{"svc", secret}}).do(t, e, "/oauth2/revoke"); status != 200 {
				t.Fatalf("revocation: %d %v", status, out)
			}
			if in := intro(); in["active"] != false {
				t.Errorf("introspection after revocation: %v, want inactive at once", in)
			}
		})

		t.Run("a user's JWT ends with the session", func(t *testing.T) {
			o := newOC(t, open, idptest.Options{})
			err := o.e.Store.CreateClient(t.Context(), store.NewClient{
				ID: "jwtrp", Secret: ocSecret, FirstParty: true, RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{ocLogoutURI},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile"},
				TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: store.AccessTokenJWT,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := ocClient{ID: "jwtrp", Secret: ocSecret, RedirectURI: rpCallback, Method: "client_secret_basic"}
			a := o.auth(c, "openid profile")
			b := o.e.NewBrowser()
			p, _ := o.login(b, a)
			tk := o.exchange(a, o.code(p, a))
			claims := o.verifyAccessJWT(tk.access)
			// Nor is it an id_token_hint for silent sign-in; the ID token is.
			if loc := b.Get(o.url(o.auth(c, "openid profile", "prompt", "none", "id_token_hint", tk.access))).Location(); loc == nil || loc.Query().Get("error") != "login_required" {
				t.Errorf("prompt=none with an access token as id_token_hint: %v, want login_required", loc)
			}
			if loc := b.Get(o.url(o.auth(c, "openid profile", "prompt", "none", "id_token_hint", tk.rawID))).Location(); loc == nil || loc.Query().Get("code") == "" {
				t.Errorf("prompt=none with the ID token as id_token_hint: %v, want a code", loc)
			}
			if claims["sub"] != tk.id["sub"] || claims["sid"] != tk.id["sid"] || claims["client_id"] != "jwtrp" {
				t.Errorf("claims %v, want the user's sub and sid, client_id jwtrp", claims)
			}
			if status, _, info := o.userinfo(http.MethodGet, "header", tk.access); status != 200 || info["sub"] != tk.id["sub"] {
				t.Fatalf("userinfo with a JWT access token: %d %v", status, info)
			}
			// An ID token is no access token, though the same keys sign it.
			if status, _, _ := o.userinfo(http.MethodGet, "header", tk.rawID); status != http.StatusUnauthorized {
				t.Errorf("userinfo with an ID token as the access token: %d, want 401", status)
			}
			// An access token, which resource servers hold, is no logout hint.
			if p := o.e.NewBrowser().Get(o.logoutURL("id_token_hint", tk.access, "post_logout_redirect_uri", ocLogoutURI)); p.Header.Get("Location") != "" {
				t.Errorf("an access token as id_token_hint was taken as proof: redirected to %s", p.Header.Get("Location"))
			}
			if status, _, _ := o.userinfo(http.MethodGet, "header", tk.access); status != 200 {
				t.Errorf("an access token as id_token_hint ended the session: userinfo %d", status)
			}
			// Logout from the RP's server: the token dies at userinfo and
			// introspection at once.
			o.e.NewBrowser().Get(o.logoutURL("id_token_hint", tk.rawID))
			if status, _, _ := o.userinfo(http.MethodGet, "header", tk.access); status != http.StatusUnauthorized {
				t.Errorf("userinfo after logout: %d, want 401", status)
			}
			if in := introspect(t, o.e, c.idp(), tk.access); in["active"] != false {
				t.Errorf("introspection after logout: %v", in)
			}
			// One of ours, but expired: inactive.
			old := claims
			old["exp"] = time.Now().Add(-time.Minute).Unix()
			expired, _, err := (&keys.Signer{Keys: o.e.Keys, Alg: keys.ES256}).Generate(t.Context(), fjwt.MapClaims(old), &fjwt.Headers{Extra: map[string]any{"typ": "at+jwt"}})
			if err != nil {
				t.Fatal(err)
			}
			if in := introspect(t, o.e, c.idp(), expired); in["active"] != false {
				t.Errorf("introspection of an expired JWT: %v", in)
			}
		})
	})
}

func claimNum(v any) float64 { f, _ := v.(float64); return f }

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
