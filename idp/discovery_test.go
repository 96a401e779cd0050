package idp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/dpop/dpoptest"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// TestDiscoveryIsTruthful compares every value the discovery document
// advertises with what the endpoints do. A key without a check here fails
// the test: advertising something new means showing that it is served.
func TestDiscoveryIsTruthful(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		e := o.e
		d := o.discovery()
		const secret = "service-secret-0123456789-0123456789-0123456789"
		if err := e.DB.Gorm.Exec("UPDATE users SET locale = 'ja' WHERE id = ?", o.user.ID).Error; err != nil {
			t.Fatal(err)
		}

		// Clients of every authentication method, and their tokens.
		e.CreateClient("basic", secret, "", false, "client_credentials")
		noErr := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		noErr(e.Store.CreateClient(t.Context(), store.NewClient{ID: "post", Secret: secret, GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: "client_secret_post"}))
		es := keyedClient(t, e, "es256", "client_credentials")
		rs := rsaKeyedClient(t, e, "rs256")
		spa := ocClient{ID: "spa", RedirectURI: rpCallback, Method: "none"}
		e.CreateClient("spa", "", rpCallback, true)
		tokenURL := e.Issuer + "/oauth2/token"
		fresh := func(a func(aud, jti string, exp time.Time) string) string {
			return a(tokenURL, rand.Text(), time.Now().Add(time.Minute))
		}
		// by calls an endpoint authenticated by method, with form.
		by := func(method string, form url.Values) endpointCall {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			switch method {
			case "client_secret_basic":
				return endpointCall{form: f, basic: [2]string{"basic", secret}}
			case "client_secret_post":
				f.Set("client_id", "post")
				f.Set("client_secret", secret)
				return endpointCall{form: f}
			case "private_key_jwt":
				return endpointCall{form: assertionForm("es256", fresh(es), f)}
			case "none":
				f.Set("client_id", "spa")
				return endpointCall{form: f}
			}
			t.Fatalf("no way to authenticate by %s", method)
			return endpointCall{}
		}
		ownToken := func(method string) string {
			if method == "none" {
				a := o.auth(spa, "openid").pkce()
				p, _ := o.login(e.NewBrowser(), a)
				_, _, out := endpointCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {o.code(p, a)},
					"redirect_uri": {rpCallback}, "client_id": {"spa"}, "code_verifier": {a.verifier}}}.do(t, e, "/oauth2/token")
				return out["access_token"].(string)
			}
			status, _, out := by(method, url.Values{"grant_type": {"client_credentials"}}).do(t, e, "/oauth2/token")
			if status != http.StatusOK {
				t.Fatalf("token by %s: %d %v", method, status, out)
			}
			return out["access_token"].(string)
		}
		// A signed-in browser and the tokens of its login with every scope.
		b := e.NewBrowser()
		all := o.auth(o.client, strings.Join(ocStrings(d["scopes_supported"]), " "), "claims", `{"id_token":{"phone_number":null}}`)
		pAll, _ := o.login(b, all)
		allCallback := o.callback(pAll, all)
		tk := o.exchange(all, allCallback.Get("code"))
		_, _, info := o.userinfo(http.MethodGet, "header", tk.access)
		answer := func(kv ...string) url.Values { // an answer from b's session, without pages
			a := o.auth(o.client, "openid", kv...)
			return authorizationAnswer(t, b.Get(o.url(a)), a)
		}

		checks := map[string]func(v any){
			"issuer": func(v any) {
				if v != e.Issuer || tk.id["iss"] != e.Issuer {
					t.Errorf("issuer %v, ID tokens say %v", v, tk.id["iss"])
				}
			},
			"scopes_supported": func(v any) {
				if got := strings.Fields(ocString(tk.resp["scope"])); !ocSame(sorted(got), sorted(ocStrings(v))) {
					t.Errorf("asked for every scope of %v, granted %v", v, got)
				}
			},
			"response_types_supported": func(v any) {
				if !ocSame(ocStrings(v), []string{"code"}) {
					t.Errorf("response_types_supported %v", v)
				}
				a := o.auth(o.client, "openid", "response_type", "token")
				if p := b.Get(o.url(a)); p.Header.Get("Location") != "" && p.Location().Query().Get("error") == "" {
					t.Errorf("response_type=token, not advertised, answered %s", p.Location())
				}
			},
			"response_modes_supported": func(v any) {
				for _, m := range ocStrings(v) {
					if q := answer("response_mode", m); q.Get("code") == "" {
						t.Errorf("response_mode=%s: %v", m, q)
					}
				}
			},
			"prompt_values_supported": func(v any) {
				for _, p := range ocStrings(v) {
					a := o.auth(o.client, "openid", "prompt", p)
					page := b.Get(o.url(a))
					switch p {
					case "none":
						if q := authorizationAnswer(t, e.NewBrowser().Get(o.url(a)), a); q.Get("error") != "login_required" {
							t.Errorf("prompt=none without a session: %v", q)
						}
					case "login":
						if !strings.Contains(page.Body, `name="password"`) {
							t.Errorf("prompt=login with a session showed %s, not the password form", page.URL)
						}
					case "consent":
						if !strings.Contains(page.Body, `name="consent"`) {
							t.Errorf("prompt=consent for a first-party client showed %s, not the consent page", page.URL)
						}
					default:
						t.Errorf("prompt %q has no check", p)
					}
				}
			},
			"acr_values_supported": func(v any) {
				if !slices.Contains(ocStrings(v), ocString(tk.id["acr"])) {
					t.Errorf("acr %v not in %v", tk.id["acr"], v)
				}
			},
			"display_values_supported": func(v any) {
				for _, dv := range ocStrings(v) {
					if q := answer("display", dv); q.Get("code") == "" {
						t.Errorf("display=%s: %v", dv, q)
					}
				}
			},
			"grant_types_supported": func(v any) {
				for _, g := range ocStrings(v) {
					switch g {
					case "authorization_code":
						// the login above
					case "refresh_token":
						if status, out := o.refresh(o.client, tk.refresh); status != http.StatusOK {
							t.Errorf("refresh_token grant: %d %v", status, out)
						}
					case "client_credentials":
						ownToken("client_secret_basic")
					case idp.DeviceGrantType:
						// A device's whole grant: codes, the user's approval
						// on /device, a token.
						e.CreateClient("tv", "", "", false, idp.DeviceGrantType)
						status, _, da := endpointCall{form: url.Values{"client_id": {"tv"}, "scope": {"openid"}}}.do(t, e, "/oauth2/device/auth")
						if status != http.StatusOK {
							t.Fatalf("device authorization: %d %v", status, da)
						}
						bb := e.NewBrowser()
						p := bb.Fill(bb.Get(ocString(da["verification_uri_complete"])), url.Values{"user_code": {ocString(da["user_code"])}})
						if p, _ = o.drive(bb, p); !strings.Contains(p.Body, "Device connected") {
							t.Fatalf("approving the device ended at %s %d", p.URL, p.Status)
						}
						status, _, tok := endpointCall{form: url.Values{"client_id": {"tv"}, "grant_type": {g}, "device_code": {ocString(da["device_code"])}}}.do(t, e, "/oauth2/token")
						if status != http.StatusOK || tok["id_token"] == nil {
							t.Errorf("device code grant: %d %v", status, tok)
						}
					case idp.TokenExchangeGrantType:
						// A service's token (the user's was rotated by the
						// refresh above), traded by its resource server for
						// another audience.
						noErr(e.Store.CreateClient(t.Context(), store.NewClient{ID: "exchanger", Secret: exchangeSecret, GrantTypes: []string{g},
							TokenEndpointAuthMethod: "client_secret_basic", ResourceServerFor: []string{"basic"}, TokenExchangeAudiences: []string{"inventory"}}))
						status, out := exchangeAs(t, e, "exchanger", exchangeForm(serviceToken(t, e, "basic", secret), "audience", "inventory"))
						if status != http.StatusOK || out["issued_token_type"] != idp.AccessTokenType {
							t.Errorf("token exchange grant: %d %v", status, out)
						}
					default:
						t.Errorf("grant type %q has no check", g)
					}
				}
			},
			"subject_types_supported": func(v any) {
				other := o.register("rp-other", "client_secret_basic", true)
				a := o.auth(other, "openid")
				if sub := o.exchange(a, o.code(b.Get(o.url(a)), a)).id["sub"]; !ocSame(ocStrings(v), []string{"public"}) || sub != tk.id["sub"] {
					t.Errorf("subject types %v, and sub %v at one RP, %v at another", v, tk.id["sub"], sub)
				}
			},
			"id_token_signing_alg_values_supported": func(v any) {
				for _, alg := range ocStrings(v) {
					id := "alg-" + strings.ToLower(alg)
					noErr(e.Store.CreateClient(t.Context(), store.NewClient{ID: id, Secret: ocSecret, FirstParty: true, RedirectURIs: []string{rpCallback},
						GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid"},
						TokenEndpointAuthMethod: "client_secret_basic", IDTokenAlg: alg}))
					c := ocClient{ID: id, Secret: ocSecret, RedirectURI: rpCallback, Method: "client_secret_basic"}
					a := o.auth(c, "openid")
					raw := o.exchange(a, o.code(b.Get(o.url(a)), a)).rawID
					if h := ocJOSEHeader(t, raw); h["alg"] != alg {
						t.Errorf("client registered for %s got an ID token in %v", alg, h["alg"])
					}
				}
			},
			"token_endpoint_auth_methods_supported": func(v any) {
				for _, m := range ocStrings(v) {
					if ownToken(m) == "" {
						t.Errorf("no token by %s", m)
					}
				}
			},
			"code_challenge_methods_supported": func(v any) {
				if !ocSame(ocStrings(v), []string{"S256"}) {
					t.Errorf("code_challenge_methods_supported %v", v)
				}
				ownToken("none") // S256
				if q := answer("code_challenge", strings.Repeat("p", 43), "code_challenge_method", "plain"); q.Get("error") != "invalid_request" {
					t.Errorf("plain PKCE, not advertised: %v", q)
				}
			},
			"claims_supported": func(v any) {
				for _, c := range ocStrings(v) {
					if _, inID := tk.id[c]; !inID && info[c] == nil {
						t.Errorf("claim %q is advertised but neither the ID token nor userinfo carries it", c)
					}
				}
			},
			"ui_locales_supported": func(v any) {
				for _, l := range ocStrings(v) {
					a := o.auth(o.client, "openid", "ui_locales", l)
					if p := e.NewBrowser().Get(o.url(a)); !strings.Contains(p.Body, `<html lang="`+l+`"`) {
						t.Errorf("ui_locales=%s: the login page is not in %s", l, l)
					}
				}
			},
			"claims_parameter_supported": func(v any) {
				if v != true || tk.id["phone_number"] != o.user.Phone {
					t.Errorf("claims_parameter_supported %v; phone_number asked in the ID token: %v", v, tk.id["phone_number"])
				}
			},
			"request_parameter_supported": func(v any) {
				if q := answer("request", "e30.e30."); v != false || q.Get("error") != "request_not_supported" {
					t.Errorf("request_parameter_supported %v; a request object: %v", v, q)
				}
			},
			"request_uri_parameter_supported": func(v any) {
				if q := answer("request_uri", "https://rp.example.com/ro"); v != false || q.Get("error") != "request_uri_not_supported" {
					t.Errorf("request_uri_parameter_supported %v; a request_uri: %v", v, q)
				}
			},
			"require_request_uri_registration": func(v any) {
				if v != true {
					t.Errorf("require_request_uri_registration %v: only pushed request URIs are taken", v)
				}
			},
			"require_pushed_authorization_requests": func(v any) {
				if v != false || allCallback.Get("code") == "" {
					t.Errorf("require_pushed_authorization_requests %v, but a plain request got %v", v, allCallback)
				}
			},
			"dpop_signing_alg_values_supported": func(v any) {
				// A proof of each algorithm is taken; of another, refused.
				for _, alg := range append(ocStrings(v), "ES384") {
					proof := dpoptest.NewKeyAlg(alg).Proof(dpoptest.Claims{Method: "POST", URL: tokenURL})
					status, _, out := dpopCall{form: url.Values{"grant_type": {"client_credentials"}}, basic: [2]string{"basic", secret}, proof: proof}.do(t, e, "/oauth2/token")
					if advertised := alg != "ES384"; advertised != (status == 200 && out["token_type"] == "DPoP") {
						t.Errorf("a DPoP proof signed %s (advertised: %v): %d %v", alg, advertised, status, out)
					}
				}
			},
			"authorization_response_iss_parameter_supported": func(v any) {
				if v != true || allCallback.Get("iss") != e.Issuer {
					t.Errorf("iss supported %v; the answer's iss %q", v, allCallback.Get("iss"))
				}
			},
			"introspection_endpoint_auth_methods_supported": func(v any) {
				for _, m := range ocStrings(v) {
					tok := ownToken(m)
					if status, _, out := by(m, url.Values{"token": {tok}}).do(t, e, "/oauth2/introspect"); status != 200 || out["active"] != true {
						t.Errorf("introspection by %s: %d %v", m, status, out)
					}
				}
			},
			"revocation_endpoint_auth_methods_supported": func(v any) {
				for _, m := range ocStrings(v) {
					tok := ownToken(m)
					if status, _, out := by(m, url.Values{"token": {tok}}).do(t, e, "/oauth2/revoke"); status != 200 {
						t.Errorf("revocation by %s: %d %v", m, status, out)
					}
				}
			},
			"backchannel_logout_supported": func(v any) {
				rp := newLogoutRP(t)
				c := o.registerWithLogout("bc-"+rand.Text()[:8], rp.srv.URL, "")
				bb := e.NewBrowser()
				tkc := o.signedIn(bb, c)
				bb.Get(o.logoutURL("id_token_hint", tkc.rawID))
				waitFor(t, "a logout token", func() bool { return len(rp.received()) == 1 })
				if claims := o.checkLogoutToken(rp.received()[0], c.ID); v != true || claims["sid"] != tkc.id["sid"] {
					t.Errorf("backchannel_logout_supported %v; the logout token's sid %v, want %v", v, claims["sid"], tkc.id["sid"])
				}
			},
			"frontchannel_logout_supported": func(v any) {
				c := o.registerWithLogout("fc-"+rand.Text()[:8], "", "https://fc.example.com/logout")
				bb := e.NewBrowser()
				tkc := o.signedIn(bb, c)
				p := bb.Get(o.logoutURL("id_token_hint", tkc.rawID))
				want := "https://fc.example.com/logout?" + url.Values{"iss": {e.Issuer}, "sid": {ocString(tkc.id["sid"])}}.Encode()
				if v != true || !strings.Contains(p.Body, strings.ReplaceAll(want, "&", "&amp;")) {
					t.Errorf("frontchannel_logout_supported %v; the signed-out page lacks the frame %s", v, want)
				}
			},
		}
		// Signing algorithms of client assertions, wherever a client
		// authenticates.
		for _, k := range []string{"token_endpoint_auth_signing_alg_values_supported", "introspection_endpoint_auth_signing_alg_values_supported",
			"revocation_endpoint_auth_signing_alg_values_supported"} {
			path := map[string]string{"token": "/oauth2/token", "introspection": "/oauth2/introspect", "revocation": "/oauth2/revoke"}[strings.SplitN(k, "_", 2)[0]]
			checks[k] = func(v any) {
				for _, alg := range ocStrings(v) {
					id, make := "es256", es
					if alg == "RS256" {
						id, make = "rs256", rs
					}
					tok := tokenByAssertion(t, e, id, fresh(make))
					form := url.Values{"token": {tok}}
					if path == "/oauth2/token" {
						form = url.Values{"grant_type": {"client_credentials"}}
					}
					if status, _, out := (endpointCall{form: assertionForm(id, fresh(make), form)}).do(t, e, path); status != 200 {
						t.Errorf("%s with an %s client assertion: %d %v", path, alg, status, out)
					}
				}
			}
		}
		// The session's logout variants are the same features.
		checks["backchannel_logout_session_supported"] = checks["backchannel_logout_supported"]
		checks["frontchannel_logout_session_supported"] = checks["frontchannel_logout_supported"]

		for k, v := range d {
			if strings.HasSuffix(k, "_endpoint") || k == "jwks_uri" {
				// TestOIDCC/oidcc-discovery calls each; here: they are ours.
				if !strings.HasPrefix(ocString(v), e.Issuer+"/") {
					t.Errorf("%s = %v is not on the issuer", k, v)
				}
				continue
			}
			check, ok := checks[k]
			if !ok {
				t.Errorf("discovery advertises %s = %v, and no check shows it served", k, v)
				continue
			}
			t.Run(k, func(t *testing.T) { check(v) })
		}
	})
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// rsaKeyedClient is keyedClient with an RS256 key.
func rsaKeyedClient(t *testing.T, e *idptest.Env, id string) func(aud, jti string, exp time.Time) string {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"}}})
	if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: id, GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: "private_key_jwt", JWKS: string(pub)}); err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "r1"}}, nil)
	return func(aud, jti string, exp time.Time) string {
		s, err := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: id, Subject: id, Audience: josejwt.Audience{aud},
			ID: jti, IssuedAt: josejwt.NewNumericDate(exp.Add(-time.Minute)), Expiry: josejwt.NewNumericDate(exp)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
