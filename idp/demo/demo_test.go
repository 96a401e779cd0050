package demo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	testClientID = "demo-client"
	testSubject  = "user-123"
)

// fakeOP is a hand-written OpenID Provider: discovery, JWKS, an authorize
// endpoint that records the request and redirects straight back with a
// code, a token endpoint that checks the code, client and PKCE verifier,
// and userinfo. Its knobs are set before a test drives it.
type fakeOP struct {
	t      *testing.T
	issuer string
	key    *rsa.PrivateKey
	signer jose.Signer

	mu             sync.Mutex
	authorize      url.Values // the last authorization request
	code           string     // the outstanding authorization code
	verifier       string     // the code_verifier the token endpoint last received
	accessToken    string
	refreshToken   string
	idToken        string
	discoveryCalls int
	tokenCalls     int
	userinfoCalls  int

	// Knobs.
	nonce          string // if set, the ID token carries it instead of the nonce received
	audience       string // if set, the ID token's aud
	tokenError     string // if set, the token endpoint answers with this OAuth error
	userinfoStatus int    // if set, userinfo answers with this status
	userinfoSub    string // if set, userinfo's sub
	noRefresh      bool   // no refresh token
}

func newFakeOP(t *testing.T, issuer string) *fakeOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeOP{t: t, issuer: issuer, key: key, signer: signer}
}

func (op *fakeOP) mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", op.handleDiscovery)
	mux.HandleFunc("GET /jwks", op.handleJWKS)
	mux.HandleFunc("GET /authorize", op.handleAuthorize)
	mux.HandleFunc("POST /token", op.handleToken)
	mux.HandleFunc("GET /userinfo", op.handleUserinfo)
}

func (op *fakeOP) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	op.discoveryCalls++
	op.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                op.issuer,
		"authorization_endpoint":                op.issuer + "/authorize",
		"token_endpoint":                        op.issuer + "/token",
		"jwks_uri":                              op.issuer + "/jwks",
		"userinfo_endpoint":                     op.issuer + "/userinfo",
		"response_types_supported":              []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (op *fakeOP) handleJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
	}})
}

