package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	q := s.conn(ctx).Model(&mfa.Challenge{}).Where("id = ? AND consumed_at IS NULL AND superseded = ?", id, false)
	upd := map[string]any{
		"code_hash":    r.CodeHash,
		"attempts":     0,
		"last_sent_at": r.SentAt.UTC(),
		"expires_at":   r.ExpiresAt.UTC(),
	}
	if r.Reroute {
		q = q.Where("last_sent_at = ?", r.Replaces.UTC())
	} else {
		q = q.Where("resends < ? AND last_sent_at <= ?", r.MaxResends, r.SentBefore.UTC())
		upd["resends"] = gorm.Expr("resends + 1")
	}
	res := q.Updates(upd)
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

// CountSend implements mfa.CounterStore. The key's row in send_log_keys
// is locked first (an upsert), so parallel sends under one key queue: each
// sums what the ones before it committed, and none counts past a window's
// Max. SQLite has one writer at a time anyway.
func (s *Store) CountSend(ctx context.Context, key, send string, at time.Time, amount int64, windows []mfa.Window) (mfa.Counted, error) {
	var out mfa.Counted
	at = at.UTC()
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		if err := db.Exec(`INSERT INTO send_log_keys (key, touched_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET touched_at = excluded.touched_at`, key, at).Error; err != nil {
			return err
		}
		sums, err := s.windowSums(ctx, key, at, windows)
		if err != nil {
			return err
		}
		for i, w := range windows {
			if sums[i]+amount <= w.Max {
				continue
			}
			since := at.Add(-w.Length)
			free, err := s.freeAt(ctx, key, since, sums[i]+amount-w.Max)
			if err != nil {
				return err
			}
			out = mfa.Counted{Full: w, FreeAt: free.Add(w.Length)}
			return nil
		}
		out.OK = true
		return db.Exec(`INSERT INTO send_log (key, send_id, at, amount) VALUES (?, ?, ?, ?)`, key, send, at, amount).Error
	})
	if err != nil {
		return mfa.Counted{}, fmt.Errorf("store: count send: %w", err)
	}
	return out, nil
}

// windowSums adds up what key recorded within each window before at, in
// one statement.
func (s *Store) windowSums(ctx context.Context, key string, at time.Time, windows []mfa.Window) ([]int64, error) {
	if len(windows) == 0 {
		return nil, nil
	}
	var cols []string
	var args []any
	oldest := at
	for _, w := range windows {
		since := at.Add(-w.Length)
		cols = append(cols, "COALESCE(SUM(CASE WHEN at > ? THEN amount ELSE 0 END), 0)")
		args = append(args, since)
		if since.Before(oldest) {
			oldest = since
		}
	}
	args = append(args, key, oldest)
	rows, err := s.conn(ctx).Raw("SELECT "+strings.Join(cols, ", ")+" FROM send_log WHERE key = ? AND at > ?", args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sums := make([]int64, len(windows))
	dest := make([]any, len(windows))
	for i := range sums {
		dest[i] = &sums[i]
	}
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
	}
	return sums, rows.Err()
}

// freeAt is when, of what key recorded after since, enough has been
// recorded that dropping it all frees excess: the time the window must
// slide past.
func (s *Store) freeAt(ctx context.Context, key string, since time.Time, excess int64) (time.Time, error) {
	var rows []struct {
		At     time.Time
		Amount int64
	}
	if err := s.conn(ctx).Raw(`SELECT at, amount FROM send_log WHERE key = ? AND at > ? ORDER BY at LIMIT 1000`, key, since).
		Scan(&rows).Error; err != nil {
		return time.Time{}, err
	}
	var freed int64
	for _, r := range rows {
		if freed += r.Amount; freed >= excess {
			return r.At, nil
		}
	}
	if len(rows) == 0 {
		return since, nil // the amount alone passes Max
	}
	return rows[len(rows)-1].At, nil
}

// UncountSend implements mfa.CounterStore.
func (s *Store) UncountSend(ctx context.Context, send string) error {
	if err := s.conn(ctx).Exec(`DELETE FROM send_log WHERE send_id = ?`, send).Error; err != nil {
		return fmt.Errorf("store: uncount send: %w", err)
	}
	return nil
}

