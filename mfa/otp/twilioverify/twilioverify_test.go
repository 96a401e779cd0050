package twilioverify_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/twilioverify"
	"github.com/smspin/idp/mfa/otp/twilioverify/twilioverifyfake"
	"github.com/smspin/idp/mfa/sms"
)

const (
	phone   = "+818012345678"
	service = twilioverifyfake.DefaultServiceSID
)

// fixed is the fakes' clock: far from any real time, so nothing depends on
// the wall clock.
func fixed() time.Time { return time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC) }

func newFake(t *testing.T, opts ...twilioverifyfake.Option) *twilioverifyfake.Server {
	t.Helper()
	return twilioverifyfake.New(t, append([]twilioverifyfake.Option{twilioverifyfake.Clock(fixed)}, opts...)...)
}

func newClient(t *testing.T, srv *twilioverifyfake.Server) *twilioverify.Client {
	t.Helper()
	c, err := twilioverify.New(twilioverify.Config{
		BaseURL:    srv.URL,
		AccountSID: twilioverifyfake.DefaultAccountSID,
		AuthToken:  twilioverifyfake.DefaultAuthToken,
		ServiceSID: service,
		HTTP:       &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestNew(t *testing.T) {
	good := twilioverify.Config{AccountSID: twilioverifyfake.DefaultAccountSID, AuthToken: "tok", ServiceSID: service}
	tests := []struct {
		name string
		edit func(*twilioverify.Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*twilioverify.Config) {}, nil},
		{"api key instead of token", func(c *twilioverify.Config) {
			c.AccountSID, c.AuthToken, c.APIKeySID, c.APIKeySecret = "", "", "SK"+strings.Repeat("a", 32), "secret"
		}, nil},
		{"everything missing", func(c *twilioverify.Config) { *c = twilioverify.Config{} },
			[]string{"account SID", "auth token is empty", "service SID"}},
		{"service is a messaging service", func(c *twilioverify.Config) { c.ServiceSID = "MG" + strings.Repeat("0", 32) }, []string{"service SID"}},
		{"service too short", func(c *twilioverify.Config) { c.ServiceSID = "VA1234" }, []string{"service SID"}},
		{"service not hex", func(c *twilioverify.Config) { c.ServiceSID = "VA" + strings.Repeat("z", 32) }, []string{"service SID"}},
		{"api key without secret", func(c *twilioverify.Config) { c.APIKeySID = "SK" + strings.Repeat("0", 32) }, []string{"API key secret"}},
		{"api key malformed", func(c *twilioverify.Config) { c.APIKeySID, c.APIKeySecret = "AC00", "s" }, []string{"API key SID"}},
		{"base URL scheme", func(c *twilioverify.Config) { c.BaseURL = "ftp://verify.twilio.com" }, []string{"base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			c, err := twilioverify.New(cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.BaseURL != twilioverify.DefaultBaseURL || c.HTTP == nil || c.HTTP.Timeout != sms.DefaultTimeout {
					t.Errorf("defaults not applied: base %q, http %+v", c.BaseURL, c.HTTP)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// checkRequest asserts the parts of a request every call shares.
func checkRequest(t *testing.T, req twilioverifyfake.Request, path, user, pass string, form url.Values) {
	t.Helper()
	if req.Method != http.MethodPost || req.Path != path || req.RawQuery != "" {
		t.Errorf("request line = %s %s?%s, want POST %s", req.Method, req.Path, req.RawQuery, path)
	}
	if req.User != user || req.Password != pass {
		t.Errorf("basic auth = %q:%q, want %q:%q", req.User, req.Password, user, pass)
	}
	if req.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("content type = %q", req.ContentType)
	}
	if a := req.Header.Get("Accept"); a != "application/json" {
		t.Errorf("Accept = %q", a)
	}
	if !reflect.DeepEqual(req.Form, form) {
		t.Errorf("form = %v, want exactly %v", req.Form, form)
	}
}

func TestStartCheckApproved(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)

	st, err := c.Start(t.Context(), phone, "ja-JP", "challenge-1")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	v, ok := srv.Verification(phone)
	if !ok {
		t.Fatal("fake has no verification")
	}
	if want := (otp.Started{Provider: "twilio-verify", ID: v.SID, Channel: "sms"}); st != want || !strings.HasPrefix(st.ID, "VE") {
		t.Errorf("Started = %+v, want %+v", st, want)
	}
	checkRequest(t, srv.Requests()[0], "/v2/Services/"+service+"/Verifications",
		twilioverifyfake.DefaultAccountSID, twilioverifyfake.DefaultAuthToken,
		url.Values{"To": {phone}, "Channel": {"sms"}, "Locale": {"ja"}})
	sends := srv.Sends()
	if len(sends) != 1 || sends[0].To != phone || sends[0].Locale != "ja" || len(sends[0].Code) != 6 {
		t.Fatalf("sends = %+v", sends)
	}

	res, err := c.Check(t.Context(), st, phone, sends[0].Code)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if want := (otp.Result{OK: true, Final: true, Status: "approved"}); res != want {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	checkRequest(t, srv.Requests()[1], "/v2/Services/"+service+"/VerificationCheck",
		twilioverifyfake.DefaultAccountSID, twilioverifyfake.DefaultAuthToken,
		url.Values{"VerificationSid": {st.ID}, "Code": {sends[0].Code}})

	// Approved verifications are deleted: the same code again is 404/20404.
	res, err = c.Check(t.Context(), st, phone, sends[0].Code)
	if !errors.Is(err, otp.ErrNotFound) || sms.KindOf(err) != sms.Permanent {
		t.Fatalf("second check: %v, want otp.ErrNotFound, permanent", err)
	}
	if res.OK || !res.Final {
		t.Errorf("second check result = %+v, want final and not OK", res)
	}
}

func TestStartLocales(t *testing.T) {
	tests := []struct {
		in, want string // want "": no Locale field
	}{
		{"", ""}, {"ja", "ja"}, {"ja-JP", "ja"}, {"EN", "en"}, {"en_GB", "en-GB"}, {"pt-br", "pt-BR"}, {"zh-Hant", "zh-HK"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			srv := newFake(t)
			if _, err := newClient(t, srv).Start(t.Context(), phone, tt.in, "c"); err != nil {
				t.Fatalf("Start: %v", err)
			}
			form := srv.Requests()[0].Form
			if _, has := form["Locale"]; has != (tt.want != "") || form.Get("Locale") != tt.want {
				t.Errorf("Locale field = %v, want %q", form["Locale"], tt.want)
			}
		})
	}
}

func TestCheckByTo(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	if _, err := c.Start(t.Context(), phone, "en", "c"); err != nil {
		t.Fatal(err)
	}
	code, _ := srv.Code(phone)
	res, err := c.Check(t.Context(), otp.Started{Provider: "twilio-verify"}, phone, code)
	if err != nil || !res.OK {
		t.Fatalf("Check = %+v, %v", res, err)
	}
	if got, want := srv.Requests()[1].Form, (url.Values{"To": {phone}, "Code": {code}}); !reflect.DeepEqual(got, want) {
		t.Errorf("form = %v, want %v", got, want)
	}
	_, err = c.Check(t.Context(), otp.Started{}, "", code)
	if sms.KindOf(err) != sms.Config || len(srv.Requests()) != 2 {
		t.Errorf("check with neither sid nor number: %v after %d requests, want a config error and no request", err, len(srv.Requests()))
	}
}

func TestAPIKeyAuth(t *testing.T) {
	key, secret := "SK"+strings.Repeat("1", 32), "key-secret"
	srv := newFake(t, twilioverifyfake.APIKey(key, secret))
	c, err := twilioverify.New(twilioverify.Config{BaseURL: srv.URL, APIKeySID: key, APIKeySecret: secret, ServiceSID: service})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(t.Context(), phone, "", "c"); err != nil {
		t.Fatalf("Start with an API key: %v", err)
	}
	if req := srv.Requests()[0]; req.User != key || req.Password != secret {
		t.Errorf("basic auth = %q:%q, want the API key", req.User, req.Password)
	}
}

func TestWrongCodesThenTooManyChecks(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	st, err := c.Start(t.Context(), phone, "en", "c")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := srv.Code(phone)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 5; i++ {
		res, err := c.Check(t.Context(), st, phone, wrong)
		if err != nil {
			t.Fatalf("wrong check %d: %v", i, err)
		}
		if want := (otp.Result{Status: "pending"}); res != want {
			t.Errorf("wrong check %d = %+v, want %+v", i, res, want)
		}
	}
	// The right code no longer helps: 429/60202 until the verification expires.
	res, err := c.Check(t.Context(), st, phone, code)
	if !errors.Is(err, otp.ErrTooManyChecks) || sms.KindOf(err) != sms.Permanent {
		t.Fatalf("sixth check: %v, want otp.ErrTooManyChecks, permanent", err)
	}
	if se, _ := errors.AsType[*sms.Error](err); se.Status != http.StatusTooManyRequests || !strings.Contains(err.Error(), "60202") {
		t.Errorf("error %v: want HTTP 429 and code 60202", err)
	}
	if want := (otp.Result{Final: true, Status: "max_attempts_reached"}); res != want {
		t.Errorf("sixth check = %+v, want %+v", res, want)
	}
	srv.Advance(10 * time.Minute)
	if _, err := c.Check(t.Context(), st, phone, code); !errors.Is(err, otp.ErrNotFound) {
		t.Errorf("check after expiry: %v, want otp.ErrNotFound", err)
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		ok      bool
	}{
		{"just before", 10*time.Minute - time.Second, true},
		{"at ten minutes", 10 * time.Minute, false},
		{"long after", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			c := newClient(t, srv)
			st, err := c.Start(t.Context(), phone, "", "c")
			if err != nil {
				t.Fatal(err)
			}
			code := srv.Sends()[0].Code
			srv.Advance(tt.advance)
			res, err := c.Check(t.Context(), st, phone, code)
			if tt.ok {
				if err != nil || !res.OK {
					t.Errorf("Check = %+v, %v, want approved", res, err)
				}
				return
			}
			if !errors.Is(err, otp.ErrNotFound) || !res.Final || res.OK {
				t.Errorf("Check = %+v, %v, want final otp.ErrNotFound", res, err)
			}
		})
	}
}

func TestTooManySends(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	var first otp.Started
	for i := 1; i <= 5; i++ {
		st, err := c.Start(t.Context(), phone, "ja", "c")
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if i == 1 {
			first = st
		} else if st != first {
			t.Errorf("start %d = %+v, want the pending verification %+v again", i, st, first)
		}
	}
	_, err := c.Start(t.Context(), phone, "ja", "c")
	if !errors.Is(err, otp.ErrTooManySends) || sms.KindOf(err) != sms.Permanent {
		t.Fatalf("sixth start: %v, want otp.ErrTooManySends, permanent", err)
	}
	se, _ := errors.AsType[*sms.Error](err)
	if se.Status != http.StatusTooManyRequests || se.RetryAfter != twilioverify.SendWindow {
		t.Errorf("status %d, retry after %v; want 429 and %v", se.Status, se.RetryAfter, twilioverify.SendWindow)
	}
	sends := srv.Sends()
	if len(sends) != 5 {
		t.Fatalf("fake sent %d SMS, want 5", len(sends))
	}
	for _, s := range sends[1:] {
		if s.Code != sends[0].Code || s.SID != first.ID {
			t.Errorf("re-send %+v differs from the first", s)
		}
	}
	// The sent code still works after the refused send.
	if res, err := c.Check(t.Context(), first, phone, sends[0].Code); err != nil || !res.OK {
		t.Errorf("Check after the refused send = %+v, %v", res, err)
	}
	srv.Advance(10 * time.Minute)
	st, err := c.Start(t.Context(), phone, "ja", "c")
	if err != nil || st.ID == first.ID {
		t.Errorf("start after the window = %+v, %v, want a new verification", st, err)
	}
}

func TestMalformedCodeSendsNothing(t *testing.T) {
	for _, code := range []string{"", "123", "12345678901"} {
		t.Run(code, func(t *testing.T) {
			srv := newFake(t)
			res, err := newClient(t, srv).Check(t.Context(), otp.Started{ID: "VE" + strings.Repeat("0", 32)}, phone, code)
			if err != nil || res != (otp.Result{Status: "malformed"}) {
				t.Errorf("Check = %+v, %v, want a wrong, non-final result", res, err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("fake saw %d requests, want 0", n)
			}
		})
	}
}

// leaks fails the test if err's text holds the full number or a secret.
func leaks(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, strings.TrimPrefix(phone, "+"), twilioverifyfake.DefaultAuthToken) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestStartErrors(t *testing.T) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		opts       []twilioverifyfake.Option
		edit       func(*twilioverify.Client)
		to         string
		locale     string
		kind       sms.Kind
		status     int
		sentinel   error
		retryAfter time.Duration
		text       string
	}{
		{name: "national number", to: "08012345678", kind: sms.Permanent, status: 400, text: "60200: Invalid parameter: To"},
		{name: "landline", opts: []twilioverifyfake.Option{twilioverifyfake.Landlines(phone)},
			kind: sms.Permanent, status: 400, text: "60205"},
		{name: "invalid number 21211 echoing it", opts: []twilioverifyfake.Option{twilioverifyfake.Fail(400, 21211, "The 'To' number "+phone+" is not a valid phone number.")},
			kind: sms.Permanent, status: 400, text: "+81••••••5678"},
		{name: "fraud guard", opts: []twilioverifyfake.Option{twilioverifyfake.Fail(403, 60410, "Verification delivery attempt blocked")},
			kind: sms.Permanent, status: 403, text: "60410"},
		{name: "unsupported locale", locale: "xx", kind: sms.Config, status: 400, text: "Invalid parameter: Locale"},
		{name: "geo permissions", opts: []twilioverifyfake.Option{twilioverifyfake.Fail(403, 60605, "Verification delivery attempt blocked by Geo-Permissions")},
			kind: sms.Config, status: 403},
		{name: "wrong token", edit: func(c *twilioverify.Client) { c.AuthToken = "wrong" }, kind: sms.Config, status: 401, text: "20003"},
		{name: "unauthorized", opts: []twilioverifyfake.Option{twilioverifyfake.Unauthorized(true)}, kind: sms.Config, status: 401},
		{name: "unknown service", edit: func(c *twilioverify.Client) { c.ServiceSID = "VA" + strings.Repeat("f", 32) },
			kind: sms.Config, status: 404, text: "20404"},
		{name: "wrong base path", edit: func(c *twilioverify.Client) { c.BaseURL += "/v1" }, kind: sms.Config, status: 404},
		{name: "throttled", opts: []twilioverifyfake.Option{twilioverifyfake.Throttle(30 * time.Second)},
			kind: sms.Transient, status: 429, retryAfter: 30 * time.Second, text: "20429"},
		{name: "same number busy", opts: []twilioverifyfake.Option{twilioverifyfake.Fail(429, 60212, "Too many concurrent requests for phone number")},
			kind: sms.Transient, status: 429},
		{name: "too many sends with Retry-After", opts: []twilioverifyfake.Option{twilioverifyfake.Canned(429,
			http.Header{"Content-Type": {"application/json"}, "Retry-After": {"120"}},
			`{"code":60203,"message":"Max send attempts reached","more_info":"https://www.twilio.com/docs/errors/60203","status":429}`)},
			kind: sms.Permanent, status: 429, sentinel: otp.ErrTooManySends, retryAfter: 2 * time.Minute},
		{name: "500", opts: []twilioverifyfake.Option{twilioverifyfake.ServerError(500)}, kind: sms.Transient, status: 500, text: "20500"},
		{name: "502 html", opts: []twilioverifyfake.Option{twilioverifyfake.ServerError(502)}, kind: sms.Transient, status: 502, text: "non-JSON answer"},
		{name: "503", opts: []twilioverifyfake.Option{twilioverifyfake.ServerError(503)}, kind: sms.Transient, status: 503},
		{name: "504 outcome unknown", opts: []twilioverifyfake.Option{twilioverifyfake.ServerError(504)}, kind: sms.Unknown, status: 504},
		{name: "redirect not followed", opts: []twilioverifyfake.Option{twilioverifyfake.Canned(301, http.Header{"Location": {"/elsewhere"}}, "")},
			kind: sms.Config, status: 301},
		{name: "accepted without sid", opts: []twilioverifyfake.Option{twilioverifyfake.Canned(201, jsonHdr, `{"status":"pending"}`)},
			kind: sms.Unknown, status: 201, text: "no sid"},
		{name: "accepted with a non-JSON answer", opts: []twilioverifyfake.Option{twilioverifyfake.Canned(201, nil, "OK")},
			kind: sms.Unknown, status: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, tt.opts...)
			c := newClient(t, srv)
			if tt.edit != nil {
				tt.edit(c)
			}
			to := phone
			if tt.to != "" {
				to = tt.to
			}
			_, err := c.Start(t.Context(), to, tt.locale, "c")
			se, ok := errors.AsType[*sms.Error](err)
			if !ok {
				t.Fatalf("Start error = %v, want *sms.Error", err)
			}
			if se.Kind != tt.kind || se.Status != tt.status || se.RetryAfter != tt.retryAfter || se.Provider != "twilio-verify" {
				t.Errorf("got kind %v status %d retry %v provider %q, want %v %d %v (%v)",
					se.Kind, se.Status, se.RetryAfter, se.Provider, tt.kind, tt.status, tt.retryAfter, err)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			for _, s := range []error{otp.ErrNotFound, otp.ErrTooManyChecks, otp.ErrTooManySends} {
				if s != tt.sentinel && errors.Is(err, s) {
					t.Errorf("error %v matches %v", err, s)
				}
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q lacks %q", err, tt.text)
			}
			leaks(t, err)
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("fake saw %d requests, want 1", n)
			}
		})
	}
}

