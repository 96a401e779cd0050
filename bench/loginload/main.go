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
	"context"
	"errors"
	"flag"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/smspin/idp/bench/rp"
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

	codes, err := rp.TailOutbox(ctx, o.outbox)
	if err != nil {
		return err
	}
	client := &rp.RP{Issuer: o.issuer, ClientID: clientID, ClientSecret: clientSecret, RedirectURI: redirectURI, Timeout: 60 * time.Second}
	cpu0, pg0, self0 := processCPU(o.pid), postgresCPU(), processCPU(os.Getpid())
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
				l := client.NewLogin(username(i), userPassword, phone(i), codes)
				if l.Run(ctx, ""); l.Outcome != rp.Completed {
					res.fail(l.Reason)
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
	cpu1, pg1, self1 := processCPU(o.pid), postgresCPU(), processCPU(os.Getpid())

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
		// This tool (the browsers and the RP) runs on the same cores: what
		// it takes is not the server's, but no hash has it either.
		fmt.Printf("CPU per login: server %s (of which one hash is about %s), PostgreSQL %s, this load tool %s\n",
			server.Round(100*time.Microsecond), hash.Round(100*time.Microsecond), ((pg1 - pg0) / time.Duration(n)).Round(100*time.Microsecond),
			((self1 - self0) / time.Duration(n)).Round(100*time.Microsecond))
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