// handleAuthorize stands for the whole hosted login: it records the
// request and answers at once with a code.
func (op *fakeOP) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	op.mu.Lock()
	op.authorize = q
	op.code = rand.Text()
	code := op.code
	op.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *fakeOP) handleToken(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.tokenCalls++
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	op.verifier = f.Get("code_verifier")
	if op.tokenError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": op.tokenError, "error_description": "told to fail"})
		return
	}
	// A public client authenticates with nothing but its client_id in the body.
	if _, _, ok := r.BasicAuth(); ok || f.Has("client_secret") || f.Get("client_id") != testClientID {
		op.t.Errorf("token: client authentication: basic %v, form %v", ok, f)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	a := op.authorize
	sum := sha256.Sum256([]byte(op.verifier))
	switch {
	case f.Get("grant_type") != "authorization_code",
		op.code == "" || f.Get("code") != op.code,
		f.Get("redirect_uri") != a.Get("redirect_uri"),
		a.Get("code_challenge_method") != "S256",
		base64.RawURLEncoding.EncodeToString(sum[:]) != a.Get("code_challenge"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	op.code = "" // single use

	op.accessToken = "at-" + rand.Text()
	op.refreshToken = "rt-" + rand.Text()
	nonce := a.Get("nonce")
	if op.nonce != "" {
		nonce = op.nonce
	}
	aud := testClientID
	if op.audience != "" {
		aud = op.audience
	}
	now := time.Now()
	atSum := sha256.Sum256([]byte(op.accessToken))
	claims := map[string]any{
		"iss":       op.issuer,
		"sub":       testSubject,
		"aud":       aud,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"auth_time": now.Add(-30 * time.Second).Unix(),
		"nonce":     nonce,
		"amr":       []string{"pwd", "sms", "mfa"},
		"acr":       "urn:smspin:acr:2fa",
		"at_hash":   base64.RawURLEncoding.EncodeToString(atSum[:16]),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		op.t.Fatal(err)
	}
	jws, err := op.signer.Sign(payload)
	if err != nil {
		op.t.Fatal(err)
	}
	op.idToken, err = jws.CompactSerialize()
	if err != nil {
		op.t.Fatal(err)
	}
	resp := map[string]any{
		"access_token":  op.accessToken,
		"token_type":    "bearer",
		"expires_in":    3600,
		"refresh_token": op.refreshToken,
		"id_token":      op.idToken,
		"scope":         "openid profile phone offline_access",
	}
	if op.noRefresh {
		delete(resp, "refresh_token")
		resp["scope"] = "openid profile phone"
	}
	writeJSON(w, http.StatusOK, resp)
}

func (op *fakeOP) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.userinfoCalls++
	if op.accessToken == "" || r.Header.Get("Authorization") != "Bearer "+op.accessToken {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	if op.userinfoStatus != 0 {
		writeJSON(w, op.userinfoStatus, map[string]string{"error": "server_error"})
		return
	}
	sub := testSubject
	if op.userinfoSub != "" {
		sub = op.userinfoSub
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sub":                   sub,
		"name":                  "Taro Yamada",
		"preferred_username":    "taro",
		"phone_number":          "+819012345678",
		"phone_number_verified": true,
	})
}

func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *fakeOP) get(f func(op *fakeOP)) { op.set(f) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// env is the fake provider and the demo on one server, as `idp serve
// --dev` mounts them, and a browser with a cookie jar that does not follow
// redirects.
type env struct {
	srv     *httptest.Server
	op      *fakeOP
	demo    *Handler
	browser *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	op := newFakeOP(t, srv.URL)
	op.mount(mux)
	demo, err := New(Options{
		Issuer:     srv.URL,
		ClientID:   testClientID,
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	demo.Mount(mux)
	return &env{srv: srv, op: op, demo: demo, browser: newBrowser(t)}
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches u (absolute, or a path on the server) and returns the
// response with its body read and HTML-unescaped.
func (e *env) get(t *testing.T, u string, header ...string) (*http.Response, string) {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.srv.URL + u
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, html.UnescapeString(string(b))
}

// startLogin follows /demo/login and the fake authorize endpoint, and
// returns the authorization request and the callback URL it answered with.
func (e *env) startLogin(t *testing.T, query string) (authz *url.URL, callback *url.URL) {
	t.Helper()
	resp, body := e.get(t, "/demo/login"+query)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /demo/login: status %d, want 302; body:\n%s", resp.StatusCode, body)
	}
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = e.get(t, authz.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET authorize: status %d; body:\n%s", resp.StatusCode, body)
	}
	callback, err = url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return authz, callback
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)

	resp, _ := e.get(t, "/demo/login?ui_locales=ja")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /demo/login: status %d, want 302", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login Cache-Control = %q, want no-store", got)
	}
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := authz.Scheme+"://"+authz.Host+authz.Path, e.srv.URL+"/authorize"; got != want {
		t.Errorf("authorization endpoint = %s, want %s", got, want)
	}
	q := authz.Query()
	for name, want := range map[string]string{
		"response_type":         "code",
		"client_id":             testClientID,
		"redirect_uri":          e.srv.URL + "/demo/callback",
		"scope":                 "openid profile phone offline_access",
		"code_challenge_method": "S256",
		"ui_locales":            "ja",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("authorization request %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"state", "nonce"} {
		if len(q.Get(name)) < 22 { // at least 128 bits
			t.Errorf("authorization request %s = %q, want a long random value", name, q.Get(name))
		}
	}
	if got := len(q.Get("code_challenge")); got != 43 {
		t.Errorf("code_challenge has %d characters, want 43 (base64url SHA-256)", got)
	}

	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == loginCookie {
			cookie = c
		}
	}
	switch {
	case cookie == nil:
		t.Fatal("no login cookie set")
	case !cookie.HttpOnly, cookie.SameSite != http.SameSiteLaxMode, cookie.Path != "/demo",
		cookie.MaxAge != 600, cookie.Secure:
		t.Errorf("login cookie = %+v, want HttpOnly, SameSite=Lax, Path=/demo, Max-Age=600, not Secure over http", cookie)
	}

	resp, _ = e.get(t, authz.String())
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.get(t, callback.String())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /demo/callback: status %d, want 200; body:\n%s", resp.StatusCode, body)
	}

	var verifier, accessToken, refreshToken, idToken string
	e.op.get(func(op *fakeOP) {
		verifier, accessToken, refreshToken, idToken = op.verifier, op.accessToken, op.refreshToken, op.idToken
	})
	sum := sha256.Sum256([]byte(verifier))
	if got, want := q.Get("code_challenge"), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("code_challenge = %s, want S256 of the verifier the token endpoint received (%s)", got, want)
	}

	for _, want := range []string{
		`<html lang="en">`,
		`"amr": [`, `"pwd"`, `"sms"`, `"mfa"`, `"auth_time": `, `"acr": "urn:smspin:acr:2fa"`,
		`"sub": "user-123"`, `"aud": "demo-client"`,
		`"name": "Taro Yamada"`, `"phone_number": "+819012345678"`, `"phone_number_verified": true`,
		"password", "confirmation by SMS",
		"issued (" + strconv.Itoa(len(accessToken)) + " characters)",
		"issued (" + strconv.Itoa(len(refreshToken)) + " characters)",
		"openid profile phone offline_access",
		"Sign in again",
		`href="/demo/static/demo.css"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	// The claims that tell how the user authenticated are highlighted.
	for _, claim := range []string{"amr", "auth_time", "acr"} {
		if !regexp.MustCompile(`<mark>\s*"` + claim + `":`).MatchString(body) {
			t.Errorf("claim %s is not highlighted", claim)
		}
	}
	if regexp.MustCompile(`<mark>\s*"(sub|iss|nonce)":`).MatchString(body) {
		t.Error("a claim other than amr, auth_time, acr is highlighted")
	}
	for name, secret := range map[string]string{"access token": accessToken, "refresh token": refreshToken, "ID token": idToken} {
		if secret == "" || strings.Contains(body, secret) {
			t.Errorf("the page shows the %s itself (or none was issued)", name)
		}
	}
	for name, want := range map[string]string{
		"Cache-Control":   "no-store",
		"Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("result page has a script or an inline style")
	}

	// The login cookie is single use: a reload cannot replay the code.
	for _, c := range e.browser.Jar.Cookies(callback) {
		if c.Name == loginCookie {
			t.Errorf("login cookie still set after the callback: %v", c)
		}
	}
	resp, body = e.get(t, callback.String())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "No sign-in is in progress") {
		t.Errorf("reloaded callback: status %d, want 400 with the no-login reason; body:\n%s", resp.StatusCode, body)
	}
}

func TestCallbackRefusesWrongState(t *testing.T) {
	e := newEnv(t)
	_, callback := e.startLogin(t, "")

	forged := *callback
	fq := forged.Query()
	fq.Set("state", "not-the-state")
	forged.RawQuery = fq.Encode()
	resp, body := e.get(t, forged.String())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong state: status %d, want 400", resp.StatusCode)
	}
	if !strings.Contains(body, "does not match") || !strings.Contains(body, "CSRF") {
		t.Errorf("wrong state: page does not give the reason; body:\n%s", body)
	}
	var calls int
	e.op.get(func(op *fakeOP) { calls = op.tokenCalls })
	if calls != 0 {
		t.Errorf("token endpoint called %d times after a wrong state, want 0", calls)
	}

	// A forged response does not spoil the real one still on its way.
	if resp, body := e.get(t, callback.String()); resp.StatusCode != http.StatusOK {
		t.Errorf("real callback after a forged one: status %d, want 200; body:\n%s", resp.StatusCode, body)
	}
}

func TestCallbackWithoutLogin(t *testing.T) {
	e := newEnv(t)
	old, _ := json.Marshal(loginState{State: "s", Nonce: "n", Verifier: "v", Lang: "ja", Started: time.Now().Add(-11 * time.Minute).Unix()})
	tests := []struct {
		name   string
		cookie string // empty: none
	}{
		{"no cookie", ""},
		{"garbage", "%%%not-base64"},
		{"expired", base64.RawURLEncoding.EncodeToString(old)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/demo/callback?code=c&state=s", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: loginCookie, Value: tt.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body := html.UnescapeString(string(b))
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if !strings.Contains(body, "No sign-in is in progress") && !strings.Contains(body, "進行中のログインがありません") {
				t.Errorf("page does not give the reason; body:\n%s", body)
			}
		})
	}
}

func TestCallbackShowsAuthorizationError(t *testing.T) {
	e := newEnv(t)
	_, callback := e.startLogin(t, "")

	denied := *callback
	dq := url.Values{}
	dq.Set("state", callback.Query().Get("state"))
	dq.Set("error", "access_denied")
	dq.Set("error_description", "The user <b>said</b> no")
	denied.RawQuery = dq.Encode()
	resp, body := e.get(t, denied.String())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	for _, want := range []string{
		"The sign-in did not complete",
		"The provider did not grant the sign-in.",
		"access_denied",
		"You cancelled the sign-in, or the provider refused it.",
		"The user <b>said</b> no", // shown as text: escaped in the HTML, unescaped here
		"Try again",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q; body:\n%s", want, body)
		}
	}
	var calls int
	e.op.get(func(op *fakeOP) { calls = op.tokenCalls })
	if calls != 0 {
		t.Errorf("token endpoint called %d times after an error response, want 0", calls)
	}
}

func TestCallbackRefusesWrongNonce(t *testing.T) {
	e := newEnv(t)
	e.op.set(func(op *fakeOP) { op.nonce = "a-nonce-from-another-sign-in" })
	_, callback := e.startLogin(t, "")
	resp, body := e.get(t, callback.String())
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if !strings.Contains(body, "The ID token's nonce does not match") {
		t.Errorf("page does not give the reason; body:\n%s", body)
	}
	if strings.Contains(body, `"amr"`) {
		t.Error("the refused token's claims are shown")
	}
	var calls int
	e.op.get(func(op *fakeOP) { calls = op.userinfoCalls })
	if calls != 0 {
		t.Errorf("userinfo called %d times with a refused token, want 0", calls)
	}
}

func TestCallbackProviderFailures(t *testing.T) {
	tests := []struct {
		name   string
		knob   func(op *fakeOP)
		status int
		want   []string
	}{
		{"token error", func(op *fakeOP) { op.tokenError = "invalid_grant" }, http.StatusBadGateway,
			[]string{"The provider refused the token request", "invalid_grant", "The code was already used", "told to fail"}},
		{"wrong audience", func(op *fakeOP) { op.audience = "another-client" }, http.StatusBadGateway,
			[]string{"The ID token failed verification"}},
		{"userinfo fails", func(op *fakeOP) { op.userinfoStatus = http.StatusInternalServerError }, http.StatusBadGateway,
			[]string{"userinfo endpoint refused the request"}},
		{"userinfo about someone else", func(op *fakeOP) { op.userinfoSub = "user-999" }, http.StatusBadGateway,
			[]string{"about a different user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.op.set(tt.knob)
			_, callback := e.startLogin(t, "")
			resp, body := e.get(t, callback.String())
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for _, want := range tt.want {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q; body:\n%s", want, body)
				}
			}
			if strings.Contains(body, "oidc:") || strings.Contains(body, "oauth2:") {
				t.Errorf("page shows an error's text; body:\n%s", body)
			}
		})
	}
}

func TestNoRefreshToken(t *testing.T) {
	e := newEnv(t)
	e.op.set(func(op *fakeOP) { op.noRefresh = true })
	_, callback := e.startLogin(t, "?lang=ja")
	resp, body := e.get(t, callback.String())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body:\n%s", resp.StatusCode, body)
	}
	// The sign-in started in Japanese, so the result is in Japanese too.
	for _, want := range []string{`<html lang="ja">`, "発行されていません", "offline_access"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q; body:\n%s", want, body)
		}
	}
}

func TestNewContactsNobody(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(t, "/demo")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /demo: status %d; body:\n%s", resp.StatusCode, body)
	}
	var calls int
	e.op.get(func(op *fakeOP) { calls = op.discoveryCalls })
	if calls != 0 {
		t.Fatalf("discovery fetched %d times before the first sign-in, want 0", calls)
	}
	e.startLogin(t, "")
	e.startLogin(t, "")
	e.op.get(func(op *fakeOP) { calls = op.discoveryCalls })
	if calls != 1 {
		t.Errorf("discovery fetched %d times for two sign-ins, want 1", calls)
	}
}

func TestDiscoveryFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	h, err := New(Options{Issuer: srv.URL, ClientID: testClientID, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.handleLogin(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/demo/login", nil))
	body := html.UnescapeString(rec.Body.String())
	if rec.Code != http.StatusBadGateway || !strings.Contains(body, "discovery document") {
		t.Errorf("status %d, want 502 with the reason; body:\n%s", rec.Code, body)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("a login cookie was set though no sign-in started")
	}
}

func TestNewChecksOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // in the error; empty: no error
	}{
		{"ok", Options{Issuer: "http://localhost:8080", ClientID: "demo"}, ""},
		{"no issuer", Options{ClientID: "demo"}, "Issuer is required"},
		{"relative issuer", Options{Issuer: "localhost:8080", ClientID: "demo"}, "not an absolute"},
		{"issuer with query", Options{Issuer: "http://localhost:8080?x=1", ClientID: "demo"}, "query"},
		{"no client", Options{Issuer: "http://localhost:8080"}, "ClientID is required"},
		{"both", Options{}, "ClientID is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRoutesUnderIssuerPath(t *testing.T) {
	h, err := New(Options{Issuer: "https://id.example.com/tenant/", ClientID: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if h.redirectURL != "https://id.example.com/tenant/demo/callback" || h.base != "/tenant/demo" || !h.secure {
		t.Errorf("redirect %q, base %q, secure %v", h.redirectURL, h.base, h.secure)
	}
}

func TestPageLanguage(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, query, accept string
		want                string
	}{
		{"default", "", "", "en"},
		{"query", "?lang=ja", "en", "ja"},
		{"query with region", "?lang=ja-JP", "", "ja"},
		{"unknown query", "?lang=xx", "ja", "ja"},
		{"accept-language", "", "ja-JP,ja;q=0.9,en;q=0.8", "ja"},
		{"accept-language q-values", "", "en;q=0.5, ja;q=0.9", "ja"},
		{"unsupported", "", "fr-FR", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(t, "/demo"+tt.query, "Accept-Language", tt.accept)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(body, `<html lang="`+tt.want+`">`) {
				t.Errorf("page language is not %s; body:\n%s", tt.want, body)
			}
			signIn := map[string]string{"en": "Sign in with " + e.srv.URL, "ja": e.srv.URL + " でログイン"}[tt.want]
			if !strings.Contains(body, signIn) {
				t.Errorf("page lacks %q", signIn)
			}
		})
	}
}

func TestIndexWarnsOfAnotherHost(t *testing.T) {
	e := newEnv(t)
	u, _ := url.Parse(e.srv.URL)
	other := strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)
	if u.Hostname() != "127.0.0.1" {
		t.Skip("test server is not on 127.0.0.1")
	}
	resp, body := e.get(t, other+"/demo")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "open the demo at the issuer's address") || !strings.Contains(body, e.srv.URL+"/demo") {
		t.Errorf("no warning about the host; status %d, body:\n%s", resp.StatusCode, body)
	}
	_, body = e.get(t, "/demo")
	if strings.Contains(body, "open the demo at the issuer's address") {
		t.Error("warning shown at the issuer's own host")
	}
}

func TestStylesheet(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(t, "/demo/static/demo.css")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(body, "mark") {
		t.Errorf("stylesheet: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestPagesRender renders every page in every language with every
// optional part present, so a label missing from a language fails here
// (missingkey=error), and checks the pages carry no script or inline style.
func TestPagesRender(t *testing.T) {
	h, err := New(Options{Issuer: "http://localhost:8080", ClientID: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range langs {
		pages := map[string]any{
			"index.html": indexPage{common: h.common(lang, "index_title"), Issuer: h.issuer, Langs: langLinks(),
				HostWarning: true, Host: "127.0.0.1:8080", IssuerDemo: "http://localhost:8080/demo"},
			"result.html": resultPage{common: h.common(lang, "result_title"), Subject: "s",
				AMR: []amrValue{{"pwd", "p"}, {"x", ""}}, AuthTime: "t", AuthTimeAgo: "a", ACR: "c",
				Claims: []jsonPart{{Text: "{"}, {Text: `"amr": []`, Mark: true}, {Text: "}"}}, Userinfo: []jsonPart{{Text: "{}"}},
				TokenType: "Bearer", AccessLen: 1, RefreshLen: 0, IDTokenLen: 3, Expiry: "e", ExpiresIn: "i", Scope: "openid"},
			"error.html": errorPage{common: h.common(lang, "error_title"), Reason: "r", Code: "access_denied", Explain: "x", Desc: "d"},
		}
		for name, data := range pages {
			t.Run(lang+"/"+name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				h.render(rec, http.StatusOK, name, data)
				if rec.Code != http.StatusOK {
					t.Fatalf("render: status %d: %s", rec.Code, rec.Body)
				}
				body := rec.Body.String()
				if !strings.Contains(body, `<html lang="`+lang+`">`) {
					t.Error("no <html lang>")
				}
				if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "%!") {
					t.Errorf("page has a script, an inline style or a bad format verb:\n%s", body)
				}
			})
		}
	}
}

// TestMessagesComplete checks every language has every label, with the
// same format verbs.
func TestMessagesComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%[a-z]`)
	ref := messages[langs[0]]
	for _, lang := range langs {
		m, ok := messages[lang]
		if !ok {
			t.Errorf("no messages for %s", lang)
			continue
		}
		for key, v := range ref {
			got, ok := m[key]
			switch {
			case !ok || got == "":
				t.Errorf("%s: missing %q", lang, key)
			case !reflect.DeepEqual(verbs.FindAllString(got, -1), verbs.FindAllString(v, -1)):
				t.Errorf("%s: %q has verbs %v, %s has %v", lang, key, verbs.FindAllString(got, -1), langs[0], verbs.FindAllString(v, -1))
			}
		}
		for key := range m {
			if _, ok := ref[key]; !ok {
				t.Errorf("%s: %q is not in %s", lang, key, langs[0])
			}
		}
	}
}

func TestPrettyJSON(t *testing.T) {
	raw := []byte(`{"sub":"u","amr":["pwd","sms"],"auth_time":1700000000,"nested":{"a":1},"acr":"x"}`)
	parts, err := prettyJSON(raw, "amr", "auth_time", "acr")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var marked []string
	for _, p := range parts {
		text.WriteString(p.Text)
		if p.Mark {
			marked = append(marked, strings.TrimSpace(p.Text)[:6])
		}
	}
	var got, want any
	if err := json.Unmarshal([]byte(text.String()), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, text.String())
	}
	json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip = %v, want %v", got, want)
	}
	if w := []string{`"acr":`, `"amr":`, `"auth_`}; !reflect.DeepEqual(marked, w) {
		t.Errorf("marked %q, want %q", marked, w)
	}
	if !strings.HasPrefix(text.String(), "{\n  \"acr\": \"x\",\n  \"amr\": [\n    \"pwd\",") {
		t.Errorf("layout:\n%s", text.String())
	}
}
