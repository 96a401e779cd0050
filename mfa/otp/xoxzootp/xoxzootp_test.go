package xoxzootp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
	"github.com/smspin/idp/mfa/otp/xoxzootp/xoxzootpfake"
	"github.com/smspin/idp/mfa/sms"
)

const (
	phone   = "+818012345678"
	website = xoxzootpfake.DefaultWebsite
)

func fixed() time.Time { return time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC) }

func newFake(t *testing.T, opts ...xoxzootpfake.Option) *xoxzootpfake.Server {
	t.Helper()
	return xoxzootpfake.New(t, append([]xoxzootpfake.Option{xoxzootpfake.Clock(fixed)}, opts...)...)
}

func newClient(t *testing.T, srv *xoxzootpfake.Server) *xoxzootp.Client {
	t.Helper()
	c, err := xoxzootp.New(xoxzootp.Config{
		BaseURL:   srv.URL,
		SID:       xoxzootpfake.DefaultSID,
		AuthToken: xoxzootpfake.DefaultToken,
		Website:   website,
		HTTP:      &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestNew(t *testing.T) {
	good := xoxzootp.Config{SID: "sid", AuthToken: "token", Website: "https://login.example.com"}
	tests := []struct {
		name string
		edit func(*xoxzootp.Config)
		want []string
	}{
		{"defaults", func(*xoxzootp.Config) {}, nil},
		{"everything missing", func(c *xoxzootp.Config) { *c = xoxzootp.Config{} }, []string{"SID is empty", "auth token is empty", "website"}},
		{"website without scheme", func(c *xoxzootp.Config) { c.Website = "login.example.com" }, []string{"website"}},
		{"base URL", func(c *xoxzootp.Config) { c.BaseURL = "api.xoxzo.com" }, []string{"base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			c, err := xoxzootp.New(cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.BaseURL != xoxzootp.DefaultBaseURL || c.HTTP == nil || c.HTTP.Timeout != sms.DefaultTimeout || c.VerifyRequest == nil {
					t.Errorf("defaults not applied: %+v", c)
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

// checkRequest asserts a request's line, auth, headers and exact JSON body.
func checkRequest(t *testing.T, req xoxzootpfake.Request, path string, body map[string]any) {
	t.Helper()
	if req.Method != http.MethodPost || req.Path != path || req.RawQuery != "" {
		t.Errorf("request line = %s %s?%s, want POST %s", req.Method, req.Path, req.RawQuery, path)
	}
	if req.User != xoxzootpfake.DefaultSID || req.Password != xoxzootpfake.DefaultToken {
		t.Errorf("basic auth = %q:%q", req.User, req.Password)
	}
	if req.ContentType != "application/json" || req.Header.Get("Accept") != "application/json" {
		t.Errorf("content type %q, accept %q", req.ContentType, req.Header.Get("Accept"))
	}
	var got map[string]any
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", req.Body, err)
	}
	if !reflect.DeepEqual(got, body) {
		t.Errorf("body = %v, want exactly %v", got, body)
	}
}

func TestStartCheckApproved(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	st, err := c.Start(t.Context(), phone, "ja", "challenge-1")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	otps := srv.OTPs()
	if len(otps) != 1 {
		t.Fatalf("fake issued %d codes", len(otps))
	}
	if want := (otp.Started{Provider: "xoxzo-otp", ID: otps[0].MsgID, Channel: "sms"}); st != want {
		t.Errorf("Started = %+v, want %+v", st, want)
	}
	checkRequest(t, srv.Requests()[0], "/otp/request/", map[string]any{"website": website, "phone_number": phone})
	if otps[0].Text != "あなたの確認コードは"+otps[0].Code+"です。" || len(otps[0].Code) != 6 {
		t.Errorf("sent %+v", otps[0])
	}

	res, err := c.Check(t.Context(), st, phone, otps[0].Code)
	if err != nil || res != (otp.Result{OK: true, Final: true, Status: "approved"}) {
		t.Fatalf("Check = %+v, %v, want approved", res, err)
	}
	checkRequest(t, srv.Requests()[1], "/otp/verify/",
		map[string]any{"website": website, "phone_number": phone, "otp_id": st.ID, "code": otps[0].Code})

	res, err = c.Check(t.Context(), st, phone, otps[0].Code)
	if !errors.Is(err, otp.ErrNotFound) || sms.KindOf(err) != sms.Permanent || res != (otp.Result{Final: true, Status: "not_found"}) {
		t.Errorf("reused code: %+v, %v, want final otp.ErrNotFound", res, err)
	}
}

// TestLifecycle runs the same story against both answer styles: the
// client must read a 200 that says no as a no.
func TestLifecycle(t *testing.T) {
	for _, style := range []xoxzootpfake.Style{xoxzootpfake.StyleStatus, xoxzootpfake.StyleFlag} {
		t.Run(map[xoxzootpfake.Style]string{0: "status", 1: "flag"}[style], func(t *testing.T) {
			t.Run("wrong codes then too many", func(t *testing.T) {
				srv := newFake(t, xoxzootpfake.Answers(style))
				c := newClient(t, srv)
				st, err := c.Start(t.Context(), phone, "", "c")
				if err != nil {
					t.Fatal(err)
				}
				code, _ := srv.Code(website, phone)
				wrong := "000000"
				if code == wrong {
					wrong = "111111"
				}
				for i := 1; i <= 5; i++ {
					res, err := c.Check(t.Context(), st, phone, wrong)
					if err != nil || res != (otp.Result{Status: "pending"}) {
						t.Fatalf("wrong check %d = %+v, %v, want pending", i, res, err)
					}
				}
				res, err := c.Check(t.Context(), st, phone, code)
				if !errors.Is(err, otp.ErrTooManyChecks) || sms.KindOf(err) != sms.Permanent || res != (otp.Result{Final: true, Status: "max_attempts_reached"}) {
					t.Errorf("right code after five wrong ones = %+v, %v, want final otp.ErrTooManyChecks", res, err)
				}
			})
			t.Run("expiry", func(t *testing.T) {
				srv := newFake(t, xoxzootpfake.Answers(style))
				c := newClient(t, srv)
				st, err := c.Start(t.Context(), phone, "", "c")
				if err != nil {
					t.Fatal(err)
				}
				code, _ := srv.Code(website, phone)
				srv.Advance(5 * time.Minute)
				res, err := c.Check(t.Context(), st, phone, code)
				if !errors.Is(err, otp.ErrNotFound) || !res.Final || res.OK {
					t.Errorf("expired check = %+v, %v, want final otp.ErrNotFound", res, err)
				}
			})
			t.Run("unknown msgid", func(t *testing.T) {
				srv := newFake(t, xoxzootpfake.Answers(style))
				res, err := newClient(t, srv).Check(t.Context(), otp.Started{ID: "1234567890"}, phone, "123456")
				if !errors.Is(err, otp.ErrNotFound) || !res.Final {
					t.Errorf("check = %+v, %v, want final otp.ErrNotFound", res, err)
				}
			})
		})
	}
}

func TestVerifyRequestShapes(t *testing.T) {
	docsShape := func(website, phone, msgid, code string) any {
		return map[string]string{"website": website, "phone_number": phone, "otp": code}
	}
	tests := []struct {
		name    string
		require []string
		build   xoxzootp.VerifyRequestBuilder
		ok      bool
		text    string
	}{
		{"tutorial shape, default builder", []string{"otp_id", "code"}, nil, true, ""},
		{"docs shape with code, default builder", []string{"website", "phone_number", "code"}, nil, true, ""},
		{"docs shape with otp, default builder", []string{"website", "phone_number", "otp"}, nil, false, "otp: This field is required."},
		{"docs shape with otp, replaced builder", []string{"website", "phone_number", "otp"}, docsShape, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, xoxzootpfake.RequireVerifyFields(tt.require...))
			c := newClient(t, srv)
			c.VerifyRequest = tt.build
			st, err := c.Start(t.Context(), phone, "", "c")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := srv.Code(website, phone)
			res, err := c.Check(t.Context(), st, phone, code)
			if tt.ok {
				if err != nil || !res.OK {
					t.Errorf("Check = %+v, %v, want approved", res, err)
				}
				return
			}
			if sms.KindOf(err) != sms.Config || res.OK || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "DefaultVerifyRequest") {
				t.Errorf("Check = %+v, %v, want a config error naming the field and the builder", res, err)
			}
			leaks(t, err, code)
		})
	}
}

func TestOneActivePerNumber(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		srv := newFake(t)
		c := newClient(t, srv)
		if _, err := c.Start(t.Context(), phone, "", "c"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Start(t.Context(), phone, "", "c")
		if !errors.Is(err, otp.ErrTooManySends) || sms.KindOf(err) != sms.Permanent {
			t.Fatalf("second start: %v, want otp.ErrTooManySends, permanent", err)
		}
		leaks(t, err)
		srv.Advance(5 * time.Minute)
		if _, err := c.Start(t.Context(), phone, "", "c"); err != nil {
			t.Errorf("start after expiry: %v", err)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		srv := newFake(t, xoxzootpfake.ReplaceActive(true))
		c := newClient(t, srv)
		first, err := c.Start(t.Context(), phone, "", "c")
		if err != nil {
			t.Fatal(err)
		}
		oldCode, _ := srv.Code(website, phone)
		second, err := c.Start(t.Context(), phone, "", "c")
		if err != nil || second.ID == first.ID {
			t.Fatalf("second start = %+v, %v, want a new msgid", second, err)
		}
		if _, err := c.Check(t.Context(), first, phone, oldCode); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("replaced code: %v, want otp.ErrNotFound", err)
		}
		code, _ := srv.Code(website, phone)
		if res, err := c.Check(t.Context(), second, phone, code); err != nil || !res.OK {
			t.Errorf("new code = %+v, %v", res, err)
		}
	})
}

func leaks(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, strings.TrimPrefix(phone, "+"), xoxzootpfake.DefaultToken) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestStartErrors(t *testing.T) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		opts       []xoxzootpfake.Option
		edit       func(*xoxzootp.Client)
		to         string
		kind       sms.Kind
		status     int
		retryAfter time.Duration
		text       string
	}{
		{name: "domestic zero kept", to: "+8108012345678", kind: sms.Permanent, status: 400, text: "phone_number"},
		{name: "national number", to: "08012345678", kind: sms.Permanent, status: 400, text: "phone_number"},
		{name: "number echoed", opts: []xoxzootpfake.Option{xoxzootpfake.Canned(400, jsonHdr, `{"phone_number": ["`+phone+` is not valid"]}`)},
			kind: sms.Permanent, status: 400, text: "+81••••••5678"},
		{name: "website not registered", edit: func(c *xoxzootp.Client) { c.Website = "https://other.example.com" },
			kind: sms.Config, status: 400, text: "website: Website is not registered."},
		{name: "wrong token", edit: func(c *xoxzootp.Client) { c.AuthToken = "wrong" }, kind: sms.Config, status: 401, text: "Invalid username/password."},
		{name: "insufficient credit", opts: []xoxzootpfake.Option{xoxzootpfake.InsufficientCredit(402)}, kind: sms.Config, status: 402, text: "Insufficient credits."},
		{name: "throttled", opts: []xoxzootpfake.Option{xoxzootpfake.Throttle(30 * time.Second)},
			kind: sms.Transient, status: 429, retryAfter: 30 * time.Second, text: "throttled"},
		{name: "500 html", opts: []xoxzootpfake.Option{xoxzootpfake.ServerError(500)}, kind: sms.Transient, status: 500, text: "body: <html>"},
		{name: "503", opts: []xoxzootpfake.Option{xoxzootpfake.ServerError(503)}, kind: sms.Transient, status: 503},
		{name: "504 outcome unknown", opts: []xoxzootpfake.Option{xoxzootpfake.ServerError(504)}, kind: sms.Unknown, status: 504},
		{name: "redirect not followed", opts: []xoxzootpfake.Option{xoxzootpfake.Canned(301, http.Header{"Location": {"/otp/request/"}}, "")},
			kind: sms.Config, status: 301},
		{name: "wrong base path", edit: func(c *xoxzootp.Client) { c.BaseURL += "/v1" }, kind: sms.Config, status: 404, text: "Not Found"},
		{name: "accepted without msgid", opts: []xoxzootpfake.Option{xoxzootpfake.Canned(201, jsonHdr, `{"message": "ok"}`)},
			kind: sms.Unknown, status: 201, text: "no msgid"},
		{name: "accepted with a non-JSON answer", opts: []xoxzootpfake.Option{xoxzootpfake.Canned(201, nil, "Created")},
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
			_, err := c.Start(t.Context(), to, "ja", "c")
			se, ok := errors.AsType[*sms.Error](err)
			if !ok {
				t.Fatalf("Start error = %v, want *sms.Error", err)
			}
			if se.Kind != tt.kind || se.Status != tt.status || se.RetryAfter != tt.retryAfter || se.Provider != "xoxzo-otp" {
				t.Errorf("got kind %v status %d retry %v provider %q, want %v %d %v (%v)",
					se.Kind, se.Status, se.RetryAfter, se.Provider, tt.kind, tt.status, tt.retryAfter, err)
			}
			if errors.Is(err, otp.ErrTooManySends) || errors.Is(err, otp.ErrNotFound) {
				t.Errorf("error %v matches an otp sentinel", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q lacks %q", err, tt.text)
			}
			leaks(t, err)
		})
	}
}

