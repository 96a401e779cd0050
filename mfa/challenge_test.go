package mfa_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const (
	testPhone = "+819012345678"
	testHost  = "login.example.com"
)

// clock is a fixed time that a test moves by hand. Verify and Start run in
// many goroutines at once in the parallel cases, hence the lock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a recording sms.Sender. It accepts every message unless told
// to fail, in which case it counts the attempt and returns an *sms.Error
// of the chosen Kind.
type recorder struct {
	mu     sync.Mutex
	sent   []sms.Message // accepted messages, oldest first
	tries  int           // calls to Send, accepted or not
	fail   sms.Kind      // 0: accept
	status string        // Receipt.Status of accepted messages
}

// failText is what a failing recorder says, so tests can find it in the
// delivery row.
const failText = "gateway said no"

func (r *recorder) Send(_ context.Context, m sms.Message) (sms.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.fail != 0 {
		return sms.Receipt{}, &sms.Error{Provider: "fake", Kind: r.fail, Status: 503, Err: errors.New(failText)}
	}
	r.sent = append(r.sent, m)
	return sms.Receipt{Provider: "fake", MessageID: fmt.Sprintf("fake-%d", len(r.sent)), Status: r.status}, nil
}

// FailWith makes every later Send fail with kind (0: succeed again).
func (r *recorder) FailWith(kind sms.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = kind
}

// Tries is the number of calls to Send, accepted or not.
func (r *recorder) Tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

func (r *recorder) Sent() []sms.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sms.Message(nil), r.sent...)
}

// Last returns the newest accepted message and its code, read from the
// origin-bound last line as a phone would.
func (r *recorder) Last(t *testing.T) (sms.Message, string) {
	t.Helper()
	sent := r.Sent()
	if len(sent) == 0 {
		t.Fatal("no SMS sent")
	}
	m := sent[len(sent)-1]
	return m, codeOf(t, m.Body)
}

// codeOf reads the code from the last line of a body, "@host #code".
func codeOf(t *testing.T, body string) string {
	t.Helper()
	last := body[strings.LastIndex(body, "\n")+1:]
	code, ok := strings.CutPrefix(last, "@"+testHost+" #")
	if !ok {
		t.Fatalf("SMS %q does not end with the origin-bound line %q", body, "@"+testHost+" #<code>")
	}
	return code
}

// lockedBuffer collects the service's log lines.
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

type env struct {
	svc    *mfa.Service
	db     *dbtest.DB
	clock  *clock
	sender *recorder
	flows  int // flows started by start
}

