package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smspin/idp/idp/store"
)

// Key is a signing key as an operator sees it; never its private half.
type Key struct {
	KID          string     `json:"kid"`
	Alg          string     `json:"alg"`
	Active       bool       `json:"active"`
	Published    bool       `json:"published"` // in the JWKS now
	CreatedAt    time.Time  `json:"created_at"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"publish_until,omitempty"`
}

// Keys lists every signing key, newest first.
func (s *Service) Keys(ctx context.Context) ([]Key, error) {
	list, err := s.Store.AllSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Store.Now()
	out := make([]Key, 0, len(list))
	for _, k := range list {
		out = append(out, Key{KID: k.KID, Alg: k.Alg, Active: k.Active, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil,
			Published: k.Active || (k.PublishUntil != nil && k.PublishUntil.After(now))})
	}
	return out, nil
}

// AuditQuery selects audit events; zero fields select all.
type AuditQuery struct {
	User    string // id or username
	Event   string // exact, or a family ending in "." (pin.)
	Outcome string
	Since   time.Time
	Limit   int
}

// MaxAuditEvents is the most events one query returns.
const MaxAuditEvents = 10000

// Audit returns matching events, newest first.
func (s *Service) Audit(ctx context.Context, q AuditQuery) ([]store.AuditEvent, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > MaxAuditEvents {
		return nil, invalid("limit must be 1 to %d", MaxAuditEvents)
	}
	if q.Event != "" {
		if msg := CheckEventFilter(q.Event); msg != "" {
			return nil, invalid("%s", msg)
		}
	}
	f := store.AuditFilter{Event: q.Event, Outcome: q.Outcome, Since: q.Since, Limit: q.Limit}
	if q.User != "" {
		u, err := s.FindUser(ctx, q.User)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				// A deleted user's events are still there, by id.
				if store.ValidID(q.User) {
					f.UserID = q.User
					return s.Store.AuditEvents(ctx, f)
				}
			}
			return nil, err
		}
		f.UserID = u.ID
	}
	events, err := s.Store.AuditEvents(ctx, f)
	if events == nil && err == nil {
		events = []store.AuditEvent{}
	}
	return events, err
}

// CheckEventFilter refuses an event filter that can match nothing,
// naming the events there are.
func CheckEventFilter(event string) string {
	names := store.AuditEventNames()
	for _, n := range names {
		if n == event || (strings.HasSuffix(event, ".") && strings.HasPrefix(n, event)) {
			return ""
		}
	}
	return fmt.Sprintf("event %q is not an event the provider records; the events are:\n  %s\n(a family ending in \".\", such as pin., selects all of its events)",
		event, strings.Join(names, "\n  "))
}
