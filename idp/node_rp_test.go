package idp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// nodeRPDir holds the Node relying party: rp.mjs, package.json and the
// committed package-lock.json (.ci/run installs it with npm ci).
const nodeRPDir = "testdata/node-rp"

// TestNodeOpenIDClient runs a second, independent RP against the provider:
// openid-client, an OpenID-certified RP library for Node.js, does
// discovery, the code flow with PKCE, ID token validation, userinfo,
// introspection, refresh and RP-initiated logout. The test plays the
// browser (password and PIN) and checks what the library reports.
//
// It runs three times: a plain sign-in (password and SMS PIN), one whose
// RP asks for any second factor (acr_values) where the user types a
// recovery code instead of the PIN, and one whose RP requires a passkey;
// the library reports the acr and amr of each.
func TestNodeOpenIDClient(t *testing.T) {
	node := nodeForRP(t)
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("PasswordAndSMS", func(t *testing.T) {
			nodeRPRun(t, node, open, idptest.Options{}, "", nil, idp.ACRPasswordSMS, []string{"pwd", "sms", "mfa"})
		})
		t.Run("RecoveryCode", func(t *testing.T) {
			nodeRPRun(t, node, open, idptest.Options{}, idp.ACRMFA, func(e *idptest.Env, b *idptest.Browser, authURL string, user idptest.User) *idptest.Page {
				codes := e.RecoveryCodes(user)
				p := b.Get(authURL)
				p = b.Fill(p, url.Values{"username": {user.Username}, "password": {user.Password}})
				p = b.Fill(chooseFactor(t, b, p, "recovery"), url.Values{"recovery_code": {codes[0]}})
				return b.Fill(p, nil)
			}, idp.ACRMFA, []string{"pwd", "otp", "mfa"})
		})
		// The RP requires the phishing-resistant class; the user signs in
		// with a passkey added on the account page (a software key).
		t.Run("Passkey", func(t *testing.T) {
			nodeRPRun(t, node, open, idptest.Options{Localhost: true}, idp.ACRPhishingResistant,
				func(e *idptest.Env, b *idptest.Browser, authURL string, user idptest.User) *idptest.Page {
					ab := e.NewBrowser()
					k, _ := addPasskey(t, e, ab, accountSignIn(t, e, ab, user), "laptop")
					p := b.Get(authURL)
					p = b.Fill(p, url.Values{"username": {user.Username}, "password": {user.Password}})
					return b.Fill(p, url.Values{"passkey_assertion": {k.get(t, loginOptions(t, b, p))}})
				}, idp.ACRPhishingResistant, []string{"pwd", "swk", "user", "mfa"})
		})
	})
}

// TestNodeOpenIDClientDevice runs openid-client as a device (RFC 8628):
// it finds the device authorization endpoint by discovery, asks for
// codes and polls, while the test, as the user, types the code on
// /device, signs in with the password and the PIN and allows the device.
// The library must then hold verified tokens of that user.
func TestNodeOpenIDClientDevice(t *testing.T) {
	node := nodeForRP(t)
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{DevicePollInterval: time.Second})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		e.CreateClient("node-tv", "", "", false, idp.DeviceGrantType, "refresh_token")
		dev := startNodeScript(t, node, "device.mjs", map[string]string{"IDP_ISSUER": e.Issuer, "RP_CLIENT_ID": "node-tv"})
		var codes struct {
			Advertised              string `json:"advertised"`
			UserCode                string `json:"user_code"`
			VerificationURIComplete string `json:"verification_uri_complete"`
			Interval                int    `json:"interval"`
		}
		dev.next("device", &codes)
		if codes.Advertised != e.Issuer+"/oauth2/device/auth" || codes.UserCode == "" || codes.Interval != 1 {
			t.Fatalf("what the library got: %+v", codes)
		}
		b := e.NewBrowser()
		p := b.Get(codes.VerificationURIComplete)
		p = b.Fill(p, url.Values{"user_code": {codes.UserCode}})
		p = b.Fill(p, url.Values{"username": {user.Username}, "password": {user.Password}})
		p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
		if p = b.Fill(p, url.Values{"consent": {"allow"}}); !strings.Contains(p.Body, "Device connected") {
			t.Fatalf("the user's approval ended at %s %d", p.URL, p.Status)
		}
		var got struct {
			Sub             string   `json:"sub"`
			AMR             []string `json:"amr"`
			ACR             string   `json:"acr"`
			HasRefreshToken bool     `json:"has_refresh_token"`
			UserinfoSub     string   `json:"userinfo_sub"`
		}
		dev.next("tokens", &got)
		if got.Sub != user.ID || got.UserinfoSub != user.ID || got.ACR != idp.ACRPasswordSMS || !slices.Equal(got.AMR, []string{"pwd", "sms", "mfa"}) ||
			!got.HasRefreshToken {
			t.Errorf("openid-client as a device got %+v; want the user's verified tokens with pwd, sms, mfa and a refresh token", got)
		}
	})
}