// newEnv returns a service on a fresh database with DefaultPolicy, the
// recording sender and a fixed clock. When the test ends it checks that no
// code and no full phone number reached the log.
func newEnv(t *testing.T, open func(t *testing.T) *dbtest.DB) *env {
	t.Helper()
	e := &env{db: open(t), clock: newClock(), sender: &recorder{}}
	logs := &lockedBuffer{}
	e.svc = &mfa.Service{
		Store:  store.New(e.db.Gorm, nil),
		Sender: e.sender,
		Policy: mfa.DefaultPolicy,
		Secret: []byte("test secret, 32 bytes or so long"),
		Text:   mfa.Messages("Acme", testHost, mfa.DefaultPolicy.TTL),
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	t.Cleanup(func() {
		out := logs.String()
		if strings.Contains(out, testPhone) || strings.Contains(out, strings.TrimPrefix(testPhone, "+")) {
			t.Errorf("the full phone number reached the log:\n%s", out)
		}
		for _, m := range e.sender.Sent() {
			if m.Code != "" && strings.Contains(out, m.Code) { // a notice has no code
				t.Errorf("code %s reached the log:\n%s", m.Code, out)
			}
		}
	})
	return e
}

// start makes a challenge for a flow of its own and returns it with the
// code that was sent.
func (e *env) start(t *testing.T) (*mfa.Challenge, string) {
	t.Helper()
	e.flows++
	return e.startFlow(t, fmt.Sprintf("flow-%d", e.flows))
}

func (e *env) startFlow(t *testing.T, flow string) (*mfa.Challenge, string) {
	t.Helper()
	c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: flow, UserID: "user-1", Phone: testPhone, Locale: "en"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	m, code := e.sender.Last(t)
	if m.Ref != c.ID {
		t.Fatalf("last SMS is for challenge %q, want %q", m.Ref, c.ID)
	}
	return c, code
}

// lastCode is the code of the newest SMS sent.
func (e *env) lastCode(t *testing.T) string {
	t.Helper()
	_, code := e.sender.Last(t)
	return code
}

// rows runs a raw SQL query and returns its rows, every column as text.
func (e *env) rows(t *testing.T, query string, args ...any) []map[string]string {
	t.Helper()
	rs, err := e.db.Gorm.WithContext(t.Context()).Raw(query, args...).Rows()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case []byte:
				row[c] = string(v)
			case nil:
				row[c] = ""
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) attempts(t *testing.T, id string) int {
	t.Helper()
	var n int
	if err := e.db.Gorm.WithContext(t.Context()).Raw("SELECT attempts FROM sms_challenges WHERE id = ?", id).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// wrong returns a code of the same length that differs from code.
func wrong(code string, i int) string {
	b := []byte(code)
	last := len(b) - 1
	b[last] = '0' + (b[last]-'0'+1+byte(i%9))%10
	return string(b)
}

func TestStartStoresOnlyAKeyedHashAndSendsOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		e.sender.status = "queued"
		c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "flow-a", UserID: "user-1", Phone: testPhone, Locale: "en"})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}

		sent := e.sender.Sent()
		if len(sent) != 1 {
			t.Fatalf("sent %d messages, want 1", len(sent))
		}
		m := sent[0]
		code := codeOf(t, m.Body)
		if m.To != testPhone || m.Code != code || m.Ref != c.ID || m.Locale != "en" {
			t.Errorf("message = %+v, want To %s, Code %s (the code of the last line), Ref %s, Locale en", m, testPhone, code, c.ID)
		}
		if !strings.HasSuffix(m.Body, "\n@"+testHost+" #"+code) {
			t.Errorf("body %q does not end with the origin-bound line", m.Body)
		}
		if strings.Count(m.Body, code) < 2 {
			t.Errorf("body %q should show the code in the text and in the last line", m.Body)
		}

		rows := e.rows(t, "SELECT * FROM sms_challenges WHERE id = ?", c.ID)
		if len(rows) != 1 {
			t.Fatalf("%d challenge rows, want 1", len(rows))
		}
		for col, v := range rows[0] {
			if strings.Contains(v, code) {
				t.Errorf("column %s = %q contains the code %s", col, v, code)
			}
		}
		h := rows[0]["code_hash"]
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			t.Errorf("code_hash = %q, want the hex of a 32-byte MAC", h)
		}
		plain := sha256.Sum256([]byte(code))
		if h == hex.EncodeToString(plain[:]) {
			t.Error("code_hash is an unkeyed SHA-256 of the code")
		}
		if got := rows[0]["flow_id"]; got != "flow-a" {
			t.Errorf("flow_id = %q", got)
		}

		ds := e.rows(t, "SELECT provider, provider_message_id, status, error FROM sms_deliveries WHERE challenge_id = ?", c.ID)
		want := map[string]string{"provider": "fake", "provider_message_id": "fake-1", "status": "queued", "error": ""}
		if len(ds) != 1 || fmt.Sprint(ds[0]) != fmt.Sprint(want) {
			t.Errorf("deliveries = %v, want [%v]", ds, want)
		}

		// Keyed: a service with another secret cannot use the stored hash.
		other := mfa.Service{Store: e.svc.Store, Sender: e.svc.Sender, Policy: e.svc.Policy, Text: e.svc.Text, Now: e.svc.Now,
			Secret: []byte("some other secret")}
		if _, err := other.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrCodeMismatch) {
			t.Errorf("Verify under another secret: %v, want ErrCodeMismatch", err)
		}
		if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
			t.Errorf("Verify under the right secret: %v", err)
		}
	})
}

