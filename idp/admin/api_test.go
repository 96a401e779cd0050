package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const adminToken = "admin-token-0123456789-0123456789"

// api is the admin API of a fixture, served on its own listener as on
// the admin one.
type api struct {
	t   *testing.T
	f   *fixture
	srv *httptest.Server
	a   *admin.API
}

func newAPI(t *testing.T, f *fixture) *api {
	a := admin.NewAPI(f.svc, adminToken, nil)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &api{t: t, f: f, srv: srv, a: a}
}

// do sends a request with the token (token "" sends none) and decodes
// the JSON answer.
func (a *api) do(method, path, token, body string) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.srv.URL+admin.Prefix+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.t.Fatalf("%s %s: Content-Type %q, want JSON:\n%s", method, path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		a.t.Fatalf("%s %s: not a JSON object: %v\n%s", method, path, err, raw)
	}
	if resp.StatusCode >= 400 {
		if m["error"] == nil || m["error_description"] == nil {
			a.t.Errorf("%s %s: error %d without error and error_description: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

func (a *api) ok(method, path, body string, want int) map[string]any {
	a.t.Helper()
	code, m := a.do(method, path, adminToken, body)
	if code != want {
		a.t.Fatalf("%s %s: %d %v, want %d", method, path, code, m, want)
	}
	return m
}

// concrete fills a route's path parameters.
func concrete(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{user}", "alice", "{id}", "shop").Replace(path)
	return method, strings.TrimPrefix(path, admin.Prefix)
}

// Every route answers 401 without the token, or with a wrong one, and
// changes nothing.
func TestAPINeedsTheToken(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := newFixture(t, open)
		a := newAPI(t, f)
		if len(a.a.Patterns()) < 20 {
			t.Fatalf("only %d routes", len(a.a.Patterns()))
		}
		for _, p := range append(a.a.Patterns(), "GET /admin/v1/no-such-route") {
			method, path := concrete(p)
			for _, token := range []string{"", "wrong-token-0123456789-0123456789"} {
				if code, _ := a.do(method, path, token, ""); code != http.StatusUnauthorized {
					t.Errorf("%s %s with token %q: %d, want 401", method, path, token, code)
				}
			}
		}
		if u, _ := f.e.Store.UserByID(t.Context(), f.user.ID); u == nil || u.Disabled() {
			t.Error("an unauthorised request changed the user")
		}
		// No token configured: no API at all.
		off := httptest.NewServer(admin.NewAPI(f.svc, "", nil))
		defer off.Close()
		req, _ := http.NewRequest("GET", off.URL+"/admin/v1/users", nil)
		req.Header.Set("Authorization", "Bearer ")
		resp, err := off.Client().Do(req)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("API without a configured token: %v %v", resp.StatusCode, err)
		}
	})
}

