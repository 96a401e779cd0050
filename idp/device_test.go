package idp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// deviceEnv is a provider with a user and a TV app registered for the
// device grant.
type deviceEnv struct {
	t      *testing.T
	e      *idptest.Env
	user   idptest.User
	tv     idptest.Client // confidential
	cli    idptest.Client // public
	scopes []string
}

const tvSecret = "tv-secret-0123456789-0123456789-0123456789"

func newDeviceEnv(t *testing.T, open func(*testing.T) *dbtest.DB, o idptest.Options) *deviceEnv {
	e := idptest.New(t, open(t), o)
	d := &deviceEnv{t: t, e: e, scopes: []string{"openid", "profile", "offline_access"}}
	d.user = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	d.tv = e.CreateClient("tv", tvSecret, "", false, idp.DeviceGrantType, "refresh_token")
	d.cli = e.CreateClient("cli", "", "", false, idp.DeviceGrantType, "refresh_token")
	return d
}

// config is the x/oauth2 configuration of a device app.
func (d *deviceEnv) config(c idptest.Client) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.Secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Scopes: d.scopes, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: d.e.Issuer + "/oauth2/device/auth", TokenURL: d.e.Issuer + "/oauth2/token", AuthStyle: style}}
}

func (d *deviceEnv) ctx() context.Context {
	return context.WithValue(d.t.Context(), oauth2.HTTPClient, d.e.Server.Client())
}

// approve types the user code in a fresh browser, signs in with the
// password and the PIN, and answers the consent page; it returns the
// last page.
func (d *deviceEnv) approve(userCode, answer string) *idptest.Page {
	d.t.Helper()
	b := d.e.NewBrowser()
	return b.Fill(d.consentPage(b, userCode), url.Values{"consent": {answer}})
}

// consentPage types the user code in b and signs in, up to the consent.
func (d *deviceEnv) consentPage(b *idptest.Browser, userCode string) *idptest.Page {
	d.t.Helper()
	p := b.Get(d.e.Issuer + "/device")
	p = b.Fill(p, url.Values{"user_code": {userCode}})
	if p.URL.Path != "/login" || !strings.Contains(p.Body, html.EscapeString(ui.T("en", "login.title_device"))) {
		d.t.Fatalf("after the code: %s %d, want the device sign-in page\n%s", p.URL, p.Status, p.Body)
	}
	p = b.Fill(p, url.Values{"username": {d.user.Username}, "password": {d.user.Password}})
	p = b.Fill(p, url.Values{"code": {d.e.LastCode(d.user.Phone)}})
	if p.URL.Path != "/login/consent" || !strings.Contains(p.Body, `name="consent"`) {
		d.t.Fatalf("after the PIN: %s %d, want the consent page", p.URL, p.Status)
	}
	return p
}

