package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// dbProxy stands between the provider and PostgreSQL. Cutting it closes
// every connection and refuses new ones, which is what a client sees of a
// server that stops; restoring it is the restart.
type dbProxy struct {
	addr, upstream string
	mu             sync.Mutex
	ln             net.Listener
	conns          map[net.Conn]bool
}

func newDBProxy(t *testing.T, upstream string) *dbProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{addr: ln.Addr().String(), upstream: upstream, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close(); c.Close() }()
			go func() { io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
}

func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *dbProxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Errorf("restore the database proxy: %v", err)
		return
	}
	p.serve(ln)
}

// flakySender fails every third send as a provider outage would.
type flakySender struct {
	next sms.Sender
	n    atomic.Int64
}

func (f *flakySender) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	if f.n.Add(1)%3 == 0 {
		return sms.Receipt{}, &sms.Error{Provider: "flaky", Kind: sms.Transient, Status: 503, Err: errors.New("provider down")}
	}
	return f.next.Send(ctx, m)
}

type outcome string

const (
	completed outcome = "completed"
	cleanFail outcome = "failed cleanly"
	badFail   outcome = "failed badly"
)

// TestFaultsDatabaseRestartAndSMSOutage drives concurrent full logins while
// PostgreSQL goes away and comes back and the SMS provider fails one send
// in three. Every login must complete correctly or fail cleanly (a page or
// an OAuth error that says to try again, never a 500 with an error text),
// no token may come without a verified PIN, and the server must serve
// again within seconds of the database's return.
func TestFaultsDatabaseRestartAndSMSOutage(t *testing.T) {
	base := os.Getenv(dbtest.EnvURL)
	if base == "" {
		t.Skip(dbtest.EnvURL + " is not set: the fault test needs PostgreSQL (.ci/run sets it)")
	}
	direct := dbtest.Postgres(t)
	u, _ := url.Parse(direct.URL)
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	viaProxy, err := database.Open(t.Context(), u.String(), database.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := viaProxy.DB(); err == nil {
			s.Close()
		}
	})
	e := idptest.New(t, &dbtest.DB{Dialect: "postgres", URL: u.String(), Gorm: viaProxy},
		idptest.Options{Sender: &flakySender{next: &sms.File{Path: t.TempDir() + "/outbox.jsonl"}}})
	// The outbox of the flaky sender is its own file.
	outbox := ""
	if fs, ok := e.MFA.Sender.(*flakySender); ok {
		outbox = fs.next.(*sms.File).Path
	}
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	const workers = 6
	users := make([]idptest.User, workers)
	for i := range users {
		users[i] = e.CreateUser(fmt.Sprint("user", i), "correct horse battery", fmt.Sprintf("+8190111100%02d", i), true)
	}
	var (
		mu        sync.Mutex
		counts    = map[outcome]int{}
		reasons   = map[string]int{}
		bad       []string
		restored  time.Time
		recovered time.Duration
	)
	record := func(o outcome, why string) {
		mu.Lock()
		defer mu.Unlock()
		if o == completed && !restored.IsZero() && recovered == 0 {
			recovered = time.Since(restored)
		}
		counts[o]++
		reasons[string(o)+": "+why]++
		if o == badFail {
			bad = append(bad, why)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				o, why := faultLogin(e, c, users[i], outbox)
				record(o, why)
				if o != completed {
					time.Sleep(50 * time.Millisecond) // a person retries, not a loop
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond) // logins under way
	proxy.cut()
	t.Log("database cut")
	time.Sleep(2 * time.Second) // the outage
	proxy.restore(t)
	mu.Lock()
	restored = time.Now()
	mu.Unlock()
	t.Log("database back")
	// Logins after the restart, until one completes (at most 15 s).
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := recovered > 0
		mu.Unlock()
		if done && time.Since(restored) > 2*time.Second {
			break
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("outcomes: %v", counts)
	for r, n := range reasons {
		t.Logf("  %4d  %s", n, r)
	}
	t.Logf("the first login completed %s after the database came back", recovered.Round(time.Millisecond))
	if len(bad) > 0 {
		t.Errorf("%d logins failed badly, e.g. %q", len(bad), bad[0])
	}
	if recovered == 0 {
		t.Error("no login completed within 15 s of the database's return")
	}
	if counts[completed] == 0 || counts[cleanFail] == 0 {
		t.Errorf("the run saw %v: want both completed and cleanly failed logins", counts)
	}
}

var (
	faultCSRF       = regexp.MustCompile(`name="csrf_token"\s+value="([^"]+)"`)
	faultFormAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	originBound     = regexp.MustCompile(`#([0-9]{6})\s*$`)
)

// faultLogin runs one login with its own HTTP client and judges how it
// ended. It never calls t: it runs in worker goroutines.
func faultLogin(e *idptest.Env, c idptest.Client, u idptest.User, outbox string) (outcome, string) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.Issuer) || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	judge := func(resp *http.Response, body string, step string) (outcome, string, bool) {
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusTooManyRequests:
			return cleanFail, step + ": " + resp.Status, true
		case resp.StatusCode >= 500:
			return badFail, fmt.Sprintf("%s: %s %.120s", step, resp.Status, body), true
		case strings.Contains(body, "goroutine ") || strings.Contains(body, ".go:") || strings.Contains(body, "panic"):
			return badFail, step + ": an internal error reached the page", true
		}
		return "", "", false
	}
	get := func(u string) (*http.Response, string, error) {
		resp, err := hc.Get(u)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	post := func(action string, form url.Values, body string) (*http.Response, string, error) {
		m := faultCSRF.FindStringSubmatch(body)
		if m == nil {
			return nil, "", errors.New("no form")
		}
		form.Set("csrf_token", html.UnescapeString(m[1]))
		a := faultFormAction.FindStringSubmatch(body)
		if action == "" && a != nil {
			action = html.UnescapeString(a[1])
		}
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.Issuer)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURI}, "scope": {"openid profile"},
		"state": {"state-0123456789"}, "nonce": {"nonce-0123456789"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}
	resp, body, err := get(e.Issuer + "/oauth2/auth?" + q.Encode())
	if err != nil {
		return cleanFail, "authorize: " + err.Error()
	}
	if o, why, done := judge(resp, body, "authorize"); done {
		return o, why
	}
	if resp.StatusCode != http.StatusOK {
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc != nil && loc.Query().Get("error") == "temporarily_unavailable" {
			return cleanFail, "authorize: the RP is told temporarily_unavailable"
		}
		return badFail, fmt.Sprintf("authorize: %s, location %q", resp.Status, resp.Header.Get("Location"))
	}
	sentBefore := countLines(outbox)
	resp, body, err = post("", url.Values{"username": {u.Username}, "password": {u.Password}}, body)
	if err != nil {
		return cleanFail, "password: " + err.Error()
	}
	if o, why, done := judge(resp, body, "password"); done {
		return o, why
	}
	if resp.Request.URL.Path != "/login/pin" {
		return cleanFail, "password: at " + resp.Request.URL.Path
	}
	if strings.Contains(html.UnescapeString(body), ui.T("en", ui.MsgSMSUnavailable)) || countLines(outbox) == sentBefore {
		return cleanFail, "SMS provider down: the PIN page says so"
	}
	code := lastCodeFor(outbox, u.Phone)
	resp, body, err = post("", url.Values{"code": {code}}, body)
	if err != nil {
		return cleanFail, "pin: " + err.Error()
	}
	if o, why, done := judge(resp, body, "pin"); done {
		return o, why
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc != nil && loc.Query().Get("error") == "temporarily_unavailable" {
		return cleanFail, "authorize response: the RP is told temporarily_unavailable"
	}
	if loc == nil || loc.Query().Get("code") == "" {
		return badFail, fmt.Sprintf("pin: %s at %s, location %q", resp.Status, resp.Request.URL.Path, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {c.RedirectURI},
		"code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	tr, err := hc.Do(req)
	if err != nil {
		return cleanFail, "token: " + err.Error()
	}
	defer tr.Body.Close()
	var tok map[string]any
	json.NewDecoder(tr.Body).Decode(&tok)
	if tr.StatusCode != http.StatusOK {
		if tr.StatusCode == http.StatusServiceUnavailable && tok["error"] == "temporarily_unavailable" {
			return cleanFail, "token: temporarily_unavailable"
		}
		return badFail, fmt.Sprintf("token: %d %v", tr.StatusCode, tok["error"])
	}
	// No token without the PIN: every ID token says the SMS was checked.
	idt, _ := tok["id_token"].(string)
	parts := strings.Split(idt, ".")
	if len(parts) != 3 {
		return badFail, "token: no ID token"
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		AMR []string `json:"amr"`
	}
	json.Unmarshal(payload, &claims)
	if strings.Join(claims.AMR, " ") != "pwd sms mfa" {
		return badFail, fmt.Sprintf("token issued with amr %v", claims.AMR)
	}
	return completed, "tokens with amr pwd sms mfa"
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

func lastCodeFor(path, phone string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m struct{ To, Body string }
		if json.Unmarshal([]byte(lines[i]), &m) == nil && m.To == phone {
			if c := originBound.FindStringSubmatch(m.Body); c != nil {
				return c[1]
			}
		}
	}
	return ""
}
