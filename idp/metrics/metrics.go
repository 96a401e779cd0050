// Package metrics exposes the provider's figures to Prometheus, with
// github.com/prometheus/client_golang: HTTP requests per route and status,
// the login funnel, SMS sends per provider, the database pool, and the Go
// runtime and process.
//
// Counters the provider already keeps (idp.Server.Counters,
// mfa.Service.Counters, sms.Chain.Attempts) are read at scrape time by a
// collector, so the code that counts needs no change and no second count
// can drift from the first.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smspin/idp/mfa/sms"
)

// Registry holds every metric of one process.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	smsTime  *prometheus.HistogramVec
}

// New returns a registry with the Go runtime and process collectors and
// the HTTP and SMS metrics; Counters and DB add the rest.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idp_http_requests_total",
		Help: "HTTP requests answered, by listener, route pattern and status code.",
	}, []string{"server", "route", "code"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "idp_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by listener, route pattern and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"server", "route", "code"})
	r.smsTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "idp_sms_send_duration_seconds",
		Help:    "Time a provider took to answer one send, by provider and outcome (ok, transient, permanent, unknown_outcome, config); its _count is sends per outcome.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30},
	}, []string{"provider", "outcome"})
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.requests, r.latency, r.smsTime,
	)
	return r
}

// Handler serves the metrics in the Prometheus exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// DB adds the connection pool's figures (database/sql DBStats): open,
// in use and idle connections, waits and the time spent waiting.
func (r *Registry) DB(db *sql.DB, name string) {
	r.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Wrap counts and times the requests next answers. The route is the
// pattern the ServeMux matched (Go 1.22 patterns such as "POST /login"),
// read after next returns, so next must be the mux or hand it the same
// *http.Request; requests that no pattern matched count as "unmatched".
// Paths themselves never become labels: they carry ids and are unbounded.
func (r *Registry) Wrap(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, req)
		route := req.Pattern
		if route == "" {
			route = "unmatched"
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		labels := prometheus.Labels{"server": server, "route": route, "code": strconv.Itoa(code)}
		r.requests.With(labels).Inc()
		r.latency.With(labels).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SMS wraps one provider's Sender so that each send is timed and counted
// by provider and outcome. The chain's failover is unchanged: the error
// is passed on as it came.
func (r *Registry) SMS(provider string, s sms.Sender) sms.Sender {
	return &timedSender{next: s, provider: provider, hist: r.smsTime}
}

type timedSender struct {
	next     sms.Sender
	provider string
	hist     *prometheus.HistogramVec
}

func (t *timedSender) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	start := time.Now()
	rec, err := t.next.Send(ctx, m)
	outcome := "ok"
	if err != nil {
		outcome = sms.KindOf(err).String()
	}
	t.hist.WithLabelValues(t.provider, outcome).Observe(time.Since(start).Seconds())
	return rec, err
}

// Sources are the counters the provider keeps, read at each scrape.
// Each may be nil.
type Sources struct {
	Events     func() map[string]int64       // idp.Server.Counters
	Challenges func() map[string]int64       // mfa.Service.Counters
	Attempts   func() map[sms.Attempt]uint64 // sms.Chain.Attempts
}

// Counters adds the provider's own counters: the login funnel, and the
// families the text endpoint served before (idp_events_total,
// idp_sms_challenges_total, idp_sms_provider_attempts_total), under their
// old names.
func (r *Registry) Counters(src Sources) {
	r.reg.MustRegister(&counterCollector{src: src})
}

var (
	funnelDesc = prometheus.NewDesc("idp_login_funnel_total",
		"Logins that reached each step since start: started, password_ok, pin_sent, pin_ok, completed, abandoned.",
		[]string{"step"}, nil)
	eventsDesc = prometheus.NewDesc("idp_events_total",
		"Login and protocol events.", []string{"event"}, nil)
	challengesDesc = prometheus.NewDesc("idp_sms_challenges_total",
		"SMS challenge outcomes; sent against verified shows SMS pumping.", []string{"event"}, nil)
	attemptsDesc = prometheus.NewDesc("idp_sms_provider_attempts_total",
		"Sends tried per provider and outcome (failover included).", []string{"provider", "outcome"}, nil)
)

// funnelSteps maps each funnel step to the counters that measure it, the
// login engine's own first, then the older events that stood for it.
var funnelSteps = []struct {
	step    string
	events  []string // in Sources.Events
	mfaEach []string // in Sources.Challenges, when no event is there
}{
	{"started", []string{"login_started", "authorize_accepted"}, nil},
	{"password_ok", []string{"password_ok"}, nil},
	{"pin_sent", []string{"pin_sent"}, []string{"sent"}},
	{"pin_ok", []string{"pin_ok"}, []string{"verified"}},
	{"completed", []string{"login_completed"}, nil},
	{"abandoned", []string{"login_abandoned"}, nil},
}

type counterCollector struct{ src Sources }

func (c *counterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- funnelDesc
	ch <- eventsDesc
	ch <- challengesDesc
	ch <- attemptsDesc
}

func (c *counterCollector) Collect(ch chan<- prometheus.Metric) {
	var events, challenges map[string]int64
	if c.src.Events != nil {
		events = c.src.Events()
	}
	if c.src.Challenges != nil {
		challenges = c.src.Challenges()
	}
	// A step is reported once a counter for it exists: a step the running
	// engine does not count is absent, not a false zero.
	for _, s := range funnelSteps {
		if v, ok := first(events, s.events); ok {
			ch <- prometheus.MustNewConstMetric(funnelDesc, prometheus.CounterValue, float64(v), s.step)
		} else if v, ok := first(challenges, s.mfaEach); ok {
			ch <- prometheus.MustNewConstMetric(funnelDesc, prometheus.CounterValue, float64(v), s.step)
		}
	}
	for _, k := range sortedKeys(events) {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(events[k]), k)
	}
	for _, k := range sortedKeys(challenges) {
		ch <- prometheus.MustNewConstMetric(challengesDesc, prometheus.CounterValue, float64(challenges[k]), k)
	}
	if c.src.Attempts != nil {
		for a, n := range c.src.Attempts() {
			ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.CounterValue, float64(n), a.Provider, a.Outcome)
		}
	}
}

func first(m map[string]int64, names []string) (int64, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return 0, false
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
