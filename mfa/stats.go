package mfa

import (
	"errors"
	"sync"
	"sync/atomic"
)

// stats counts what challenges do, for metrics. Sends set against
// verifications is the signal of SMS pumping: bots trigger sends that no
// one ever answers.
type stats struct {
	m sync.Map // event -> *atomic.Int64
}

func (st *stats) add(event string) { st.addN(event, 1) }

func (st *stats) addN(event string, n int64) {
	v, _ := st.m.LoadOrStore(event, new(atomic.Int64))
	v.(*atomic.Int64).Add(n)
}

// Counters returns how often each event happened since start: sent,
// resent, rerouted, verified, wrong_code, exhausted, expired,
// rate_limited, send_failed, send_unknown; held (sends refused by a hold
// of the SMS-pumping guard or the budget) and holds_set (holds set);
// receipt_delivered, receipt_failed, receipt_duplicate, receipt_pending,
// receipt_unknown (delivery reports pushed by providers: applied,
// repeated or late, not final yet, for no send of ours); and
// spend_estimated_micros, the estimated spend of the sends that went
// out, in millionths of the budget's currency.
func (s *Service) Counters() map[string]int64 {
	out := map[string]int64{}
	s.stats.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// observe counts the outcome of a Start, Resend or Verify.
func (s *Service) observe(op string, err error) {
	switch {
	case err == nil && op == "verify":
		s.stats.add("verified")
	case err == nil && op == "start":
		s.stats.add("sent")
	case err == nil && op == "resend":
		s.stats.add("resent")
	case err == nil && op == "reroute":
		s.stats.add("rerouted")
	case errors.Is(err, ErrRateLimited):
		s.stats.add("rate_limited")
	case errors.Is(err, ErrSendUnknown):
		s.stats.add("send_unknown")
	case errors.Is(err, ErrSendFailed), errors.Is(err, ErrPermanentFailure):
		s.stats.add("send_failed")
	case errors.Is(err, ErrCodeMismatch):
		s.stats.add("wrong_code")
	case errors.Is(err, ErrTooManyAttempts):
		s.stats.add("exhausted")
	case errors.Is(err, ErrExpired):
		s.stats.add("expired")
	}
}