// TestNodeOpenIDClientDPoP runs openid-client as a device holding a DPoP
// key (RFC 9449), against a provider that requires server nonces and a
// client registered for DPoP: the library must get bound tokens (retrying
// with our nonce), read userinfo with proofs, and refresh with its key.
func TestNodeOpenIDClientDPoP(t *testing.T) {
	node := nodeForRP(t)
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{DevicePollInterval: time.Second, DPoPNonce: true})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "node-tv", Public: true, GrantTypes: []string{idp.DeviceGrantType, "refresh_token"},
			Scopes: []string{"openid", "profile", "offline_access"}, TokenEndpointAuthMethod: "none", DPoPBound: true}); err != nil {
			t.Fatal(err)
		}
		dev := startNodeScript(t, node, "device.mjs", map[string]string{"IDP_ISSUER": e.Issuer, "RP_CLIENT_ID": "node-tv", "RP_DPOP": "1"})
		var codes struct {
			VerificationURIComplete string `json:"verification_uri_complete"`
			UserCode                string `json:"user_code"`
		}
		dev.next("device", &codes)
		b := e.NewBrowser()
		p := b.Get(codes.VerificationURIComplete)
		p = b.Fill(p, url.Values{"user_code": {codes.UserCode}})
		p = b.Fill(p, url.Values{"username": {user.Username}, "password": {user.Password}})
		p = b.Fill(p, url.Values{"code": {e.LastCode(user.Phone)}})
		if p = b.Fill(p, url.Values{"consent": {"allow"}}); !strings.Contains(p.Body, "Device connected") {
			t.Fatalf("the user's approval ended at %s %d", p.URL, p.Status)
		}
		var got struct {
			Sub         string `json:"sub"`
			UserinfoSub string `json:"userinfo_sub"`
			TokenType   string `json:"token_type"`
			Refreshed   *struct {
				TokenType   string `json:"token_type"`
				UserinfoSub string `json:"userinfo_sub"`
			} `json:"refreshed"`
		}
		dev.next("tokens", &got)
		if got.Sub != user.ID || got.UserinfoSub != user.ID || !strings.EqualFold(got.TokenType, "dpop") || got.Refreshed == nil ||
			!strings.EqualFold(got.Refreshed.TokenType, "dpop") || got.Refreshed.UserinfoSub != user.ID {
			t.Errorf("openid-client with DPoP got %+v; want DPoP tokens of the user, userinfo and a refresh", got)
		}
	})
}