func TestDeliveryStatusDefaultsToSent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open) // the recorder's receipt carries no status
		c, _ := e.start(t)
		ds, err := e.svc.Deliveries(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Status != "sent" || ds[0].Provider != "fake" || ds[0].ProviderMessageID != "fake-1" {
			t.Errorf("deliveries = %+v, want one sent by fake as fake-1", ds)
		}
	})
}

func TestCodeShape(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		for _, n := range []int{4, 6, 8} {
			t.Run(fmt.Sprintf("%d digits", n), func(t *testing.T) {
				e := newEnv(t, open)
				e.svc.Policy.CodeLength = n
				const starts = 30
				seen := map[string]bool{}
				for range starts {
					_, code := e.start(t)
					if len(code) != n || strings.IndexFunc(code, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
						t.Errorf("code %q is not %d ASCII digits", code, n)
					}
					seen[code] = true
				}
				// A sanity check, not a test of randomness: 30 equal draws
				// from 10^4 values would mean the generator is broken.
				if len(seen) < 2 {
					t.Errorf("%d Starts gave the codes %v", starts, seen)
				}
			})
		}
	})
}

func TestVerifySingleUse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		c, code := e.start(t)
		got, err := e.svc.Verify(t.Context(), c.ID, code)
		if err != nil {
			t.Fatalf("first Verify: %v", err)
		}
		if got.ConsumedAt == nil || !got.ConsumedAt.Equal(e.clock.Now()) {
			t.Errorf("ConsumedAt = %v, want %v", got.ConsumedAt, e.clock.Now())
		}
		if got.ID != c.ID || got.FlowID != c.FlowID || got.Phone != testPhone {
			t.Errorf("Verify returned %+v, want challenge %s", got, c.ID)
		}
		if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrUsed) {
			t.Errorf("second Verify: %v, want ErrUsed", err)
		}
		if _, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{}); !errors.Is(err, mfa.ErrUsed) {
			t.Errorf("Resend of a used challenge: %v, want ErrUsed", err)
		}
	})
}

func TestUnknownChallenge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		if _, err := e.svc.Verify(t.Context(), "no-such-challenge", "123456"); !errors.Is(err, mfa.ErrNotFound) {
			t.Errorf("Verify: %v, want ErrNotFound", err)
		}
		if _, err := e.svc.Resend(t.Context(), "no-such-challenge", "en", netip.Addr{}); !errors.Is(err, mfa.ErrNotFound) {
			t.Errorf("Resend: %v, want ErrNotFound", err)
		}
		if n := e.sender.Tries(); n != 0 {
			t.Errorf("%d sends for an unknown challenge", n)
		}
	})
}

func TestExpiry(t *testing.T) {
	ttl := mfa.DefaultPolicy.TTL
	tests := []struct {
		name    string
		advance time.Duration
		wrong   bool
		want    error
	}{
		{"just before the TTL", ttl - time.Microsecond, false, nil},
		{"at the TTL", ttl, false, mfa.ErrExpired},
		{"long after", ttl + time.Hour, false, mfa.ErrExpired},
		{"wrong code after the TTL", ttl, true, mfa.ErrExpired},
	}
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, open)
				c, code := e.start(t)
				e.clock.Advance(tc.advance)
				if tc.wrong {
					code = wrong(code, 0)
				}
				_, err := e.svc.Verify(t.Context(), c.ID, code)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("Verify after %v: %v, want %v", tc.advance, err, tc.want)
				}
				if tc.want != nil {
					if n := e.attempts(t, c.ID); n != 0 {
						t.Errorf("an expired challenge counted %d attempts", n)
					}
				}
			})
		}
	})
}

func TestAttemptLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		t.Run("wrong codes exhaust the challenge", func(t *testing.T) {
			e := newEnv(t, open)
			c, code := e.start(t)
			limit := e.svc.Policy.MaxAttempts
			for i := 1; i < limit; i++ {
				got, err := e.svc.Verify(t.Context(), c.ID, wrong(code, i))
				if !errors.Is(err, mfa.ErrCodeMismatch) {
					t.Fatalf("wrong code %d: %v, want ErrCodeMismatch", i, err)
				}
				if left := got.AttemptsLeft(); left != limit-i {
					t.Errorf("after wrong code %d: AttemptsLeft = %d, want %d", i, left, limit-i)
				}
			}
			got, err := e.svc.Verify(t.Context(), c.ID, wrong(code, limit))
			if !errors.Is(err, mfa.ErrTooManyAttempts) {
				t.Fatalf("wrong code %d: %v, want ErrTooManyAttempts", limit, err)
			}
			if got == nil || got.AttemptsLeft() != 0 {
				t.Errorf("after the last wrong code: %+v, want AttemptsLeft 0", got)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrTooManyAttempts) {
				t.Errorf("right code after the limit: %v, want ErrTooManyAttempts", err)
			}
			if n := e.attempts(t, c.ID); n != limit {
				t.Errorf("attempts = %d, want %d", n, limit)
			}
			// The way on is a new code, after the cooldown like any resend:
			// it costs a send, and gets the full number of tries.
			if _, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{}); !errors.Is(err, mfa.ErrResendTooSoon) {
				t.Errorf("new code within the cooldown: %v, want ErrResendTooSoon", err)
			}
			e.clock.Advance(e.svc.Policy.ResendCooldown)
			renewed, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{})
			if err != nil {
				t.Fatalf("new code after the limit: %v", err)
			}
			if renewed.AttemptsLeft() != limit || renewed.Resends != 1 {
				t.Errorf("new code: AttemptsLeft %d, Resends %d; want %d, 1", renewed.AttemptsLeft(), renewed.Resends, limit)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, code); code != e.lastCode(t) && !errors.Is(err, mfa.ErrCodeMismatch) {
				t.Errorf("the exhausted code after a new one: %v, want ErrCodeMismatch", err)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, e.lastCode(t)); err != nil {
				t.Errorf("the new code: %v", err)
			}
		})
		t.Run("the right code on the last attempt", func(t *testing.T) {
			e := newEnv(t, open)
			c, code := e.start(t)
			for i := 1; i < e.svc.Policy.MaxAttempts; i++ {
				if _, err := e.svc.Verify(t.Context(), c.ID, wrong(code, i)); !errors.Is(err, mfa.ErrCodeMismatch) {
					t.Fatalf("wrong code %d: %v", i, err)
				}
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
				t.Errorf("right code on the last attempt: %v", err)
			}
		})
	})
}

