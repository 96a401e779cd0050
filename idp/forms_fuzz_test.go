package idp_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// The fuzz targets here drive a whole provider (idptest on SQLite, made
// once per target and reused by every input) with arbitrary authorize
// queries and form posts. Whatever arrives, the provider must not fail
// with a 5xx other than 503, must not show a Go error or stack trace, and
// must redirect only to its own pages or to a registered redirect URI.

const (
	fzShopRedirect = "https://rp.example.com/callback"
	fzSPARedirect  = "https://spa.example.com/cb"
	fzCLIRedirect  = "http://127.0.0.1/callback" // RFC 8252 loopback: any port
	fzVerifier     = "fuzz-verifier-fuzz-verifier-fuzz-verifier-0123456789"
	fzBoundary     = "fuzzboundary"
)

// fzChallenge is the S256 PKCE challenge of fzVerifier.
var fzChallenge = func() string {
	sum := sha256.Sum256([]byte(fzVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

type fzEnv struct {
	e          *idptest.Env
	alice, bob idptest.User
	registered []string
}

func newFuzzEnv(f *testing.F) *fzEnv {
	// Requests come from loopback, so X-Forwarded-For is read too.
	e := idptest.New(f, dbtest.SQLite(f), idptest.Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	fz := &fzEnv{e: e, registered: []string{fzShopRedirect, fzSPARedirect, fzCLIRedirect}}
	fz.alice = e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	fz.bob = e.CreateUser("bob", "bob has no phone yet", "", false)
	e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", fzShopRedirect, true)
	e.CreateClient("spa", "", fzSPARedirect, false)
	e.CreateClient("cli", "", fzCLIRedirect, true)
	return fz
}

// client is a cookieless client that stops at the first answer, so the
// checks see every redirect.
func (fz *fzEnv) client() *http.Client {
	return &http.Client{Transport: fz.e.Server.Client().Transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authURL is a valid authorize request of the first-party client.
func (fz *fzEnv) authURL() string {
	return fz.e.Issuer + "/oauth2/auth?" + url.Values{
		"response_type": {"code"}, "client_id": {"shop"}, "redirect_uri": {fzShopRedirect},
		"scope": {"openid profile phone"}, "state": {"state-0123456789"}, "nonce": {"nonce-0123456789"},
		"code_challenge": {fzChallenge}, "code_challenge_method": {"S256"},
	}.Encode()
}

// fzStep is a page of a login in progress, with what a form post on it
// needs.
type fzStep struct {
	b      *idptest.Browser
	action string // e.g. /login?flow=...
	flow   string
	csrf   string
	code   string // the PIN sent, on the PIN page
}

// begin starts a login in a new browser and returns its password page.
func (fz *fzEnv) begin(t *testing.T) fzStep { return fz.beginAt(t, fz.authURL()) }

// beginAt starts a flow in a new browser at u (an authorize request, an
// invitation) and returns its password page.
func (fz *fzEnv) beginAt(t *testing.T, u string) fzStep {
	t.Helper()
	b := fz.e.NewBrowser()
	p := b.Get(u)
	if p.Status != http.StatusOK || p.URL.Path != "/login" {
		t.Fatalf("authorize: status %d at %s, want the password page", p.Status, p.URL)
	}
	return fzStep{b: b, action: p.Action(t), flow: p.URL.Query().Get("flow"), csrf: p.CSRF(t)}
}

// signIn passes the password step of u and returns the next page; a
// user without a phone signs in through an invitation.
func (fz *fzEnv) signIn(t *testing.T, u idptest.User, wantPath string) fzStep {
	t.Helper()
	start := fz.authURL()
	if u.Phone == "" {
		start = fz.e.Invite(u)
	}
	s := fz.beginAt(t, start)
	p := s.b.Submit(s.action, url.Values{"csrf_token": {s.csrf}, "username": {u.Username}, "password": {u.Password}})
	if p.Status != http.StatusOK || p.URL.Path != wantPath {
		t.Fatalf("password of %s: status %d at %s, want %s", u.Username, p.Status, p.URL, wantPath)
	}
	return fzStep{b: s.b, action: p.Action(t), flow: s.flow, csrf: p.CSRF(t)}
}

// fzPost is one fuzzed form post: extra query parameters for the action
// URL, a Content-Type and a body. "{csrf}", "{flow}" and "{code}" in the
// query and body stand for the real values; withCSRF puts the right token
// in front of a form-encoded body, so most inputs get past the token check.
type fzPost struct {
	query, ctype, body string
	withCSRF           bool
}

func (s fzStep) expand(v string) string {
	return strings.NewReplacer("{csrf}", s.csrf, "{flow}", s.flow, "{code}", s.code).Replace(v)
}

// post sends p on the step's form and returns the response, redirects
// not followed.
func (fz *fzEnv) post(t *testing.T, s fzStep, p fzPost) (resp *http.Response, body, sentBody string) {
	t.Helper()
	if !validHeaderValue(p.ctype) {
		t.Skip("not a header value")
	}
	target := fz.e.Issuer + s.action
	if q := s.expand(p.query); q != "" {
		target += "&" + q
	}
	sentBody = s.expand(p.body)
	if p.withCSRF && strings.HasPrefix(p.ctype, "application/x-www-form-urlencoded") {
		sentBody = "csrf_token=" + s.csrf + "&" + sentBody
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(sentBody))
	if err != nil {
		t.Skip("not a URL a browser sends")
	}
	if p.ctype != "" {
		req.Header.Set("Content-Type", p.ctype)
	}
	req.Header.Set("Origin", fz.e.Issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{Jar: s.b.Client.Jar, Transport: s.b.Client.Transport, Timeout: s.b.Client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), sentBody
}

func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fzLeaks are signs of a Go error or panic reaching the page. Each has a
// space or punctuation in it, or word boundaries, so the random flow ids
// and tokens on every page (base32, base64url) cannot spell one.
var fzLeaks = []*regexp.Regexp{
	regexp.MustCompile(`goroutine \d+ \[`),
	regexp.MustCompile(`panic[:(]`),
	regexp.MustCompile(`\.go:\d`),
	regexp.MustCompile(`runtime error`),
	regexp.MustCompile(`invalid memory address`),
	regexp.MustCompile(`%!\w`), // a fmt verb gone wrong
	regexp.MustCompile(`(?i)sql logic error|constraint failed|sqlstate|record not found|\bgorm\b|\bsqlite\b|\bpq: `),
}

// check applies the rules every answer follows. inputs are what the
// request carried, so a page that only echoes them (a username, a
// state) is not taken for a leak.
func (fz *fzEnv) check(t *testing.T, resp *http.Response, body string, inputs ...string) {
	t.Helper()
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	echoed := decodings(inputs...)
	for _, re := range fzLeaks {
		if re.MatchString(body) && !re.MatchString(echoed) {
			t.Fatalf("the answer (status %d) shows Go internals (%s):\n%s", resp.StatusCode, re, body)
		}
	}
	if resp.StatusCode/100 == 3 {
		loc := resp.Header.Get("Location")
		if loc == "" {
			t.Fatalf("status %d without a Location", resp.StatusCode)
		}
		fz.checkTarget(t, loc)
	}
	// A form_post answer (OAuth 2.0 Form Post Response Mode) sends the
	// browser on with a form: it obeys the same rule as a redirect.
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "text/html" {
		for _, m := range formAction.FindAllStringSubmatch(body, -1) {
			if a := htmlUnescape(m[1]); strings.Contains(a, "://") {
				fz.checkTarget(t, a)
			}
		}
	}
}

var formAction = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(s)
}

// checkTarget fails unless loc is a page of the provider or a registered
// redirect URI (a loopback one on any port, RFC 8252 section 7.3).
func (fz *fzEnv) checkTarget(t *testing.T, loc string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q does not parse: %v", loc, err)
	}
	if u.Scheme == "" && u.Host == "" && u.Opaque == "" {
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") {
			t.Fatalf("Location %q can leave the provider", loc)
		}
		return
	}
	if rest, ok := strings.CutPrefix(loc, fz.e.Issuer); ok && strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "//") {
		return
	}
	for _, r := range fz.registered {
		if rest, ok := strings.CutPrefix(loc, r); ok && (rest == "" || rest[0] == '?' || rest[0] == '#') {
			return
		}
		ru, _ := url.Parse(r)
		if ru.Hostname() == "127.0.0.1" && u.Scheme == "http" && u.Hostname() == ru.Hostname() && u.Path == ru.Path {
			return
		}
	}
	t.Fatalf("sent the browser to %q, which is neither the provider nor a registered redirect URI", loc)
}

// decodings joins the inputs as sent and as a server may decode them.
func decodings(inputs ...string) string {
	var b strings.Builder
	for _, in := range inputs {
		b.WriteString(in + "\n")
		if s, err := url.QueryUnescape(in); err == nil {
			b.WriteString(s + "\n")
		}
		if s, err := url.PathUnescape(in); err == nil {
			b.WriteString(s + "\n")
		}
		q, _ := url.ParseQuery(in) // keeps the pairs it could read
		for k, vs := range q {
			b.WriteString(k + "\n" + strings.Join(vs, "\n") + "\n")
		}
		if r := multipart.NewReader(strings.NewReader(in), fzBoundary); r != nil {
			for {
				p, err := r.NextPart()
				if err != nil {
					break
				}
				v, _ := io.ReadAll(p)
				b.WriteString(p.FormName() + "\n" + string(v) + "\n")
			}
		}
	}
	return b.String()
}

// FuzzAuthorize sends arbitrary query strings to GET /oauth2/auth, with
// arbitrary headers ("Name: value" lines: cookies, Accept-Language,
// X-Request-Id, X-Forwarded-For ...).
func FuzzAuthorize(f *testing.F) {
	good := url.Values{
		"response_type": {"code"}, "client_id": {"shop"}, "redirect_uri": {fzShopRedirect},
		"scope": {"openid profile"}, "state": {"state-0123456789"}, "nonce": {"nonce-0123456789"},
		"code_challenge": {fzChallenge}, "code_challenge_method": {"S256"},
	}
	// with changes the good request: each pair sets a parameter, or
	// removes it when the value is empty.
	with := func(kv ...string) string {
		q := url.Values{}
		for k, vs := range good {
			q[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return q.Encode()
	}
	queries := []string{
		good.Encode(),
		with("redirect_uri", ""),
		with("redirect_uri", "https://evil.example/callback"),
		with("redirect_uri", fzShopRedirect+"/../x"),
		with("redirect_uri", fzShopRedirect+"?x=1"),
		with("redirect_uri", "https://rp.example.com@evil.example/callback"),
		with("client_id", "spa", "redirect_uri", fzSPARedirect),
		with("client_id", "spa", "redirect_uri", fzSPARedirect, "code_challenge", ""),
		with("client_id", "spa", "redirect_uri", fzShopRedirect),
		with("client_id", "cli", "redirect_uri", "http://127.0.0.1:49152/callback"),
		with("client_id", "cli", "redirect_uri", "http://evil@127.0.0.1:1/callback"),
		with("client_id", "cli", "redirect_uri", "http://127.0.0.1:1/callback?x=1", "response_type", "token"),
		with("client_id", "cli", "redirect_uri", "http://[::1]:1/callback"),
		with("client_id", "nobody"),
		with("response_type", "token"),
		with("response_type", "code id_token"),
		with("prompt", "none"),
		with("prompt", "login none"),
		with("response_mode", "form_post"),
		with("response_mode", "fragment"),
		with("code_challenge_method", "plain"),
		with("code_challenge", "short"),
		with("scope", "openid admin"),
		with("state", "x"),
		with("request", "eyJhbGciOiJub25lIn0.e30."),
		with("max_age", "-1"),
		with("ui_locales", "ja"),
		good.Encode() + "&client_id=spa",
		"client_id=shop&client_id=spa&redirect_uri=" + url.QueryEscape(fzShopRedirect),
		"%zz&client_id=shop",
		"",
	}
	for _, q := range queries {
		f.Add(q, "")
	}
	for _, h := range []string{
		"Accept-Language: ja-JP,ja;q=0.9,en;q=0.1\nCookie: idp_lang=en",
		"Cookie: idp_lang=\"ja\"; idp_browser=" + strings.Repeat("A", 43) + "; idp_session=x.y",
		"Cookie: idp_browser=; idp_browser=short; idp_session=%zz",
		"X-Request-Id: <script>alert(1)</script>\nX-Forwarded-For: 203.0.113.7, 10.0.0.1",
		"X-Forwarded-For: ::ffff:127.0.0.1, garbage, 2001:db8::1\nX-Forwarded-For: 127.0.0.1",
		"Origin: https://evil.example\nSec-Fetch-Site: cross-site\nReferer: https://evil.example/",
	} {
		f.Add(good.Encode(), h)
	}
	fz := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, query, headers string) {
		fz.e.T = t
		req, err := http.NewRequest(http.MethodGet, fz.e.Issuer+"/oauth2/auth?"+query, nil)
		if err != nil {
			t.Skip("not a URL a browser sends")
		}
		setHeaders(req, headers)
		resp, err := fz.client().Do(req)
		if err != nil {
			t.Fatalf("GET /oauth2/auth?%s: %v", query, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fz.check(t, resp, string(body), query, headers)
	})
}

// setHeaders adds the "Name: value" lines of h that are valid headers
// (a browser, or a proxy, sends no others).
func setHeaders(req *http.Request, h string) {
	for _, line := range strings.Split(h, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
		}) || !validHeaderValue(value) {
			continue
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
}

// FuzzLoginForm posts arbitrary forms to POST /login.
func FuzzLoginForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, p := range []fzPost{
		{"", form, "username=alice&password=correct+horse+battery", true},
		{"", form, "username=alice&password=wrong", true},
		{"", form, "username=mallory&password=x", true},
		{"", form, "username=&password=", true},
		{"", form, "username=%E3%81%82%00&password=%ff%fe", true},
		{"lang=ja", form, "username=alice&password=correct+horse+battery&username=bob", true},
		{"flow=other", form, "csrf_token=wrong&username=alice&password=x", false},
		{"", form, "csrf_token={csrf}&csrf_token=x&username=alice&password=x", false},
		{"", "multipart/form-data; boundary=" + fzBoundary, "--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nwrong\r\n--" + fzBoundary + "--\r\n", false},
		{"", "multipart/form-data; boundary=" + fzBoundary, "--" + fzBoundary + "\r\nbroken", false},
		{"", "text/plain", "csrf_token={csrf}&username=alice&password=x", false},
		{"", "", "csrf_token={csrf}&username=alice", false},
		{"", form, "username=" + strings.Repeat("a", 5000) + "&password=x", true},
		{"", form, "%zz&username=alice&password=x", true},
	} {
		f.Add(p.query, p.ctype, p.body, p.withCSRF)
	}
	fz := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, query, ctype, body string, withCSRF bool) {
		fz.e.T = t
		s := fz.begin(t)
		resp, page, sent := fz.post(t, s, fzPost{query, ctype, body, withCSRF})
		fz.check(t, resp, page, query, sent)
	})
}

// FuzzPINForm posts arbitrary forms to POST /login/pin of a login whose
// PIN was just sent. "{code}" stands for that PIN. Besides the common
// rules, the login moves on only when the code posted is the one sent.
func FuzzPINForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, p := range []fzPost{
		{"", form, "code={code}", true},
		{"", form, "code=000000", true},
		{"", form, "code=+{code}+", true},
		{"", form, "code={code}x", true},
		{"", form, "code=&code={code}", true},
		{"", form, "code=%EF%BC%91%EF%BC%92%EF%BC%93", true},
		{"", form, "code=" + strings.Repeat("9", 4000), true},
		{"lang=ja&sent=failed", form, "code=123456", true},
		{"flow=x", form, "csrf_token={csrf}&code={code}", false},
		{"", "multipart/form-data; boundary=" + fzBoundary, "--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n{code}\r\n--" + fzBoundary + "--\r\n", false},
		{"", "text/plain", "csrf_token={csrf}&code={code}", false},
	} {
		f.Add(p.query, p.ctype, p.body, p.withCSRF)
	}
	fz := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, query, ctype, body string, withCSRF bool) {
		fz.e.T = t
		s := fz.signIn(t, fz.alice, "/login/pin")
		s.code = fz.e.LastCode(fz.alice.Phone)
		resp, page, sent := fz.post(t, s, fzPost{query, ctype, body, withCSRF})
		fz.check(t, resp, page, query, sent)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && !strings.HasPrefix(loc, "/login/pin") {
			if got := postedValue(resp.Request, sent, "code"); normaliseCode(got) != s.code {
				t.Fatalf("the login went on to %q with code %q posted; the PIN sent was %q", loc, got, s.code)
			}
		}
	})
}

