package mfa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// ErrHeld is returned, wrapped in a *HoldError, when sends to a number
// are held: by the SMS-pumping guard (its country or prefix converts too
// few codes) or by the daily budget.
var ErrHeld = errors.New("mfa: SMS sends held")

// HoldError says which hold refused a send. New is true when this send
// set the hold (the caller audits it once).
type HoldError struct {
	Hold Hold
	New  bool
}

func (e *HoldError) Error() string {
	return fmt.Sprintf("mfa: SMS sends to %s held (%s)", e.Hold.Scope, e.Hold.Reason)
}

func (e *HoldError) Unwrap() error { return ErrHeld }

// Pumping configures the SMS-pumping guard. Bots that profit from the
// termination fees of a premium range ask for codes to fresh numbers of
// it and never type one: the share of codes verified collapses. For each
// country and each number prefix the guard compares the codes sent with
// the codes verified over a sliding window; once MinSends codes went out
// and fewer than MinConversion of them were verified, new sends to that
// prefix (or country) are held until an operator lifts the hold. A number
// a user has already verified is never held: pumping needs fresh numbers.
type Pumping struct {
	// PrefixDigits is how many digits after the country code make a
	// prefix (+81 90123... with 5: "+8190123").
	PrefixDigits int
	// Window is the span the conversion is measured over.
	Window time.Duration
	// MinSends is how many codes a prefix must have been sent in the
	// window before its conversion is judged; 0 turns the guard off.
	MinSends int
	// CountryMinSends is the same for a whole country, where an attack
	// spread thin over many prefixes shows; larger, so that one prefix's
	// attack (held by its own count) does not hold a country's fresh
	// numbers. 0: five times MinSends.
	CountryMinSends int
	// MinConversion is the share of codes (0..1) that must be verified.
	MinConversion float64
}

// DefaultPumping holds a prefix once 20 codes went to it in an hour and
// fewer than a fifth were typed, and a country the same after 100. People
// type most codes they ask for (a normal conversion is well over half);
// 20 fresh numbers of one prefix that type none is an attack.
var DefaultPumping = Pumping{PrefixDigits: 5, Window: time.Hour, MinSends: 20, CountryMinSends: 100, MinConversion: 0.2}

// minSends is the sends a scope needs before it is judged.
func (p Pumping) minSends(country bool) int64 {
	if !country {
		return int64(p.MinSends)
	}
	if p.CountryMinSends > 0 {
		return int64(p.CountryMinSends)
	}
	return 5 * int64(p.MinSends)
}

func (p Pumping) window() time.Duration { return max(p.Window, 0) }

// scopes names the country ("country:+81") and the prefix
// ("prefix:+8190123") of an E.164 number.
func (p Pumping) scopes(e164 string) (prefix, country string) {
	cc, national := splitNumber(e164)
	n := min(max(p.PrefixDigits, 0), len(national))
	return "prefix:+" + cc + national[:n], "country:+" + cc
}

// splitNumber splits an E.164 number into its country calling code and
// national significant number.
func splitNumber(e164 string) (cc, national string) {
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return "", strings.TrimPrefix(e164, "+")
	}
	return strconv.Itoa(int(num.GetCountryCode())), phonenumbers.GetNationalSignificantNumber(num)
}

// CallingCode is the country calling code of an E.164 number with its
// plus ("+81"), or "".
func CallingCode(e164 string) string {
	cc, _ := splitNumber(e164)
	if cc == "" {
		return ""
	}
	return "+" + cc
}

func sentKey(scope string) string     { return "sent:" + scope }
func verifiedKey(scope string) string { return "verified:" + scope }

// checkPumping refuses a send to a fresh number whose country or prefix
// is held, or whose conversion has just fallen below the threshold (the
// hold is set then). The send being judged is already counted (countSend
// holds the locks of its keys): the sends before it are what is judged.
func (s *Service) checkPumping(ctx context.Context, now time.Time, phone string) error {
	p := s.Pumping
	prefix, country := p.scopes(phone)
	for i, scope := range []string{prefix, country} {
		h, err := s.Store.Hold(ctx, scope)
		if err != nil {
			return fmt.Errorf("mfa: read hold: %w", err)
		}
		if h.Held() {
			s.stats.add("held")
			return &HoldError{Hold: *h}
		}
		since := now.Add(-p.window())
		if h != nil && h.LiftedAt != nil && h.LiftedAt.After(since) {
			// Lifted: judged afresh from the lift on.
			since = *h.LiftedAt
		}
		sent, err := s.Store.SumSince(ctx, sentKey(scope), since)
		if err != nil {
			return fmt.Errorf("mfa: read sends: %w", err)
		}
		sent-- // this one
		if sent < p.minSends(i == 1) {
			continue
		}
		verified, err := s.Store.SumSince(ctx, verifiedKey(scope), since)
		if err != nil {
			return fmt.Errorf("mfa: read verifications: %w", err)
		}
		if float64(verified) < p.MinConversion*float64(sent) {
			return s.hold(ctx, now, scope, "conversion", int(sent), int(verified))
		}
	}
	return nil
}