// race runs n calls of f at once: every goroutine waits at a barrier until
// all have started, then the barrier opens.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			<-start
			errs[i] = f(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

func TestParallelVerify(t *testing.T) {
	const n = 20
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		t.Run("right code: exactly one wins", func(t *testing.T) {
			e := newEnv(t, open)
			c, code := e.start(t)
			errs := race(n, func(int) error {
				_, err := e.svc.Verify(t.Context(), c.ID, code)
				return err
			})
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, mfa.ErrUsed), errors.Is(err, mfa.ErrTooManyAttempts):
					// Lost the race: the code was consumed, or the
					// winner's attempt and other losers' used the budget
					// before the winner consumed it.
				default:
					t.Errorf("goroutine %d: %v, want success, ErrUsed or ErrTooManyAttempts", i, err)
				}
			}
			if wins != 1 {
				t.Errorf("%d of %d parallel right answers succeeded, want exactly 1", wins, n)
			}
			if a := e.attempts(t, c.ID); a > e.svc.Policy.MaxAttempts {
				t.Errorf("attempts = %d, above MaxAttempts %d", a, e.svc.Policy.MaxAttempts)
			}
			got, err := e.svc.Get(t.Context(), c.ID)
			if err != nil || got.ConsumedAt == nil {
				t.Errorf("after the race: %+v, %v; want consumed", got, err)
			}
		})
		t.Run("wrong codes: the limit holds", func(t *testing.T) {
			e := newEnv(t, open)
			c, code := e.start(t)
			limit := e.svc.Policy.MaxAttempts
			errs := race(n, func(i int) error {
				_, err := e.svc.Verify(t.Context(), c.ID, wrong(code, i))
				return err
			})
			var mismatch, tooMany int
			for i, err := range errs {
				switch {
				case errors.Is(err, mfa.ErrCodeMismatch):
					mismatch++
				case errors.Is(err, mfa.ErrTooManyAttempts):
					tooMany++
				default:
					t.Errorf("goroutine %d: %v, want ErrCodeMismatch or ErrTooManyAttempts", i, err)
				}
			}
			// Each counted attempt is told its own place: the first
			// limit-1 hear "wrong code", the limit-th and every uncounted
			// one "too many".
			if mismatch != limit-1 || tooMany != n-(limit-1) {
				t.Errorf("outcomes: %d ErrCodeMismatch and %d ErrTooManyAttempts, want %d and %d", mismatch, tooMany, limit-1, n-(limit-1))
			}
			if a := e.attempts(t, c.ID); a != limit {
				t.Errorf("attempts = %d, want exactly MaxAttempts %d", a, limit)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrTooManyAttempts) {
				t.Errorf("right code after the race: %v, want ErrTooManyAttempts", err)
			}
		})
	})
}

func TestResend(t *testing.T) {
	cooldown := mfa.DefaultPolicy.ResendCooldown
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		t.Run("cooldown, then the new code replaces the old", func(t *testing.T) {
			e := newEnv(t, open)
			c, oldCode := e.start(t)
			if d := e.svc.ResendIn(c); d != cooldown {
				t.Errorf("ResendIn after Start = %v, want %v", d, cooldown)
			}
			for _, wait := range []time.Duration{0, cooldown - time.Second} {
				e.clock.Advance(wait)
				if _, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{}); !errors.Is(err, mfa.ErrResendTooSoon) {
					t.Fatalf("Resend %v after Start: %v, want ErrResendTooSoon", wait, err)
				}
			}
			if n := len(e.sender.Sent()); n != 1 {
				t.Fatalf("%d SMS after refused resends, want 1", n)
			}
			e.clock.Advance(time.Second)
			got, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{})
			if err != nil {
				t.Fatalf("Resend after the cooldown: %v", err)
			}
			if got.Resends != 1 || e.svc.ResendsLeft(got) != e.svc.Policy.MaxResends-1 {
				t.Errorf("Resends = %d, ResendsLeft = %d", got.Resends, e.svc.ResendsLeft(got))
			}
			if n := len(e.sender.Sent()); n != 2 {
				t.Fatalf("%d SMS after a resend, want 2", n)
			}
			m, newCode := e.sender.Last(t)
			if m.To != testPhone || m.Ref != c.ID {
				t.Errorf("resent message = %+v", m)
			}
			ds, err := e.svc.Deliveries(t.Context(), c.ID)
			if err != nil || len(ds) != 2 {
				t.Fatalf("deliveries = %+v, %v; want 2", ds, err)
			}
			// The resend restarts the validity: past the first code's
			// expiry, the new code still works.
			e.clock.Advance(e.svc.Policy.TTL - cooldown + time.Second)
			if newCode == oldCode {
				t.Logf("the resend drew the same code (1 in 10^6); the old code cannot be told apart")
			} else if _, err := e.svc.Verify(t.Context(), c.ID, oldCode); !errors.Is(err, mfa.ErrCodeMismatch) {
				t.Errorf("old code after a resend: %v, want ErrCodeMismatch", err)
			}
			if _, err := e.svc.Verify(t.Context(), c.ID, newCode); err != nil {
				t.Errorf("new code after a resend: %v", err)
			}
		})
		t.Run("limit", func(t *testing.T) {
			e := newEnv(t, open)
			c, _ := e.start(t)
			for i := 1; i <= e.svc.Policy.MaxResends; i++ {
				e.clock.Advance(cooldown)
				got, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{})
				if err != nil {
					t.Fatalf("resend %d: %v", i, err)
				}
				if left := e.svc.ResendsLeft(got); left != e.svc.Policy.MaxResends-i {
					t.Errorf("after resend %d: ResendsLeft = %d", i, left)
				}
			}
			e.clock.Advance(cooldown)
			if _, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{}); !errors.Is(err, mfa.ErrResendLimit) {
				t.Fatalf("resend %d: %v, want ErrResendLimit", e.svc.Policy.MaxResends+1, err)
			}
			if n, want := len(e.sender.Sent()), 1+e.svc.Policy.MaxResends; n != want {
				t.Errorf("%d SMS sent, want %d", n, want)
			}
			// The last code sent still works.
			_, code := e.sender.Last(t)
			if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
				t.Errorf("last code: %v", err)
			}
		})
	})
}

