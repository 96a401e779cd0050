package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrRateLimited is returned, wrapped in a *RateLimitError, when a send
// limit is reached.
var ErrRateLimited = errors.New("mfa: SMS send limit reached")

// RateLimitError says which limit refused a send and when a send can
// succeed again.
type RateLimitError struct {
	Scope      string // phone, user, ip or global
	Window     time.Duration
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("mfa: SMS limit per %s per %s reached; retry in %s", e.Scope, e.Window, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Limits cap SMS sends in fixed windows of an hour and a day. They live in
// the database (rate_counters), so they hold across instances. Zero turns
// a limit off.
type Limits struct {
	PhoneHour, PhoneDay   int
	UserHour, UserDay     int
	IPHour, IPDay         int
	GlobalHour, GlobalDay int
}

// DefaultLimits allow a normal login (one code and up to three resends)
// several times a day, and stop a bot long before it costs much.
var DefaultLimits = Limits{PhoneHour: 5, PhoneDay: 10, UserHour: 10, UserDay: 20, IPHour: 20, IPDay: 100, GlobalHour: 1000, GlobalDay: 10000}

type limit struct {
	scope  string
	key    string
	window time.Duration
	max    int
}

func (s *Service) limitsFor(phone, userID string, ip netip.Addr) []limit {
	l := s.Limits
	var out []limit
	add := func(scope, id string, hour, day int) {
		key := scope
		if id != "" {
			key = scope + ":" + s.keyHash(scope, id)
		}
		// The window is part of the key: at midnight an hour and a day
		// start together and must not share a counter.
		if hour > 0 {
			out = append(out, limit{scope, key + ":h", time.Hour, hour})
		}
		if day > 0 {
			out = append(out, limit{scope, key + ":d", 24 * time.Hour, day})
		}
	}
	add("phone", phone, l.PhoneHour, l.PhoneDay)
	if userID != "" {
		add("user", userID, l.UserHour, l.UserDay)
	}
	if ip.IsValid() {
		add("ip", Network(ip), l.IPHour, l.IPDay)
	}
	add("global", "", l.GlobalHour, l.GlobalDay)
	return out
}

// Network groups addresses as one client network, for every limit kept
// per network: an IPv4 address, or the /64 of an IPv6 one (a single host
// commonly holds the whole /64).
func Network(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// keyHash keeps numbers and addresses out of the counter table.
func (s *Service) keyHash(scope, id string) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte("rate\x00" + scope + "\x00" + id))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// countSend counts one send against every limit, each with a
// conditional upsert that counts only below the limit, in the transaction
// ctx carries. When one limit is full, the counts already made are taken
// back and a *RateLimitError says which limit and how long to wait: a
// refused send counts against nothing.
func (s *Service) countSend(ctx context.Context, now time.Time, phone, userID string, ip netip.Addr) error {
	var refused *RateLimitError
	var counted []limit
	for _, l := range s.limitsFor(phone, userID, ip) {
		start := now.Truncate(l.window)
		ok, err := s.Store.CountSend(ctx, l.key, start, start.Add(l.window), l.max)
		if err != nil {
			return fmt.Errorf("mfa: count send: %w", err)
		}
		if ok {
			counted = append(counted, l)
			continue
		}
		// Every full limit is found, so the wait told is the longest.
		if wait := start.Add(l.window).Sub(now); refused == nil || wait > refused.RetryAfter {
			refused = &RateLimitError{Scope: l.scope, Window: l.window, RetryAfter: wait}
		}
	}
	if refused == nil {
		return nil
	}
	for _, l := range counted {
		if err := s.Store.UncountSend(ctx, l.key, now.Truncate(l.window)); err != nil {
			return fmt.Errorf("mfa: take back a send count: %w", err)
		}
	}
	return refused
}

// uncountSend takes back a send counted by countSend that did not happen.
func (s *Service) uncountSend(ctx context.Context, now time.Time, phone, userID string, ip netip.Addr) {
	for _, l := range s.limitsFor(phone, userID, ip) {
		if err := s.Store.UncountSend(ctx, l.key, now.Truncate(l.window)); err != nil {
			s.log().WarnContext(ctx, "take back a send count", "err", err)
		}
	}
}

// DeleteExpiredCounters removes counters whose window has passed.
func (s *Service) DeleteExpiredCounters(ctx context.Context) (int64, error) {
	return s.Store.DeleteExpiredCounters(ctx, s.now())
}