// nodeRPRun is one run of the Node RP: signIn plays the browser (nil: a
// password and the PIN), and the library must report wantACR and wantAMR.
func nodeRPRun(t *testing.T, node string, open func(*testing.T) *dbtest.DB, o idptest.Options, acrValues string,
	signIn func(e *idptest.Env, b *idptest.Browser, authURL string, user idptest.User) *idptest.Page, wantACR string, wantAMR []string) {
	{
		e := idptest.New(t, open(t), o)
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		const secret = "node-secret-0123456789-0123456789-0123456789"
		if err := e.Store.CreateClient(t.Context(), store.NewClient{ID: "node-rp", Name: "Node RP", Secret: secret, FirstParty: true,
			RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{ocLogoutURI},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "profile", "phone", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
			t.Fatal(err)
		}
		rp := startNodeRP(t, node, map[string]string{
			"IDP_ISSUER": e.Issuer, "RP_CLIENT_ID": "node-rp", "RP_CLIENT_SECRET": secret,
			"RP_REDIRECT_URI": rpCallback, "RP_POST_LOGOUT_REDIRECT_URI": ocLogoutURI, "RP_ACR_VALUES": acrValues,
		})

		// 1. The library's authorization URL; the browser signs in.
		var start struct {
			AuthorizationURL string `json:"authorization_url"`
		}
		rp.next("authorize", &start)
		authURL, err := url.Parse(start.AuthorizationURL)
		if err != nil || !strings.HasPrefix(start.AuthorizationURL, e.Issuer+"/oauth2/auth?") {
			t.Fatalf("authorization URL %q is not at the discovered authorization_endpoint", start.AuthorizationURL)
		}
		for _, p := range []string{"code_challenge", "state", "nonce", "max_age"} {
			if authURL.Query().Get(p) == "" {
				t.Errorf("authorization URL lacks %s", p)
			}
		}
		b := e.NewBrowser()
		var p *idptest.Page
		if signIn == nil {
			p = b.Login(start.AuthorizationURL, user)
		} else {
			p = signIn(e, b, start.AuthorizationURL, user)
		}
		if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, rpCallback+"?") {
			t.Fatalf("login ended with status %d, Location %q; want the redirect to %s", p.Status, loc, rpCallback)
		}
		rp.send(p.Header.Get("Location"))

		// 2. What the library made of the tokens.
		var got struct {
			Claims        map[string]any `json:"claims"`
			Userinfo      map[string]any `json:"userinfo"`
			Introspection map[string]any `json:"introspection"`
			Refreshed     struct {
				NewAccessToken  bool           `json:"new_access_token"`
				NewRefreshToken bool           `json:"new_refresh_token"`
				Claims          map[string]any `json:"claims"`
			} `json:"refreshed"`
			OldAccessTokenActive bool              `json:"old_access_token_active"`
			LogoutURL            string            `json:"logout_url"`
			LogoutState          string            `json:"logout_state"`
			ISSAdvertised        bool              `json:"iss_advertised"`
			ISSInCallback        string            `json:"iss_in_callback"`
			ISSChecks            map[string]string `json:"iss_checks"`
		}
		rp.next("tokens", &got)
		// RFC 9207 as a certified RP library applies it: the answer names
		// the issuer, and one that names another, or none, is refused.
		if !got.ISSAdvertised || got.ISSInCallback != e.Issuer {
			t.Errorf("iss advertised %v, iss in the callback %q; want true and %q", got.ISSAdvertised, got.ISSInCallback, e.Issuer)
		}
		for _, name := range []string{"other_issuer", "no_issuer"} {
			if v := got.ISSChecks[name]; !strings.HasPrefix(v, "refused") || !strings.Contains(v, `"iss"`) {
				t.Errorf("openid-client with a callback of %s: %q, want it refused (mix-up defence)", name, got.ISSChecks[name])
			}
		}
		c := got.Claims
		if c["sub"] != user.ID || c["iss"] != e.Issuer || !slices.Contains(ocStrings(c["aud"]), "node-rp") {
			t.Errorf("ID token claims = %v", c)
		}
		if !ocSame(ocStrings(c["amr"]), wantAMR) || c["acr"] != wantACR {
			t.Errorf("amr = %v, acr = %v; want %v, %s", c["amr"], c["acr"], wantAMR, wantACR)
		}
		if _, ok := c["auth_time"]; !ok {
			t.Error("no auth_time though max_age was sent")
		}
		if u := got.Userinfo; u["sub"] != user.ID || u["preferred_username"] != user.Username || u["phone_number"] != user.Phone || u["phone_number_verified"] != true {
			t.Errorf("userinfo = %v", u)
		}
		if in := got.Introspection; in["active"] != true || in["client_id"] != "node-rp" || in["sub"] != user.ID {
			t.Errorf("introspection = %v", in)
		}
		r := got.Refreshed
		if !r.NewAccessToken || !r.NewRefreshToken || r.Claims["sub"] != user.ID || !ocSame(r.Claims["auth_time"], c["auth_time"]) {
			t.Errorf("refresh: new access token %t, new refresh token %t, claims %v", r.NewAccessToken, r.NewRefreshToken, r.Claims)
		}
		if got.OldAccessTokenActive {
			t.Error("the access token replaced by the refresh is still active")
		}
		lu, err := url.Parse(got.LogoutURL)
		if err != nil || !strings.HasPrefix(got.LogoutURL, e.Issuer+"/oauth2/logout?") || lu.Query().Get("id_token_hint") == "" ||
			lu.Query().Get("post_logout_redirect_uri") != ocLogoutURI || lu.Query().Get("state") != got.LogoutState {
			t.Fatalf("logout URL %q: want the end_session_endpoint with id_token_hint, post_logout_redirect_uri and state", got.LogoutURL)
		}

		// 3. The browser follows the logout URL: signed out at once, back at
		// the RP with its state.
		p = b.Get(got.LogoutURL)
		if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
			t.Fatalf("logout: status %d at %s, want a redirect to %s", p.Status, p.URL, ocLogoutURI)
		}
		rp.send(p.Header.Get("Location"))
		var done struct {
			Landed             string `json:"landed"`
			StateReturned      bool   `json:"logout_state_returned"`
			AccessActiveAfter  bool   `json:"access_token_active_after_logout"`
			RefreshAfterLogout any    `json:"refresh_after_logout"`
		}
		rp.next("done", &done)
		if done.Landed != ocLogoutURI || !done.StateReturned {
			t.Errorf("after logout the browser landed at %s (state returned: %t), want %s with the state", done.Landed, done.StateReturned, ocLogoutURI)
		}
		if done.AccessActiveAfter {
			t.Error("the session's access token is still active after logout")
		}
		if done.RefreshAfterLogout != true {
			t.Errorf("refresh with the offline_access refresh token after logout: %v, want it to work", done.RefreshAfterLogout)
		}
		rp.wait()
	}
}

