package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/webhook"
)

const secretKey = "0123456789abcdef0123456789abcdef"

// fixedUnix is the sender's and the receiver's clock: 2026-01-01T00:00:00Z.
const fixedUnix = 1767225600

// receiver is an operator's endpoint: it verifies every request with
// webhook.Verify, records it, and answers with status (and header).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	status   int
	header   http.Header
	body     string
	delay    time.Duration
	verified []error
}

type received struct {
	method, ctype, signature string
	body                     []byte
}

func (rc *receiver) requests() ([]received, []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got), slices.Clone(rc.verified)
}

func newReceiver(t *testing.T, status int) *receiver {
	rc := &receiver{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(webhook.SignatureHeader)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Method, r.Header.Get("Content-Type"), sig, body})
		rc.verified = append(rc.verified, webhook.Verify([]byte(secretKey), sig, body, time.Unix(fixedUnix, 0), 0))
		rc.mu.Unlock()
		if rc.delay > 0 {
			select {
			case <-time.After(rc.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rc.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rc.status)
		_, _ = io.WriteString(w, rc.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func newClient(t *testing.T, url string, sendCode bool) *webhook.Client {
	t.Helper()
	c, err := webhook.New(webhook.Config{URL: url, Secret: []byte(secretKey), SendCode: sendCode,
		HTTP: &http.Client{Timeout: 5 * time.Second}, Now: func() time.Time { return time.Unix(fixedUnix, 0) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func pinMessage() sms.Message {
	return sms.Message{To: "+819012345678", Body: "認証コード: 482913\n\n@login.example.com #482913", Code: "482913", Locale: "ja", Ref: "challenge-1"}
}

func TestNew(t *testing.T) {
	secret := []byte(secretKey)
	tests := []struct {
		name, url string
		secret    []byte
		want      []string
	}{
		{"https", "https://hooks.example.com/sms", secret, nil},
		{"http loopback", "http://127.0.0.1:9000/sms", secret, nil},
		{"http localhost", "http://localhost:9000/sms", secret, nil},
		{"http ipv6 loopback", "http://[::1]:9000/sms", secret, nil},
		{"http private network", "http://sms-gateway.internal/sms", secret, nil},
		{"relative", "/sms", secret, []string{"absolute"}},
		{"short secret", "https://hooks.example.com/sms", []byte("short"), []string{"at least 32"}},
		{"both", "ftp://x", nil, []string{"absolute", "secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New(webhook.Config{URL: tt.url, Secret: tt.secret})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
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
	for _, sendCode := range []bool{false, true} {
		t.Run(map[bool]string{false: "body only", true: "with code"}[sendCode], func(t *testing.T) {
			rc := newReceiver(t, http.StatusAccepted)
			m := pinMessage()
			got, err := newClient(t, rc.URL+"/sms", sendCode).Send(t.Context(), m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs, verified := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests", len(reqs))
			}
			req := reqs[0]
			if req.method != http.MethodPost || req.ctype != "application/json" {
				t.Errorf("request = %s %s", req.method, req.ctype)
			}
			if !regexp.MustCompile(`^t=1767225600,v1=[0-9a-f]{64}$`).MatchString(req.signature) {
				t.Errorf("signature header %q", req.signature)
			}
			if verified[0] != nil {
				t.Errorf("Verify: %v", verified[0])
			}
			var body map[string]any
			if err := json.Unmarshal(req.body, &body); err != nil {
				t.Fatal(err)
			}
			id, _ := body["id"].(string)
			want := map[string]any{"id": id, "to": m.To, "body": m.Body, "locale": "ja", "ref": "challenge-1"}
			if sendCode {
				want["code"] = m.Code
			}
			if len(id) != 32 || !reflect.DeepEqual(body, want) {
				t.Errorf("payload = %v, want exactly %v", body, want)
			}
			if got != (sms.Receipt{Provider: "webhook", MessageID: id, Status: "accepted"}) {
				t.Errorf("receipt = %+v", got)
			}
		})
	}
}

func TestSendStatuses(t *testing.T) {
	fixed := time.Unix(fixedUnix, 0)
	tests := []struct {
		status     int
		header     http.Header
		body       string
		kind       sms.Kind // 0: accepted
		retryAfter time.Duration
	}{
		{status: 200},
		{status: 201},
		{status: 204},
		{status: 301, header: http.Header{"Location": {"/elsewhere"}}, kind: sms.Config},
		{status: 400, body: `{"error": "number +819012345678 blocked"}`, kind: sms.Permanent},
		{status: 401, kind: sms.Config},
		{status: 403, kind: sms.Config},
		{status: 404, kind: sms.Permanent},
		{status: 408, kind: sms.Transient},
		{status: 422, kind: sms.Permanent},
		{status: 429, header: http.Header{"Retry-After": {"12"}}, kind: sms.Transient, retryAfter: 12 * time.Second},
		{status: 500, kind: sms.Transient},
		{status: 502, kind: sms.Transient},
		{status: 503, header: http.Header{"Retry-After": {fixed.Add(time.Minute).Format(http.TimeFormat)}}, kind: sms.Transient, retryAfter: time.Minute},
		{status: 504, kind: sms.Unknown},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rc := newReceiver(t, tt.status)
			rc.header, rc.body = tt.header, tt.body
			m := pinMessage()
			_, err := newClient(t, rc.URL, false).Send(t.Context(), m)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			se, ok := errors.AsType[*sms.Error](err)
			if !ok || se.Kind != tt.kind || se.Status != tt.status || se.RetryAfter != tt.retryAfter {
				t.Fatalf("err = %#v, want kind %v status %d retry %v", err, tt.kind, tt.status, tt.retryAfter)
			}
			if strings.Contains(err.Error(), "9012345678") {
				t.Errorf("error %q leaks the number", err)
			}
			if reqs, _ := rc.requests(); len(reqs) != 1 {
				t.Errorf("receiver got %d requests, want 1 (no redirect followed)", len(reqs))
			}
		})
	}
}

func TestSendTransport(t *testing.T) {
	t.Run("timeout after the request left", func(t *testing.T) {
		rc := newReceiver(t, 200)
		rc.delay = 10 * time.Second
		c := newClient(t, rc.URL, false)
		c.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
		_, err := c.Send(t.Context(), pinMessage())
		if sms.KindOf(err) != sms.Unknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want unknown_outcome", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newClient(t, "http://"+addr+"/sms?token=hunter2", false).Send(t.Context(), pinMessage())
		if sms.KindOf(err) != sms.Transient {
			t.Errorf("err = %v, want transient", err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q leaks the URL's token", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		rc := newReceiver(t, 200)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, rc.URL, false).Send(ctx, pinMessage())
		if reqs, _ := rc.requests(); sms.KindOf(err) != sms.Transient || !errors.Is(err, context.Canceled) || len(reqs) != 0 {
			t.Errorf("err = %v, %d requests", err, len(reqs))
		}
	})
}

func TestVerify(t *testing.T) {
	secret := []byte(secretKey)
	fixed := time.Unix(fixedUnix, 0)
	body := []byte(`{"id":"1","to":"+819012345678"}`)
	good := webhook.Sign(secret, fixed, body)
	other := webhook.Sign([]byte("another secret, also 32 bytes ok"), fixed, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", good, body, fixed, nil},
		{"clock skew within tolerance", good, body, fixed.Add(4 * time.Minute), nil},
		{"rotation: one of two matches", other + "," + strings.Split(good, ",")[1], body, fixed, nil},
		{"stale", good, body, fixed.Add(6 * time.Minute), webhook.ErrStale},
		{"from the future", good, body, fixed.Add(-6 * time.Minute), webhook.ErrStale},
		{"tampered body", good, []byte(`{"id":"1","to":"+819000000000"}`), fixed, webhook.ErrBadSignature},
		{"wrong secret", other, body, fixed, webhook.ErrBadSignature},
		{"time changed", strings.Replace(good, "t=1767225600", "t=1767225601", 1), body, fixed, webhook.ErrBadSignature},
		{"empty", "", body, fixed, webhook.ErrNoSignature},
		{"no v1", "t=1767225600", body, fixed, webhook.ErrNoSignature},
		{"no t", strings.Split(good, ",")[1], body, fixed, webhook.ErrNoSignature},
		{"two t", "t=1," + good, body, fixed, webhook.ErrNoSignature},
		{"not hex", "t=1767225600,v1=zz", body, fixed, webhook.ErrNoSignature},
		{"garbage", "sha256=abc", body, fixed, webhook.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := webhook.Verify(secret, tt.header, tt.body, tt.now, 0); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