// FuzzPhoneForm posts arbitrary forms to POST /login/phone of a user who
// has no phone yet. Besides the common rules, a PIN goes out only to an
// E.164 number.
func FuzzPhoneForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, p := range []fzPost{
		{"", form, "phone=090-1234-5678", true},
		{"", form, "phone=%2B81+90+1234+5678", true},
		{"", form, "phone=%EF%BC%90%EF%BC%99%EF%BC%90", true},
		{"", form, "phone=03-1234-5678", true},
		{"", form, "phone=%2B44+909+876+5432", true},
		{"", form, "phone=tel%3A%2B81-90-1234-5678%3Bext%3D1", true},
		{"", form, "phone=", true},
		{"", form, "phone=" + strings.Repeat("9", 300), true},
		{"lang=ja", form, "phone=call+me&phone=090-1234-5678", true},
		{"", "multipart/form-data; boundary=" + fzBoundary, "--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n--" + fzBoundary + "\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n090-1234-5678\r\n--" + fzBoundary + "--\r\n", false},
	} {
		f.Add(p.query, p.ctype, p.body, p.withCSRF)
	}
	fz := newFuzzEnv(f)
	e164 := regexp.MustCompile(`^\+[1-9]\d{6,14}$`)
	f.Fuzz(func(t *testing.T, query, ctype, body string, withCSRF bool) {
		fz.e.T = t
		s := fz.signIn(t, fz.bob, "/login/phone")
		before := len(fz.e.Messages())
		resp, page, sent := fz.post(t, s, fzPost{query, ctype, body, withCSRF})
		fz.check(t, resp, page, query, sent)
		for _, m := range fz.e.Messages()[before:] {
			if !e164.MatchString(m.To) {
				t.Fatalf("a PIN went to %q, not an E.164 number (posted %q)", m.To, sent)
			}
		}
	})
}