// post posts form to path on the provider, with basic authentication
// when c has a secret, and returns the status and JSON body.
func (d *deviceEnv) post(c idptest.Client, path string, form url.Values) (int, map[string]any) {
	d.t.Helper()
	form = cloneValues(form)
	if c.Secret == "" {
		form.Set("client_id", c.ID)
	}
	req, _ := http.NewRequest(http.MethodPost, d.e.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Secret != "" {
		req.SetBasicAuth(c.ID, c.Secret)
	}
	resp, err := d.e.Server.Client().Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// authorize asks for a device code and user code.
func (d *deviceEnv) authorize(c idptest.Client) (deviceCode, userCode string, body map[string]any) {
	d.t.Helper()
	status, body := d.post(c, "/oauth2/device/auth", url.Values{"scope": {strings.Join(d.scopes, " ")}})
	if status != http.StatusOK {
		d.t.Fatalf("device authorization: %d %v", status, body)
	}
	return body["device_code"].(string), body["user_code"].(string), body
}

// poll asks the token endpoint once.
func (d *deviceEnv) poll(c idptest.Client, deviceCode string) (int, map[string]any) {
	d.t.Helper()
	return d.post(c, "/oauth2/token", url.Values{"grant_type": {idp.DeviceGrantType}, "device_code": {deviceCode}})
}

func (d *deviceEnv) wantError(c idptest.Client, deviceCode, want string) {
	d.t.Helper()
	if status, body := d.poll(c, deviceCode); status != http.StatusBadRequest || body["error"] != want {
		d.t.Fatalf("poll: %d %v, want 400 %s", status, body, want)
	}
}

// exec changes rows directly: time passing, without waiting for it.
func (d *deviceEnv) exec(sql string, args ...any) {
	d.t.Helper()
	if err := d.e.DB.Gorm.Exec(sql, args...).Error; err != nil {
		d.t.Fatal(err)
	}
}

var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// TestDeviceFlow is the whole grant with golang.org/x/oauth2 as the
// device: it asks for codes and polls while the user, in a browser,
// types the code (as typed on a phone: small letters, no dash), signs
// in with the password and the PIN, and allows the TV. The device then
// holds an access token, a refresh token and an ID token that say who
// and how; the device code gives nothing a second time, and its replay
// revokes what it gave.
func TestDeviceFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		d := newDeviceEnv(t, open, idptest.Options{DevicePollInterval: time.Second})
		// A command-line tool: a public client, as a program handed out
		// to users cannot keep a secret.
		e, ctx, cfg := d.e, d.ctx(), d.config(d.cli)
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !userCodeShape.MatchString(da.UserCode) || da.VerificationURI != e.Issuer+"/device" || da.Interval != 1 ||
			da.VerificationURIComplete != e.Issuer+"/device?user_code="+da.UserCode || time.Until(da.Expiry) < 9*time.Minute {
			t.Fatalf("device authorization response %+v", da)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		polled := make(chan result, 1)
		go func() {
			tok, err := cfg.DeviceAccessToken(ctx, da)
			polled <- result{tok, err}
		}()

		// The complete URI fills the code in, and waits for the user.
		b := e.NewBrowser()
		p := b.Get(da.VerificationURIComplete)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `value="`+da.UserCode+`"`) {
			t.Fatalf("verification_uri_complete: %d, code not filled in\n%s", p.Status, p.Body)
		}
		typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
		p = b.Fill(p, url.Values{"user_code": {typed}})
		p = b.Fill(p, url.Values{"username": {d.user.Username}, "password": {d.user.Password}})
		p = b.Fill(p, url.Values{"code": {e.LastCode(d.user.Phone)}})
		if p.URL.Path != "/login/consent" || !strings.Contains(p.Body, html.EscapeString(ui.T("en", "consent.note_device"))) ||
			!strings.Contains(p.Body, "Test app cli") {
			t.Fatalf("consent for the device: %s %d\n%s", p.URL, p.Status, p.Body)
		}
		p = b.Fill(p, url.Values{"consent": {"allow"}})
		if p.Status != http.StatusOK || !shows(p, ui.MsgDeviceApproved) || !strings.Contains(p.Body, "Test app cli") {
			t.Fatalf("after allowing: %d\n%s", p.Status, p.Body)
		}

		res := <-polled // the library gives up itself when the code expires
		if res.err != nil {
			t.Fatalf("DeviceAccessToken: %v", res.err)
		}
		tok := res.tok
		rawID, _ := tok.Extra("id_token").(string)
		if tok.AccessToken == "" || tok.RefreshToken == "" || rawID == "" {
			t.Fatalf("tokens: access %t, refresh %t, id %t", tok.AccessToken != "", tok.RefreshToken != "", rawID != "")
		}
		provider, err := oidc.NewProvider(oidc.ClientContext(ctx, e.Server.Client()), e.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		id, err := provider.Verifier(&oidc.Config{ClientID: d.cli.ID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var claims map[string]any
		id.Claims(&claims)
		if claims["sub"] != d.user.ID || !slices.Contains(ocStrings(claims["amr"]), "sms") || claims["acr"] != idp.ACRPasswordSMS ||
			claims["auth_time"] == nil || claims["sid"] != nil {
			t.Errorf("ID token claims %v: want the user, amr with sms, acr %s, auth_time, and no browser sid", claims, idp.ACRPasswordSMS)
		}
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || info.Subject != d.user.ID {
			t.Fatalf("userinfo: %+v, %v", info, err)
		}
		// The refresh token works as any other.
		old := *tok
		old.Expiry = time.Now().Add(-time.Minute)
		fresh, err := cfg.TokenSource(ctx, &old).Token()
		if err != nil || fresh.AccessToken == "" || fresh.AccessToken == tok.AccessToken {
			t.Fatalf("refresh: %v, %v", fresh, err)
		}

		// The device code again: refused, and what it gave is revoked.
		d.wantError(d.cli, da.DeviceCode, "invalid_grant")
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
			t.Error("the tokens of a replayed device code still work")
		}
		// Discovery says all of it.
		var disc struct {
			Endpoint string   `json:"device_authorization_endpoint"`
			Grants   []string `json:"grant_types_supported"`
		}
		if err := provider.Claims(&disc); err != nil || disc.Endpoint != cfg.Endpoint.DeviceAuthURL || !slices.Contains(disc.Grants, idp.DeviceGrantType) {
			t.Errorf("discovery: %+v, %v", disc, err)
		}
	})
}

// TestDevicePolling: a public client polls raw. Pending is
// authorization_pending; a poll sooner than the interval is slow_down
// and lengthens it by 5 s; one after it is pending again. A refusal is
// access_denied; an expired code expired_token, and its user code is
// refused on the page; another client cannot use the code; a client not
// registered for the grant gets none.
func TestDevicePolling(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		// A long interval: the next poll is surely too soon.
		d := newDeviceEnv(t, open, idptest.Options{DevicePollInterval: 10 * time.Minute})
		code, userCode, body := d.authorize(d.cli)
		if body["interval"] != float64(600) || body["expires_in"] != float64(600) || !userCodeShape.MatchString(userCode) {
			t.Fatalf("device authorization response %v", body)
		}
		d.wantError(d.cli, code, "authorization_pending")
		d.wantError(d.cli, code, "slow_down")
		d.wantError(d.cli, code, "slow_down") // still too soon, and longer again
		var interval int
		d.e.DB.Gorm.Raw("SELECT poll_interval FROM device_requests WHERE client_id = 'cli'").Scan(&interval)
		if interval != 610 {
			t.Errorf("interval after two slow_down: %d s, want 610", interval)
		}
		// The device waits the interval (the clock is moved, not waited).
		d.exec("UPDATE device_requests SET last_polled_at = ? WHERE client_id = 'cli'", time.Now().UTC().Add(-611*time.Second))
		d.wantError(d.cli, code, "authorization_pending")

		// Another client cannot use the code, even the TV's owner.
		d.wantError(d.tv, code, "invalid_grant")
		status, out := d.post(d.cli, "/oauth2/token", url.Values{"grant_type": {idp.DeviceGrantType}})
		if status != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Errorf("no device_code: %d %v", status, out)
		}

		// The user refuses.
		if p := d.approve(userCode, "deny"); p.Status != http.StatusOK || !shows(p, ui.MsgDeviceDenied) {
			t.Fatalf("after denying: %d\n%s", p.Status, p.Body)
		}
		d.wantError(d.cli, code, "access_denied")
		// An answered code cannot be typed again.
		b := d.e.NewBrowser()
		if p := b.Fill(b.Get(d.e.Issuer+"/device"), url.Values{"user_code": {userCode}}); p.Status != http.StatusBadRequest || !shows(p, ui.MsgDeviceCodeInvalid) {
			t.Errorf("an answered code typed again: %d", p.Status)
		}

		// Expiry.
		code2, userCode2, _ := d.authorize(d.cli)
		d.exec("UPDATE device_requests SET expires_at = ? WHERE device_code_hash <> '' AND state = 'pending'", time.Now().UTC().Add(-time.Second))
		d.wantError(d.cli, code2, "expired_token")
		p := b.Fill(b.Get(d.e.Issuer+"/device"), url.Values{"user_code": {userCode2}})
		if p.Status != http.StatusBadRequest || !shows(p, ui.MsgDeviceCodeInvalid) || !strings.Contains(p.Body, `name="user_code"`) {
			t.Errorf("an expired code typed: %d, want 400 with the form to try again\n%s", p.Status, p.Body)
		}
		d.wantError(d.cli, "not-a-device-code", "invalid_grant")

		// Clients not registered for the grant, or not who they say.
		web := d.e.CreateClient("web", "web-secret-0123456789-0123456789-0123456789", rpCallback, false)
		if status, out := d.post(web, "/oauth2/device/auth", url.Values{"scope": {"openid"}}); status != http.StatusBadRequest || out["error"] != "unauthorized_client" {
			t.Errorf("device authorization for a web client: %d %v", status, out)
		}
		if status, out := d.post(idptest.Client{ID: "tv", Secret: "wrong"}, "/oauth2/device/auth", url.Values{"scope": {"openid"}}); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("device authorization with a wrong secret: %d %v", status, out)
		}
		if status, out := d.post(d.cli, "/oauth2/device/auth", url.Values{"scope": {"openid phone"}}); status != http.StatusOK {
			t.Errorf("device authorization of a known scope: %d %v", status, out)
		}
	})
}

