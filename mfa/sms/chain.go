package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Named is one sender in a Chain, with the name used in logs and counters
// ("xoxzo", "twilio", ...).
type Named struct {
	Name   string
	Sender Sender
}

// Attempt names one attempt counter: a provider and how the attempt ended,
// "ok" or a Kind's String() ("transient", "permanent", "unknown_outcome",
// "config").
type Attempt struct {
	Provider string
	Outcome  string
}

// Chain sends through each sender in order until one accepts the message.
//
// After a Transient or Config failure it tries the next sender: the message
// did not leave, and another provider may do better. After a Permanent
// failure it stops, because the number or the text is what was refused and
// another provider would refuse it too (or, on an SMS-pumping block, should
// not be asked). After an Unknown failure it stops as well: the first
// provider may have delivered, and a second send could put two codes on
// the phone; the user can press "resend" after the cooldown.
//
// A Chain must not be copied after first use.
type Chain struct {
	Senders []Named
	// Logger receives one record per attempt: provider, outcome, HTTP status
	// and the masked message (Message.LogValue). Nil discards.
	Logger *slog.Logger

	mu       sync.Mutex
	attempts map[Attempt]uint64
}

var _ Sender = (*Chain)(nil)

// Send tries each sender in turn. It returns the receipt of the one that
// accepted the message. When every sender fails, the error wraps the last
// failure, so KindOf and errors.As see its Kind and provider.
func (c *Chain) Send(ctx context.Context, m Message) (Receipt, error) {
	if len(c.Senders) == 0 {
		return Receipt{}, &Error{Provider: "chain", Kind: Config, Err: errors.New("no senders configured")}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		last  error
		tried []string
	)
	for i, s := range c.Senders {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("sender%d", i)
		}
		if slices.Contains(m.Skip, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			if last == nil {
				return Receipt{}, fmt.Errorf("sms: not sent: %w", err)
			}
			// The caller gave up; last keeps the Kind of the failure that
			// made us move on, and ctx's error stays reachable too.
			return Receipt{}, fmt.Errorf("sms: %s; stopped: %w", summary(tried), errors.Join(last, err))
		}
		start := time.Now()
		r, err := s.Sender.Send(ctx, m)
		took := time.Since(start)
		if err == nil {
			if r.Provider == "" {
				r.Provider = name
			}
			c.count(name, "ok")
			log.LogAttrs(ctx, slog.LevelInfo, "sms sent",
				slog.String("provider", name), slog.Int("attempt", i+1), slog.Any("sms", m),
				slog.String("message_id", r.MessageID), slog.String("status", r.Status),
				slog.Duration("took", took))
			return r, nil
		}
		kind := KindOf(err)
		c.count(name, kind.String())
		attrs := []slog.Attr{
			slog.String("provider", name), slog.Int("attempt", i+1), slog.Any("sms", m),
			slog.String("kind", kind.String()), slog.Duration("took", took),
			// Our providers redact provider text (Message.Redact) and keep
			// URLs out of errors; the error is what the operator needs.
			slog.String("err", err.Error()),
		}
		if se, ok := errors.AsType[*Error](err); ok {
			if se.Status != 0 {
				attrs = append(attrs, slog.Int("status", se.Status))
			}
			if se.RetryAfter > 0 {
				attrs = append(attrs, slog.Duration("retry_after", se.RetryAfter))
			}
		}
		log.LogAttrs(ctx, levelOf(kind), "sms attempt failed", attrs...)
		last = err
		tried = append(tried, name+": "+kind.String())
		if kind == Permanent || kind == Unknown {
			break
		}
	}
	if last == nil {
		return Receipt{}, &Error{Provider: "chain", Kind: Transient, Err: errors.New("no other route left")}
	}
	if len(tried) == 1 {
		return Receipt{}, last
	}
	return Receipt{}, fmt.Errorf("sms: %s: %w", summary(tried), last)
}

// summary lists the attempts so far, "xoxzo: transient, twilio: config":
// the returned error wraps only the last failure, so its Kind is the
// chain's, and this keeps the earlier ones visible in the text.
func summary(tried []string) string {
	return "tried " + strings.Join(tried, ", ")
}

func levelOf(k Kind) slog.Level {
	switch k {
	case Config:
		// The operator must act (credentials, template, sender).
		return slog.LevelError
	case Permanent:
		// The user's number or text: not an operational problem.
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func (c *Chain) count(provider, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.attempts == nil {
		c.attempts = make(map[Attempt]uint64)
	}
	c.attempts[Attempt{Provider: provider, Outcome: outcome}]++
}

// Names lists the providers of the chain, in order.
func (c *Chain) Names() []string {
	out := make([]string, 0, len(c.Senders))
	for i, s := range c.Senders {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("sender%d", i)
		}
		out = append(out, name)
	}
	return out
}

// Attempts returns a copy of the attempt counters, for metrics.
func (c *Chain) Attempts() map[Attempt]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.attempts)
}
