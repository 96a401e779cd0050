package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DeviceRequest is one device authorization request (RFC 8628): a device
// holds its device code and shows its user code; the user types that on
// /device and allows or refuses; the device polls until then. Only
// hashes of the codes are kept (see the migration).
type DeviceRequest struct {
	ID             string `gorm:"primaryKey"`
	DeviceCodeHash string
	UserCodeHash   string
	ClientID       string
	Scopes         string // space-separated, as the device asked
	State          string // DevicePending, DeviceApproved, DeviceDenied or DeviceUsed
	PollInterval   int    // seconds the device must leave between polls
	Polls          int    // polls counted: the row's version
	LastPolledAt   *time.Time
	// What the user's decision proved, for the tokens (DeviceApproved).
	UserID        *string
	FlowID        *string
	AMR, ACR      string
	AuthTime      *time.Time
	GrantedScopes string
	RequestID     string // the fosite request id of the tokens issued (DeviceUsed)
	CreatedAt     time.Time
	DecidedAt     *time.Time
	ExpiresAt     time.Time
}

func (DeviceRequest) TableName() string { return "device_requests" }

// Device request states.
const (
	DevicePending  = "pending"  // waiting for the user
	DeviceApproved = "approved" // the user allowed it: the next poll gets tokens
	DeviceDenied   = "denied"   // the user refused it
	DeviceUsed     = "used"     // its tokens were issued: the device code is spent
)

// ErrDeviceDecided is returned, wrapped, when a device request is no
// longer in the state a change expected: decided in another browser,
// redeemed by another poll, or expired.
var ErrDeviceDecided = errors.New("device request is no longer in the expected state")

// deviceGrace keeps an expired device request this long, so a device
// that polls late hears expired_token rather than an unknown code.
const deviceGrace = 24 * time.Hour

// CreateDeviceRequest stores a new, pending request. A user code hash
// that is taken (a live code already has it) is ErrConflict: the caller
// draws another code.
func (s *Store) CreateDeviceRequest(ctx context.Context, d *DeviceRequest) error {
	now := s.Now()
	if d.ID == "" {
		d.ID = NewID()
	}
	d.State, d.Polls, d.LastPolledAt, d.CreatedAt, d.ExpiresAt = DevicePending, 0, nil, now, d.ExpiresAt.UTC()
	if err := s.single(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("store: create device request: %w", err)
	}
	return nil
}

// PendingDeviceRequest finds the live, pending request whose user code
// hashes to one of hashes (one per secret, current and old).
func (s *Store) PendingDeviceRequest(ctx context.Context, hashes []string) (*DeviceRequest, error) {
	var d DeviceRequest
	err := s.conn(ctx).Where("user_code_hash IN ? AND state = ? AND expires_at > ?", hashes, DevicePending, s.Now()).Take(&d).Error
	if err != nil {
		return nil, notFound("device request", err)
	}
	return &d, nil
}

// DeviceRequestByID loads a request in any state.
func (s *Store) DeviceRequestByID(ctx context.Context, id string) (*DeviceRequest, error) {
	var d DeviceRequest
	if err := s.conn(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, notFound("device request", err)
	}
	return &d, nil
}

// DevicePoll is what one poll of the token endpoint finds.
type DevicePoll struct {
	Request *DeviceRequest
	Expired bool
	// TooFast: the request is pending and this poll came sooner than its
	// interval after the last (or at the same moment as another): the
	// interval grew by 5 seconds (RFC 8628 section 3.5, slow_down).
	TooFast bool
}

// pollLeeway forgives a poll that early: a device that waits its
// interval may still arrive a little early after a slow previous answer.
const pollLeeway = time.Second

// PollDeviceRequest records a poll of the request whose device code
// hashes to hash. Of a pending request it counts the poll by a
// conditional update on the row's version, raising its interval when the
// poll came too soon; of two polls at once only one is counted, and the
// other is too soon. ErrNotFound: no such device code.
func (s *Store) PollDeviceRequest(ctx context.Context, hash string) (*DevicePoll, error) {
	now := s.Now()
	var d DeviceRequest
	if err := s.conn(ctx).Where("device_code_hash = ?", hash).Take(&d).Error; err != nil {
		return nil, notFound("device request", err)
	}
	p := &DevicePoll{Request: &d, Expired: !d.ExpiresAt.After(now)}
	if p.Expired || d.State != DevicePending {
		return p, nil
	}
	interval := time.Duration(d.PollInterval) * time.Second
	p.TooFast = d.LastPolledAt != nil && now.Sub(*d.LastPolledAt) < interval-pollLeeway
	next := d.PollInterval
	if p.TooFast {
		next += 5
	}
	res := s.single(ctx).Model(&DeviceRequest{}).Where("id = ? AND polls = ?", d.ID, d.Polls).
		Updates(map[string]any{"polls": d.Polls + 1, "last_polled_at": now, "poll_interval": next})
	if res.Error != nil {
		return nil, fmt.Errorf("store: poll device request: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		p.TooFast = true // another poll was counted at this very moment
		return p, nil
	}
	d.Polls, d.LastPolledAt, d.PollInterval = d.Polls+1, &now, next
	return p, nil
}

// DeviceDecision is a user's answer to a device request.
type DeviceDecision struct {
	Approve  bool
	UserID   string
	FlowID   string
	AMR, ACR string
	AuthTime time.Time
	Scopes   []string // granted
}

// DecideDeviceRequest records the user's answer on a live, pending
// request, by a conditional update: of two answers (two browsers) only
// the first stands, the other gets ErrDeviceDecided, as does an answer
// to an expired request.
func (s *Store) DecideDeviceRequest(ctx context.Context, id string, d DeviceDecision) error {
	now := s.Now()
	state := DeviceDenied
	if d.Approve {
		state = DeviceApproved
	}
	res := s.conn(ctx).Model(&DeviceRequest{}).Where("id = ? AND state = ? AND expires_at > ?", id, DevicePending, now).
		Updates(map[string]any{"state": state, "user_id": d.UserID, "flow_id": d.FlowID, "amr": d.AMR, "acr": d.ACR,
			"auth_time": d.AuthTime.UTC(), "granted_scopes": strings.Join(d.Scopes, " "), "decided_at": now})
	if res.Error != nil {
		return fmt.Errorf("store: decide device request: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: decide device request %s: %w", id, ErrDeviceDecided)
	}
	return nil
}

// RedeemDeviceRequest spends an approved, live request for the tokens
// of fosite request requestID, by a conditional update: a device code
// yields tokens once (ErrDeviceDecided for every other try).
func (s *Store) RedeemDeviceRequest(ctx context.Context, id, requestID string) error {
	res := s.conn(ctx).Model(&DeviceRequest{}).Where("id = ? AND state = ? AND expires_at > ?", id, DeviceApproved, s.Now()).
		Updates(map[string]any{"state": DeviceUsed, "request_id": requestID})
	if res.Error != nil {
		return fmt.Errorf("store: redeem device request: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: redeem device request %s: %w", id, ErrDeviceDecided)
	}
	return nil
}

// deleteExpiredDeviceRequests removes requests a day past their expiry.
func (s *Store) deleteExpiredDeviceRequests(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where("expires_at < ?", now.Add(-deviceGrace)).Delete(&DeviceRequest{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete expired device requests: %w", res.Error)
	}
	return res.RowsAffected, nil
}