// TestDeviceCodeSingleUse: devices polling at once with one approved
// code: exactly one gets tokens.
func TestDeviceCodeSingleUse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		d := newDeviceEnv(t, open, idptest.Options{})
		code, userCode, _ := d.authorize(d.tv)
		if p := d.approve(userCode, "allow"); !shows(p, ui.MsgDeviceApproved) {
			t.Fatalf("after allowing: %d\n%s", p.Status, p.Body)
		}
		const n = 8
		var mu sync.Mutex
		answers := map[string]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				status, body := d.poll(d.tv, code)
				mu.Lock()
				answers[fmt.Sprint(status, " ", body["error"])]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if answers["200 <nil>"] != 1 || answers["400 invalid_grant"] != n-1 {
			t.Fatalf("%d parallel polls of one approved code: %v; want one with tokens, the rest invalid_grant", n, answers)
		}
	})
}

// TestDeviceUserCodeGuessing: user codes guessed in parallel from one
// network. Each try is counted before the code is looked up, so no more
// than the allowance are looked up; the rest, and then even a right
// code, wait. Another network types its code as usual.
func TestDeviceUserCodeGuessing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		d := newDeviceEnv(t, open, idptest.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
		_, userCode, _ := d.authorize(d.cli)
		from := func(network string) *idptest.Browser {
			b := d.e.NewBrowser()
			b.Client.Transport = forwardedFor{network, b.Client.Transport}
			return b
		}
		attacker := from("203.0.113.9")
		form := attacker.Get(d.e.Issuer + "/device")
		const guesses = 40
		var mu sync.Mutex
		answers := map[int]int{}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range guesses {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
				guess := fmt.Sprintf("BBBB-BB%c%c", alphabet[i/20], alphabet[i%20])
				if guess == userCode {
					guess = "ZZZZ-ZZZZ"
				}
				p := attacker.Fill(form, url.Values{"user_code": {guess}})
				mu.Lock()
				answers[p.Status]++
				mu.Unlock()
				if p.Status == http.StatusTooManyRequests && !shows(p, ui.MsgDeviceCodeThrottled) {
					t.Errorf("a throttled guess does not say so")
				}
			})
		}
		wg.Wait()
		looked := answers[http.StatusBadRequest]
		t.Logf("%d user codes guessed in parallel from one network: %d looked up, %d refused", guesses, looked, answers[http.StatusTooManyRequests])
		if looked < 1 || looked > 20 || looked+answers[http.StatusTooManyRequests] != guesses {
			t.Fatalf("answers %v: want at most 20 looked up (400), the rest refused (429)", answers)
		}
		// The right code from that network waits too: counted before checked.
		if p := attacker.Fill(form, url.Values{"user_code": {userCode}}); p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
			t.Fatalf("the right code from the throttled network: %d, want 429 with Retry-After", p.Status)
		}
		// The user, elsewhere, is not held up.
		b := from("198.51.100.7")
		if p := b.Fill(b.Get(d.e.Issuer+"/device"), url.Values{"user_code": {userCode}}); p.URL.Path != "/login" || p.Status != http.StatusOK {
			t.Fatalf("the right code from another network: %s %d", p.URL, p.Status)
		}
		evs, err := d.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "device.user_code"})
		if err != nil || len(evs) != guesses+2 {
			t.Errorf("audit of typed user codes: %d events, %v; want %d", len(evs), err, guesses+2)
		}
	})
}

