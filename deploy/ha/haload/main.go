// Command haload drives whole logins against provider instances behind a
// load balancer while something is killed, and judges every login:
// completed (an ID token with amr pwd, sms and mfa that verifies),
// failed cleanly (an error page or RFC 6749 error that says to try again,
// after the reloads a person would do), or failed badly (a 500, a hang, a
// token without the PIN, a step half applied, committed state lost).
// deploy/ha/run.sh runs it; it exits non-zero when any login failed badly
// or a check after the run failed.
//
// Two shapes of load:
//
//	-mode burst: -logins N start at once; -kill runs when -kill-at is met.
//	-mode soak:  -concurrency C logins at a time, on and on; -kill runs when
//	             -kill-at is met, and logins go on until -after-kill past the
//	             first login completed after it.
//
// After the run it checks what must have survived: every completed login's
// access token is active, the PIN page of every completed login is not
// served again (its PIN stays consumed), codes redeemed before the kill
// are refused, logins parked at consent before the kill (-park) complete
// after it, and every user whose login failed can sign in again.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smspin/idp/bench/rp"
)

type options struct {
	mode        string
	logins      int
	concurrency int
	users       int
	killCmd     string
	killAt      string
	afterKill   time.Duration
	maxFailover time.Duration
	park        int
	retryFor    time.Duration
	maxRun      time.Duration
	watch       string
	knownBad    string
}

func main() {
	var (
		o      options
		client rp.RP
		outbox = flag.String("outbox", "", "the file SMS provider's outbox (IDP_SMS_FILE of every instance)")
	)
	flag.StringVar(&client.Issuer, "issuer", "http://localhost:8090", "the provider's issuer URL (the load balancer)")
	flag.StringVar(&client.ClientID, "client-id", "loadrp", "client id (as bench/loginload -setup makes it)")
	flag.StringVar(&client.ClientSecret, "client-secret", "loadrp-secret-0123456789-0123456789-0123456789", "client secret")
	flag.StringVar(&client.RedirectURI, "redirect-uri", "http://localhost:9/callback", "registered redirect URI")
	flag.StringVar(&o.mode, "mode", "burst", "burst or soak")
	flag.IntVar(&o.logins, "logins", 200, "burst: logins started at once")
	flag.IntVar(&o.concurrency, "concurrency", 12, "soak: logins in flight")
	flag.IntVar(&o.users, "users", 200, "users load0000... that exist (bench/loginload -setup)")
	flag.StringVar(&o.killCmd, "kill", "", "shell command run once when -kill-at is met")
	flag.StringVar(&o.killAt, "kill-at", "pins:100", "when to kill: pins:N (PIN pages served), completed:N (logins completed)")
	flag.DurationVar(&o.afterKill, "after-kill", 10*time.Second, "soak: go on this long after the first login completed after the kill")
	flag.DurationVar(&o.maxFailover, "max-failover", 0, "fail when no login completes within this time of the kill (0 = 60 s, not judged)")
	flag.IntVar(&o.park, "park", 0, "soak: logins parked at the consent page before the kill and finished after it")
	flag.DurationVar(&o.retryFor, "retry-for", 30*time.Second, "how long a login keeps reloading after temporary failures")
	flag.DurationVar(&o.maxRun, "max-run", 3*time.Minute, "stop everything after this long")
	flag.StringVar(&o.knownBad, "known-bad", "", "known defects: logins failed badly for a reason this regular expression matches are reported as such but do not fail the run")
	flag.StringVar(&o.watch, "watch", "", "NAME=URL polled after the kill: report when it first answers 200 (e.g. the new primary's Patroni GET /primary)")
	flag.Parse()
	// A request unanswered after a minute is a hang, not a queue.
	client.Timeout, client.RetryFor = time.Minute, o.retryFor
	// Each login is a browser of its own behind the load balancer: one
	// address for all would be one network to the per-network limits.
	client.DistinctClients = true

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.maxRun)
	defer cancel()
	if *outbox == "" {
		fmt.Fprintln(os.Stderr, "haload: -outbox is required: the PIN is read from the file provider's outbox")
		os.Exit(2)
	}
	codes, err := rp.TailOutbox(ctx, *outbox)
	if err != nil {
		fmt.Fprintln(os.Stderr, "haload:", err)
		os.Exit(1)
	}
	r := newRun(&client, codes, o)
	ok := r.main(ctx)
	if !ok {
		fmt.Println("RESULT: FAILED")
		os.Exit(1)
	}
	fmt.Println("RESULT: ok")
}

