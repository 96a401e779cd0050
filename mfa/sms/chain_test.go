package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// scripted is a Sender that answers from a script and counts its calls.
type scripted struct {
	name  string
	err   error // nil: accept
	calls atomic.Int32
}

func (s *scripted) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	s.calls.Add(1)
	if s.err != nil {
		return sms.Receipt{}, s.err
	}
	return sms.Receipt{Provider: s.name, MessageID: s.name + "-id", Status: "queued"}, nil
}

// senderFunc adapts a function to sms.Sender.
type senderFunc func(context.Context, sms.Message) (sms.Receipt, error)

func (f senderFunc) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) { return f(ctx, m) }

func fail(provider string, kind sms.Kind, status int) error {
	return &sms.Error{Provider: provider, Kind: kind, Status: status, Err: errors.New("scripted")}
}

func message() sms.Message {
	return sms.Message{To: "+819012345678", Body: "code 482913 @login.example.com #482913", Code: "482913", Locale: "ja", Ref: "challenge-1"}
}

func TestChain(t *testing.T) {
	tests := []struct {
		name     string
		errs     []error // one per sender, nil accepts
		provider string  // the receipt's, "" if all fail
		kind     sms.Kind
		calls    []int32
	}{
		{"first accepts", []error{nil, nil}, "a", 0, []int32{1, 0}},
		{"transient then ok", []error{fail("a", sms.Transient, 503), nil}, "b", 0, []int32{1, 1}},
		{"config then ok", []error{fail("a", sms.Config, 401), nil}, "b", 0, []int32{1, 1}},
		{"unclassified counts as transient", []error{errors.New("boom"), nil}, "b", 0, []int32{1, 1}},
		{"permanent stops", []error{fail("a", sms.Permanent, 400), nil}, "", sms.Permanent, []int32{1, 0}},
		{"unknown stops", []error{fail("a", sms.Unknown, 504), nil}, "", sms.Unknown, []int32{1, 0}},
		{"bare deadline is unknown and stops", []error{context.DeadlineExceeded, nil}, "", sms.Unknown, []int32{1, 0}},
		{"transient then permanent", []error{fail("a", sms.Transient, 429), fail("b", sms.Permanent, 400), nil}, "", sms.Permanent, []int32{1, 1, 0}},
		{"all fail keeps the last kind", []error{fail("a", sms.Transient, 500), fail("b", sms.Config, 401)}, "", sms.Config, []int32{1, 1}},
		{"all transient", []error{fail("a", sms.Config, 403), fail("b", sms.Transient, 502)}, "", sms.Transient, []int32{1, 1}},
	}
	names := []string{"a", "b", "c"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chain sms.Chain
			var senders []*scripted
			for i, err := range tt.errs {
				s := &scripted{name: names[i], err: err}
				senders = append(senders, s)
				chain.Senders = append(chain.Senders, sms.Named{Name: names[i], Sender: s})
			}
			got, err := chain.Send(t.Context(), message())
			for i, s := range senders {
				if c := s.calls.Load(); c != tt.calls[i] {
					t.Errorf("sender %s called %d times, want %d", s.name, c, tt.calls[i])
				}
			}
			if tt.provider != "" {
				if err != nil || got.Provider != tt.provider || got.MessageID != tt.provider+"-id" {
					t.Fatalf("Send = %+v, %v, want a receipt from %s", got, err, tt.provider)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send succeeded: %+v", got)
			}
			if k := sms.KindOf(err); k != tt.kind {
				t.Errorf("KindOf = %v, want %v (%v)", k, tt.kind, err)
			}
			var last error // the failure of the last sender called
			for i, c := range tt.calls {
				if c == 1 {
					last = tt.errs[i]
				}
			}
			if !errors.Is(err, last) {
				t.Errorf("error %v does not wrap the last failure %v", err, last)
			}
		})
	}
}

func TestChainEmpty(t *testing.T) {
	var chain sms.Chain
	if _, err := chain.Send(t.Context(), message()); sms.KindOf(err) != sms.Config {
		t.Errorf("err = %v, want a config error", err)
	}
}

func TestChainContext(t *testing.T) {
	t.Run("cancelled before the first attempt", func(t *testing.T) {
		a := &scripted{name: "a"}
		chain := sms.Chain{Senders: []sms.Named{{Name: "a", Sender: a}}}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := chain.Send(ctx, message())
		if !errors.Is(err, context.Canceled) || a.calls.Load() != 0 {
			t.Errorf("err = %v after %d calls", err, a.calls.Load())
		}
	})
	t.Run("cancelled between attempts", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		a := senderFunc(func(context.Context, sms.Message) (sms.Receipt, error) {
			cancel()
			return sms.Receipt{}, fail("a", sms.Transient, 503)
		})
		b := &scripted{name: "b"}
		chain := sms.Chain{Senders: []sms.Named{{Name: "a", Sender: a}, {Name: "b", Sender: b}}}
		_, err := chain.Send(ctx, message())
		if !errors.Is(err, context.Canceled) || sms.KindOf(err) != sms.Transient || b.calls.Load() != 0 {
			t.Errorf("err = %v (kind %v), b called %d times", err, sms.KindOf(err), b.calls.Load())
		}
	})
}

func TestChainLogs(t *testing.T) {
	var buf bytes.Buffer
	chain := sms.Chain{
		Senders: []sms.Named{
			{Name: "xoxzo", Sender: &scripted{name: "xoxzo", err: &sms.Error{Provider: "xoxzo", Kind: sms.Transient, Status: 429, RetryAfter: 30 * time.Second, Err: errors.New("throttled")}}},
			{Name: "twilio", Sender: &scripted{name: "twilio"}},
		},
		Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	m := message()
	if _, err := chain.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, secret := range []string{m.Body, m.Code, "9012345678"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q:\n%s", secret, out)
		}
	}
	var records []map[string]any
	for line := range strings.Lines(out) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		records = append(records, r)
	}
	if len(records) != 2 {
		t.Fatalf("%d log records, want 2:\n%s", len(records), out)
	}
	failed, sent := records[0], records[1]
	if failed["level"] != "WARN" || failed["provider"] != "xoxzo" || failed["kind"] != "transient" ||
		failed["status"] != float64(429) || failed["retry_after"] == nil || failed["attempt"] != float64(1) {
		t.Errorf("failure record = %v", failed)
	}
	if msg, _ := failed["sms"].(map[string]any); msg["to"] != sms.MaskNumber(m.To) || msg["ref"] != "challenge-1" {
		t.Errorf("message attrs = %v, want the masked number and the ref", failed["sms"])
	}
	if sent["level"] != "INFO" || sent["provider"] != "twilio" || sent["message_id"] != "twilio-id" || sent["attempt"] != float64(2) {
		t.Errorf("success record = %v", sent)
	}
}

func TestChainAttempts(t *testing.T) {
	a := &scripted{name: "a", err: fail("a", sms.Transient, 503)}
	b := &scripted{name: "b"}
	chain := sms.Chain{Senders: []sms.Named{{Name: "a", Sender: a}, {Name: "b", Sender: b}}}
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := chain.Send(context.Background(), message()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := chain.Attempts()
	want := map[sms.Attempt]uint64{{Provider: "a", Outcome: "transient"}: n, {Provider: "b", Outcome: "ok"}: n}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Attempts = %v, want %v", got, want)
	}
	got[sms.Attempt{Provider: "a", Outcome: "transient"}] = 0
	if chain.Attempts()[sms.Attempt{Provider: "a", Outcome: "transient"}] != n {
		t.Error("Attempts returned the live map, not a copy")
	}
}
