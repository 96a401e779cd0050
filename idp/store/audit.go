package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEvent is one security event. It never holds a password or a code.
type AuditEvent struct {
	ID        string    `gorm:"primaryKey" json:"id"`
	At        time.Time `json:"at"`
	Event     string    `json:"event"`   // e.g. login.password, pin.verify, phone.changed, client.created
	Outcome   string    `json:"outcome"` // ok, failed, refused, ...
	UserID    string    `json:"user_id,omitempty"`
	Username  string    `json:"username,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	FlowID    string    `json:"flow_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func (AuditEvent) TableName() string { return "audit_events" }

// Audit records an event. Its id and time are filled in.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	e.ID = NewID()
	e.At = s.Now()
	if len(e.UserAgent) > 256 {
		e.UserAgent = e.UserAgent[:256]
	}
	if err := s.conn(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit events; zero fields select all.
type AuditFilter struct {
	UserID  string
	Event   string // exact, or a prefix ending in "." (e.g. "pin.")
	Outcome string
	Since   time.Time
	Limit   int
}

// AuditEvents returns matching events, newest first.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := s.conn(ctx).Model(&AuditEvent{})
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Event != "" {
		if f.Event[len(f.Event)-1] == '.' {
			q = q.Where("event LIKE ?", f.Event+"%")
		} else {
			q = q.Where("event = ?", f.Event)
		}
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []AuditEvent
	if err := q.Order("at DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: audit events: %w", err)
	}
	return out, nil
}