func TestCheckAnswers(t *testing.T) {
	sid := "VE" + strings.Repeat("1", 32)
	started := otp.Started{Provider: "twilio-verify", ID: sid, Channel: "sms"}
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	body := func(sid, to, status string, valid bool) string {
		return `{"sid":"` + sid + `","service_sid":"` + service + `","to":"` + to + `","channel":"sms","status":"` + status +
			`","valid":` + map[bool]string{true: "true", false: "false"}[valid] + `}`
	}
	tests := []struct {
		name     string
		status   int
		body     string
		header   http.Header
		want     otp.Result
		kind     sms.Kind // 0: no error
		sentinel error
	}{
		{name: "approved 200", status: 200, body: body(sid, phone, "approved", true), want: otp.Result{OK: true, Final: true, Status: "approved"}},
		{name: "approved 201", status: 201, body: body(sid, phone, "approved", true), want: otp.Result{OK: true, Final: true, Status: "approved"}},
		{name: "approved without valid", status: 200, body: `{"sid":"` + sid + `","status":"approved"}`, want: otp.Result{OK: true, Final: true, Status: "approved"}},
		{name: "approved but valid false", status: 200, body: body(sid, phone, "approved", false), want: otp.Result{Final: true, Status: "approved"}},
		{name: "wrong code", status: 200, body: body(sid, phone, "pending", false), want: otp.Result{Status: "pending"}},
		{name: "canceled", status: 200, body: body(sid, phone, "canceled", false), want: otp.Result{Final: true, Status: "canceled"}},
		{name: "expired", status: 200, body: body(sid, phone, "expired", false), want: otp.Result{Final: true, Status: "expired"}},
		{name: "max attempts", status: 200, body: body(sid, phone, "max_attempts_reached", false), want: otp.Result{Final: true, Status: "max_attempts_reached"}},
		{name: "unknown status word", status: 200, body: body(sid, phone, "sleeping", true), want: otp.Result{Status: "sleeping"}},
		{name: "approval of another sid", status: 200, body: body("VE"+strings.Repeat("2", 32), phone, "approved", true),
			want: otp.Result{Final: true, Status: "approved"}, kind: sms.Config},
		{name: "approval of another number", status: 200, body: body(sid, "+818099999999", "approved", true),
			want: otp.Result{Final: true, Status: "approved"}, kind: sms.Config},
		{name: "not found", status: 404,
			body: `{"code":20404,"message":"The requested resource /Services/` + service + `/VerificationCheck was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`,
			want: otp.Result{Final: true, Status: "not_found"}, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "404 html is the wrong URL", status: 404, body: "<html>Not Found</html>", kind: sms.Config},
		{name: "too many checks", status: 429,
			body: `{"code":60202,"message":"Max check attempts reached","more_info":"https://www.twilio.com/docs/errors/60202","status":429}`,
			want: otp.Result{Final: true, Status: "max_attempts_reached"}, kind: sms.Permanent, sentinel: otp.ErrTooManyChecks},
		{name: "throttled", status: 429, header: http.Header{"Retry-After": {"5"}},
			body: `{"code":20429,"message":"Too many requests","status":429}`, kind: sms.Transient},
		{name: "500", status: 500, body: `{"code":20500,"message":"An internal server error has occurred","status":500}`, kind: sms.Transient},
		{name: "504", status: 504, body: "<html>Gateway Time-out</html>", kind: sms.Unknown},
		{name: "unreadable 200", status: 200, body: "OK", kind: sms.Unknown},
		{name: "200 without status", status: 200, body: `{"sid":"` + sid + `"}`, kind: sms.Unknown},
		{name: "error echoing number and code", status: 400,
			body: `{"code":60200,"message":"Invalid parameter: To ` + phone + ` with code 482913","status":400}`, kind: sms.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = jsonHdr
			}
			srv := newFake(t, twilioverifyfake.Canned(tt.status, h, tt.body))
			res, err := newClient(t, srv).Check(t.Context(), started, phone, "482913")
			if res != tt.want {
				t.Errorf("Result = %+v, want %+v", res, tt.want)
			}
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			se, ok := errors.AsType[*sms.Error](err)
			if !ok || se.Kind != tt.kind || se.Status != tt.status {
				t.Fatalf("error = %v, want *sms.Error kind %v status %d", err, tt.kind, tt.status)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			if tt.status == 429 && tt.sentinel == nil && se.RetryAfter != 5*time.Second {
				t.Errorf("retry after = %v, want 5s", se.RetryAfter)
			}
			leaks(t, err, "482913")
		})
	}
}

