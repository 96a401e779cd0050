package store

import (
	"context"
	"fmt"
	"time"
)

// RecoveryCode is one stored recovery code: its public id and a slow
// hash of its secret (see package recovery).
type RecoveryCode struct {
	UserID    string `gorm:"primaryKey"`
	CodeID    string `gorm:"primaryKey"`
	CodeHash  string
	CreatedAt time.Time
	UsedAt    *time.Time
}

func (RecoveryCode) TableName() string { return "recovery_codes" }

// ReplaceRecoveryCodes stores a user's new set of codes and removes the
// old set, in one transaction: from then on only the new codes work.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error {
	now := s.Now()
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		for i := range codes {
			codes[i].UserID, codes[i].CreatedAt, codes[i].UsedAt = userID, now, nil
		}
		if len(codes) == 0 {
			return nil
		}
		return s.conn(ctx).Create(&codes).Error
	})
	if err != nil {
		return fmt.Errorf("store: replace recovery codes: %w", err)
	}
	return nil
}

// UnusedRecoveryCode returns a user's unused code with the public id;
// ErrNotFound when there is none (never made, used, or replaced).
func (s *Store) UnusedRecoveryCode(ctx context.Context, userID, codeID string) (*RecoveryCode, error) {
	var c RecoveryCode
	if err := s.conn(ctx).Where("user_id = ? AND code_id = ? AND used_at IS NULL", userID, codeID).Take(&c).Error; err != nil {
		return nil, notFound("recovery code", err)
	}
	return &c, nil
}

// UseRecoveryCode marks an unused code used, in one conditional update:
// of two requests racing with one code, one gets true.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, codeID string) (bool, error) {
	res := s.conn(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND code_id = ? AND used_at IS NULL", userID, codeID).Update("used_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("store: use recovery code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecoveryCodesLeft counts a user's unused codes, and says when the set
// was made (zero without one).
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (left int, made time.Time, err error) {
	var rows []RecoveryCode
	if err := s.conn(ctx).Select("created_at", "used_at").Where("user_id = ?", userID).Find(&rows).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("store: recovery codes: %w", err)
	}
	for _, r := range rows {
		if r.UsedAt == nil {
			left++
		}
		made = r.CreatedAt
	}
	return left, made, nil
}