// Bad input gets a 4xx JSON error naming the problem, never a 500.
func TestAPIBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := newFixture(t, open)
		a := newAPI(t, f)
		big := `{"username":"` + strings.Repeat("a", admin.MaxBody) + `"}`
		for _, tc := range []struct {
			method, path, body string
			status             int
			mention            string
		}{
			{"GET", "/users?limit=0", "", 400, "limit"},
			{"GET", "/users?limit=x", "", 400, "limit"},
			{"GET", "/users/nobody", "", 404, `no user "nobody"`},
			{"POST", "/users", `{"username":"bob","password":"correct horse battery","admin":true}`, 400, "admin"},
			{"POST", "/users", `{"username":"bob"`, 400, "JSON"},
			{"POST", "/users", `{"username":"bob","password":"correct horse battery"} {}`, 400, "more than one"},
			{"POST", "/users", `{"username":"bob"}`, 400, "password"},
			{"POST", "/users", `{"username":"bob","password":"password"}`, 400, "common"},
			{"POST", "/users", `{"username":"alice","password":"correct horse battery"}`, 409, "taken"},
			{"POST", "/users", `{"username":"bob","password":"correct horse battery","phone":"0312345678"}`, 400, "phone"},
			{"POST", "/users", big, 413, "larger"},
			{"PATCH", "/users/alice", `{"locale":"fr"}`, 400, "locale"},
			{"PATCH", "/users/alice", `{}`, 400, "nothing to change"},
			{"PUT", "/users/alice/phone", `{"number":""}`, 400, "number"},
			{"PUT", "/users/alice/phone", `{"number":"0312345678"}`, 400, "phone"},
			{"PUT", "/users/nobody/phone", `{"number":"09011112222"}`, 404, "nobody"},
			{"POST", "/users/alice/reset-link", `{"valid_for":"48h"}`, 400, "24h"},
			{"POST", "/users/alice/reset-link", `{"valid_for":"soon"}`, 400, "valid_for"},
			{"POST", "/users/alice/invitation", ``, 400, "has a phone"},
			{"DELETE", "/users/nobody", "", 404, "nobody"},
			{"POST", "/clients", `{"id":"shop","redirect_uris":["https://a.example/cb"]}`, 409, "taken"},
			{"POST", "/clients", `{"id":"x","redirect_uris":["http://a.example/cb"]}`, 400, "https"},
			{"POST", "/clients", `{"id":"x","redirect_uris":["https://a.example/cb"],"scopes":["admin"]}`, 400, "scopes"},
			{"POST", "/clients", `{"id":"x"}`, 400, "redirect_uris"},
			{"POST", "/clients", `{"id":"x","redirect_uris":["https://a.example/cb"],"access_token_lifespan":"soon"}`, 400, "access_token_lifespan"},
			{"PATCH", "/clients/shop", `{"redirect_uris":["https://a.example/cb#frag"]}`, 400, "fragment"},
			{"PATCH", "/clients/shop", `{"grant_types":["password"]}`, 400, "grant_types"},
			{"PATCH", "/clients/shop", `{"token_exchange_audiences":["a b"]}`, 400, "token_exchange_audiences"},
			{"POST", "/clients", `{"id":"x","public":true,"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}`, 400, "token exchange"},
			{"PATCH", "/clients/shop", `{"secret":"mine"}`, 400, "secret"},
			{"PATCH", "/clients/nope", `{"name":"x"}`, 404, "nope"},
			{"DELETE", "/clients/nope", "", 404, "nope"},
			{"GET", "/clients/a%20b", "", 404, "a b"},
			{"GET", "/audit?event=bogus", "", 400, "pin.verify"},
			{"GET", "/audit?since=yesterday", "", 400, "since"},
			{"GET", "/audit?limit=0", "", 400, "limit"},
			{"GET", "/audit?user=nobody", "", 404, "nobody"},
			{"GET", "/nothing-here", "", 404, "no such route"},
		} {
			code, m := a.do(tc.method, tc.path, adminToken, tc.body)
			desc, _ := m["error_description"].(string)
			if code != tc.status || !strings.Contains(desc, tc.mention) {
				t.Errorf("%s %s %.60s: %d %q, want %d mentioning %q", tc.method, tc.path, tc.body, code, desc, tc.status, tc.mention)
			}
		}
		// Not JSON at all.
		req, _ := http.NewRequest("POST", a.srv.URL+"/admin/v1/users", strings.NewReader("username=bob"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := a.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a form body: %v %v, want 400", resp.StatusCode, err)
		}
		if n, _ := f.e.Store.ListUsers(t.Context(), store.UserQuery{}); len(n) != 1 {
			t.Errorf("bad requests created users: %d users", len(n))
		}
	})
}