// nodeForRP returns the node binary with the RP's packages installed,
// running npm ci when node_modules is missing. It skips the test only
// where node is absent or too old, or the packages are missing and npm ci
// cannot install them.
func nodeForRP(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the openid-client RP test needs Node.js 20 or later")
	}
	out, err := exec.Command(node, "--version").Output()
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Skipf("node --version: %q, %v: the openid-client RP test needs Node.js 20 or later", out, err)
	}
	if major, _ := strconv.Atoi(string(m[1])); major < 20 {
		t.Skipf("node %s is older than 20, which openid-client 6 needs", strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(filepath.Join(nodeRPDir, "node_modules", "openid-client", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("%s/node_modules is missing and npm is not installed: run (cd idp/%s && npm ci)", nodeRPDir, nodeRPDir)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeRPDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("%s/node_modules is missing and npm ci failed (%v): run (cd idp/%s && npm ci)\n%s", nodeRPDir, err, nodeRPDir, out)
	}
	return node
}

// nodeRP is the running script.
type nodeRP struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
}

func startNodeRP(t *testing.T, node string, env map[string]string) *nodeRP {
	t.Helper()
	return startNodeScript(t, node, "rp.mjs", env)
}

// startNodeScript runs one script of nodeRPDir with env.
func startNodeScript(t *testing.T, node, script string, env map[string]string) *nodeRP {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeRPDir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &nodeRP{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &lockedBuffer{}}
	cmd.Stderr = r.stderr
	var err error
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		r.stdin.Close()
		cancel()
		cmd.Wait()
	})
	return r
}

// next reads the script's next line, which must be the given step, into v.
func (r *nodeRP) next(step string, v any) {
	r.t.Helper()
	select {
	case line, ok := <-r.lines:
		if !ok {
			r.t.Fatalf("the Node RP ended before step %q; stderr:\n%s", step, r.stderr)
		}
		var head struct {
			Step  string `json:"step"`
			Error string `json:"error"`
			Cause string `json:"cause"`
		}
		if err := json.Unmarshal([]byte(line), &head); err != nil {
			r.t.Fatalf("the Node RP printed %q, not JSON", line)
		}
		if head.Step != step {
			r.t.Fatalf("the Node RP at step %q, want %q: %s %s\nstderr:\n%s", head.Step, step, head.Error, head.Cause, r.stderr)
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			r.t.Fatalf("step %s: %v", step, err)
		}
	case <-time.After(60 * time.Second):
		r.t.Fatalf("the Node RP said nothing for 60 s, waiting for step %q; stderr:\n%s", step, r.stderr)
	}
}

func (r *nodeRP) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, line+"\n"); err != nil {
		r.t.Fatalf("write to the Node RP: %v", err)
	}
}

// wait checks that the script ends cleanly.
func (r *nodeRP) wait() {
	r.t.Helper()
	r.stdin.Close()
	for range r.lines { // drain
	}
	if err := r.cmd.Wait(); err != nil {
		r.t.Fatalf("the Node RP exited with %v; stderr:\n%s", err, r.stderr)
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's writer and the
// test's reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