// TestDevicePageRefusals: the form needs its CSRF token, and a cross-site
// post is refused; junk in the field is a wrong code, not an error.
func TestDevicePageRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		d := newDeviceEnv(t, open, idptest.Options{})
		_, userCode, _ := d.authorize(d.cli)
		b := d.e.NewBrowser()
		form := b.Get(d.e.Issuer + "/device?user_code=%00junk")
		if form.Status != http.StatusOK || !strings.Contains(form.Body, `name="user_code" type="text" value=""`) {
			t.Fatalf("junk in verification_uri_complete: %d", form.Status)
		}
		if p := b.Submit("/device", url.Values{"user_code": {userCode}, "csrf_token": {"forged"}}); p.Status != http.StatusForbidden {
			t.Errorf("a forged CSRF token: %d, want 403", p.Status)
		}
		if p := d.e.NewBrowser().Submit("/device", url.Values{"user_code": {userCode}, "csrf_token": {form.CSRF(t)}}); p.Status != http.StatusForbidden {
			t.Errorf("another browser's CSRF token: %d, want 403", p.Status)
		}
		req, _ := http.NewRequest(http.MethodPost, d.e.Issuer+"/device", strings.NewReader(url.Values{"user_code": {userCode}, "csrf_token": {form.CSRF(t)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, err := b.Client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site post: %v %v, want 403", resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
		for _, junk := range []string{"", "\x00\x01", strings.Repeat("B", 500), "ＢＣＤＦ-ＧＨＪＫ-Ｌ", "AEIO-UAEI"} {
			if p := b.Fill(form, url.Values{"user_code": {junk}}); p.Status != http.StatusBadRequest || !shows(p, ui.MsgDeviceCodeInvalid) {
				t.Errorf("user_code %q: %d", junk, p.Status)
			}
		}
		// Full-width letters, as a Japanese input method types them.
		wide := strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r - 'A' + 'Ａ'
			}
			return r
		}, userCode)
		if p := b.Fill(form, url.Values{"user_code": {wide}}); p.URL.Path != "/login" {
			t.Errorf("a full-width code: %s %d", p.URL, p.Status)
		}
	})
}

