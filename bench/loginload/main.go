// Command loginload drives whole logins against a running provider, the way
// browsers and a relying party do, many at once: the authorize request, the
// password, the PIN read from the file provider's outbox, consent, and the
// code exchange at the token endpoint. It reports logins per second beside
// the bound the machine sets on them, argon2id hashes per second on all
// cores with the server's own parameters, measured in the same run.
//
// It is a benchmark, run by hand (bench/logins.sh starts a server on a fresh
// PostgreSQL database and runs it); no test depends on its figures.
//
//	go run ./bench/loginload -setup -db postgres://... -users 200
//	go run ./bench/loginload -issuer http://localhost:8090 -outbox FILE -duration 30s -concurrency 8 -pid PID
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database"
)

const (
	clientID     = "loadrp"
	clientSecret = "loadrp-secret-0123456789-0123456789-0123456789"
	redirectURI  = "http://localhost:9/callback"
	userPassword = "load-test correct horse battery"
)

func main() {
	var (
		setup       = flag.Bool("setup", false, "create the users and the client in -db, then exit")
		firstParty  = flag.Bool("first-party", false, "with -setup: the client skips the consent page, so every login costs the same")
		dbURL       = flag.String("db", "", "database URL (with -setup)")
		users       = flag.Int("users", 200, "users to create or to log in as (load0000...)")
		issuer      = flag.String("issuer", "http://localhost:8090", "the provider's issuer URL")
		outbox      = flag.String("outbox", "", "the file SMS provider's outbox (IDP_SMS_FILE)")
		duration    = flag.Duration("duration", 30*time.Second, "how long to drive logins")
		concurrency = flag.Int("concurrency", 8, "logins in flight at once")
		random      = flag.Bool("random", false, "sign in as users picked at random among -users, not in turn")
		pid         = flag.Int("pid", 0, "the server's process id: report its CPU time and peak RSS")
		memory      = flag.Uint("argon2-memory", 19456, "argon2id memory in KiB, as the server's IDP_ARGON2_MEMORY")
		passes      = flag.Uint("argon2-time", 2, "argon2id passes, as the server's IDP_ARGON2_TIME")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if *setup {
		err = runSetup(ctx, *dbURL, *users, *firstParty, password.Params{Memory: uint32(*memory), Time: uint32(*passes), Threads: 1})
	} else {
		err = runLoad(ctx, loadOptions{
			issuer: strings.TrimSuffix(*issuer, "/"), outbox: *outbox, users: *users, duration: *duration,
			concurrency: *concurrency, pid: *pid, memory: uint32(*memory), passes: uint32(*passes), random: *random,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginload:", err)
		os.Exit(1)
	}
}

func username(i int) string { return fmt.Sprintf("load%04d", i) }
func phone(i int) string    { return fmt.Sprintf("+8190%08d", 10000000+i) }

// runSetup creates the users (one hash, computed once, shared by all: the
// load measures verification, not creation) and a third-party client, so
// every user's first login also shows the consent page.
func runSetup(ctx context.Context, dbURL string, n int, firstParty bool, p password.Params) error {
	db, err := database.Open(ctx, dbURL, database.Options{MaxOpenConns: 4})
	if err != nil {
		return err
	}
	if _, err := database.Migrate(ctx, db); err != nil {
		return err
	}
	st := store.New(db, nil)
	hash, err := password.New(p, 1).Hash(ctx, userPassword)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := range n {
		u := &store.User{Username: username(i), PasswordHash: hash}
		err := st.CreateUser(ctx, u, &store.Phone{Number: phone(i), VerifiedAt: &now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	err = st.CreateClient(ctx, store.NewClient{
		ID: clientID, Name: "Load test RP", Secret: clientSecret, RedirectURIs: []string{redirectURI}, FirstParty: firstParty,
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "phone"}, TokenEndpointAuthMethod: "client_secret_basic",
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	fmt.Printf("created %d users and client %s\n", n, clientID)
	return nil
}

type loadOptions struct {
	issuer, outbox     string
	users, concurrency int
	duration           time.Duration
	pid                int
	memory, passes     uint32
	random             bool // pick users at random (a large user table)
}

type result struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	latencies  []time.Duration
	failures   map[string]int
}

func (r *result) fail(why string) {
	r.failed.Add(1)
	r.mu.Lock()
	r.failures[why]++
	r.mu.Unlock()
}

func runLoad(ctx context.Context, o loadOptions) error {
	if o.outbox == "" {
		return errors.New("-outbox is required: the PIN is read from the file provider's outbox")
	}
	bound := hashesPerSecond(o.memory, o.passes, 4*time.Second)
	fmt.Printf("argon2id bound: %.1f hashes/s on %d cores (m=%d KiB, t=%d, p=1)\n", bound, runtime.NumCPU(), o.memory, o.passes)

	codes, err := tailOutbox(ctx, o.outbox)
	if err != nil {
		return err
	}
	cpu0, pg0 := processCPU(o.pid), postgresCPU()
	res := &result{failures: map[string]int{}}
	var next atomic.Int64
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := int(next.Add(1)-1) % o.users
				if o.random {
					i = mathrand.IntN(o.users)
				}
				t0 := time.Now()
				if err := login(ctx, o.issuer, i, codes); err != nil {
					res.fail(err.Error())
					continue
				}
				res.ok.Add(1)
				res.mu.Lock()
				res.latencies = append(res.latencies, time.Since(t0))
				res.mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, pg1 := processCPU(o.pid), postgresCPU()

	n := res.ok.Load()
	rate := float64(n) / elapsed.Seconds()
	fmt.Printf("logins: %d completed, %d failed in %s with %d in flight\n", n, res.failed.Load(), elapsed.Round(time.Millisecond), o.concurrency)
	fmt.Printf("logins/s: %.1f = %.0f%% of the argon2id bound\n", rate, 100*rate/bound)
	if len(res.latencies) > 0 {
		slices.Sort(res.latencies)
		q := func(p float64) time.Duration {
			return res.latencies[int(p*float64(len(res.latencies)-1))].Round(time.Millisecond)
		}
		fmt.Printf("latency of a whole login: p50 %s  p90 %s  p99 %s\n", q(0.5), q(0.9), q(0.99))
	}
	if n > 0 && o.pid > 0 {
		server := (cpu1 - cpu0) / time.Duration(n)
		hash := time.Duration(float64(time.Second) * float64(runtime.NumCPU()) / bound)
		fmt.Printf("CPU per login: server %s (of which one hash is about %s), PostgreSQL %s\n",
			server.Round(100*time.Microsecond), hash.Round(100*time.Microsecond), ((pg1 - pg0) / time.Duration(n)).Round(100*time.Microsecond))
		fmt.Printf("server peak RSS: %s\n", peakRSS(o.pid))
	}
	for why, k := range res.failures {
		fmt.Printf("failure x%d: %s\n", k, why)
	}
	return nil
}

// hashesPerSecond measures argon2id on every core for d.
func hashesPerSecond(memory, passes uint32, d time.Duration) float64 {
	var n atomic.Int64
	stopAt := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Go(func() {
			salt := make([]byte, 16)
			for time.Now().Before(stopAt) {
				argon2.IDKey([]byte(userPassword), salt, passes, memory, 1, 32)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	runtime.GC()
	return float64(n.Load()) / time.Since(start).Seconds()
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token"\s+value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
)

// login is one whole sign-in in a fresh browser, then the code exchange.
func login(ctx context.Context, issuer string, i int, codes *outbox) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	state := randomString()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile"}, "state": {state}, "nonce": {randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	status, page, body, err := get(ctx, c, issuer+"/oauth2/auth?"+q.Encode())
	if err != nil || status != 200 || page.Path != "/login" {
		return stepError("authorize", status, page, err)
	}
	seen := codes.count(phone(i))
	status, page, body, err = fill(ctx, c, issuer, body, url.Values{"username": {username(i)}, "password": {userPassword}})
	if err != nil || status != 200 || page.Path != "/login/pin" {
		return stepError("password", status, page, err)
	}
	code, err := codes.wait(ctx, phone(i), seen)
	if err != nil {
		return err
	}
	status, page, body, err = fill(ctx, c, issuer, body, url.Values{"code": {code}})
	if err == nil && status == 200 && page.Path == "/login/consent" {
		status, page, body, err = fill(ctx, c, issuer, body, url.Values{"consent": {"allow"}})
	}
	if err != nil || status != http.StatusSeeOther {
		return stepError("pin or consent", status, page, err)
	}
	back, err := url.Parse(body) // the Location of the redirect to the RP
	if err != nil || back.Query().Get("state") != state || back.Query().Get("code") == "" {
		return fmt.Errorf("authorize response: %q", body)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.IDToken == "" {
		return fmt.Errorf("token: status %d", resp.StatusCode)
	}
	return nil
}

func stepError(step string, status int, page *url.URL, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	path := ""
	if page != nil {
		path = page.Path
	}
	return fmt.Errorf("%s: status %d at %s", step, status, path)
}

// get fetches a page; for a redirect leaving the provider, body is its
// Location.
func get(ctx context.Context, c *http.Client, u string) (int, *url.URL, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (int, *url.URL, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp.StatusCode, resp.Request.URL, resp.Header.Get("Location"), nil
	}
	return resp.StatusCode, resp.Request.URL, string(b), err
}

// fill posts a page's first form with fields and its CSRF token.
func fill(ctx context.Context, c *http.Client, issuer, page string, fields url.Values) (int, *url.URL, string, error) {
	tok, act := csrfRE.FindStringSubmatch(page), actionRE.FindStringSubmatch(page)
	if tok == nil || act == nil {
		return 0, nil, "", errors.New("no form on the page")
	}
	fields.Set("csrf_token", html.UnescapeString(tok[1]))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+html.UnescapeString(act[1]), strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return do(c, req)
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// outbox follows the file provider's outbox: the codes sent to each number.
type outbox struct {
	mu    sync.Mutex
	cond  *sync.Cond
	codes map[string][]string
}

var codeRE = regexp.MustCompile(`#([0-9]{4,8})\s*$`)

func tailOutbox(ctx context.Context, path string) (*outbox, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	o := &outbox{codes: map[string][]string{}}
	o.cond = sync.NewCond(&o.mu)
	go func() {
		defer f.Close()
		r := bufio.NewReader(f)
		var partial string
		for ctx.Err() == nil {
			line, err := r.ReadString('\n')
			if err != nil { // at the end for now: wait for more
				partial += line
				time.Sleep(2 * time.Millisecond)
				continue
			}
			line, partial = partial+line, ""
			var m struct{ To, Body string }
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if c := codeRE.FindStringSubmatch(m.Body); c != nil {
				o.mu.Lock()
				o.codes[m.To] = append(o.codes[m.To], c[1])
				o.cond.Broadcast()
				o.mu.Unlock()
			}
		}
	}()
	return o, nil
}

func (o *outbox) count(to string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.codes[to])
}

// wait returns the first code to a number after the seen ones.
func (o *outbox) wait(ctx context.Context, to string, seen int) (string, error) {
	stop := context.AfterFunc(ctx, func() { o.mu.Lock(); o.cond.Broadcast(); o.mu.Unlock() })
	defer stop()
	timer := time.AfterFunc(10*time.Second, func() { o.mu.Lock(); o.cond.Broadcast(); o.mu.Unlock() })
	defer timer.Stop()
	start := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.codes[to]) <= seen {
		if ctx.Err() != nil || time.Since(start) >= 10*time.Second {
			return "", fmt.Errorf("no SMS to %s in the outbox", to)
		}
		o.cond.Wait()
	}
	return o.codes[to][seen], nil
}

// processCPU is a process's user+system CPU time so far (0 without pid).
func processCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	return statCPU(fmt.Sprintf("/proc/%d/stat", pid))
}

// postgresCPU sums the CPU time of every postgres process on the machine
// (the server and its backends share these cores).
func postgresCPU() time.Duration {
	var total time.Duration
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if comm, err := os.ReadFile(d + "/comm"); err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
			total += statCPU(d + "/stat")
		}
	}
	return total
}

// statCPU reads utime+stime from a /proc stat file (clock ticks of 10 ms
// on Linux's usual USER_HZ of 100).
func statCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}
