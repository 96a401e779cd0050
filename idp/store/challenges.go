package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/smspin/idp/mfa"
)

// The store is mfa's persistence: challenges, send counters and
// deliveries, each statement in the transaction the context carries, so a
// login step that issues or checks a code commits once.
var _ mfa.Store = (*Store)(nil)

// NewID implements mfa.Store.
func (s *Store) NewID() string { return NewID() }

// CreateChallenge implements mfa.ChallengeStore.
func (s *Store) CreateChallenge(ctx context.Context, c *mfa.Challenge) error {
	db := s.conn(ctx)
	if err := db.Model(&mfa.Challenge{}).Where("flow_id = ? AND superseded = ?", c.FlowID, false).
		Update("superseded", true).Error; err != nil {
		return fmt.Errorf("store: supersede challenges: %w", err)
	}
	if err := db.Create(c).Error; err != nil {
		return fmt.Errorf("store: create challenge: %w", err)
	}
	return nil
}

// Challenge implements mfa.ChallengeStore.
func (s *Store) Challenge(ctx context.Context, id string) (*mfa.Challenge, error) {
	var c mfa.Challenge
	err := s.conn(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("store: challenge: %w", mfa.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: challenge: %w", err)
	}
	return &c, nil
}

// CountAttempt implements mfa.ChallengeStore: one UPDATE ... RETURNING, so
// of parallel attempts each learns its own count and none passes the
// limit.
func (s *Store) CountAttempt(ctx context.Context, id string, now time.Time) (*mfa.Challenge, error) {
	var counted []mfa.Challenge
	err := s.conn(ctx).Raw(`UPDATE sms_challenges SET attempts = attempts + 1
		WHERE id = ? AND consumed_at IS NULL AND superseded = ? AND attempts < max_attempts AND expires_at > ?
		RETURNING *`, id, false, now.UTC()).Scan(&counted).Error
	if err != nil {
		return nil, fmt.Errorf("store: count attempt: %w", err)
	}
	if len(counted) != 1 {
		return nil, nil
	}
	return &counted[0], nil
}

// ConsumeChallenge implements mfa.ChallengeStore.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&mfa.Challenge{}).Where("id = ? AND consumed_at IS NULL AND superseded = ?", id, false).
		Update("consumed_at", now.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("store: consume challenge: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RenewChallenge implements mfa.ChallengeStore.
func (s *Store) RenewChallenge(ctx context.Context, id string, r mfa.Renewal) (bool, error) {
	res := s.conn(ctx).Model(&mfa.Challenge{}).
		Where("id = ? AND consumed_at IS NULL AND superseded = ? AND resends < ? AND last_sent_at <= ?",
			id, false, r.MaxResends, r.SentBefore.UTC()).
		Updates(map[string]any{
			"code_hash":    r.CodeHash,
			"resends":      gorm.Expr("resends + 1"),
			"attempts":     0,
			"last_sent_at": r.SentAt.UTC(),
			"expires_at":   r.ExpiresAt.UTC(),
		})
	if res.Error != nil {
		return false, fmt.Errorf("store: renew challenge: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UpdateChallenge implements mfa.ChallengeStore.
func (s *Store) UpdateChallenge(ctx context.Context, id string, u mfa.ChallengeUpdate) error {
	upd := map[string]any{}
	if u.VerifierRef != "" {
		upd["verifier_ref"] = u.VerifierRef
	}
	if !u.LastSentAt.IsZero() {
		upd["last_sent_at"] = u.LastSentAt.UTC()
	}
	if len(upd) == 0 {
		return nil
	}
	if err := s.conn(ctx).Model(&mfa.Challenge{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("store: update challenge: %w", err)
	}
	return nil
}

// CountSend implements mfa.CounterStore: one conditional upsert, so
// parallel sends never count past max.
func (s *Store) CountSend(ctx context.Context, key string, start, end time.Time, max int) (bool, error) {
	var counts []int
	err := s.conn(ctx).Raw(`INSERT INTO rate_counters (key, window_start, count, expires_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1
		WHERE rate_counters.count < ?
		RETURNING count`, key, start.UTC(), end.UTC(), max).Scan(&counts).Error
	if err != nil {
		return false, fmt.Errorf("store: count send: %w", err)
	}
	return len(counts) == 1, nil
}

// UncountSend implements mfa.CounterStore.
func (s *Store) UncountSend(ctx context.Context, key string, start time.Time) error {
	err := s.conn(ctx).Exec(`UPDATE rate_counters SET count = count - 1 WHERE key = ? AND window_start = ? AND count > 0`,
		key, start.UTC()).Error
	if err != nil {
		return fmt.Errorf("store: uncount send: %w", err)
	}
	return nil
}

// DeleteExpiredCounters implements mfa.CounterStore.
func (s *Store) DeleteExpiredCounters(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM rate_counters WHERE expires_at < ?`, now.UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete expired counters: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// AddDelivery implements mfa.DeliveryStore.
func (s *Store) AddDelivery(ctx context.Context, d *mfa.Delivery) error {
	if err := s.conn(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("store: add delivery: %w", err)
	}
	return nil
}

// PendingDeliveries implements mfa.DeliveryStore.
func (s *Store) PendingDeliveries(ctx context.Context, providers, final []string, since time.Time, limit int) ([]mfa.Delivery, error) {
	var rows []mfa.Delivery
	err := s.conn(ctx).
		Where("provider IN ? AND provider_message_id <> '' AND status NOT IN ? AND created_at > ?", providers, final, since.UTC()).
		Order("created_at").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending deliveries: %w", err)
	}
	return rows, nil
}

// SetDeliveryStatus implements mfa.DeliveryStore.
func (s *Store) SetDeliveryStatus(ctx context.Context, id, status, errText string, at time.Time) error {
	upd := map[string]any{"status": status, "updated_at": at.UTC()}
	if errText != "" {
		upd["error"] = errText
	}
	if err := s.conn(ctx).Model(&mfa.Delivery{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("store: delivery status: %w", err)
	}
	return nil
}

// RecentDeliveries implements mfa.DeliveryStore.
func (s *Store) RecentDeliveries(ctx context.Context, limit int) ([]mfa.DeliveryTo, error) {
	var rows []mfa.DeliveryTo
	err := s.conn(ctx).Table("sms_deliveries AS d").
		Select("d.*, c.phone").Joins("LEFT JOIN sms_challenges AS c ON c.id = d.challenge_id").
		Order("d.created_at DESC").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: recent deliveries: %w", err)
	}
	return rows, nil
}

// ChallengeDeliveries implements mfa.DeliveryStore.
func (s *Store) ChallengeDeliveries(ctx context.Context, challengeID string) ([]mfa.Delivery, error) {
	var ds []mfa.Delivery
	if err := s.conn(ctx).Where("challenge_id = ?", challengeID).Order("created_at").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return ds, nil
}
