package store

import (
	"context"
	"fmt"
	"time"
)

type throttleRow struct {
	Key          string `gorm:"primaryKey"`
	Failures     int
	BlockedUntil time.Time
	UpdatedAt    time.Time
}

func (throttleRow) TableName() string { return "login_throttle" }

// ThrottleWait returns how long the most blocked of keys must still wait
// before another sign-in attempt (0: none).
func (s *Store) ThrottleWait(ctx context.Context, keys ...string) (time.Duration, error) {
	var rows []throttleRow
	now := s.Now()
	if err := s.conn(ctx).Where("key IN ? AND blocked_until > ?", keys, now).Find(&rows).Error; err != nil {
		return 0, fmt.Errorf("store: throttle: %w", err)
	}
	var wait time.Duration
	for _, r := range rows {
		wait = max(wait, r.BlockedUntil.Sub(now))
	}
	return wait, nil
}

// ThrottleFail counts a failure against key and blocks it for
// delay(failures). Failures older than forget are forgotten first. It is
// one upsert, so instances sharing the database count together.
func (s *Store) ThrottleFail(ctx context.Context, key string, forget time.Duration, delay func(failures int) time.Duration) (int, error) {
	now := s.Now()
	var counts []int
	err := s.conn(ctx).Raw(`INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_throttle.updated_at < ? THEN 1 ELSE login_throttle.failures + 1 END,
			updated_at = excluded.updated_at
		RETURNING failures`, key, now, now, now.Add(-forget)).Scan(&counts).Error
	if err != nil || len(counts) != 1 {
		return 0, fmt.Errorf("store: throttle: %w", err)
	}
	if d := delay(counts[0]); d > 0 {
		if err := s.conn(ctx).Model(&throttleRow{}).Where("key = ?", key).Update("blocked_until", now.Add(d)).Error; err != nil {
			return counts[0], fmt.Errorf("store: throttle: %w", err)
		}
	}
	return counts[0], nil
}

// ThrottleReset forgets the failures of keys (a success, or an operator's
// unlock). It reports how many keys had any.
func (s *Store) ThrottleReset(ctx context.Context, keys ...string) (int64, error) {
	res := s.conn(ctx).Where("key IN ?", keys).Delete(&throttleRow{})
	return res.RowsAffected, res.Error
}
