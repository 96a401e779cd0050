package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FlowState is how far a login has got. The order is fixed:
// new -> password_ok -> mfa_ok -> done.
type FlowState string

const (
	FlowNew        FlowState = "new"         // waiting for username and password
	FlowPasswordOK FlowState = "password_ok" // password checked; waiting for the PIN (or a phone to enrol)
	FlowMFAOK      FlowState = "mfa_ok"      // PIN checked; consent, then the code
	FlowDone       FlowState = "done"        // the authorize response was issued

	// FlowNewPhone: a phone change whose new number got a PIN, waiting for it.
	FlowNewPhone FlowState = "new_phone"
)

// Flow purposes.
const (
	PurposeLogin       = "login"        // answers an RP's authorize request
	PurposePhoneChange = "phone_change" // the account's own phone change; no client
)

// Flow is one login in progress.
type Flow struct {
	ID           string `gorm:"primaryKey"`
	Purpose      string // PurposeLogin or PurposePhoneChange
	ClientID     string
	RequestQuery string // the authorize request's parameters, URL-encoded
	BrowserHash  string // SHA-256 of the browser cookie that began it
	State        FlowState
	UserID       *string
	ChallengeID  *string
	SessionID    *string // the sign-in session used or made
	AMR          string  // space-separated RFC 8176 values
	AuthTime     *time.Time
	RequestedAt  time.Time
	ExpiresAt    time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (Flow) TableName() string { return "login_flows" }

// ErrFlowMoved is returned, wrapped, when a flow was not in the state a
// transition expected: another request got there first.
var ErrFlowMoved = errors.New("login flow is no longer in the expected state")

// CreateFlow stores a new flow, in FlowNew unless the caller set a state
// (a flow that starts from a live session). Its times are stored in UTC, whatever zone
// they come in: on SQLite times are text, and the expiry test compares
// text, which orders as time only when every value is in one zone.
func (s *Store) CreateFlow(ctx context.Context, f *Flow) error {
	now := s.Now()
	if f.ID == "" {
		f.ID = NewID()
	}
	if f.State == "" {
		f.State = FlowNew
	}
	if f.Purpose == "" {
		f.Purpose = PurposeLogin
	}
	f.CreatedAt, f.UpdatedAt = now, now
	f.RequestedAt, f.ExpiresAt = f.RequestedAt.UTC(), f.ExpiresAt.UTC()
	if f.AuthTime != nil {
		f.AuthTime = new(f.AuthTime.UTC())
	}
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

// AdvanceFlow moves a flow from one state to the next and applies the
// given column updates, in one conditional update: of two requests racing
// on one flow, only one moves it.
func (s *Store) AdvanceFlow(ctx context.Context, id string, from, to FlowState, set map[string]any) error {
	upd := map[string]any{"state": to, "updated_at": s.Now()}
	for k, v := range set {
		upd[k] = utc(v)
	}
	res := s.conn(ctx).Model(&Flow{}).Where("id = ? AND state = ? AND expires_at > ?", id, from, s.Now()).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("store: advance flow %s -> %s: %w", from, to, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: advance flow %s -> %s: %w", from, to, ErrFlowMoved)
	}
	return nil
}

// SetFlowChallenge records the SMS challenge a flow waits on; only while
// the flow waits for a PIN.
func (s *Store) SetFlowChallenge(ctx context.Context, id, challengeID string) error {
	res := s.conn(ctx).Model(&Flow{}).Where("id = ? AND state = ?", id, FlowPasswordOK).
		Updates(map[string]any{"challenge_id": challengeID, "updated_at": s.Now()})
	if res.Error != nil {
		return fmt.Errorf("store: set flow challenge: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: set flow challenge: %w", ErrFlowMoved)
	}
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
