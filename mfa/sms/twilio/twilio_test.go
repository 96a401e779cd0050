package twilio_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
	"github.com/smspin/idp/mfa/sms/twilio/twiliofake"
)

const (
	from      = "+15005550006"
	serviceID = "MG11111111111111111111111111111111"
)

func newClient(t *testing.T, srv *twiliofake.Server) *twilio.Client {
	t.Helper()
	c, err := twilio.New(twilio.Config{
		BaseURL:    srv.URL,
		AccountSID: twiliofake.DefaultAccountSID,
		AuthToken:  twiliofake.DefaultAuthToken,
		From:       from,
		HTTP:       &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func pinMessage() sms.Message {
	return sms.Message{To: "+818012345678", Body: "ExampleCo code: 482913\n\n@login.example.com #482913", Code: "482913", Locale: "en", Ref: "challenge-1"}
}

func TestNew(t *testing.T) {
	good := twilio.Config{AccountSID: twiliofake.DefaultAccountSID, AuthToken: "t", From: from}
	tests := []struct {
		name string
		edit func(*twilio.Config)
		want []string
	}{
		{"from", func(*twilio.Config) {}, nil},
		{"service only", func(c *twilio.Config) { c.From, c.MessagingServiceSID = "", serviceID }, nil},
		{"validity", func(c *twilio.Config) { c.ValidityPeriod = 10 * time.Minute }, nil},
		{"empty", func(c *twilio.Config) { *c = twilio.Config{} }, []string{"account SID", "auth token", "From or MessagingServiceSID"}},
		{"bad account", func(c *twilio.Config) { c.AccountSID = "SK00000000000000000000000000000000" }, []string{"account SID"}},
		{"bad service", func(c *twilio.Config) { c.MessagingServiceSID = "MG1" }, []string{"messaging service SID"}},
		{"validity too long", func(c *twilio.Config) { c.ValidityPeriod = 5 * time.Hour }, []string{"validity period"}},
		{"validity fraction", func(c *twilio.Config) { c.ValidityPeriod = 1500 * time.Millisecond }, []string{"validity period"}},
		{"base URL", func(c *twilio.Config) { c.BaseURL = "api.twilio.com" }, []string{"base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			c, err := twilio.New(cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.BaseURL != twilio.DefaultBaseURL || c.HTTP.Timeout != sms.DefaultTimeout {
					t.Errorf("defaults not applied: %q %v", c.BaseURL, c.HTTP.Timeout)
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

func TestSend(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*twilio.Client)
		form   url.Values // besides To and Body
		status string
	}{
		{"from", func(*twilio.Client) {}, url.Values{"From": {from}}, "queued"},
		{"messaging service", func(c *twilio.Client) { c.From, c.MessagingServiceSID = "", serviceID },
			url.Values{"MessagingServiceSid": {serviceID}}, "accepted"},
		{"validity and callback", func(c *twilio.Client) {
			c.ValidityPeriod = 5 * time.Minute
			c.StatusCallback = "https://idp.example.com/hooks/twilio"
		}, url.Values{"From": {from}, "ValidityPeriod": {"300"}, "StatusCallback": {"https://idp.example.com/hooks/twilio"}}, "queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliofake.New(t)
			c := newClient(t, srv)
			tt.edit(c)
			m := pinMessage()
			got, err := c.Send(t.Context(), m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("fake accepted %d messages", len(msgs))
			}
			if want := (sms.Receipt{Provider: "twilio", MessageID: msgs[0].SID, Status: tt.status}); got != want || !strings.HasPrefix(got.MessageID, "SM") {
				t.Errorf("receipt = %+v, want %+v", got, want)
			}
			req := srv.Requests()[0]
			if req.Method != http.MethodPost || req.Path != "/2010-04-01/Accounts/"+twiliofake.DefaultAccountSID+"/Messages.json" {
				t.Errorf("request line = %s %s", req.Method, req.Path)
			}
			if req.User != twiliofake.DefaultAccountSID || req.Password != twiliofake.DefaultAuthToken {
				t.Errorf("basic auth = %q:%q", req.User, req.Password)
			}
			if req.ContentType != "application/x-www-form-urlencoded" || req.Header.Get("Accept") != "application/json" {
				t.Errorf("content type %q, accept %q", req.ContentType, req.Header.Get("Accept"))
			}
			want := url.Values{"To": {m.To}, "Body": {m.Body}}
			for k, v := range tt.form {
				want[k] = v
			}
			if !reflect.DeepEqual(req.Form, want) {
				t.Errorf("form = %v, want exactly %v", req.Form, want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       []twiliofake.Option
		edit       func(*twilio.Client, *sms.Message)
		kind       sms.Kind
		status     int
		code       int
		retryAfter time.Duration
	}{
		{name: "invalid number 21211", edit: func(_ *twilio.Client, m *sms.Message) { m.To = "818012345678" },
			kind: sms.Permanent, status: 400, code: 21211},
		{name: "landline 21614", opts: []twiliofake.Option{twiliofake.Landlines("+81312345678")},
			edit: func(_ *twilio.Client, m *sms.Message) { m.To = "+81312345678" }, kind: sms.Permanent, status: 400, code: 21614},
		{name: "body too long 21617", edit: func(_ *twilio.Client, m *sms.Message) { m.Body = strings.Repeat("x", 1601) },
			kind: sms.Permanent, status: 400, code: 21617},
		{name: "empty body 21602", edit: func(_ *twilio.Client, m *sms.Message) { m.Body = "" },
			kind: sms.Permanent, status: 400, code: 21602},
		{name: "unsubscribed 21610", opts: []twiliofake.Option{twiliofake.Fail(400, 21610, "Attempt to send to unsubscribed recipient")},
			kind: sms.Permanent, status: 400, code: 21610},
		{name: "pumping protection 30450", opts: []twiliofake.Option{twiliofake.Fail(400, 30450, "Message blocked by SMS Pumping Protection")},
			kind: sms.Permanent, status: 400, code: 30450},
		{name: "geo permission 21408", opts: []twiliofake.Option{twiliofake.AllowCountries("+1")},
			kind: sms.Config, status: 400, code: 21408},
		{name: "sender not allowed 21612", opts: []twiliofake.Option{twiliofake.Fail(400, 21612, "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.")},
			kind: sms.Config, status: 400, code: 21612},
		{name: "unlisted 400", opts: []twiliofake.Option{twiliofake.Fail(400, 21999, "Something new")},
			kind: sms.Config, status: 400, code: 21999},
		{name: "wrong token 20003", edit: func(c *twilio.Client, _ *sms.Message) { c.AuthToken = "wrong" },
			kind: sms.Config, status: 401, code: 20003},
		{name: "unauthorized", opts: []twiliofake.Option{twiliofake.Unauthorized(true)}, kind: sms.Config, status: 401, code: 20003},
		{name: "wrong account in path", edit: func(c *twilio.Client, _ *sms.Message) { c.AccountSID = "AC11111111111111111111111111111111" },
			kind: sms.Config, status: 401, code: 20003},
		{name: "from missing 21603", edit: func(c *twilio.Client, _ *sms.Message) { c.From = "" },
			kind: sms.Config, status: 400, code: 21603},
		{name: "throttled 20429", opts: []twiliofake.Option{twiliofake.Throttle(7 * time.Second)},
			kind: sms.Transient, status: 429, code: 20429, retryAfter: 7 * time.Second},
		{name: "500", opts: []twiliofake.Option{twiliofake.ServerError(500)}, kind: sms.Transient, status: 500, code: 20500},
		{name: "503", opts: []twiliofake.Option{twiliofake.ServerError(503)}, kind: sms.Transient, status: 503, code: 20503},
		{name: "502 html", opts: []twiliofake.Option{twiliofake.ServerError(502)}, kind: sms.Transient, status: 502},
		{name: "504 unknown", opts: []twiliofake.Option{twiliofake.ServerError(504)}, kind: sms.Unknown, status: 504},
		{name: "redirect not followed", opts: []twiliofake.Option{twiliofake.Canned(302, http.Header{"Location": {"/elsewhere"}}, "")},
			kind: sms.Config, status: 302},
		{name: "wrong base path 20404", edit: func(c *twilio.Client, _ *sms.Message) { c.BaseURL += "/v1" },
			kind: sms.Config, status: 404, code: 20404},
		{name: "accepted without sid", opts: []twiliofake.Option{twiliofake.Canned(201, nil, `{"status": "queued"}`)},
			kind: sms.Unknown, status: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliofake.New(t, tt.opts...)
			c := newClient(t, srv)
			m := pinMessage()
			if tt.edit != nil {
				tt.edit(c, &m)
			}
			_, err := c.Send(t.Context(), m)
			se, ok := errors.AsType[*sms.Error](err)
			if !ok {
				t.Fatalf("Send error = %v, want *sms.Error", err)
			}
			if se.Kind != tt.kind || se.Status != tt.status || se.RetryAfter != tt.retryAfter || se.Provider != "twilio" {
				t.Errorf("got kind %v status %d retry %v, want %v %d %v (%v)", se.Kind, se.Status, se.RetryAfter, tt.kind, tt.status, tt.retryAfter, err)
			}
			if ae, ok := errors.AsType[*twilio.APIError](err); tt.code != 0 && (!ok || ae.Code != tt.code) {
				t.Errorf("error %v does not carry Twilio code %d", err, tt.code)
			}
			for _, secret := range []string{strings.TrimPrefix(m.To, "+"), m.Code, twiliofake.DefaultAuthToken} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
		})
	}
}

func TestSendMasksEchoedNumber(t *testing.T) {
	srv := twiliofake.New(t)
	m := pinMessage()
	m.To = "+8180123456789012" // too long for E.164: 21211 quotes it back
	_, err := newClient(t, srv).Send(t.Context(), m)
	if sms.KindOf(err) != sms.Permanent {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "80123456789012") || !strings.Contains(err.Error(), "+81•••") {
		t.Errorf("error %q does not mask the number Twilio quoted", err)
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
		c, err := twilio.New(twilio.Config{BaseURL: "http://" + addr, AccountSID: twiliofake.DefaultAccountSID, AuthToken: "t", From: from})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(t.Context(), pinMessage()); sms.KindOf(err) != sms.Transient {
			t.Errorf("err = %v, want transient", err)
		}
	})
	t.Run("client timeout after the request left", func(t *testing.T) {
		srv := twiliofake.New(t, twiliofake.Slow(10*time.Second))
		c := newClient(t, srv)
		c.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
		_, err := c.Send(t.Context(), pinMessage())
		if sms.KindOf(err) != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want unknown_outcome wrapping a deadline", err)
		}
		if len(srv.Messages()) != 1 {
			t.Errorf("the fake should have accepted the message before stalling")
		}
	})
	t.Run("context cancelled before sending", func(t *testing.T) {
		srv := twiliofake.New(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, srv).Send(ctx, pinMessage())
		if sms.KindOf(err) != sms.Transient || !errors.Is(err, context.Canceled) || len(srv.Requests()) != 0 {
			t.Errorf("err = %v after %d requests, want transient wrapping context.Canceled and none", err, len(srv.Requests()))
		}
	})
}

func TestStatus(t *testing.T) {
	t.Run("sequence", func(t *testing.T) {
		srv := twiliofake.New(t, twiliofake.StatusSequence("queued", "sent", "delivered"))
		c := newClient(t, srv)
		r, err := c.Send(t.Context(), pinMessage())
		if err != nil {
			t.Fatal(err)
		}
		var got []sms.DeliveryState
		for range 3 {
			st, err := c.Status(t.Context(), r.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, st.State)
		}
		want := []sms.DeliveryState{sms.DeliveryPending, sms.DeliveryPending, sms.DeliveryDelivered}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("states %v, want %v", got, want)
		}
		req := srv.Requests()[1]
		if req.Method != http.MethodGet || req.Path != "/2010-04-01/Accounts/"+twiliofake.DefaultAccountSID+"/Messages/"+r.MessageID+".json" || req.User != twiliofake.DefaultAccountSID {
			t.Errorf("fetch = %s %s as %q", req.Method, req.Path, req.User)
		}
	})
	t.Run("words", func(t *testing.T) {
		for raw, want := range map[string]sms.DeliveryState{
			"delivered": sms.DeliveryDelivered, "read": sms.DeliveryDelivered,
			"failed": sms.DeliveryFailed, "undelivered": sms.DeliveryFailed, "canceled": sms.DeliveryFailed,
			"queued": sms.DeliveryPending, "sending": sms.DeliveryPending, "sent": sms.DeliveryPending,
			"accepted": sms.DeliveryPending, "scheduled": sms.DeliveryPending, "something_new": sms.DeliveryPending,
		} {
			srv := twiliofake.New(t, twiliofake.StatusSequence(raw))
			c := newClient(t, srv)
			r, err := c.Send(t.Context(), pinMessage())
			if err != nil {
				t.Fatal(err)
			}
			if st, err := c.Status(t.Context(), r.MessageID); err != nil || st.State != want || st.Raw != raw {
				t.Errorf("%s: %+v, %v, want %s", raw, st, err, want)
			}
		}
	})
	t.Run("insufficient funds fails later", func(t *testing.T) {
		srv := twiliofake.New(t, twiliofake.InsufficientFunds(true))
		c := newClient(t, srv)
		r, err := c.Send(t.Context(), pinMessage())
		if err != nil {
			t.Fatalf("create must still succeed: %v", err)
		}
		st, err := c.Status(t.Context(), r.MessageID)
		if err != nil || st.State != sms.DeliveryFailed || st.ErrorCode != 30002 {
			t.Errorf("status = %+v, %v, want failed with 30002", st, err)
		}
	})
	t.Run("unknown sid", func(t *testing.T) {
		srv := twiliofake.New(t)
		if _, err := newClient(t, srv).Status(t.Context(), "SM00000000000000000000000000000000"); !errors.Is(err, sms.ErrNotFound) {
			t.Errorf("err = %v, want sms.ErrNotFound", err)
		}
	})
}
