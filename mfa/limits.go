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
	Scope      string // phone, user, ip, prefix or global
	Window     time.Duration
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("mfa: SMS limit per %s per %s reached; retry in %s", e.Scope, e.Window, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Limits cap SMS sends over sliding windows of an hour and a day: at most
// so many in any hour and in any 24 hours, not per calendar hour, so a
// burst that straddles the top of an hour gets no second allowance. They
// live in the database (send_log), so they hold across instances. Zero
// turns a limit off.
type Limits struct {
	PhoneHour, PhoneDay   int
	UserHour, UserDay     int
	IPHour, IPDay         int
	GlobalHour, GlobalDay int
	// PrefixHour and PrefixDay cap sends to numbers of one prefix (the
	// country code and Pumping.PrefixDigits more digits) that no user has
	// verified: SMS pumping sends to fresh numbers of a premium range.
	PrefixHour, PrefixDay int
	// NoticeHour and NoticeDay cap the notices (no code: a phone
	// changed, a recovery code used, a password reset) sent to one
	// number; they count against the global limits too.
	NoticeHour, NoticeDay int
}

// DefaultLimits allow a normal login (one code and up to three resends)
// several times a day, and stop a bot long before it costs much.
var DefaultLimits = Limits{PhoneHour: 5, PhoneDay: 10, UserHour: 10, UserDay: 20, IPHour: 20, IPDay: 100,
	GlobalHour: 1000, GlobalDay: 10000, PrefixHour: 30, PrefixDay: 100, NoticeHour: 5, NoticeDay: 20}

type limit struct {
	scope   string
	key     string
	windows []Window
}

func windows(hour, day int) []Window {
	var w []Window
	if hour > 0 {
		w = append(w, Window{Length: time.Hour, Max: int64(hour)})
	}
	if day > 0 {
		w = append(w, Window{Length: 24 * time.Hour, Max: int64(day)})
	}
	return w
}

// limitsFor lists the keys a send to phone counts under. Keys without
// windows are only recorded: the pumping guard reads them.
func (s *Service) limitsFor(to sendTo) []limit {
	l := s.Limits
	key := func(scope, id string) string { return scope + ":" + s.keyHash(scope, id) }
	out := []limit{{"phone", key("phone", to.phone), windows(l.PhoneHour, l.PhoneDay)}}
	if to.userID != "" {
		out = append(out, limit{"user", key("user", to.userID), windows(l.UserHour, l.UserDay)})
	}
	if to.ip.IsValid() {
		out = append(out, limit{"ip", key("ip", Network(to.ip)), windows(l.IPHour, l.IPDay)})
	}
	out = append(out, limit{"global", "global", windows(l.GlobalHour, l.GlobalDay)})
	prefix, country := s.Pumping.scopes(to.phone)
	var pw []Window
	if !to.known {
		pw = windows(l.PrefixHour, l.PrefixDay)
	}
	out = append(out, limit{"prefix", sentKey(prefix), pw}, limit{"country", sentKey(country), nil})
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

// sendTo is one send as the limits see it.
type sendTo struct {
	id     string // the send's own id in the log
	phone  string
	userID string
	ip     netip.Addr
	known  bool // a number its user has verified before
}

// countSend counts one send against every limit and the budget, each
// under its key in the send log, in the transaction ctx carries; then,
// for a number no user has verified, the pumping guard judges its prefix
// and country, under the locks the counts took, so parallel sends to one
// prefix are judged one after the other. A refused send counts against
// nothing: what was counted is taken back, and a *RateLimitError says
// which limit and how long to wait (the longest of the full ones), or a
// *HoldError which hold.
func (s *Service) countSend(ctx context.Context, now time.Time, to sendTo) error {
	budget, price, err := s.budgetLimit(ctx, now, to.phone)
	if err != nil {
		return err
	}
	var refused *RateLimitError
	var overBudget bool
	count := func(l limit, amount int64) error {
		got, err := s.Store.CountSend(ctx, l.key, to.id, now, amount, l.windows)
		if err != nil {
			return fmt.Errorf("mfa: count send: %w", err)
		}
		if got.OK {
			return nil
		}
		if l.scope == "budget" {
			overBudget = true
			return nil
		}
		// Every full limit is found, so the wait told is the longest.
		if wait := got.FreeAt.Sub(now); refused == nil || wait > refused.RetryAfter {
			refused = &RateLimitError{Scope: l.scope, Window: got.Full.Length, RetryAfter: max(wait, time.Second)}
		}
		return nil
	}
	guard := s.Pumping.MinSends > 0
	for _, l := range s.limitsFor(to) {
		// A key with no window is only read by the pumping guard.
		if len(l.windows) == 0 && (!guard || (l.scope != "prefix" && l.scope != "country")) {
			continue
		}
		if err := count(l, 1); err != nil {
			return err
		}
	}
	if budget != nil && refused == nil {
		if err := count(*budget, price); err != nil {
			return err
		}
	}
	var why error
	switch {
	case refused != nil:
		why = refused
	case overBudget:
		why = s.hold(ctx, now, budgetScope(now), "budget", 0, 0)
	case !to.known && guard:
		why = s.checkPumping(ctx, now, to.phone)
	}
	if why == nil {
		return nil
	}
	if err := s.Store.UncountSend(ctx, to.id); err != nil {
		return fmt.Errorf("mfa: take back a send count: %w", err)
	}
	return why
}

// countNotice counts a notice to phone against the notice limits of the
// number and the global ones, in the transaction ctx carries; a refused
// notice counts against nothing (*RateLimitError). Codes' own limits
// are not touched: a notice follows an action the user proved.
func (s *Service) countNotice(ctx context.Context, now time.Time, phone string) error {
	id := s.Store.NewID()
	var refused *RateLimitError
	for _, l := range []limit{
		{"notice", "notice:" + s.keyHash("notice", phone), windows(s.Limits.NoticeHour, s.Limits.NoticeDay)},
		{"global", "global", windows(s.Limits.GlobalHour, s.Limits.GlobalDay)},
	} {
		if len(l.windows) == 0 {
			continue
		}
		got, err := s.Store.CountSend(ctx, l.key, id, now, 1, l.windows)
		if err != nil {
			return fmt.Errorf("mfa: count notice: %w", err)
		}
		if wait := got.FreeAt.Sub(now); !got.OK && (refused == nil || wait > refused.RetryAfter) {
			refused = &RateLimitError{Scope: l.scope, Window: got.Full.Length, RetryAfter: max(wait, time.Second)}
		}
	}
	if refused == nil {
		return nil
	}
	if err := s.Store.UncountSend(ctx, id); err != nil {
		return fmt.Errorf("mfa: take back a notice count: %w", err)
	}
	return refused
}

// uncountSend takes back a send counted by countSend that did not happen.
func (s *Service) uncountSend(ctx context.Context, send string) {
	if err := s.Store.UncountSend(ctx, send); err != nil {
		s.log().WarnContext(ctx, "take back a send count", "err", err)
	}
}

// DeleteExpiredCounters removes send log rows older than every window
// that reads them (a day, or the pumping guard's window if longer).
func (s *Service) DeleteExpiredCounters(ctx context.Context) (int64, error) {
	keep := 48 * time.Hour // the budget's UTC day, whenever it began
	keep = max(keep, s.Pumping.window())
	return s.Store.DeleteExpiredCounters(ctx, s.now().Add(-keep))
}
