package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/idp/metrics"
	"github.com/smspin/idp/mfa/sms"
)

func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, l+"\n") {
			t.Errorf("metrics lack %q", l)
		}
	}
}

// Requests are counted by the pattern the mux matched, never by path.
func TestWrapCountsByRoute(t *testing.T) {
	r := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	srv := httptest.NewServer(r.Wrap("public", mux))
	defer srv.Close()
	for _, req := range []struct{ method, path string }{
		{"GET", "/users/1"}, {"GET", "/users/2"}, {"POST", "/login"}, {"GET", "/nowhere/secret-id"},
	} {
		hr, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	body := scrape(t, r)
	wantLines(t, body,
		`idp_http_requests_total{code="200",route="GET /users/{id}",server="public"} 2`,
		`idp_http_requests_total{code="429",route="POST /login",server="public"} 1`,
		`idp_http_requests_total{code="404",route="unmatched",server="public"} 1`,
		`idp_http_request_duration_seconds_count{code="200",route="GET /users/{id}",server="public"} 2`,
	)
	if strings.Contains(body, "secret-id") || strings.Contains(body, "/users/1") {
		t.Error("a path became a label")
	}
	wantLines(t, body, "# TYPE go_goroutines gauge", "# TYPE process_cpu_seconds_total counter")
}

// The funnel reads the engine's counters when it has them, the older
// events otherwise, and leaves out a step nothing counts.
func TestFunnelFromCounters(t *testing.T) {
	for _, tc := range []struct {
		name       string
		events     map[string]int64
		challenges map[string]int64
		want       []string
		absent     []string
	}{
		{
			name:       "engine counters",
			events:     map[string]int64{"login_started": 10, "authorize_accepted": 99, "password_ok": 8, "pin_sent": 7, "pin_ok": 6, "login_completed": 5, "login_abandoned": 3},
			challenges: map[string]int64{"sent": 50, "verified": 40},
			want: []string{
				`idp_login_funnel_total{step="started"} 10`, `idp_login_funnel_total{step="password_ok"} 8`,
				`idp_login_funnel_total{step="pin_sent"} 7`, `idp_login_funnel_total{step="pin_ok"} 6`,
				`idp_login_funnel_total{step="completed"} 5`, `idp_login_funnel_total{step="abandoned"} 3`,
			},
		},
		{
			name:       "older events",
			events:     map[string]int64{"authorize_accepted": 12, "login_completed": 4, "password_failed": 2},
			challenges: map[string]int64{"sent": 9, "verified": 5},
			want: []string{
				`idp_login_funnel_total{step="started"} 12`, `idp_login_funnel_total{step="pin_sent"} 9`,
				`idp_login_funnel_total{step="pin_ok"} 5`, `idp_login_funnel_total{step="completed"} 4`,
				// The families the text endpoint served, under their names.
				`idp_events_total{event="password_failed"} 2`, `idp_sms_challenges_total{event="sent"} 9`,
				`idp_sms_provider_attempts_total{outcome="ok",provider="xoxzo"} 3`,
			},
			absent: []string{`step="password_ok"`, `step="abandoned"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := metrics.New()
			r.Counters(metrics.Sources{
				Events:     func() map[string]int64 { return tc.events },
				Challenges: func() map[string]int64 { return tc.challenges },
				Attempts:   func() map[sms.Attempt]uint64 { return map[sms.Attempt]uint64{{Provider: "xoxzo", Outcome: "ok"}: 3} },
			})
			body := scrape(t, r)
			wantLines(t, body, tc.want...)
			for _, a := range tc.absent {
				if strings.Contains(body, a) {
					t.Errorf("metrics show %s, which nothing counts", a)
				}
			}
			// Read at scrape time: a later count shows in the next scrape.
			tc.events["login_completed"] += 100
			if !strings.Contains(scrape(t, r), `idp_login_funnel_total{step="completed"} `) {
				t.Error("no completed step")
			}
		})
	}
}

type fakeSender struct {
	err   error
	delay time.Duration
}

func (f fakeSender) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	time.Sleep(f.delay)
	return sms.Receipt{MessageID: "m1"}, f.err
}

// Each provider's sends are timed by outcome; the chain still sees the
// provider's own error, Kind and all, and fails over on it.
func TestSMSSendsByProviderAndOutcome(t *testing.T) {
	r := metrics.New()
	down := &sms.Error{Provider: "xoxzo", Kind: sms.Transient, Err: errors.New("503")}
	chain := &sms.Chain{Senders: []sms.Named{
		{Name: "xoxzo", Sender: r.SMS("xoxzo", fakeSender{err: down})},
		{Name: "twilio", Sender: r.SMS("twilio", fakeSender{delay: 20 * time.Millisecond})},
	}}
	for range 3 {
		rec, err := chain.Send(t.Context(), sms.Message{To: "+819012345678", Body: "x"})
		if err != nil || rec.Provider != "twilio" {
			t.Fatalf("chain.Send = %+v, %v; want twilio after xoxzo failed", rec, err)
		}
	}
	perm := &sms.Error{Provider: "twilio", Kind: sms.Permanent, Err: errors.New("landline")}
	if _, err := r.SMS("twilio", fakeSender{err: perm}).Send(t.Context(), sms.Message{}); !errors.Is(err, perm) || sms.KindOf(err) != sms.Permanent {
		t.Errorf("the wrapped sender changed the error: %v", err)
	}
	body := scrape(t, r)
	wantLines(t, body,
		`idp_sms_send_duration_seconds_count{outcome="transient",provider="xoxzo"} 3`,
		`idp_sms_send_duration_seconds_count{outcome="ok",provider="twilio"} 3`,
		`idp_sms_send_duration_seconds_count{outcome="permanent",provider="twilio"} 1`,
	)
	// The time is the provider's: three sends that took 20 ms or more.
	m := regexp.MustCompile(`idp_sms_send_duration_seconds_sum\{outcome="ok",provider="twilio"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no duration sum for twilio")
	}
	if sum, _ := strconv.ParseFloat(m[1], 64); sum < 0.06 {
		t.Errorf("twilio's sends took %g s in all, want at least 0.06", sum)
	}
}