// hold sets a hold and returns the *HoldError that refuses the send.
func (s *Service) hold(ctx context.Context, now time.Time, scope, reason string, sent, verified int) error {
	h := Hold{Scope: scope, Reason: reason, Sends: sent, Verified: verified, HeldAt: now}
	isNew, err := s.Store.PutHold(ctx, &h)
	if err != nil {
		return fmt.Errorf("mfa: hold sends: %w", err)
	}
	if isNew {
		s.stats.add("holds_set")
		s.log().WarnContext(ctx, "sms sends held", "scope", scope, "reason", reason, "sends", sent, "verified", verified)
	}
	s.stats.add("held")
	return &HoldError{Hold: h, New: isNew}
}

// recordVerified notes a verified code for the pumping guard's
// conversion.
func (s *Service) recordVerified(ctx context.Context, c *Challenge, now time.Time) error {
	if s.Pumping.MinSends <= 0 {
		return nil
	}
	prefix, country := s.Pumping.scopes(c.Phone)
	for _, scope := range []string{prefix, country} {
		if _, err := s.Store.CountSend(ctx, verifiedKey(scope), c.ID, now, 1, nil); err != nil {
			return fmt.Errorf("mfa: record verification: %w", err)
		}
	}
	return nil
}

// Holds lists the holds, held first.
func (s *Service) Holds(ctx context.Context) ([]Hold, error) { return s.Store.Holds(ctx) }

// LiftHold lifts a hold (scope as Holds names it, or a bare prefix such
// as "+8190123"); the conversion of a lifted prefix is judged afresh from
// then on. False when it was not held.
func (s *Service) LiftHold(ctx context.Context, scope, by string) (bool, error) {
	return s.Store.LiftHold(ctx, HoldScope(scope), by, s.now())
}

// HoldScope reads a scope as an operator may type it: a bare prefix
// ("+8190123") is a prefix's hold.
func HoldScope(scope string) string {
	if strings.HasPrefix(scope, "+") {
		return "prefix:" + scope
	}
	return scope
}

// Budget caps the estimated spend on SMS per UTC day. Prices come from a
// table per provider and country calling code (in millionths of the
// currency); a send is priced at the dearest provider of the chain for
// its country, since the route is only known once it is sent.
type Budget struct {
	Currency string
	// Daily is the most to spend in a UTC day, in millionths of Currency;
	// 0 sets no budget.
	Daily int64
	// Prices maps a provider ("twilio") to prices by calling code ("+81")
	// or "*" for any other, in millionths of Currency.
	Prices map[string]map[string]int64
}

// Price is the table's price for a send through provider to phone, and
// whether the table has one.
func (b Budget) Price(provider, phone string) (int64, bool) {
	table := b.Prices[provider]
	if p, ok := table[CallingCode(phone)]; ok {
		return p, true
	}
	p, ok := table["*"]
	return p, ok
}

// estimate is what a send to phone is counted at against the budget:
// the dearest provider's price for it, or the dearest price in the whole
// table when none has one (an unpriced country must not be free).
func (b Budget) estimate(phone string) int64 {
	var best, any int64
	for provider, table := range b.Prices {
		if p, ok := b.Price(provider, phone); ok {
			best = max(best, p)
		}
		for _, p := range table {
			any = max(any, p)
		}
	}
	if best == 0 {
		return any
	}
	return best
}

func budgetScope(now time.Time) string { return "budget:" + now.UTC().Format(time.DateOnly) }

// budgetLimit is the budget's limit for a send at now and its price, or
// nil when there is no budget or an operator lifted today's hold.
func (s *Service) budgetLimit(ctx context.Context, now time.Time, phone string) (*limit, int64, error) {
	b := s.Budget
	if b.Daily <= 0 {
		return nil, 0, nil
	}
	scope := budgetScope(now)
	h, err := s.Store.Hold(ctx, scope)
	if err != nil {
		return nil, 0, fmt.Errorf("mfa: read hold: %w", err)
	}
	if h != nil && !h.Held() {
		return nil, 0, nil // lifted for the rest of the day
	}
	if h.Held() {
		s.stats.add("held")
		return nil, 0, &HoldError{Hold: *h}
	}
	// One key per UTC day: the window covers the whole day and no more.
	return &limit{scope: "budget", key: "spend:" + now.UTC().Format(time.DateOnly),
		windows: []Window{{Length: 24 * time.Hour, Max: b.Daily}}}, b.estimate(phone), nil
}

// Spent returns the spend counted today, in millionths of the currency.
func (s *Service) Spent(ctx context.Context) (int64, error) {
	now := s.now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return s.Store.SumSince(ctx, "spend:"+now.Format(time.DateOnly), day.Add(-time.Nanosecond))
}

// ParseMoney reads an amount such as "0.0814" into millionths.
func ParseMoney(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f > 1e12 {
		return 0, fmt.Errorf("%q is not an amount of money", s)
	}
	return int64(math.Round(f * 1e6)), nil
}
