package store

import (
	"context"
	"fmt"
	"time"
)

// Logout delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // gave up after the last retry
)

// LogoutDelivery is one logout token owed to one client for one ended
// session (OpenID Connect Back-Channel Logout 1.0): the outbox row and the
// record of its delivery.
type LogoutDelivery struct {
	ID            string `gorm:"primaryKey"`
	SessionID     string
	Subject       string
	ClientID      string
	URI           string `gorm:"column:uri"`
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeliveredAt   *time.Time
	ExpiresAt     time.Time
}

func (LogoutDelivery) TableName() string { return "logout_deliveries" }

// LogoutRecordKept is how long a delivery's record stays after it was
// written.
const LogoutRecordKept = 30 * 24 * time.Hour

// recordSessionClient remembers that a session issued a code to a client,
// so that the client is told when the session ends. A session that does
// not exist (tokens of no browser session) records nothing.
func (s *Store) recordSessionClient(ctx context.Context, sid, clientID string) error {
	err := s.conn(ctx).Exec(`INSERT INTO session_clients (session_id, client_id, created_at)
		SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)
		ON CONFLICT (session_id, client_id) DO NOTHING`, sid, clientID, s.Now(), sid).Error
	if err != nil {
		return fmt.Errorf("store: record session client: %w", err)
	}
	return nil
}

// SessionClient is a client a session issued codes to, with its logout
// channels.
type SessionClient struct {
	ClientID                          string
	BackchannelLogoutURI              string
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
}

// SessionClients lists the clients a session issued codes to.
func (s *Store) SessionClients(ctx context.Context, sid string) ([]SessionClient, error) {
	var out []SessionClient
	err := s.conn(ctx).Raw(`SELECT c.id AS client_id, c.backchannel_logout_uri, c.frontchannel_logout_uri,
			c.frontchannel_logout_session_required
		FROM session_clients sc JOIN clients c ON c.id = sc.client_id
		WHERE sc.session_id = ? ORDER BY sc.created_at, c.id`, sid).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: session clients: %w", err)
	}
	return out, nil
}

// enqueueLogouts writes, in the transaction that ends a session, one
// delivery for each of its clients with a back-channel logout URI.
func (s *Store) enqueueLogouts(ctx context.Context, sid, subject string) error {
	clients, err := s.SessionClients(ctx, sid)
	if err != nil {
		return err
	}
	now := s.Now()
	for _, c := range clients {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		d := LogoutDelivery{ID: NewID(), SessionID: sid, Subject: subject, ClientID: c.ClientID, URI: c.BackchannelLogoutURI,
			Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(LogoutRecordKept)}
		if err := s.conn(ctx).Create(&d).Error; err != nil {
			return fmt.Errorf("store: enqueue logout for %s: %w", c.ClientID, err)
		}
	}
	return nil
}

// DueLogoutDeliveries lists up to limit pending deliveries whose time has
// come, oldest first. They are only candidates: ClaimLogoutDelivery
// decides which instance sends each.
func (s *Store) DueLogoutDeliveries(ctx context.Context, limit int) ([]LogoutDelivery, error) {
	var out []LogoutDelivery
	err := s.conn(ctx).Where("status = ? AND next_attempt_at <= ?", DeliveryPending, s.Now()).
		Order("next_attempt_at").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: due logout deliveries: %w", err)
	}
	return out, nil
}

// ClaimLogoutDelivery takes a due delivery for one attempt, counting it
// and putting the next attempt lease later, so that another instance (or
// this one after a crash) retries only once the lease has passed. It is a
// conditional update on the attempt count: of instances racing for one
// row, exactly one claims it.
func (s *Store) ClaimLogoutDelivery(ctx context.Context, d *LogoutDelivery, lease time.Duration) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&LogoutDelivery{}).
		Where("id = ? AND status = ? AND attempts = ? AND next_attempt_at <= ?", d.ID, DeliveryPending, d.Attempts, now).
		Updates(map[string]any{"attempts": d.Attempts + 1, "next_attempt_at": now.Add(lease), "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("store: claim logout delivery: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		d.Attempts++
		return true, nil
	}
	return false, nil
}

// FinishLogoutAttempt records the outcome of a claimed attempt: delivered,
// or failed with a retry at next (zero: given up).
func (s *Store) FinishLogoutAttempt(ctx context.Context, d *LogoutDelivery, httpStatus int, failure string, next time.Time) error {
	now := s.Now()
	upd := map[string]any{"last_status": httpStatus, "last_error": failure, "updated_at": now}
	switch {
	case failure == "":
		upd["status"], upd["delivered_at"] = DeliveryDelivered, now
	case next.IsZero():
		upd["status"] = DeliveryFailed
	default:
		upd["next_attempt_at"] = next.UTC()
	}
	if err := s.conn(ctx).Model(&LogoutDelivery{}).Where("id = ?", d.ID).Updates(upd).Error; err != nil {
		return fmt.Errorf("store: finish logout delivery: %w", err)
	}
	return nil
}

// LogoutDeliveries lists deliveries, newest first, for an operator:
// status and client filter when not empty.
func (s *Store) LogoutDeliveries(ctx context.Context, status, clientID string, limit int) ([]LogoutDelivery, error) {
	q := s.conn(ctx).Order("created_at DESC").Limit(limit)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if clientID != "" {
		q = q.Where("client_id = ?", clientID)
	}
	var out []LogoutDelivery
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: logout deliveries: %w", err)
	}
	return out, nil
}