const userPassword = "load-test correct horse battery" // as bench/loginload -setup

func username(i int) string { return fmt.Sprintf("load%04d", i) }
func phone(i int) string    { return fmt.Sprintf("+8190%08d", 10000000+i) }

// run is one driven load and what it saw.
type run struct {
	rp    *rp.RP
	codes *rp.Outbox
	o     options
	start time.Time

	pins      atomic.Int64 // PIN pages served
	completed atomic.Int64

	mu       sync.Mutex
	killed   time.Time
	served   map[string][2]int // instance -> requests before, after the kill
	logins   []*rp.Login
	firstErr string
	watched  string
	killErr  string
}

func newRun(client *rp.RP, codes *rp.Outbox, o options) *run {
	r := &run{rp: client, codes: codes, o: o, served: map[string][2]int{}}
	client.Observe = r.observe
	return r
}

// observe counts which instance served each answer (HAProxy names it in
// X-Served-By) and the PIN pages served, for -kill-at.
func (r *run) observe(resp *http.Response) {
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/login/pin" {
		r.pins.Add(1)
	}
	by := resp.Header.Get("X-Served-By")
	if by == "" {
		by = "(load balancer)"
	}
	r.mu.Lock()
	n := r.served[by]
	if r.killed.IsZero() {
		n[0]++
	} else {
		n[1]++
	}
	r.served[by] = n
	r.mu.Unlock()
}

func (r *run) killTime() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killed
}

// kill runs -kill once.
func (r *run) kill() {
	r.mu.Lock()
	if !r.killed.IsZero() || r.o.killCmd == "" {
		r.mu.Unlock()
		return
	}
	r.killed = time.Now()
	r.mu.Unlock()
	fmt.Printf("kill at +%s (%d PIN pages served, %d logins completed): %s\n",
		r.since(time.Now()), r.pins.Load(), r.completed.Load(), r.o.killCmd)
	out, err := exec.Command("sh", "-c", r.o.killCmd).CombinedOutput()
	if err != nil {
		r.mu.Lock()
		r.killErr = fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
		r.mu.Unlock()
	}
	if name, u, ok := strings.Cut(r.o.watch, "="); ok {
		go r.watchAfterKill(name, u)
	}
}

