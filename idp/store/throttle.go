package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

type throttleRow struct {
	Key          string `gorm:"primaryKey"`
	Failures     int    // tries counted and not undone
	BlockedUntil time.Time
	UpdatedAt    time.Time
}

func (throttleRow) TableName() string { return "login_throttle" }

// ThrottleRule says how tries against one key are limited: Free tries,
// then each further one blocks the key for First, doubling up to Max.
// Tries older than Forget (since the last) are forgotten.
type ThrottleRule struct {
	Free       int
	First, Max time.Duration
	Forget     time.Duration
}

// Block is how long n counted tries block the key.
func (r ThrottleRule) Block(n int) time.Duration {
	if n < r.Free {
		return 0
	}
	d := r.First
	for i := r.Free; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// ThrottleKey is one key to count a try against, under its rule.
type ThrottleKey struct {
	Key  string
	Rule ThrottleRule
}

// ThrottleTry counts one try against every key before the work it guards
// (a password hash) is done. Each key takes one conditional upsert: a key
// still blocked is not counted and refuses the try, and the try is
// counted against no key at all (the transaction rolls back). Counted
// tries block as if they had failed, so of many tries sent at once no
// more than the allowance pass; a success undoes its count
// (ThrottleSucceeded). It returns how long the longest block still runs
// when refused, 0 when the try may go ahead.
func (s *Store) ThrottleTry(ctx context.Context, keys ...ThrottleKey) (time.Duration, error) {
	// One order for every request, so two tries never wait on each
	// other's rows crosswise.
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b ThrottleKey) int { return strings.Compare(a.Key, b.Key) })
	var wait time.Duration
	err := s.InTx(ctx, func(ctx context.Context) error {
		now := s.Now()
		for _, k := range keys {
			counted, blockedUntil, err := s.countTry(ctx, k, now)
			if err != nil {
				return err
			}
			if !counted {
				// At least a second: a block another try set a moment
				// ago may already end by this request's clock.
				wait = max(wait, blockedUntil.Sub(now), time.Second)
			}
		}
		if wait > 0 {
			return errRefused
		}
		return nil
	})
	if err == errRefused {
		return wait, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: throttle: %w", err)
	}
	return 0, nil
}

var errRefused = fmt.Errorf("store: refused")

// countTry is the conditional upsert of one key: counted unless blocked.
// The block that the new count sets is chosen by a CASE over the counts
// the rule knows, so count and block change in the same statement.
func (s *Store) countTry(ctx context.Context, k ThrottleKey, now time.Time) (bool, time.Time, error) {
	next := `CASE WHEN login_throttle.updated_at < ? THEN 1 ELSE login_throttle.failures + 1 END`
	args := []any{now.Add(-k.Rule.Forget)}
	// blocked_until for the new count n: now + Block(n), capped at Max.
	ts := "?" // a time parameter; PostgreSQL cannot type one in a CASE
	if s.db.Dialector.Name() == "postgres" {
		ts = "CAST(? AS TIMESTAMPTZ)"
	}
	var blockCase strings.Builder
	var blockArgs []any
	blockCase.WriteString("CASE")
	n := k.Rule.Free
	for ; k.Rule.Block(n) < k.Rule.Max; n++ {
		blockCase.WriteString(" WHEN " + next + " = ? THEN " + ts)
		blockArgs = append(blockArgs, args[0], n, now.Add(k.Rule.Block(n)))
	}
	// Below the allowance the block stays as it was: setting it to this
	// request's "now" would refuse a parallel try whose clock read earlier.
	blockCase.WriteString(" WHEN " + next + " > ? THEN " + ts + " ELSE login_throttle.blocked_until END")
	blockArgs = append(blockArgs, args[0], n-1, now.Add(k.Rule.Max))

	q := `INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = ` + next + `, blocked_until = ` + blockCase.String() + `, updated_at = ?
		WHERE login_throttle.blocked_until <= ?
		RETURNING failures`
	first := time.Unix(0, 0).UTC() // not blocked
	if d := k.Rule.Block(1); d > 0 {
		first = now.Add(d)
	}
	all := []any{k.Key, first, now}
	all = append(all, args...)
	all = append(all, blockArgs...)
	all = append(all, now, now)
	var counts []int
	if err := s.conn(ctx).Raw(q, all...).Scan(&counts).Error; err != nil {
		return false, time.Time{}, err
	}
	if len(counts) == 1 {
		return true, time.Time{}, nil
	}
	var row throttleRow
	if err := s.conn(ctx).Where("key = ?", k.Key).Take(&row).Error; err != nil {
		return false, time.Time{}, err
	}
	return false, row.BlockedUntil, nil
}

// ThrottleSucceeded undoes the try counted against each key: the account
// key is forgotten (its owner got in), a network key loses one count (a
// shared address keeps what others failed). The keys are taken one
// statement each in the order ThrottleTry locks them: inside a step's
// transaction, a statement over several rows at once could lock them
// crosswise to a parallel try and deadlock.
func (s *Store) ThrottleSucceeded(ctx context.Context, forget []string, uncount []string) error {
	all := append(slices.Clone(forget), uncount...)
	slices.Sort(all)
	for _, key := range slices.Compact(all) {
		var err error
		if slices.Contains(forget, key) {
			err = s.conn(ctx).Where("key = ?", key).Delete(&throttleRow{}).Error
		} else {
			err = s.conn(ctx).Model(&throttleRow{}).Where("key = ? AND failures > 0", key).
				Update("failures", gorm.Expr("failures - 1")).Error
		}
		if err != nil {
			return fmt.Errorf("store: throttle: %w", err)
		}
	}
	return nil
}

// ThrottleReset forgets the tries of keys (an operator's unlock). It
// reports how many keys had any.
func (s *Store) ThrottleReset(ctx context.Context, keys ...string) (int64, error) {
	res := s.conn(ctx).Where("key IN ?", keys).Delete(&throttleRow{})
	return res.RowsAffected, res.Error
}