// Each change made through the API is what the OpenID Connect side then
// does.
func TestAPIChangesSeenByOIDC(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("DisableEnable", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			tok := f.tokens(t, f.client, f.user)
			m := a.ok("POST", "/users/alice/disable", "", 200)
			if m["sessions_ended"] != float64(1) || m["user"].(map[string]any)["disabled"] != true {
				t.Fatalf("disable: %v", m)
			}
			if _, err := f.refresh(t, f.client, tok.RefreshToken); err == nil {
				t.Fatal("a disabled user's refresh token still works")
			}
			if p, _ := f.signIn(t, f.client, f.user); p.Status != http.StatusForbidden {
				t.Fatalf("a disabled user signed in: %d", p.Status)
			}
			if m := a.ok("GET", "/users/alice", "", 200); m["disabled"] != true {
				t.Errorf("shown: %v", m)
			}
			a.ok("POST", "/users/alice/enable", "", 200)
			f.tokens(t, f.client, f.user)
			ev := a.ok("GET", "/audit?user=alice&event=user.&since=1h", "", 200)["events"].([]any)
			if len(ev) != 2 {
				t.Errorf("audit: %v", ev)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			tok := f.tokens(t, f.client, f.user)
			a.ok("DELETE", "/users/alice", "", 200)
			if _, err := f.refresh(t, f.client, tok.RefreshToken); err == nil {
				t.Fatal("a deleted user's refresh token still works")
			}
			if p, _ := f.signIn(t, f.client, f.user); p.Status != http.StatusUnauthorized {
				t.Fatalf("a deleted user's sign-in: %d, want 401", p.Status)
			}
			if code, _ := a.do("GET", "/users/alice", adminToken, ""); code != 404 {
				t.Errorf("deleted user shown: %d", code)
			}
			// The record stays, found by the id.
			if ev := a.ok("GET", "/audit?user="+f.user.ID+"&event=user.deleted", "", 200)["events"].([]any); len(ev) != 1 {
				t.Errorf("audit of the deletion: %v", ev)
			}
		})

		t.Run("CreateUserSignsIn", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			m := a.ok("POST", "/users", `{"username":"Bob","password":"another good password","phone":"090-2222-3333","phone_verified":true,"locale":"ja"}`, 201)
			if m["username"] != "bob" || m["invitation_url"] != nil {
				t.Fatalf("created: %v", m)
			}
			bob := idptest.User{ID: m["id"].(string), Username: "bob", Password: "another good password", Phone: "+819022223333"}
			f.tokens(t, f.client, bob)
			m = a.ok("POST", "/users", `{"username":"carol","password":"another good password"}`, 201)
			if u, _ := m["invitation_url"].(string); !strings.HasPrefix(u, f.e.Issuer+"/invitation?token=") {
				t.Fatalf("a user without a phone got no invitation: %v", m)
			}
		})

		t.Run("Phone", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			m := a.ok("PUT", "/users/alice/phone", `{"number":"09055556666","verified":true}`, 200)
			if m["phone"].(map[string]any)["number"] != "+819055556666" {
				t.Fatalf("phone set: %v", m)
			}
			moved := f.user
			moved.Phone = "+819055556666"
			f.tokens(t, f.client, moved) // the code went to the new number
			m = a.ok("DELETE", "/users/alice/phone", "", 200)
			link, _ := m["invitation_url"].(string)
			if m["had_phone"] != true || !strings.HasPrefix(link, f.e.Issuer+"/invitation?token=") {
				t.Fatalf("phone cleared: %v", m)
			}
			p, _ := f.signIn(t, f.client, f.user)
			if p.Status != http.StatusForbidden {
				t.Fatalf("sign-in without a phone: %d, want 403 asking for an invitation", p.Status)
			}
			if p := f.e.NewBrowser().Get(link); p.Status != http.StatusOK {
				t.Fatalf("the invitation link: %d", p.Status)
			}
			// Without a phone, a new invitation can be made at any time.
			a.ok("POST", "/users/alice/invitation", `{"valid_for":"2d"}`, 201)
		})

		t.Run("ResetLinkAndSessions", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			b := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			auth := f.oauth(f.client).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))
			if p := b.Login(auth, f.user); p.Location().Query().Get("code") == "" {
				t.Fatalf("sign-in: %d", p.Status)
			}
			list := a.ok("GET", "/users/alice/sessions", "", 200)["sessions"].([]any)
			if len(list) != 1 {
				t.Fatalf("sessions: %v", list)
			}
			if m := a.ok("DELETE", "/users/alice/sessions", "", 200); m["revoked"] != float64(1) {
				t.Fatalf("revoke: %v", m)
			}
			// The browser's session is gone: the password is asked again.
			if p := b.Get(auth); p.URL.Path != "/login" {
				t.Fatalf("after the sessions ended: at %s, want the sign-in page", p.URL.Path)
			}
			m := a.ok("POST", "/users/alice/reset-link", `{"valid_for":"30m"}`, 201)
			link, _ := m["reset_url"].(string)
			if p := f.e.NewBrowser().Get(link); p.Status != http.StatusOK || !strings.Contains(p.Body, "password") {
				t.Fatalf("the reset link: %d", p.Status)
			}
			a.ok("POST", "/users/alice/reset-link", "", 201) // the default lifetime
		})

		t.Run("RemoveFactor", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			f.e.RecoveryCodes(f.user)
			toPIN := func() *idptest.Page {
				b := f.e.NewBrowser()
				p := b.Get(f.oauth(f.client).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
				return b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			}
			if p := toPIN(); !strings.Contains(p.Body, "/login/factor/recovery") {
				t.Fatalf("the PIN page does not offer the recovery codes: %d at %s", p.Status, p.URL.Path)
			}
			if m := a.ok("DELETE", "/users/alice/factors/recovery_codes", "", 200); m["removed"] != float64(10) {
				t.Fatalf("remove: %v", m)
			}
			if p := toPIN(); p.URL.Path != "/login/pin" || strings.Contains(p.Body, "/login/factor/recovery") {
				t.Fatalf("the PIN page still offers recovery codes: %d at %s", p.Status, p.URL.Path)
			}
			factors := a.ok("GET", "/users/alice", "", 200)["factors"].(map[string]any)
			if factors["recovery_codes_left"] != float64(0) || factors["sms"] != true {
				t.Errorf("factors: %v", factors)
			}
			if code, m := a.do("DELETE", "/users/alice/factors/sms", adminToken, ""); code != 400 || !strings.Contains(m["error_description"].(string), "phone") {
				t.Errorf("removing the phone as a factor: %d %v", code, m)
			}
			if ev := a.ok("GET", "/audit?event=recovery_codes.removed", "", 200)["events"].([]any); len(ev) != 1 {
				t.Errorf("audit: %v", ev)
			}

			// A lost phone's authenticator app: the operator removes it,
			// and the sign-in stops offering it.
			if err := f.e.Store.StartTOTP(t.Context(), f.user.ID, "sealed-secret"); err != nil {
				t.Fatal(err)
			}
			if ok, err := f.e.Store.ConfirmTOTP(t.Context(), f.user.ID, 1); err != nil || !ok {
				t.Fatalf("ConfirmTOTP: %v %v", ok, err)
			}
			if factors := a.ok("GET", "/users/alice", "", 200)["factors"].(map[string]any); factors["totp"] != true {
				t.Errorf("factors with an app: %v", factors)
			}
			if p := toPIN(); !strings.Contains(p.Body, "/login/factor/totp") {
				t.Fatalf("the PIN page does not offer the app: %d at %s", p.Status, p.URL.Path)
			}
			if m := a.ok("DELETE", "/users/alice/factors/totp", "", 200); m["removed"] != float64(1) {
				t.Fatalf("remove the app: %v", m)
			}
			if p := toPIN(); p.URL.Path != "/login/pin" || strings.Contains(p.Body, "/login/factor/totp") {
				t.Fatalf("the PIN page still offers the app: %d at %s", p.Status, p.URL.Path)
			}
			if factors := a.ok("GET", "/users/alice", "", 200)["factors"].(map[string]any); factors["totp"] != false {
				t.Errorf("factors after removing the app: %v", factors)
			}
			if ev := a.ok("GET", "/audit?event=totp.removed", "", 200)["events"].([]any); len(ev) != 1 {
				t.Errorf("audit of the app's removal: %v", ev)
			}

			// A lost security key: the operator removes the passkeys. (The
			// sign-in's side of it is in idp's passkey tests: passkeys need
			// an issuer with a host name, which this fixture has not.)
			for _, id := range []string{"cred-one", "cred-two"} {
				if err := f.e.Store.AddPasskey(t.Context(), &store.Passkey{CredentialID: id, UserID: f.user.ID, Name: id,
					PublicKey: []byte{1}, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if keys := a.ok("GET", "/users/alice", "", 200)["factors"].(map[string]any)["passkeys"].([]any); len(keys) != 2 {
				t.Errorf("passkeys shown: %v", keys)
			}
			if m := a.ok("DELETE", "/users/alice/factors/passkeys", "", 200); m["removed"] != float64(2) {
				t.Fatalf("remove the passkeys: %v", m)
			}
			if keys, err := f.e.Store.PasskeysOf(t.Context(), f.user.ID); err != nil || len(keys) != 0 {
				t.Fatalf("passkeys left: %v, %v", keys, err)
			}
			if ev := a.ok("GET", "/audit?event=passkey.removed", "", 200)["events"].([]any); len(ev) != 1 {
				t.Errorf("audit of the passkeys' removal: %v", ev)
			}
		})

		t.Run("Unlock", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			wrong := f.user
			wrong.Password = "not the password at all"
			for range 6 {
				f.signIn(t, f.client, wrong)
			}
			if p, _ := f.signIn(t, f.client, f.user); p.Status != http.StatusTooManyRequests {
				t.Fatalf("after six wrong passwords: %d, want 429", p.Status)
			}
			if m := a.ok("POST", "/users/alice/unlock", "", 200); m["was_throttled"] != true {
				t.Fatalf("unlock: %v", m)
			}
			f.tokens(t, f.client, f.user)

			// The user's other tries (recovery codes, the app, passkeys)
			// are lifted by the same unlock.
			rule := store.ThrottleRule{Free: 1, First: time.Hour, Max: time.Hour, Forget: 24 * time.Hour}
			blocked := func(key string) bool {
				wait, err := f.e.Store.ThrottleTry(t.Context(), store.ThrottleKey{Key: key, Rule: rule})
				if err != nil {
					t.Fatal(err)
				}
				return wait > 0
			}
			keys := idp.UserThrottleKeys("alice")
			for _, k := range keys {
				for range 3 {
					blocked(k)
				}
				if !blocked(k) {
					t.Fatalf("%s not blocked after four tries", k)
				}
			}
			a.ok("POST", "/users/alice/unlock", "", 200)
			for _, k := range keys {
				if blocked(k) {
					t.Errorf("%s still blocked after the unlock", k)
				}
			}
		})

		t.Run("Clients", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			// A new redirect URI is accepted, the old one no longer.
			m := a.ok("PATCH", "/clients/shop", `{"redirect_uris":["https://rp.example.com/new"],"name":"The Shop"}`, 200)
			if m["name"] != "The Shop" {
				t.Fatalf("patch: %v", m)
			}
			moved := f.client
			moved.RedirectURI = "https://rp.example.com/new"
			b := f.e.NewBrowser()
			if p := b.Get(f.oauth(moved).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); p.Status != http.StatusOK || p.URL.Path != "/login" {
				t.Fatalf("the new redirect URI: %d at %s", p.Status, p.URL.Path)
			}
			if p := b.Get(f.oauth(f.client).AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); p.Status < 400 {
				t.Fatalf("the old redirect URI: %d at %s", p.Status, p.URL)
			}
			tok := f.tokens(t, moved, f.user)

			// A rotated secret: the old one fails, the new one works.
			secret := a.ok("POST", "/clients/shop/rotate-secret", "", 200)["client_secret"].(string)
			if _, err := f.refresh(t, moved, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Fatalf("refresh with the old secret: %v", err)
			}
			moved.Secret = secret
			tok, err := f.refresh(t, moved, tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh with the new secret: %v", err)
			}

			// A deleted client's token requests fail.
			a.ok("DELETE", "/clients/shop", "", 200)
			if _, err := f.refresh(t, moved, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Fatalf("refresh of a deleted client: %v", err)
			}
			if code, _ := a.do("GET", "/clients/shop", adminToken, ""); code != 404 {
				t.Errorf("deleted client shown: %d", code)
			}

			// A client made through the API serves a sign-in.
			m = a.ok("POST", "/clients", `{"id":"app","name":"App","redirect_uris":["https://app.example/cb"],"first_party":true}`, 201)
			app := idptest.Client{ID: "app", Secret: m["client_secret"].(string), RedirectURI: "https://app.example/cb"}
			f.tokens(t, app, f.user)
			if list := a.ok("GET", "/clients", "", 200)["clients"].([]any); len(list) != 1 {
				t.Errorf("clients: %v", list)
			}
			ev := a.ok("GET", "/audit?event=client.", "", 200)["events"].([]any)
			if len(ev) != 4 {
				t.Errorf("client events: %d, want updated, secret_rotated, deleted, created", len(ev))
			}
			// Token exchange (RFC 8693) is turned on per client, with the
			// audiences it may ask for.
			m = a.ok("PATCH", "/clients/app", `{"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:token-exchange"],"token_exchange_audiences":["inventory"]}`, 200)
			if aud, _ := m["token_exchange_audiences"].([]any); len(aud) != 1 || aud[0] != "inventory" {
				t.Errorf("token exchange audiences: %v", m)
			}
		})

		t.Run("Keys", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			keys := a.ok("GET", "/keys", "", 200)["keys"].([]any)
			resp, err := f.e.Server.Client().Get(f.e.Issuer + "/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var jwks struct{ Keys []struct{ Kid string } }
			json.NewDecoder(resp.Body).Decode(&jwks)
			if len(keys) != len(jwks.Keys) || len(keys) == 0 {
				t.Fatalf("%d keys listed, %d published", len(keys), len(jwks.Keys))
			}
			for _, k := range keys {
				kid := k.(map[string]any)["kid"]
				found := false
				for _, j := range jwks.Keys {
					found = found || j.Kid == kid
				}
				if !found {
					t.Errorf("key %v is not in the JWKS", kid)
				}
			}
		})

		t.Run("ListAndPage", func(t *testing.T) {
			f := newFixture(t, open)
			a := newAPI(t, f)
			for _, n := range []string{"bob", "carol", "dave"} {
				a.ok("POST", "/users", `{"username":"`+n+`","password":"another good password"}`, 201)
			}
			m := a.ok("GET", "/users?limit=3", "", 200)
			if len(m["users"].([]any)) != 3 || m["next_after"] != "carol" {
				t.Fatalf("first page: %v", m)
			}
			m = a.ok("GET", "/users?limit=3&after=carol", "", 200)
			if len(m["users"].([]any)) != 1 || m["next_after"] != nil {
				t.Fatalf("second page: %v", m)
			}
			if m = a.ok("GET", "/users?q=9012345678", "", 200); len(m["users"].([]any)) != 1 {
				t.Errorf("search by number: %v", m)
			}
			if m = a.ok("PATCH", "/users/bob", `{"locale":"ja"}`, 200); m["locale"] != "ja" {
				t.Errorf("patch: %v", m)
			}
		})
	})
}

// Operators acting at once on one user: each change is made and audited
// once.
func TestAPIParallelDisable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		f := newFixture(t, open)
		a := newAPI(t, f)
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", a.srv.URL+"/admin/v1/users/alice/disable", bytes.NewReader(nil))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := a.srv.Client().Do(req)
				if err == nil {
					codes[i] = resp.StatusCode
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("request %d: %d", i, c)
			}
		}
		ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "user.disabled"})
		if len(ev) != 1 {
			t.Errorf("%d user.disabled events, want 1", len(ev))
		}
		if p, _ := f.signIn(t, f.client, f.user); p.Status != http.StatusForbidden {
			t.Errorf("sign-in: %d", p.Status)
		}
	})
}
