package xoxzootp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
	"github.com/smspin/idp/mfa/sms"
)

// answer is one made-up response of the provider. The fuzz targets serve
// it through an http.RoundTripper rather than a listening server: any
// status code and header reaches the client the same way, a thousand
// times faster, and the body can break off part way as a dropped
// connection does.
type answer struct {
	status     int
	retryAfter string
	ctype      string
	body       []byte
	cut        int // > 0: the body ends in an error after cut bytes
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// failingBody returns its bytes, then an error: the connection dropped.
type failingBody struct{ r io.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (failingBody) Close() error { return nil }

func (a answer) client() *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		h := http.Header{}
		if a.retryAfter != "" {
			h.Set("Retry-After", a.retryAfter)
		}
		if a.ctype != "" {
			h.Set("Content-Type", a.ctype)
		}
		var body io.ReadCloser = io.NopCloser(strings.NewReader(string(a.body)))
		if a.cut > 0 && a.cut < len(a.body) {
			body = failingBody{strings.NewReader(string(a.body[:a.cut]))}
		}
		return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Header: h, Body: body,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r}, nil
	})}
}

// statusCode keeps a fuzzed status to the three digits HTTP has.
func statusCode(s uint16) int {
	if s < 100 || s > 999 {
		return 100 + int(s)%900
	}
	return int(s)
}

// checkError asserts what every provider failure must be: an *sms.Error
// of this provider with a Kind, a bounded Retry-After, and text (which is
// logged) that shows neither the number nor the code.
func checkError(t *testing.T, err error, provider string, m sms.Message) *sms.Error {
	t.Helper()
	var se *sms.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %q is not an *sms.Error", err, err)
	}
	switch se.Kind {
	case sms.Transient, sms.Permanent, sms.Unknown, sms.Config:
	default:
		t.Fatalf("error %q has no Kind (%d)", err, se.Kind)
	}
	if se.Provider != provider {
		t.Fatalf("error %q names provider %q, want %q", err, se.Provider, provider)
	}
	if se.RetryAfter < 0 || se.RetryAfter > 24*time.Hour {
		t.Fatalf("error %q has RetryAfter %v", err, se.RetryAfter)
	}
	text := err.Error()
	for _, secret := range []string{m.To, strings.TrimPrefix(m.To, "+"), m.Code} {
		if secret != "" && strings.Contains(text, secret) {
			t.Fatalf("error text %q shows %q", text, secret)
		}
	}
	return se
}

// checkResult asserts what a verdict must be whatever the answer: an
// approval only from a 2xx answer and without an error, and final.
func checkResult(t *testing.T, a answer, res otp.Result, err error) {
	t.Helper()
	if res.OK && (err != nil || !res.Final || a.status/100 != 2) {
		t.Fatalf("status %d: approved (%+v) with error %v", a.status, res, err)
	}
}

const (
	fuzzTo   = "+818012345678"
	fuzzCode = "482913"
)

// FuzzResponse answers Start and Check with arbitrary status codes,
// Retry-After headers and bodies, whole or broken off. No answer may make
// the client panic; every failure is a classified *sms.Error that masks
// the number and the code; a code is approved only on a 2xx answer.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), uint16(201), "", `{"msgid":"0123456789abcdef"}`, 0)
	f.Add(uint8(0), uint16(201), "", `[{"msgid":12345}]`, 0)
	f.Add(uint8(0), uint16(201), "", `{"msgid":null}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"phone_number":["Invalid phone number +818012345678"]}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"non_field_errors":["An OTP is already active for this number"]}`, 0)
	f.Add(uint8(0), uint16(401), "", `{"detail":"Invalid username/password."}`, 0)
	f.Add(uint8(0), uint16(429), "60", `{"detail":"Request was throttled."}`, 0)
	f.Add(uint8(1), uint16(200), "", ``, 0)
	f.Add(uint8(1), uint16(200), "", `{"verified":false}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"status":"approved","phone_number":"+818012345678"}`, 0)
	f.Add(uint8(1), uint16(200), "", `<html>proxy</html>`, 0)
	f.Add(uint8(1), uint16(200), "", `{"detail":"OK"}`, 3)
	f.Add(uint8(1), uint16(400), "", `{"code":["Invalid code 482913"]}`, 0)
	f.Add(uint8(1), uint16(400), "", `{"detail":"The OTP has expired"}`, 0)
	f.Add(uint8(1), uint16(400), "", `{"otp_id":["This field is required."]}`, 0)
	f.Add(uint8(1), uint16(429), "", `{"detail":"Too many attempts"}`, 0)
	f.Add(uint8(1), uint16(404), "", ``, 0)
	f.Add(uint8(1), uint16(400), "", `{"+818012345678":["x"],"482913":true,"818012345678":1}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := answer{status: statusCode(status), retryAfter: retryAfter, body: []byte(body), cut: cut, ctype: "application/json"}
		c, err := xoxzootp.New(xoxzootp.Config{BaseURL: "https://api.xoxzo.test", SID: "sid", AuthToken: "token",
			Website: "https://login.example.com", HTTP: a.client()})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := sms.Message{To: fuzzTo, Code: fuzzCode}
		switch op % 2 {
		case 0:
			s, err := c.Start(ctx, fuzzTo, "ja", "challenge-1")
			if err != nil {
				// The provider makes the code: only the number is ours to hide.
				checkError(t, err, xoxzootp.Provider, sms.Message{To: fuzzTo})
				return
			}
			if a.status/100 != 2 || s.ID == "" || s.Provider != xoxzootp.Provider {
				t.Fatalf("status %d: started %+v", a.status, s)
			}
		case 1:
			res, err := c.Check(ctx, otp.Started{Provider: xoxzootp.Provider, ID: "0123456789abcdef"}, fuzzTo, fuzzCode)
			if err != nil {
				checkError(t, err, xoxzootp.Provider, m)
			}
			checkResult(t, a, res, err)
		}
	})
}