// TestDeviceAnsweredOnce: one code typed in two browsers, both signed in.
// The first answer stands; the second browser is told the device was not
// connected there, with a way to type another code. The user's account
// page lists the device connected, and a signed-in browser is still
// asked for the password for the next device.
func TestDeviceAnsweredOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		d := newDeviceEnv(t, open, idptest.Options{})
		code, userCode, _ := d.authorize(d.tv)
		first, second := d.e.NewBrowser(), d.e.NewBrowser()
		c1 := d.consentPage(first, userCode)
		c2 := d.consentPage(second, userCode)
		if p := first.Fill(c1, url.Values{"consent": {"allow"}}); !shows(p, ui.MsgDeviceApproved) {
			t.Fatalf("first answer: %d\n%s", p.Status, p.Body)
		}
		p := second.Fill(c2, url.Values{"consent": {"deny"}})
		if p.Status != http.StatusOK || !shows(p, ui.MsgDeviceNotConnected) || !strings.Contains(p.Body, `href="/device"`) {
			t.Fatalf("second answer: %d\n%s", p.Status, p.Body)
		}
		if status, body := d.poll(d.tv, code); status != http.StatusOK || body["access_token"] == nil {
			t.Fatalf("poll after the first answer: %d %v", status, body)
		}
		if p := first.Get(d.e.Issuer + "/account"); !strings.Contains(p.Body, ui.T("en", ui.MsgActivityDeviceApproved)+": Test app tv") {
			t.Errorf("the account page does not list the device connected\n%s", p.Body)
		}
		// The browser is signed in now; another device's code still asks
		// for the password (and then the PIN): the code could be anyone's.
		_, next, _ := d.authorize(d.tv)
		if p := first.Fill(first.Get(d.e.Issuer+"/device"), url.Values{"user_code": {next}}); p.URL.Path != "/login" || !strings.Contains(p.Body, `name="password"`) {
			t.Errorf("a second device in a signed-in browser: %s %d, want the password", p.URL, p.Status)
		}
	})
}