func TestTransport(t *testing.T) {
	t.Run("start times out after the request left", func(t *testing.T) {
		srv := newFake(t, twilioverifyfake.Slow(10*time.Second))
		c := newClient(t, srv)
		c.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := c.Start(t.Context(), phone, "", "c")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("kind = %v (%v), want unknown_outcome wrapping a deadline", k, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Start took %v despite a 200ms timeout", took)
		}
		if n := len(srv.Sends()); n != 1 {
			t.Errorf("fake sent %d SMS; the point is that the code went out", n)
		}
	})
	t.Run("check deadline after the request left", func(t *testing.T) {
		srv := newFake(t)
		c := newClient(t, srv)
		st, err := c.Start(t.Context(), phone, "", "c")
		if err != nil {
			t.Fatal(err)
		}
		srv.Apply(twilioverifyfake.Slow(10 * time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		res, err := c.Check(ctx, st, phone, "000000")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) || res.OK {
			t.Errorf("Check = %+v, kind %v (%v), want unknown_outcome, not OK", res, k, err)
		}
		if v, _ := srv.Verification(phone); v.Checks != 1 {
			t.Errorf("fake counted %d checks; the late answer still used one", v.Checks)
		}
	})
	t.Run("cancelled before sending", func(t *testing.T) {
		srv := newFake(t)
		c := newClient(t, srv)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Start(ctx, phone, "", "c")
		if k := sms.KindOf(err); k != sms.Transient || !errors.Is(err, context.Canceled) {
			t.Errorf("Start kind = %v (%v), want transient wrapping context.Canceled", k, err)
		}
		_, err = c.Check(ctx, otp.Started{ID: "VE" + strings.Repeat("0", 32)}, phone, "123456")
		if k := sms.KindOf(err); k != sms.Transient || !errors.Is(err, context.Canceled) {
			t.Errorf("Check kind = %v (%v), want transient wrapping context.Canceled", k, err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("fake saw %d requests, want 0", n)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		srv := newFake(t, twilioverifyfake.Slow(10*time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := newClient(t, srv).Start(ctx, phone, "", "c")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.Canceled) {
			t.Errorf("kind = %v (%v), want unknown_outcome wrapping context.Canceled", k, err)
		}
	})
}