func TestStartAnswerShapes(t *testing.T) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	for body, want := range map[string]string{
		`{"msgid": "1234567890"}`:      "1234567890",
		`{"msgid": 1234567890}`:        "1234567890",
		`[{"msgid": "tHi5i5y0urMsG"}]`: "tHi5i5y0urMsG",
	} {
		t.Run(body, func(t *testing.T) {
			srv := newFake(t, xoxzootpfake.Canned(201, jsonHdr, body))
			st, err := newClient(t, srv).Start(t.Context(), phone, "", "c")
			if err != nil || st.ID != want {
				t.Errorf("Start = %+v, %v, want id %q", st, err, want)
			}
		})
	}
}

func TestCheckAnswers(t *testing.T) {
	const code = "482913"
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	approved := otp.Result{OK: true, Final: true, Status: "approved"}
	wrong := otp.Result{Status: "pending"}
	gone := otp.Result{Final: true, Status: "not_found"}
	tooMany := otp.Result{Final: true, Status: "max_attempts_reached"}
	tests := []struct {
		name     string
		status   int
		header   http.Header
		body     string
		want     otp.Result
		kind     sms.Kind // 0: no error
		sentinel error
	}{
		{name: "200 message", status: 200, body: `{"message": "OTP verified successfully."}`, want: approved},
		// An empty answer is never an approval: a proxy or a wrong base URL
		// could give one for any code.
		{name: "200 empty object", status: 200, body: `{}`, kind: sms.Unknown},
		{name: "200 no body", status: 200, kind: sms.Unknown},
		{name: "204", status: 204, kind: sms.Unknown},
		{name: "201 status success", status: 201, body: `{"status": "success"}`, want: approved},
		{name: "200 verified true", status: 200, body: `{"verified": true, "msgid": "1234567890"}`, want: approved},
		{name: "200 verified false", status: 200, body: `{"verified": false}`, want: wrong},
		{name: "200 success false with text", status: 200, body: `{"success": false, "message": "Invalid OTP."}`, want: wrong},
		{name: "200 unknown status word", status: 200, body: `{"status": "pending_review"}`, want: wrong},
		{name: "200 says expired", status: 200, body: `{"verified": false, "status": "expired"}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "200 says too many", status: 200, body: `{"status": "max_attempts_reached"}`, want: tooMany, kind: sms.Permanent, sentinel: otp.ErrTooManyChecks},
		{name: "200 html", status: 200, header: http.Header{"Content-Type": {"text/html"}}, body: "<html>Welcome</html>", kind: sms.Unknown},
		{name: "400 invalid", status: 400, body: `{"message": "Invalid OTP."}`, want: wrong},
		{name: "400 field error on code", status: 400, body: `{"code": ["Incorrect code."]}`, want: wrong},
		{name: "400 unrecognised text", status: 400, body: `{"detail": "Nope."}`, want: wrong},
		{name: "400 japanese", status: 400, body: `{"message": "認証コードが一致しません。"}`, want: wrong},
		{name: "400 expired", status: 400, body: `{"message": "OTP has expired."}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "400 no active", status: 400, body: `{"message": "No active OTP for this phone number."}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "400 already verified", status: 400, body: `{"non_field_errors": ["OTP already verified."]}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "400 otp_id refused", status: 400, body: `{"otp_id": ["Invalid pk \"1\"."]}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "400 too many", status: 400, body: `{"detail": "Too many attempts. Wait until the OTP expires."}`, want: tooMany, kind: sms.Permanent, sentinel: otp.ErrTooManyChecks},
		{name: "400 code field missing", status: 400, body: `{"otp": ["This field is required."]}`, kind: sms.Config},
		{name: "400 id field missing", status: 400, body: `{"otp_id": ["This field is required."]}`, kind: sms.Config},
		{name: "400 website", status: 400, body: `{"website": ["Website is not registered."]}`, kind: sms.Config},
		{name: "400 json parse error", status: 400, body: `{"detail": "JSON parse error - Expecting value"}`, kind: sms.Config},
		{name: "404 json", status: 404, body: `{"detail": "Not found."}`, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "404 empty", status: 404, want: gone, kind: sms.Permanent, sentinel: otp.ErrNotFound},
		{name: "404 html is the wrong URL", status: 404, header: http.Header{"Content-Type": {"text/html"}}, body: "<html>Not Found</html>", kind: sms.Config},
		{name: "429 throttle", status: 429, header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"7"}},
			body: `{"detail": "Request was throttled. Expected available in 7 seconds."}`, kind: sms.Transient},
		{name: "429 too many requests", status: 429, body: `{"detail": "Too many requests."}`, kind: sms.Transient},
		{name: "429 attempts", status: 429, body: `{"message": "Too many attempts."}`, want: tooMany, kind: sms.Permanent, sentinel: otp.ErrTooManyChecks},
		{name: "401", status: 401, body: `{"detail": "Invalid username/password."}`, kind: sms.Config},
		{name: "500", status: 500, body: "<html>500</html>", kind: sms.Transient},
		{name: "504", status: 504, body: "<html>504</html>", kind: sms.Unknown},
		{name: "echoes number and code", status: 400, body: `{"message": "Invalid OTP ` + code + ` for ` + phone + `"}`, want: wrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = jsonHdr
			}
			srv := newFake(t, xoxzootpfake.Canned(tt.status, h, tt.body))
			res, err := newClient(t, srv).Check(t.Context(), otp.Started{Provider: "xoxzo-otp", ID: "1234567890"}, phone, code)
			if res != tt.want {
				t.Errorf("Result = %+v, want %+v", res, tt.want)
			}
			if tt.kind == 0 {
				if err != nil {
					t.Errorf("Check: %v", err)
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
			if tt.name == "429 throttle" && se.RetryAfter != 7*time.Second {
				t.Errorf("retry after = %v, want 7s", se.RetryAfter)
			}
			leaks(t, err, code)
		})
	}
}

func TestMalformedCodeSendsNothing(t *testing.T) {
	for _, code := range []string{"", "123", "12a456", "１２３４５６", "12345678901"} {
		t.Run(code, func(t *testing.T) {
			srv := newFake(t)
			res, err := newClient(t, srv).Check(t.Context(), otp.Started{ID: "1"}, phone, code)
			if err != nil || res != (otp.Result{Status: "malformed"}) {
				t.Errorf("Check = %+v, %v", res, err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("fake saw %d requests", n)
			}
		})
	}
}

func TestRegisterWebsite(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	c.Website = "https://new.example.com"
	if err := c.RegisterWebsite(t.Context()); err != nil {
		t.Fatalf("RegisterWebsite: %v", err)
	}
	checkRequest(t, srv.Requests()[0], "/otp/register-website/", map[string]any{"website": "https://new.example.com"})
	if got := srv.Websites(); !reflect.DeepEqual(got, []string{"https://login.example.com", "https://new.example.com"}) {
		t.Errorf("registered = %v", got)
	}
	if err := c.RegisterWebsite(t.Context()); err != nil {
		t.Errorf("registering again: %v, want nil", err)
	}
	if _, err := c.Start(t.Context(), phone, "", "c"); err != nil {
		t.Errorf("Start for the new website: %v", err)
	}
	c.AuthToken = "wrong"
	if err := c.RegisterWebsite(t.Context()); sms.KindOf(err) != sms.Config {
		t.Errorf("with a wrong token: %v, want a config error", err)
	}
}

func TestTransport(t *testing.T) {
	t.Run("start times out after the request left", func(t *testing.T) {
		srv := newFake(t, xoxzootpfake.Slow(10*time.Second))
		c := newClient(t, srv)
		c.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := c.Start(t.Context(), phone, "", "c")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("kind = %v (%v), want unknown_outcome wrapping a deadline", k, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Start took %v", took)
		}
		if n := len(srv.OTPs()); n != 1 {
			t.Errorf("fake issued %d codes; the point is that the code went out", n)
		}
	})
	t.Run("check deadline after the request left", func(t *testing.T) {
		srv := newFake(t)
		c := newClient(t, srv)
		st, err := c.Start(t.Context(), phone, "", "c")
		if err != nil {
			t.Fatal(err)
		}
		srv.Apply(xoxzootpfake.Slow(10 * time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		res, err := c.Check(ctx, st, phone, "000000")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) || res.OK {
			t.Errorf("Check = %+v, kind %v (%v)", res, k, err)
		}
		if o := srv.OTPs()[0]; o.Attempts != 1 {
			t.Errorf("fake counted %d attempts; the late answer still used one", o.Attempts)
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
		_, err = c.Check(ctx, otp.Started{ID: "1"}, phone, "123456")
		if k := sms.KindOf(err); k != sms.Transient || !errors.Is(err, context.Canceled) {
			t.Errorf("Check kind = %v (%v), want transient wrapping context.Canceled", k, err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("fake saw %d requests", n)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		srv := newFake(t, xoxzootpfake.Slow(10*time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := newClient(t, srv).Start(ctx, phone, "", "c")
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.Canceled) {
			t.Errorf("kind = %v (%v), want unknown_outcome wrapping context.Canceled", k, err)
		}
	})
}