// watchAfterKill polls u until it answers 200, and records when.
func (r *run) watchAfterKill(name, u string) {
	c := &http.Client{Timeout: time.Second}
	killed := r.killTime()
	for time.Since(killed) < r.o.maxRun {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.mu.Lock()
				r.watched = fmt.Sprintf("%s answered 200 %s after the kill", name, time.Since(killed).Round(10*time.Millisecond))
				r.mu.Unlock()
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *run) since(t time.Time) string {
	return t.Sub(r.start).Round(10 * time.Millisecond).String()
}

// killWhen watches for -kill-at and kills.
func (r *run) killWhen(ctx context.Context, ready func() bool) {
	kind, nstr, _ := strings.Cut(r.o.killAt, ":")
	n, err := strconv.Atoi(nstr)
	if err != nil || (kind != "pins" && kind != "completed") {
		fmt.Printf("bad -kill-at %q: want pins:N or completed:N\n", r.o.killAt)
		return
	}
	for ctx.Err() == nil {
		got := r.pins.Load()
		if kind == "completed" {
			got = r.completed.Load()
		}
		if got >= int64(n) && ready() {
			r.kill()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *run) login(ctx context.Context, i int) *rp.Login {
	l := r.rp.NewLogin(username(i), userPassword, phone(i), r.codes)
	l.Run(ctx, "")
	if l.Outcome == rp.Completed {
		r.completed.Add(1)
	}
	r.mu.Lock()
	r.logins = append(r.logins, l)
	r.mu.Unlock()
	return l
}

func (r *run) main(ctx context.Context) bool {
	r.start = time.Now()
	var parked []*rp.Login
	if r.o.mode == "burst" {
		fmt.Printf("burst: %d logins at once through %s\n", r.o.logins, r.rp.Issuer)
		go r.killWhen(ctx, func() bool { return true })
		var wg sync.WaitGroup
		for i := range r.o.logins {
			wg.Go(func() { r.login(ctx, i%r.o.users) })
		}
		wg.Wait()
	} else {
		parked = r.soak(ctx)
	}
	return r.report(ctx, parked)
}

// soak keeps -concurrency logins going until -after-kill past the first
// login completed after the kill. It returns the parked logins.
func (r *run) soak(ctx context.Context) []*rp.Login {
	fmt.Printf("soak: %d logins at a time through %s, %d parked at consent\n", r.o.concurrency, r.rp.Issuer, r.o.park)
	free := make(chan int, r.o.users)
	for i := r.o.park; i < r.o.users; i++ {
		free <- i
	}
	var parked []*rp.Login
	var parkedReady atomic.Bool
	go func() {
		for i := range r.o.park {
			l := r.rp.NewLogin(username(i), userPassword, phone(i), r.codes)
			if l.Run(ctx, "/login/consent") {
				parked = append(parked, l)
			} else {
				fmt.Printf("could not park login %d at consent: %s: %s\n", i, l.Outcome, l.Reason)
			}
		}
		parkedReady.Store(true)
	}()
	go r.killWhen(ctx, parkedReady.Load)

	maxFailover := r.o.maxFailover
	if maxFailover == 0 {
		maxFailover = 60 * time.Second
	}
	var stopping atomic.Bool
	go func() {
		for ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			k := r.killTime()
			if k.IsZero() {
				continue
			}
			first := r.firstCompletionAfter(k)
			if first.IsZero() && time.Since(k) > maxFailover {
				fmt.Printf("no login completed within %s of the kill: stopping\n", maxFailover)
				break
			}
			if !first.IsZero() && time.Since(first) > r.o.afterKill {
				break
			}
		}
		stopping.Store(true)
	}()
	var wg sync.WaitGroup
	for range r.o.concurrency {
		wg.Go(func() {
			for !stopping.Load() && ctx.Err() == nil {
				i := <-free
				l := r.login(ctx, i)
				free <- i
				if l.Outcome != rp.Completed {
					time.Sleep(200 * time.Millisecond) // a person, not a loop
				}
			}
		})
	}
	wg.Wait()
	for !parkedReady.Load() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return parked
}

// firstCompletionAfter is when the first login completed whose code
// exchange was sent after t: one that needed the database after it.
func (r *run) firstCompletionAfter(t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return firstServedAfter(r.logins, t)
}

func firstServedAfter(logins []*rp.Login, t time.Time) time.Time {
	var first time.Time
	for _, l := range logins {
		if l.Outcome == rp.Completed && l.TokenSent.After(t) && (first.IsZero() || l.Ended.Before(first)) {
			first = l.Ended
		}
	}
	return first
}

// report prints the counts and runs the checks after the run.
func (r *run) report(ctx context.Context, parked []*rp.Login) bool {
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Printf("  FAIL: "+format+"\n", args...)
	}
	killed := r.killTime()
	r.mu.Lock()
	logins := slices.Clone(r.logins)
	r.mu.Unlock()

	counts := map[rp.Outcome]int{}
	reloaded := 0
	reasons := map[string]int{}
	var bad []*rp.Login
	for _, l := range logins {
		counts[l.Outcome]++
		if l.Outcome == rp.Completed && l.Reloads > 0 {
			reloaded++
		}
		if l.Outcome != rp.Completed {
			reasons[l.Outcome.String()+": "+l.Reason]++
		}
		if l.Outcome == rp.FailedBadly {
			bad = append(bad, l)
		}
	}
	if killed.IsZero() {
		fmt.Printf("requests answered:")
	} else {
		fmt.Printf("requests answered, before / after the kill:")
	}
	names := make([]string, 0, len(r.served))
	for n := range r.served {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if killed.IsZero() {
			fmt.Printf("  %s %d", n, r.served[n][0])
		} else {
			fmt.Printf("  %s %d / %d", n, r.served[n][0], r.served[n][1])
		}
	}
	fmt.Println()
	fmt.Printf("logins: %d | completed %d (%d after a reload) | failed cleanly %d | failed badly %d\n",
		len(logins), counts[rp.Completed], reloaded, counts[rp.FailedCleanly], counts[rp.FailedBadly])
	for _, k := range sortedKeys(reasons) {
		fmt.Printf("  %4d x %s\n", reasons[k], k)
	}
	for i, l := range bad {
		if i == 3 {
			break
		}
		fmt.Printf("  a login that failed badly (%s): %s\n", l.User, l.Reason)
		for _, line := range l.Trace {
			fmt.Printf("      %s\n", line)
		}
	}
	known := 0
	if r.o.knownBad != "" {
		re, err := regexp.Compile(r.o.knownBad)
		if err != nil {
			fail("-known-bad: %v", err)
		}
		for _, l := range bad {
			if re != nil && re.MatchString(l.Reason) {
				known++
			}
		}
	}
	if known > 0 {
		fmt.Printf("  KNOWN DEFECTS, allowed by -known-bad %q: %d of the logins that failed badly\n", r.o.knownBad, known)
	}
	if len(bad) > known {
		fail("%d logins failed badly", len(bad)-known)
	}

	if ctx.Err() != nil {
		fail("the run was stopped (-max-run %s or an interrupt) before it ended", r.o.maxRun)
	}
	if r.killErr != "" {
		fail("the kill command failed: %s", r.killErr)
	}
	if r.o.killCmd != "" {
		if killed.IsZero() {
			fail("the kill never ran (-kill-at %s not met)", r.o.killAt)
		} else {
			r.failover(killed, logins, fail)
		}
	}

	// What must have survived.
	var done, preKill []*rp.Login
	for _, l := range logins {
		if l.Outcome == rp.Completed {
			done = append(done, l)
			if !killed.IsZero() && l.Ended.Before(killed) {
				preKill = append(preKill, l)
			}
		}
	}
	fmt.Println("checks after the run:")
	// Codes redeemed before the kill must stay redeemed. Replaying one
	// revokes its tokens (RFC 6749 section 4.1.2), so these few are left
	// out of the introspection below.
	replayed := map[*rp.Login]bool{}
	if len(preKill) > 0 {
		n, refused := min(5, len(preKill)), 0
		for _, l := range preKill[:n] {
			replayed[l] = true
			status, code, err := l.Redeem(ctx)
			if err == nil && status == http.StatusBadRequest && code == "invalid_grant" {
				refused++
			} else {
				fail("code redeemed before the kill, replayed after: %d %s %v", status, code, err)
			}
		}
		fmt.Printf("  authorization codes redeemed before the kill, refused after: %d/%d\n", refused, n)
	}
	active := parallel(ctx, done, func(l *rp.Login) bool {
		if replayed[l] {
			return true
		}
		a, err := r.rp.Introspect(ctx, l.Tokens.Access)
		return err == nil && a
	})
	if killed.IsZero() {
		fmt.Printf("  access tokens of completed logins active: %d/%d\n", active, len(done))
	} else {
		fmt.Printf("  access tokens of completed logins active: %d/%d (%d issued before the kill)\n", active, len(done), len(preKill))
	}
	if active != len(done) {
		fail("%d tokens of completed logins are not active", len(done)-active)
	}
	gone := parallel(ctx, done, func(l *rp.Login) bool {
		path, status, err := l.PINPage(ctx)
		return err == nil && !(path == "/login/pin" && status == http.StatusOK)
	})
	fmt.Printf("  PIN pages of completed logins not served again (PIN stays consumed): %d/%d\n", gone, len(done))
	if gone != len(done) {
		fail("%d completed logins show their PIN page again", len(done)-gone)
	}
	if r.o.park > 0 {
		resumed := 0
		for _, l := range parked {
			path, status, err := l.PINPage(ctx)
			if err != nil || path != "/login/consent" || status != http.StatusOK {
				fail("a login parked at consent shows %s (%d, %v) after the kill: its PIN step was lost", path, status, err)
				continue
			}
			if l.Run(ctx, ""); l.Outcome == rp.Completed {
				resumed++
			} else {
				fail("a login parked at consent did not complete after the kill: %s: %s", l.Outcome, l.Reason)
			}
		}
		fmt.Printf("  logins parked at consent before the kill, completed after it: %d/%d\n", resumed, r.o.park)
		if resumed != r.o.park {
			fail("%d of %d parked logins did not complete", r.o.park-resumed, r.o.park)
		}
	}
	failedUsers := map[string]int{}
	for _, l := range logins {
		if l.Outcome != rp.Completed {
			i, _ := strconv.Atoi(strings.TrimPrefix(l.User, "load"))
			failedUsers[l.User] = i
		}
	}
	users := make([]int, 0, len(failedUsers))
	for _, i := range failedUsers {
		users = append(users, i)
	}
	again := parallel(ctx, users, func(i int) bool {
		l := r.rp.NewLogin(username(i), userPassword, phone(i), r.codes)
		l.Run(ctx, "")
		if l.Outcome != rp.Completed {
			r.mu.Lock()
			if r.firstErr == "" {
				r.firstErr = l.Outcome.String() + ": " + l.Reason
			}
			r.mu.Unlock()
		}
		return l.Outcome == rp.Completed
	})
	if len(users) > 0 {
		fmt.Printf("  users whose login failed who then signed in again: %d/%d\n", again, len(users))
	}
	if again != len(users) {
		fail("%d users could not sign in again, e.g. %s", len(users)-again, r.firstErr)
	}
	return ok
}

// failover prints the time from the kill to the first completed login,
// and the completions per second around it.
func (r *run) failover(killed time.Time, logins []*rp.Login, fail func(string, ...any)) {
	first, firstBegun := firstServedAfter(logins, killed), time.Time{}
	after := 0
	perSecond := map[int]int{}
	for _, l := range logins {
		if l.Outcome != rp.Completed {
			continue
		}
		sec := int(l.Ended.Sub(killed) / time.Second)
		if l.Ended.Before(killed) {
			sec = -int(killed.Sub(l.Ended)/time.Second) - 1
		}
		perSecond[sec]++
		if l.Ended.After(killed) {
			after++
			if l.Started.After(killed) && (firstBegun.IsZero() || l.Ended.Before(firstBegun)) {
				firstBegun = l.Ended
			}
		}
	}
	if first.IsZero() {
		fail("no login exchanged its code after the kill")
		return
	}
	r.mu.Lock()
	if r.watched != "" {
		fmt.Println(r.watched)
	}
	r.mu.Unlock()
	took := first.Sub(killed)
	fmt.Printf("logins completed after the kill: %d; the first to exchange its code after the kill completed %s after it", after, took.Round(10*time.Millisecond))
	if !firstBegun.IsZero() {
		fmt.Printf(" (the first begun after the kill: %s)", firstBegun.Sub(killed).Round(10*time.Millisecond))
	}
	fmt.Println()
	fmt.Print("logins completed per second, from the kill (0):")
	lo, hi := 0, 0
	for s := range perSecond {
		lo, hi = min(lo, s), max(hi, s)
	}
	for s := max(lo, -3); s <= hi; s++ {
		fmt.Printf(" %d:%d", s, perSecond[s])
	}
	fmt.Println()
	if r.o.maxFailover > 0 && took > r.o.maxFailover {
		fail("the first login after the kill completed after %s, more than %s", took.Round(10*time.Millisecond), r.o.maxFailover)
	}
}

// parallel counts the items for which f holds, 16 at a time.
func parallel[T any](ctx context.Context, items []T, f func(T) bool) int {
	var n atomic.Int64
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if f(it) {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	return keys
}