func TestNewStartSupersedes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		old, oldCode := e.startFlow(t, "flow-a")
		other, otherCode := e.startFlow(t, "flow-b")
		cur, curCode := e.startFlow(t, "flow-a")

		if _, err := e.svc.Verify(t.Context(), old.ID, oldCode); !errors.Is(err, mfa.ErrNotFound) {
			t.Errorf("superseded challenge, right code: %v, want ErrNotFound", err)
		}
		e.clock.Advance(e.svc.Policy.ResendCooldown)
		sent := len(e.sender.Sent())
		if _, err := e.svc.Resend(t.Context(), old.ID, "en", netip.Addr{}); !errors.Is(err, mfa.ErrNotFound) {
			t.Errorf("Resend of a superseded challenge: %v, want ErrNotFound", err)
		}
		if n := len(e.sender.Sent()); n != sent {
			t.Errorf("Resend of a superseded challenge sent an SMS")
		}
		if _, err := e.svc.Verify(t.Context(), cur.ID, curCode); err != nil {
			t.Errorf("newest challenge: %v", err)
		}
		if _, err := e.svc.Verify(t.Context(), other.ID, otherCode); err != nil {
			t.Errorf("another flow's challenge: %v", err)
		}
	})
}

func TestSendFailure(t *testing.T) {
	tests := []struct {
		kind      sms.Kind
		want      error
		status    string
		resendNow bool // a resend is allowed at once (nothing went out)
	}{
		{sms.Transient, mfa.ErrSendFailed, "failed", true},
		{sms.Config, mfa.ErrSendFailed, "failed", true},
		{sms.Permanent, mfa.ErrPermanentFailure, "failed", true},
		{sms.Unknown, mfa.ErrSendUnknown, "unknown", false},
	}
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		for _, tc := range tests {
			t.Run(tc.kind.String(), func(t *testing.T) {
				t.Run("start", func(t *testing.T) {
					e := newEnv(t, open)
					e.sender.FailWith(tc.kind)
					c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "flow-a", UserID: "user-1", Phone: testPhone, Locale: "en"})
					checkSendFailure(t, e, c, err, 1, tc.want, tc.status, tc.resendNow)
				})
				t.Run("resend", func(t *testing.T) {
					e := newEnv(t, open)
					c, _ := e.start(t)
					e.clock.Advance(e.svc.Policy.ResendCooldown)
					e.sender.FailWith(tc.kind)
					c, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{})
					checkSendFailure(t, e, c, err, 2, tc.want, tc.status, tc.resendNow)
				})
			})
		}
	})
}

