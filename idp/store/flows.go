package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Flow is one login in progress.
type Flow struct {
	ID           string `gorm:"primaryKey"`
	Purpose      string // PurposeLogin or PurposePhoneChange
	ClientID     string
	RequestQuery string // the authorize request's parameters, URL-encoded
	BrowserHash  string // SHA-256 of the browser cookie that began it
	State        FlowState
	Moves        string // the moves made, oldest first, space-separated
	UserID       *string
	ChallengeID  *string
	SessionID    *string    // the sign-in session used or made
	AMR          string     // space-separated RFC 8176 values
	AuthTime     *time.Time // when the user was last authenticated
	RetryAt      *time.Time // send_refused: when a send may succeed again
	Refusal      string     // send_refused: why ("limit:phone", "number")
	LinkID       *string    // the user link (invitation, reset) the flow was opened with
	DeviceID     *string    `gorm:"column:device_request_id"` // a device flow: the device request it answers
	RequestedAt  time.Time
	ExpiresAt    time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (Flow) TableName() string { return "login_flows" }

// Made reports whether the flow made the named move on its way.
func (f *Flow) Made(m MoveName) bool {
	for _, x := range strings.Fields(f.Moves) {
		if x == string(m) {
			return true
		}
	}
	return false
}

// ErrFlowMoved is returned, wrapped, when a flow was not in the state a
// move expected: another request got there first, or it expired.
var ErrFlowMoved = errors.New("login flow is no longer in the expected state")

// ErrIllegalMove is returned, wrapped, for a move the table does not list
// from the flow's state, or that lacks what the move needs.
var ErrIllegalMove = errors.New("login flow move not in the table")

// CreateFlow stores a new flow. Every flow is born in FlowNew: a flow
// that a session carries further gets there by a move of the table. A
// flow opened with a user link (LinkID), or for a device request
// (DeviceID), keeps it for its life.
// Its times are stored in UTC, whatever zone they come in: on SQLite
// times are text, and the expiry test compares text, which orders as
// time only when every value is in one zone.
func (s *Store) CreateFlow(ctx context.Context, f *Flow) error {
	if f.State != "" && f.State != FlowNew {
		return fmt.Errorf("store: create flow in %s: %w", f.State, ErrIllegalMove)
	}
	now := s.Now()
	if f.ID == "" {
		f.ID = NewID()
	}
	f.State = FlowNew
	if f.Purpose == "" {
		f.Purpose = PurposeLogin
	}
	f.CreatedAt, f.UpdatedAt = now, now
	f.RequestedAt, f.ExpiresAt = f.RequestedAt.UTC(), f.ExpiresAt.UTC()
	f.UserID, f.ChallengeID, f.SessionID, f.AuthTime, f.RetryAt, f.AMR, f.Refusal, f.Moves = nil, nil, nil, nil, nil, "", "", ""
	if err := s.conn(ctx).Create(f).Error; err != nil {
		return fmt.Errorf("store: create flow: %w", err)
	}
	return nil
}

// Flow loads a flow by id. An expired flow is not found.
func (s *Store) Flow(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	if err := s.conn(ctx).Where("id = ? AND expires_at > ?", id, s.Now()).Take(&f).Error; err != nil {
		return nil, notFound("flow", err)
	}
	return &f, nil
}

// FlowAnyState loads a flow by id whatever its state or age: a page that
// can no longer serve it still shows the way back to its app.
func (s *Store) FlowAnyState(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	if err := s.conn(ctx).Where("id = ?", id).Take(&f).Error; err != nil {
		return nil, notFound("flow", err)
	}
	return &f, nil
}

// Move makes the named move of the table on f, setting the given columns,
// in one conditional update on the state f is in: of two requests racing
// on one flow, only one moves it (the other gets ErrFlowMoved). A move the
// table does not list from f's state, or without what it needs, is
// refused before the database is asked (ErrIllegalMove). On success f
// holds the flow as stored.
func (s *Store) Move(ctx context.Context, f *Flow, name MoveName, set map[string]any) error {
	m, ok := LookupMove(name, f.State, f.Purpose)
	if !ok {
		return fmt.Errorf("store: %s from %s (%s): %w", name, f.State, f.Purpose, ErrIllegalMove)
	}
	if err := m.check(set); err != nil {
		return fmt.Errorf("store: %w: %w", ErrIllegalMove, err)
	}
	now := s.Now()
	upd := map[string]any{
		"state":      m.To,
		"updated_at": now,
		"moves":      gorm.Expr("TRIM(moves || ' ' || ?)", string(name)),
	}
	for k, v := range set {
		upd[k] = utc(v)
	}
	for _, k := range m.Clears {
		if k == "amr" || k == "refusal" {
			upd[k] = ""
		} else {
			upd[k] = nil
		}
	}
	var out []Flow
	res := s.conn(ctx).Model(&out).Clauses(clause.Returning{}).
		Where("id = ? AND state = ? AND purpose = ? AND expires_at > ?", f.ID, f.State, f.Purpose, now).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("store: %s %s -> %s: %w", name, f.State, m.To, res.Error)
	}
	if res.RowsAffected != 1 || len(out) != 1 {
		return fmt.Errorf("store: %s %s -> %s: %w", name, f.State, m.To, ErrFlowMoved)
	}
	*f = out[0]
	return nil
}

// utc returns a time value in UTC (see CreateFlow) and anything else as is.
func utc(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case *time.Time:
		if t != nil {
			return new(t.UTC())
		}
	}
	return v
}