// SumSince implements mfa.CounterStore.
func (s *Store) SumSince(ctx context.Context, key string, since time.Time) (int64, error) {
	var sum int64
	if err := s.conn(ctx).Raw(`SELECT COALESCE(SUM(amount), 0) FROM send_log WHERE key = ? AND at > ?`, key, since.UTC()).
		Scan(&sum).Error; err != nil {
		return 0, fmt.Errorf("store: sum sends: %w", err)
	}
	return sum, nil
}

// DeleteExpiredCounters implements mfa.CounterStore.
func (s *Store) DeleteExpiredCounters(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Exec(`DELETE FROM send_log WHERE at < ?`, before.UTC())
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return s.conn(ctx).Exec(`DELETE FROM send_log_keys WHERE touched_at < ?`, before.UTC()).Error
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired counters: %w", err)
	}
	return n, nil
}

// Hold implements mfa.HoldStore.
func (s *Store) Hold(ctx context.Context, scope string) (*mfa.Hold, error) {
	var hs []mfa.Hold
	if err := s.conn(ctx).Where("scope = ?", scope).Limit(1).Find(&hs).Error; err != nil {
		return nil, fmt.Errorf("store: hold: %w", err)
	}
	if len(hs) == 0 {
		return nil, nil
	}
	return &hs[0], nil
}

// PutHold implements mfa.HoldStore: one conditional upsert, so of
// parallel sends that find a prefix failing, one sets the hold.
func (s *Store) PutHold(ctx context.Context, h *mfa.Hold) (bool, error) {
	var set []string
	err := s.conn(ctx).Raw(`INSERT INTO sms_holds (scope, reason, sends, verified, held_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, sends = excluded.sends, verified = excluded.verified,
			held_at = excluded.held_at, lifted_at = NULL, lifted_by = ''
		WHERE sms_holds.lifted_at IS NOT NULL
		RETURNING scope`, h.Scope, h.Reason, h.Sends, h.Verified, h.HeldAt.UTC()).Scan(&set).Error
	if err != nil {
		return false, fmt.Errorf("store: put hold: %w", err)
	}
	return len(set) == 1, nil
}

// LiftHold implements mfa.HoldStore.
func (s *Store) LiftHold(ctx context.Context, scope, by string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&mfa.Hold{}).Where("scope = ? AND lifted_at IS NULL", scope).
		Updates(map[string]any{"lifted_at": at.UTC(), "lifted_by": by})
	if res.Error != nil {
		return false, fmt.Errorf("store: lift hold: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Holds implements mfa.HoldStore.
func (s *Store) Holds(ctx context.Context) ([]mfa.Hold, error) {
	var hs []mfa.Hold
	if err := s.conn(ctx).Order("lifted_at IS NOT NULL, held_at DESC, scope").Find(&hs).Error; err != nil {
		return nil, fmt.Errorf("store: holds: %w", err)
	}
	return hs, nil
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
	upd := map[string]any{"status": status, "updated_at": at.UTC(), "receipt_at": at.UTC()}
	if errText != "" {
		upd["error"] = errText
	}
	if err := s.conn(ctx).Model(&mfa.Delivery{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("store: delivery status: %w", err)
	}
	return nil
}

// ApplyReceipt implements mfa.DeliveryStore: one conditional update, so
// of duplicate receipts racing, one changes the row.
func (s *Store) ApplyReceipt(ctx context.Context, provider, messageID, status, errorCode, errText string, at time.Time) (bool, bool, error) {
	if messageID == "" {
		return false, false, nil
	}
	res := s.conn(ctx).Model(&mfa.Delivery{}).
		Where("provider = ? AND provider_message_id = ? AND status NOT IN ? AND status <> ?", provider, messageID,
			[]string{"delivered", "failed"}, status).
		Updates(map[string]any{"status": status, "error_code": errorCode, "error": errText, "receipt_at": at.UTC(), "updated_at": at.UTC()})
	if res.Error != nil {
		return false, false, fmt.Errorf("store: apply receipt: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		return true, true, nil
	}
	var n int64
	if err := s.conn(ctx).Model(&mfa.Delivery{}).Where("provider = ? AND provider_message_id = ?", provider, messageID).
		Count(&n).Error; err != nil {
		return false, false, fmt.Errorf("store: apply receipt: %w", err)
	}
	return n > 0, false, nil
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
