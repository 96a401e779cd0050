package xoxzo_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
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

var fuzzMessage = sms.Message{
	To: "+818012345678", Body: "ExampleCo の認証コード: 482913\n\n@login.example.com #482913",
	Code: "482913", Locale: "ja", Ref: "challenge-1",
}

// FuzzResponse answers Send, Status and Credits with arbitrary status
// codes, Retry-After headers and bodies, whole or broken off. No answer
// may make the client panic; every failure is a classified *sms.Error
// that masks the number and code; a send succeeds only on 200 or 201
// with a msgid.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), false, uint16(201), "", `[{"msgid":"0123456789abcdef"}]`, 0)
	f.Add(uint8(0), true, uint16(201), "", `[{"msgid":""}]`, 0)
	f.Add(uint8(0), false, uint16(201), "", `[{"msgid":"0123456789abcdef"}]`, 10)
	f.Add(uint8(0), false, uint16(400), "", `{"recipient":["Invalid recipient +818012345678"]}`, 0)
	f.Add(uint8(0), false, uint16(400), "", `{"+818012345678":["482913"],"detail":{"code":"482913"}}`, 0)
	f.Add(uint8(0), true, uint16(400), "", `{"non_field_errors":["Template 7 is not approved"]}`, 0)
	f.Add(uint8(0), false, uint16(402), "", `{"detail":"Insufficient credit"}`, 0)
	f.Add(uint8(0), false, uint16(429), "120", `{"detail":"Request was throttled."}`, 0)
	f.Add(uint8(0), false, uint16(429), "Sun, 06 Nov 9994 08:49:37 GMT", ``, 0)
	f.Add(uint8(0), false, uint16(502), "", `<html><body>Bad gateway for 818012345678</body></html>`, 0)
	f.Add(uint8(0), false, uint16(504), "", ``, 0)
	f.Add(uint8(0), false, uint16(301), "", `moved`, 0)
	f.Add(uint8(0), false, uint16(200), "", `[1, "x", {"msgid": 7}]`, 0)
	f.Add(uint8(1), false, uint16(200), "", `{"msgid":"m1","status":"DELIVERED","sent_time":"2026-06-01 12:00:00","cost":"7.5"}`, 0)
	f.Add(uint8(1), false, uint16(200), "", `{"status":"WEIRD","cost":1e400}`, 0)
	f.Add(uint8(1), false, uint16(404), "", `{"detail":"Not found."}`, 0)
	f.Add(uint8(2), false, uint16(200), "", `{"credits": 1200.5}`, 0)
	f.Add(uint8(2), false, uint16(200), "", `{"credits": null}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, template bool, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := answer{status: statusCode(status), retryAfter: retryAfter, body: []byte(body), cut: cut, ctype: "application/json"}
		cfg := xoxzo.Config{BaseURL: "https://api.xoxzo.test", SID: "sid", AuthToken: "token", Sender: "IDPTEST", HTTP: a.client()}
		if template {
			cfg.TemplateID = "7"
		}
		c, err := xoxzo.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		switch op % 3 {
		case 0:
			r, err := c.Send(ctx, fuzzMessage)
			if err != nil {
				se := checkError(t, err, "xoxzo", fuzzMessage)
				switch {
				case a.status == http.StatusGatewayTimeout && se.Kind != sms.Unknown:
					t.Fatalf("504: kind %v, want unknown: the SMS may be out", se.Kind)
				case (a.status == 200 || a.status == 201) && se.Kind != sms.Unknown:
					t.Fatalf("%d with an unreadable answer: kind %v, want unknown: the SMS may be out", a.status, se.Kind)
				}
				return
			}
			if (a.status != 200 && a.status != 201) || r.MessageID == "" || r.Provider != "xoxzo" {
				t.Fatalf("status %d: receipt %+v accepted", a.status, r)
			}
		case 1:
			st, err := c.Status(ctx, "0123456789abcdef")
			if err != nil {
				checkError(t, err, "xoxzo", sms.Message{})
				return
			}
			switch st.State {
			case sms.DeliveryPending, sms.DeliveryDelivered, sms.DeliveryFailed:
			default:
				t.Fatalf("status %+v has no known state", st)
			}
		case 2:
			if _, err := c.Credits(ctx); err != nil {
				checkError(t, err, "xoxzo", sms.Message{})
			}
		}
	})
}
