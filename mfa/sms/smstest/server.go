package smstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Request is one request as a fake provider received it.
type Request struct {
	Method      string
	Path        string
	RawQuery    string
	Header      http.Header
	ContentType string // media type, without parameters
	User        string // Basic auth user, "" if none
	Password    string
	Body        []byte
	// Form is the body parsed as a form when it was form-encoded, else
	// nil: Twilio reads nothing else, so a JSON body is an empty form.
	Form url.Values
	// Fields holds the body's fields from a form or from a JSON object's
	// top level (ParseFields), as Django REST framework reads either.
	Fields url.Values
}

// Reply is a fake's answer, decided under the fake's lock and written
// after it, so a slow answer holds no lock.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON is a reply with v as its JSON body.
func JSON(status int, v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only a fake's own values are marshalled
	}
	return Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
}

// ProxyPage is the HTML error page a web server or proxy in front of an
// API answers with (Django behind nginx, Twilio's edge).
func ProxyPage(status int) Reply {
	page := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n",
		status, http.StatusText(status), status, http.StatusText(status))
	return Reply{Status: status, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte(page)}
}

// Knobs are the settings every fake has. A fake's own settings embed it.
type Knobs struct {
	// Slow delays every answer, after the request has been processed: a
	// send is recorded (the SMS "went out") and then the answer is late.
	Slow time.Duration
	// Canned, when its Status is not 0, answers every request (after
	// recording it) with exactly this reply.
	Canned Reply
	// ServerError, when not 0, answers every request with this status.
	ServerError int
	// Unauthorized answers every request as if the credentials were wrong.
	Unauthorized bool
	// Throttle, when not 0, answers every authenticated request with 429
	// and a Retry-After of this many whole seconds (rounded up).
	Throttle time.Duration
}

func (k *Knobs) knobs() *Knobs { return k }

// RetrySeconds is Throttle in whole seconds, rounded up.
func (k *Knobs) RetrySeconds() string {
	return strconv.Itoa(int((k.Throttle + time.Second - 1) / time.Second))
}

// Option sets a knob of a fake whose settings are K, at start or later
// through Apply.
type Option[K any] func(*K)

// Fake is what every fake provider server is made of: an httptest server,
// one lock, the knobs K (which embed Knobs), the requests received, and
// the loop that records a request, has the provider's answer function
// decide the reply under the lock, and writes it after Knobs.Slow.
type Fake[K any] struct {
	*httptest.Server

	// K holds the knobs. The answer function reads them under the lock;
	// elsewhere use Locked.
	K K

	mu       sync.Mutex
	requests []Request
	answer   func(r *http.Request, rec Request) Reply
}

// NewFake starts a fake with knobs k that answers through answer, which
// runs with the lock held, and closes it when the test ends. K must embed
// Knobs.
func NewFake[K any](t testing.TB, k K, answer func(r *http.Request, rec Request) Reply) *Fake[K] {
	t.Helper()
	if _, ok := any(&k).(interface{ knobs() *Knobs }); !ok {
		t.Fatalf("smstest: %T does not embed smstest.Knobs", k)
	}
	f := &Fake[K]{K: k, answer: answer}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

// Apply changes knobs while the server runs.
func (f *Fake[K]) Apply(opts ...Option[K]) {
	f.Locked(func() {
		for _, o := range opts {
			o(&f.K)
		}
	})
}

// Locked runs fn with the fake's lock held: what a fake reads or changes
// of its own state outside the answer function goes through it.
func (f *Fake[K]) Locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// Requests returns every request received so far, in order.
func (f *Fake[K]) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *Fake[K]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ctype, user, pass := ReadRequest(r)
	rec := Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
		ContentType: ctype, User: user, Password: pass, Body: body,
	}
	if ctype == "application/x-www-form-urlencoded" {
		rec.Form, _ = url.ParseQuery(string(body))
	}
	rec.Fields, _ = ParseFields(ctype, body)

	f.mu.Lock()
	f.requests = append(f.requests, rec)
	kn := any(&f.K).(interface{ knobs() *Knobs }).knobs()
	rep := kn.Canned
	if rep.Status == 0 {
		rep = f.answer(r, rec)
	} else {
		rep.Header = rep.Header.Clone()
	}
	delay := kn.Slow
	f.mu.Unlock()

	Respond(w, r, delay, rep.Status, rep.Header, rep.Body)
}

// Django is what the fakes of Xoxzo's APIs share: Xoxzo runs Django REST
// framework, whose error shapes and middleware order they copy.

// Detail is DRF's {"detail": text}.
func Detail(status int, text string) Reply {
	return JSON(status, map[string]string{"detail": text})
}

// DjangoGate answers what comes before a DRF view: a server error, then
// BasicAuthentication (realm "api"), then the throttle. ok is false when
// the view is to answer.
func DjangoGate(k *Knobs, rec Request, sid, token string) (rep Reply, ok bool) {
	if k.ServerError != 0 {
		return ProxyPage(k.ServerError), true
	}
	challenge := http.Header{"Www-Authenticate": {`Basic realm="api"`}, "Content-Type": {"application/json"}}
	if rec.User == "" && rec.Password == "" {
		rep := Detail(http.StatusUnauthorized, "Authentication credentials were not provided.")
		rep.Header = challenge
		return rep, true
	}
	if k.Unauthorized || rec.User != sid || rec.Password != token {
		rep := Detail(http.StatusUnauthorized, "Invalid username/password.")
		rep.Header = challenge
		return rep, true
	}
	if k.Throttle > 0 {
		secs := k.RetrySeconds()
		rep := Detail(http.StatusTooManyRequests, "Request was throttled. Expected available in "+secs+" seconds.")
		rep.Header.Set("Retry-After", secs)
		return rep, true
	}
	return Reply{}, false
}

// DjangoNotFound is Django's 404 page for a path no route resolves.
func DjangoNotFound() Reply {
	return Reply{Status: http.StatusNotFound, Header: http.Header{"Content-Type": {"text/html"}},
		Body: []byte("\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n")}
}

// RequireField adds DRF's message for a missing, null or blank field.
func RequireField(errs map[string][]string, f url.Values, name string) {
	v, ok := f[name]
	switch {
	case !ok:
		errs[name] = append(errs[name], "This field is required.")
	case v == nil:
		errs[name] = append(errs[name], "This field may not be null.")
	case v[0] == "":
		errs[name] = append(errs[name], "This field may not be blank.")
	}
}

// TwilioError is the body every Twilio REST error has.
func TwilioError(status, code int, message string) Reply {
	return JSON(status, map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

// TwilioGate answers what comes before a Twilio resource: a server error
// (500 and 503 in Twilio's JSON, other statuses as the edge's HTML page),
// then authentication when authed is false (401/20003), then the throttle
// (429/20429). ok is false when the resource is to answer.
func TwilioGate(k *Knobs, authed bool) (rep Reply, ok bool) {
	switch st := k.ServerError; st {
	case 0:
	case http.StatusInternalServerError:
		return TwilioError(st, 20500, "An internal server error has occurred"), true
	case http.StatusServiceUnavailable:
		return TwilioError(st, 20503, "Service unavailable"), true
	default:
		return ProxyPage(st), true
	}
	if k.Unauthorized || !authed {
		rep := TwilioError(http.StatusUnauthorized, 20003, "Authenticate")
		rep.Header.Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		return rep, true
	}
	if k.Throttle > 0 {
		rep := TwilioError(http.StatusTooManyRequests, 20429, "Too many requests")
		rep.Header.Set("Retry-After", k.RetrySeconds())
		return rep, true
	}
	return Reply{}, false
}
