package xoxzo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
	"github.com/smspin/idp/mfa/sms/xoxzo/xoxzofake"
)

const pinTemplate = "【ExampleCo】認証コード: {code}\n\n@login.example.com #{code}"

func newClient(t *testing.T, srv *xoxzofake.Server, templateID string) *xoxzo.Client {
	t.Helper()
	c, err := xoxzo.New(xoxzo.Config{
		BaseURL:    srv.URL,
		SID:        xoxzofake.DefaultSID,
		AuthToken:  xoxzofake.DefaultToken,
		Sender:     "IDPTEST",
		TemplateID: templateID,
		HTTP:       &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func pinMessage() sms.Message {
	return sms.Message{
		To:     "+818012345678",
		Body:   "ExampleCo の認証コード: 482913\n\n@login.example.com #482913",
		Code:   "482913",
		Locale: "ja",
		Ref:    "challenge-1",
	}
}

func TestNew(t *testing.T) {
	good := xoxzo.Config{SID: "sid", AuthToken: "token", Sender: "XOXZO"}
	tests := []struct {
		name string
		edit func(*xoxzo.Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*xoxzo.Config) {}, nil},
		{"numeric sender", func(c *xoxzo.Config) { c.Sender = "123456789012345" }, nil},
		{"template", func(c *xoxzo.Config) { c.TemplateID = "7" }, nil},
		{"everything missing", func(c *xoxzo.Config) { *c = xoxzo.Config{} }, []string{"SID is empty", "auth token is empty", "sender is empty"}},
		{"sender too long", func(c *xoxzo.Config) { c.Sender = "ABCDEFGHIJK" }, []string{"1-10 letters"}},
		{"sender with space", func(c *xoxzo.Config) { c.Sender = "EXAMPLE CO" }, []string{"1-10 letters"}},
		{"template not numeric", func(c *xoxzo.Config) { c.TemplateID = "../7" }, []string{"not a number"}},
		{"base URL scheme", func(c *xoxzo.Config) { c.BaseURL = "ftp://api.xoxzo.com" }, []string{"base URL"}},
		{"base URL query", func(c *xoxzo.Config) { c.BaseURL = "https://api.xoxzo.com/?x=1" }, []string{"base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			c, err := xoxzo.New(cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.BaseURL != xoxzo.DefaultBaseURL || c.HTTP == nil || c.HTTP.Timeout != sms.DefaultTimeout {
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

func TestSendFreeText(t *testing.T) {
	srv := xoxzofake.New(t)
	c := newClient(t, srv, "")
	m := pinMessage()

	got, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake accepted %d messages, want 1", len(msgs))
	}
	want := sms.Receipt{Provider: "xoxzo", MessageID: msgs[0].MsgID, Status: "queued"}
	if got != want || len(got.MessageID) != 32 {
		t.Errorf("receipt = %+v, want %+v with a 32-char msgid", got, want)
	}

	req := srv.Requests()[0]
	if req.Method != http.MethodPost || req.Path != "/sms/messages/" || req.RawQuery != "" {
		t.Errorf("request line = %s %s?%s, want POST /sms/messages/", req.Method, req.Path, req.RawQuery)
	}
	if req.User != xoxzofake.DefaultSID || req.Password != xoxzofake.DefaultToken {
		t.Errorf("basic auth = %q:%q", req.User, req.Password)
	}
	if req.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("content type = %q", req.ContentType)
	}
	if a := req.Header.Get("Accept"); a != "application/json" {
		t.Errorf("Accept = %q", a)
	}
	wantFields := url.Values{"recipient": {m.To}, "sender": {"IDPTEST"}, "message": {m.Body}}
	if !reflect.DeepEqual(req.Fields, wantFields) {
		t.Errorf("form = %v, want exactly %v", req.Fields, wantFields)
	}
	if msgs[0].Text != m.Body || msgs[0].Recipient != m.To || msgs[0].Sender != "IDPTEST" {
		t.Errorf("recorded %+v", msgs[0])
	}
}

func TestSendTemplate(t *testing.T) {
	for _, content := range []string{pinTemplate, "【ExampleCo】認証コード: {{code}}\n\n@login.example.com #{{code}}"} {
		t.Run(content[len(content)-8:], func(t *testing.T) {
			srv := xoxzofake.New(t, xoxzofake.AddTemplate("7", content, "APPROVED"))
			c := newClient(t, srv, "7")
			m := pinMessage()

			got, err := c.Send(t.Context(), m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			req := srv.Requests()[0]
			if req.Method != http.MethodPost || req.Path != "/sms/templates/7/messages/" {
				t.Errorf("request line = %s %s", req.Method, req.Path)
			}
			if req.ContentType != "application/json" || req.User != xoxzofake.DefaultSID || req.Password != xoxzofake.DefaultToken {
				t.Errorf("content type %q, auth %q:%q", req.ContentType, req.User, req.Password)
			}
			var body map[string]any
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			wantBody := map[string]any{"sender": "IDPTEST", "recipient": m.To, "variables": map[string]any{"code": m.Code}}
			if !reflect.DeepEqual(body, wantBody) {
				t.Errorf("body = %v, want exactly %v", body, wantBody)
			}
			msg := srv.Messages()[0]
			if want := "【ExampleCo】認証コード: 482913\n\n@login.example.com #482913"; msg.Text != want {
				t.Errorf("rendered %q, want %q", msg.Text, want)
			}
			if got.MessageID != msg.MsgID || got.Status != "queued" {
				t.Errorf("receipt %+v", got)
			}
		})
	}
}

func TestSendTemplateNeedsCode(t *testing.T) {
	srv := xoxzofake.New(t, xoxzofake.AddTemplate("7", pinTemplate, "APPROVED"))
	c := newClient(t, srv, "7")
	m := pinMessage()
	m.Code = ""
	_, err := c.Send(t.Context(), m)
	if k := sms.KindOf(err); k != sms.Config {
		t.Errorf("kind = %v (%v), want config", k, err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestSendAccepts200(t *testing.T) {
	srv := xoxzofake.New(t, xoxzofake.Canned(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, `[{"msgid": "tHi5i5y0urMsGIdt3xT"}]`))
	got, err := newClient(t, srv, "").Send(t.Context(), pinMessage())
	if err != nil || got.MessageID != "tHi5i5y0urMsGIdt3xT" {
		t.Fatalf("Send = %+v, %v", got, err)
	}
}

func TestSendErrors(t *testing.T) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		opts       []xoxzofake.Option
		template   string
		edit       func(*xoxzo.Client, *sms.Message)
		kind       sms.Kind
		status     int
		retryAfter time.Duration
		text       string // substring of the error
		requests   int    // requests the fake must see; 0 means 1
	}{
		{name: "bad recipient (+810)", edit: func(_ *xoxzo.Client, m *sms.Message) { m.To = "+8108012345678" },
			kind: sms.Permanent, status: 400, text: "recipient: Invalid recipient"},
		{name: "recipient without plus", edit: func(_ *xoxzo.Client, m *sms.Message) { m.To = "08012345678" },
			kind: sms.Permanent, status: 400, text: "recipient"},
		{name: "ascii too long", edit: func(_ *xoxzo.Client, m *sms.Message) { m.Body = strings.Repeat("a", 661) },
			kind: sms.Permanent, status: 400, text: "message: Message too long"},
		{name: "japanese too long", edit: func(_ *xoxzo.Client, m *sms.Message) { m.Body = strings.Repeat("あ", 661) },
			kind: sms.Permanent, status: 400, text: "Message too long"},
		{name: "empty body", edit: func(_ *xoxzo.Client, m *sms.Message) { m.Body = "" },
			kind: sms.Permanent, status: 400, text: "may not be blank"},
		{name: "bad sender", edit: func(c *xoxzo.Client, _ *sms.Message) { c.Sender = "EXAMPLECOMPANY" },
			kind: sms.Config, status: 400, text: "sender: Invalid sender"},
		{name: "wrong token", edit: func(c *xoxzo.Client, _ *sms.Message) { c.AuthToken = "wrong" },
			kind: sms.Config, status: 401, text: "Invalid username/password."},
		{name: "unauthorized", opts: []xoxzofake.Option{xoxzofake.Unauthorized(true)},
			kind: sms.Config, status: 401},
		{name: "forbidden", opts: []xoxzofake.Option{xoxzofake.Canned(403, jsonHdr, `{"detail": "Freeform SMS is not enabled for this account."}`)},
			kind: sms.Config, status: 403, text: "Freeform SMS is not enabled"},
		{name: "insufficient credit 402", opts: []xoxzofake.Option{xoxzofake.InsufficientCredit(402)},
			kind: sms.Config, status: 402, text: "Insufficient credits."},
		{name: "insufficient credit as 400", opts: []xoxzofake.Option{xoxzofake.InsufficientCredit(400)},
			kind: sms.Config, status: 400},
		{name: "throttled", opts: []xoxzofake.Option{xoxzofake.Throttle(30 * time.Second)},
			kind: sms.Transient, status: 429, retryAfter: 30 * time.Second, text: "throttled"},
		{name: "500 html", opts: []xoxzofake.Option{xoxzofake.ServerError(500)},
			kind: sms.Transient, status: 500, text: "body: <html>"},
		{name: "502", opts: []xoxzofake.Option{xoxzofake.ServerError(502)}, kind: sms.Transient, status: 502},
		{name: "503", opts: []xoxzofake.Option{xoxzofake.ServerError(503)}, kind: sms.Transient, status: 503},
		{name: "504 outcome unknown", opts: []xoxzofake.Option{xoxzofake.ServerError(504)}, kind: sms.Unknown, status: 504},
		{name: "redirect not followed", opts: []xoxzofake.Option{xoxzofake.Canned(301, http.Header{"Location": {"/sms/messages/"}}, "")},
			kind: sms.Config, status: 301},
		{name: "wrong base path", edit: func(c *xoxzo.Client, _ *sms.Message) { c.BaseURL += "/v1" },
			kind: sms.Config, status: 404, text: "Not Found"},
		{name: "template pending", template: "8", opts: []xoxzofake.Option{xoxzofake.AddTemplate("8", pinTemplate, "PENDING")},
			kind: sms.Config, status: 400, text: "not approved"},
		{name: "template unknown", template: "99", kind: sms.Config, status: 400, text: "Template not found."},
		{name: "template variable missing", template: "9", opts: []xoxzofake.Option{xoxzofake.AddTemplate("9", "{name}: {code}", "APPROVED")},
			kind: sms.Config, status: 400, text: "variables: Missing variable: name"},
		{name: "non-JSON 400", opts: []xoxzofake.Option{xoxzofake.Canned(400, http.Header{"Content-Type": {"text/plain"}}, "Bad Request")},
			kind: sms.Config, status: 400, text: "body: Bad Request"},
		{name: "DRF list body", opts: []xoxzofake.Option{xoxzofake.Canned(400, jsonHdr, `["Something is wrong."]`)},
			kind: sms.Config, status: 400, text: "Something is wrong."},
		{name: "nested field errors", opts: []xoxzofake.Option{xoxzofake.Canned(400, jsonHdr, `{"variables": {"code": ["Too long."]}}`)},
			kind: sms.Config, status: 400, text: "variables: code: Too long."},
		{name: "provider echoes the number", opts: []xoxzofake.Option{xoxzofake.Canned(400, jsonHdr, `{"recipient": ["+818012345678 (818012345678) is not valid"]}`)},
			kind: sms.Permanent, status: 400, text: "+81••••••5678"},
		{name: "accepted without msgid", opts: []xoxzofake.Option{xoxzofake.Canned(201, jsonHdr, `[]`)},
			kind: sms.Unknown, status: 201, text: "no msgid"},
		{name: "accepted with a non-JSON answer", opts: []xoxzofake.Option{xoxzofake.Canned(200, nil, "OK")},
			kind: sms.Unknown, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := xoxzofake.New(t, tt.opts...)
			c := newClient(t, srv, tt.template)
			m := pinMessage()
			if tt.edit != nil {
				tt.edit(c, &m)
			}
			_, err := c.Send(t.Context(), m)
			se, ok := errors.AsType[*sms.Error](err)
			if !ok {
				t.Fatalf("Send error = %v, want *sms.Error", err)
			}
			if se.Kind != tt.kind || se.Status != tt.status || se.RetryAfter != tt.retryAfter || se.Provider != "xoxzo" {
				t.Errorf("got kind %v status %d retry %v provider %q, want %v %d %v xoxzo (%v)",
					se.Kind, se.Status, se.RetryAfter, se.Provider, tt.kind, tt.status, tt.retryAfter, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q lacks %q", err, tt.text)
			}
			for _, secret := range []string{strings.TrimPrefix(m.To, "+"), m.Code, xoxzofake.DefaultToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
			if want := max(tt.requests, 1); len(srv.Requests()) != want {
				t.Errorf("fake saw %d requests, want %d", len(srv.Requests()), want)
			}
		})
	}
}

func TestSendTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := xoxzo.New(xoxzo.Config{BaseURL: "http://" + addr, SID: "s", AuthToken: "t", Sender: "XOXZO"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Send(t.Context(), pinMessage())
		if k := sms.KindOf(err); k != sms.Transient {
			t.Errorf("kind = %v (%v), want transient", k, err)
		}
		if strings.Contains(err.Error(), "http://") {
			t.Errorf("error %q names the URL", err)
		}
	})
	t.Run("dns", func(t *testing.T) {
		hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
			DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
				return nil, &net.DNSError{Err: "no such host", Name: "api.xoxzo.invalid", IsNotFound: true}
			},
		}}
		c, err := xoxzo.New(xoxzo.Config{BaseURL: "https://api.xoxzo.invalid", SID: "s", AuthToken: "t", Sender: "XOXZO", HTTP: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Send(t.Context(), pinMessage())
		if k := sms.KindOf(err); k != sms.Transient {
			t.Errorf("kind = %v (%v), want transient", k, err)
		}
		if _, ok := errors.AsType[*net.DNSError](err); !ok {
			t.Errorf("error %v does not wrap the *net.DNSError", err)
		}
	})
	t.Run("client timeout after the request left", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.Slow(10*time.Second))
		c := newClient(t, srv, "")
		c.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := c.Send(t.Context(), pinMessage())
		if k := sms.KindOf(err); k != sms.Unknown {
			t.Errorf("kind = %v (%v), want unknown_outcome", k, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is not a deadline", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Send took %v despite a 200ms timeout", took)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("fake accepted %d messages; the point is that the SMS went out", n)
		}
	})
	t.Run("context deadline after the request left", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.Slow(10*time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := newClient(t, srv, "").Send(ctx, pinMessage())
		if k := sms.KindOf(err); k != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("kind = %v (%v), want unknown_outcome wrapping the deadline", k, err)
		}
	})
	t.Run("context cancelled before sending", func(t *testing.T) {
		srv := xoxzofake.New(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, srv, "").Send(ctx, pinMessage())
		if k := sms.KindOf(err); k != sms.Transient || !errors.Is(err, context.Canceled) {
			t.Errorf("kind = %v (%v), want transient wrapping context.Canceled", k, err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("fake saw %d requests, want 0", n)
		}
	})
}

func TestStatus(t *testing.T) {
	t.Run("queued then delivered", func(t *testing.T) {
		srv := xoxzofake.New(t)
		c := newClient(t, srv, "")
		r, err := c.Send(t.Context(), pinMessage())
		if err != nil {
			t.Fatal(err)
		}
		first, err := c.Status(t.Context(), r.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if first.State != sms.DeliveryPending || first.Raw != "QUEUED" || !first.SentTime.IsZero() || first.MsgID != r.MessageID {
			t.Errorf("first read = %+v", first)
		}
		second, err := c.Status(t.Context(), r.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if second.State != sms.DeliveryDelivered || second.Raw != "DELIVERED" || second.SentTime.IsZero() || second.Cost != 10 {
			t.Errorf("second read = %+v", second)
		}
		req := srv.Requests()[1]
		if req.Method != http.MethodGet || req.Path != "/sms/messages/"+r.MessageID+"/" || req.User != xoxzofake.DefaultSID {
			t.Errorf("status request = %s %s as %q", req.Method, req.Path, req.User)
		}
	})
	words := []struct {
		raw   string
		state sms.DeliveryState
		warn  bool
	}{
		{"DELIVERED", sms.DeliveryDelivered, false},
		{"OK", sms.DeliveryDelivered, false},
		{"FAIL", sms.DeliveryFailed, false},
		{"FAILED", sms.DeliveryFailed, false},
		{"QUEUED", sms.DeliveryPending, false},
		{"DELIVERING", sms.DeliveryPending, false},
		{"EXPIRED", sms.DeliveryPending, true},
	}
	for _, w := range words {
		t.Run(w.raw, func(t *testing.T) {
			srv := xoxzofake.New(t, xoxzofake.StatusSequence(w.raw))
			c := newClient(t, srv, "")
			var logs bytes.Buffer
			c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			r, err := c.Send(t.Context(), pinMessage())
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Status(t.Context(), r.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != w.state || st.Raw != w.raw {
				t.Errorf("status = %+v, want %s/%s", st, w.state, w.raw)
			}
			if warned := strings.Contains(logs.String(), w.raw); warned != w.warn {
				t.Errorf("warned = %v, want %v: %s", warned, w.warn, logs.String())
			}
		})
	}
	for _, jsonBody := range []bool{false, true} {
		t.Run("unknown msgid json="+map[bool]string{false: "empty", true: "detail"}[jsonBody], func(t *testing.T) {
			srv := xoxzofake.New(t, xoxzofake.NotFoundJSON(jsonBody))
			_, err := newClient(t, srv, "").Status(t.Context(), "nosuchmsgid")
			if !errors.Is(err, sms.ErrNotFound) {
				t.Errorf("error %v is not sms.ErrNotFound", err)
			}
		})
	}
	t.Run("unauthorized", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.Unauthorized(true))
		_, err := newClient(t, srv, "").Status(t.Context(), "x")
		if k := sms.KindOf(err); k != sms.Config {
			t.Errorf("kind = %v, want config", k)
		}
	})
}

func TestCredits(t *testing.T) {
	srv := xoxzofake.New(t, xoxzofake.Credits(1234.5))
	c := newClient(t, srv, "")
	got, err := c.Credits(t.Context())
	if err != nil || got != 1234.5 {
		t.Fatalf("Credits = %v, %v", got, err)
	}
	req := srv.Requests()[0]
	if req.Method != http.MethodGet || req.Path != "/you/credits/" || req.User != xoxzofake.DefaultSID || req.Password != xoxzofake.DefaultToken {
		t.Errorf("request = %s %s as %q", req.Method, req.Path, req.User)
	}
	srv.Apply(xoxzofake.Unauthorized(true))
	if _, err := c.Credits(t.Context()); sms.KindOf(err) != sms.Config {
		t.Errorf("with bad credentials: %v, want a config error", err)
	}
}