// checkSendFailure checks the outcome of a send that failed: the error, the
// newest of deliveries delivery rows, and whether a resend (with a sender
// that works again) is allowed at once or only after the cooldown.
func checkSendFailure(t *testing.T, e *env, c *mfa.Challenge, err error, deliveries int, want error, status string, resendNow bool) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if se, ok := errors.AsType[*sms.Error](err); !ok || se.Provider != "fake" {
		t.Errorf("error %v does not carry the sender's *sms.Error", err)
	}
	if c == nil {
		t.Fatal("no challenge returned with a send failure")
	}
	ds, derr := e.svc.Deliveries(t.Context(), c.ID)
	if derr != nil || len(ds) != deliveries {
		t.Fatalf("deliveries = %+v, %v; want %d", ds, derr, deliveries)
	}
	if n := e.sender.Tries(); n != deliveries {
		t.Errorf("%d calls to the sender, want one a delivery row (%d)", n, deliveries)
	}
	d := ds[len(ds)-1]
	if d.Status != status || d.Provider != "fake" || !strings.Contains(d.Error, failText) {
		t.Errorf("delivery = %+v, want status %s, provider fake, error with %q", d, status, failText)
	}

	wantIn := time.Duration(0)
	if !resendNow {
		wantIn = e.svc.Policy.ResendCooldown
	}
	if got := e.svc.ResendIn(c); got != wantIn {
		t.Errorf("ResendIn(returned challenge) = %v, want %v", got, wantIn)
	}
	stored, gerr := e.svc.Get(t.Context(), c.ID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if got := e.svc.ResendIn(stored); got != wantIn {
		t.Errorf("ResendIn(stored challenge) = %v, want %v", got, wantIn)
	}

	e.sender.FailWith(0)
	_, err = e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{})
	if resendNow {
		if err != nil {
			t.Fatalf("resend at once: %v, want success", err)
		}
	} else {
		if !errors.Is(err, mfa.ErrResendTooSoon) {
			t.Fatalf("resend at once: %v, want ErrResendTooSoon", err)
		}
		e.clock.Advance(e.svc.Policy.ResendCooldown)
		if _, err := e.svc.Resend(t.Context(), c.ID, "en", netip.Addr{}); err != nil {
			t.Fatalf("resend after the cooldown: %v", err)
		}
	}
	_, code := e.sender.Last(t)
	if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
		t.Errorf("code of the resend: %v", err)
	}
}

func TestVerifyNormalisesTypedCodes(t *testing.T) {
	fullWidth := func(s string) string {
		return strings.Map(func(r rune) rune { return r - '0' + '０' }, s)
	}
	tests := []struct {
		name string
		typ  func(code string) string
		ok   bool
	}{
		{"as sent", func(c string) string { return c }, true},
		{"full-width with a space (１２３ ４５６)", func(c string) string { return fullWidth(c[:3]) + " " + fullWidth(c[3:]) }, true},
		{"ideographic space", func(c string) string { return c[:3] + "\u3000" + c[3:] }, true},
		{"dash", func(c string) string { return c[:3] + "-" + c[3:] }, true},
		{"surrounding spaces", func(c string) string { return "  " + c + " " }, true},
		{"mixed widths", func(c string) string { return c[:2] + fullWidth(c[2:]) }, true},
		{"one digit short", func(c string) string { return c[:5] }, false},
		{"one digit more", func(c string) string { return c + "0" }, false},
		{"letters", func(c string) string { return c[:5] + "x" }, false},
		{"empty", func(string) string { return "" }, false},
	}
	dbtest.Each(t, func(t *testing.T, open func(t *testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, code := e.start(t)
				typed := tc.typ(code)
				_, err := e.svc.Verify(t.Context(), c.ID, typed)
				switch {
				case tc.ok && err != nil:
					t.Errorf("Verify(%q) for code %s: %v", typed, code, err)
				case !tc.ok && !errors.Is(err, mfa.ErrCodeMismatch):
					t.Errorf("Verify(%q) for code %s: %v, want ErrCodeMismatch", typed, code, err)
				}
			})
		}
	})
}