// FuzzToken posts arbitrary bodies, with or without client credentials,
// to POST /oauth2/token. No code or refresh token exists, so only the
// client credentials grant can succeed.
func FuzzToken(f *testing.F) {
	const secret = "shop-secret-0123456789-0123456789-0123456789"
	for _, s := range []struct {
		body      string
		basicAuth bool
	}{
		{"grant_type=authorization_code&code=abc&redirect_uri=" + url.QueryEscape(fzShopRedirect) + "&code_verifier=" + fzVerifier, true},
		{"grant_type=refresh_token&refresh_token=abc.def", true},
		{"grant_type=client_credentials&scope=profile", true},
		{"grant_type=client_credentials&client_id=shop&client_secret=" + secret, false},
		{"grant_type=password&username=alice&password=correct+horse+battery", true},
		{"grant_type=authorization_code&client_id=spa&code=x&code_verifier=short", false},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=abc", true},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=spa&device_code=", false},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJhbGciOiJub25lIn0.e30.", false},
		{"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z&grant_type=client_credentials", false},
		{"%zz", false},
		{"", true},
	} {
		f.Add(s.body, s.basicAuth)
	}
	fz := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string, basicAuth bool) {
		fz.e.T = t
		req, err := http.NewRequest(http.MethodPost, fz.e.Issuer+"/oauth2/token", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicAuth {
			req.SetBasicAuth("shop", secret)
		}
		resp, err := fz.client().Do(req)
		if err != nil {
			t.Fatalf("POST /oauth2/token: %v", err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		fz.check(t, resp, string(page), body)
		if resp.StatusCode == http.StatusOK && !bytes.Contains(page, []byte(`"access_token"`)) {
			t.Fatalf("200 without a token: %s", page)
		}
	})
}

// postedValue reads the first value of a form field as the server reads
// it from a body of the request's Content-Type.
func postedValue(req *http.Request, body, name string) string {
	r, _ := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader(body))
	if req != nil {
		r.Header.Set("Content-Type", req.Header.Get("Content-Type"))
	}
	return r.PostFormValue(name)
}

// normaliseCode is the PIN normalisation of mfa, written out: spaces and
// dashes dropped, full-width digits made ASCII.
func normaliseCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == ' ' || r == '-' || r == '　':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
