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

	"gorm.io/gorm"
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
		add("ip", networkOf(ip), l.IPHour, l.IPDay)
	}
	add("global", "", l.GlobalHour, l.GlobalDay)
	return out
}

// networkOf groups addresses as one client network: an IPv4 address, or
// the /64 of an IPv6 one (a single host commonly holds the whole /64).
func networkOf(ip netip.Addr) string {
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

// reserve counts one send against every limit, inside tx. When any limit
// is exceeded it returns a *RateLimitError and the caller rolls tx back,
// so a refused send counts against nothing.
func (s *Service) reserve(tx *gorm.DB, now time.Time, phone, userID string, ip netip.Addr) error {
	var refused *RateLimitError
	for _, l := range s.limitsFor(phone, userID, ip) {
		start := now.Truncate(l.window)
		var counts []int
		err := tx.Raw(`INSERT INTO rate_counters (key, window_start, count, expires_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1
			RETURNING count`, l.key, start, start.Add(l.window)).Scan(&counts).Error
		if err != nil {
			return fmt.Errorf("mfa: count send: %w", err)
		}
		if len(counts) == 1 && counts[0] > l.max {
			wait := start.Add(l.window).Sub(now)
			if refused == nil || wait > refused.RetryAfter {
				refused = &RateLimitError{Scope: l.scope, Window: l.window, RetryAfter: wait}
			}
		}
	}
	if refused != nil {
		return refused
	}
	return nil
}

// DeleteExpiredCounters removes counters whose window has passed.
func (s *Service) DeleteExpiredCounters(ctx context.Context) (int64, error) {
	res := s.DB.WithContext(ctx).Exec(`DELETE FROM rate_counters WHERE expires_at < ?`, s.now())
	return res.RowsAffected, res.Error
}
