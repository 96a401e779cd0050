package xoxzootpfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/otp/xoxzootp/xoxzootpfake"
)

const (
	phone   = "+818012345678"
	website = xoxzootpfake.DefaultWebsite
)

// post sends one request with the default credentials and returns the
// status, the Location header and the raw body.
func post(t *testing.T, srv *xoxzootpfake.Server, path, ctype, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(xoxzootpfake.DefaultSID, xoxzootpfake.DefaultToken)
	req.Header.Set("Content-Type", ctype)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func jsonBody(v map[string]string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// request issues a code and returns its msgid.
func request(t *testing.T, srv *xoxzootpfake.Server) string {
	t.Helper()
	status, _, body := post(t, srv, "/otp/request/", "application/json", jsonBody(map[string]string{"website": website, "phone_number": phone}))
	var got map[string]string
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &got) != nil || len(got["msgid"]) != 10 || len(got) != 1 {
		t.Fatalf("request: %d %s, want 201 {\"msgid\": <10 digits>}", status, body)
	}
	return got["msgid"]
}

func TestTrailingSlashAndAuth(t *testing.T) {
	srv := xoxzootpfake.New(t)
	if status, loc, _ := post(t, srv, "/otp/request", "application/json", "{}"); status != http.StatusMovedPermanently || loc != "/otp/request/" {
		t.Errorf("no slash: %d to %q, want 301 to /otp/request/", status, loc)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/otp/request/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "Authentication credentials were not provided.") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no auth: %d %s", resp.StatusCode, b)
	}
	if status, _, body := post(t, srv, "/otp/request/", "text/plain", "x"); status != 415 {
		t.Errorf("text body: %d %s, want 415", status, body)
	}
	if len(srv.OTPs()) != 0 {
		t.Error("a refused request issued a code")
	}
}

func TestVerifyShapes(t *testing.T) {
	tests := []struct {
		name  string
		ctype string
		body  func(msgid, code string) string
	}{
		{"tutorial", "application/json", func(m, c string) string { return jsonBody(map[string]string{"otp_id": m, "code": c}) }},
		{"docs with otp", "application/json", func(_, c string) string {
			return jsonBody(map[string]string{"website": website, "phone_number": phone, "otp": c})
		}},
		{"docs with otp_code", "application/json", func(_, c string) string {
			return jsonBody(map[string]string{"website": website, "phone_number": phone, "otp_code": c})
		}},
		{"union", "application/json", func(m, c string) string {
			return jsonBody(map[string]string{"website": website, "phone_number": phone, "otp_id": m, "code": c})
		}},
		{"form", "application/x-www-form-urlencoded", func(m, c string) string { return url.Values{"otp_id": {m}, "code": {c}}.Encode() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := xoxzootpfake.New(t)
			msgid := request(t, srv)
			code, ok := srv.Code(website, phone)
			if !ok || len(code) != 6 {
				t.Fatalf("code %q", code)
			}
			status, _, body := post(t, srv, "/otp/verify/", tt.ctype, tt.body(msgid, code))
			if status != 200 || body != `{"message":"OTP verified successfully."}` {
				t.Errorf("verify: %d %s", status, body)
			}
			if _, ok := srv.Code(website, phone); ok {
				t.Error("a verified code is still active")
			}
		})
	}
}

func TestVerifyRefusals(t *testing.T) {
	now := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)
	srv := xoxzootpfake.New(t, xoxzootpfake.Clock(func() time.Time { return now }), xoxzootpfake.MaxAttempts(2))
	msgid := request(t, srv)
	code, _ := srv.Code(website, phone)
	verify := func(c string) (int, string) {
		status, _, body := post(t, srv, "/otp/verify/", "application/json", jsonBody(map[string]string{"otp_id": msgid, "code": c}))
		return status, body
	}
	steps := []struct {
		code   string
		status int
		body   string
	}{
		{"999999", 400, `{"message":"Invalid OTP."}`},
		{"999999", 400, `{"message":"Invalid OTP."}`},
		{code, 400, `{"message":"Too many attempts."}`},
	}
	for i, s := range steps {
		if status, body := verify(s.code); status != s.status || body != s.body {
			t.Errorf("step %d: %d %s, want %d %s", i+1, status, body, s.status, s.body)
		}
	}
	// A locked code still blocks a new one until it expires.
	status, _, body := post(t, srv, "/otp/request/", "application/json", jsonBody(map[string]string{"website": website, "phone_number": phone}))
	if status != 400 || !strings.Contains(body, xoxzootpfake.TextActive) {
		t.Errorf("request while locked: %d %s", status, body)
	}
	srv.Advance(5 * time.Minute)
	if status, body := verify(code); status != 400 || body != `{"message":"OTP has expired."}` {
		t.Errorf("after expiry: %d %s", status, body)
	}
	status, _, body = post(t, srv, "/otp/verify/", "application/json", `{"code": "123456"}`)
	if status != 400 || body != `{"otp_id":["This field is required."]}` {
		t.Errorf("no id: %d %s", status, body)
	}
	status, _, body = post(t, srv, "/otp/verify/", "application/json", jsonBody(map[string]string{"otp_id": msgid}))
	if status != 400 || body != `{"code":["This field is required."]}` {
		t.Errorf("no code: %d %s", status, body)
	}
}

func TestFlagStyle(t *testing.T) {
	srv := xoxzootpfake.New(t, xoxzootpfake.Answers(xoxzootpfake.StyleFlag))
	msgid := request(t, srv)
	status, _, body := post(t, srv, "/otp/verify/", "application/json", jsonBody(map[string]string{"otp_id": msgid, "code": "abcdef"}))
	var got map[string]any
	_ = json.Unmarshal([]byte(body), &got)
	want := map[string]any{"verified": false, "status": "invalid", "message": xoxzootpfake.TextInvalid}
	if status != 200 || !reflect.DeepEqual(got, want) {
		t.Errorf("wrong code: %d %v, want 200 %v", status, got, want)
	}
}

func TestRegister(t *testing.T) {
	srv := xoxzootpfake.New(t)
	status, _, body := post(t, srv, "/otp/register-website/", "application/json", `{"website": "https://a.example.com", "template_id": 3}`)
	if status != 201 || body != `{"message":"Website registered successfully."}` {
		t.Errorf("register: %d %s", status, body)
	}
	status, _, body = post(t, srv, "/otp/register-website/", "application/json", jsonBody(map[string]string{"website": website}))
	if status != 400 || body != `{"website":["website info with this website already exists."]}` {
		t.Errorf("register again: %d %s", status, body)
	}
}
