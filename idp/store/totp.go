package store

import (
	"context"
	"fmt"
	"time"
)

// TOTP is a user's authenticator app (RFC 6238): at most one a user. The
// secret is sealed by the caller (idp/totp) before it is stored; an
// authenticator counts only once ConfirmedAt is set by a right code.
type TOTP struct {
	UserID       string `gorm:"primaryKey"`
	SecretSealed string
	CreatedAt    time.Time
	ConfirmedAt  *time.Time
	// LastStep is the time step of the last code accepted: no code of
	// that step or an earlier one is accepted again.
	LastStep   int64
	LastUsedAt *time.Time
}

func (TOTP) TableName() string { return "totp_authenticators" }

// Confirmed reports whether the authenticator was set up to the end.
func (t *TOTP) Confirmed() bool { return t != nil && t.ConfirmedAt != nil }

// Factors a user can have last signed in with (User.LastFactor).
const (
	FactorSMS  = "sms"
	FactorTOTP = "totp"
)

// StartTOTP stores a new, unconfirmed authenticator for the user,
// replacing an unconfirmed one; ErrConflict when a confirmed one exists
// (it must be removed first, with a fresh sign-in).
func (s *Store) StartTOTP(ctx context.Context, userID, sealed string) error {
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND confirmed_at IS NULL", userID).Delete(&TOTP{})
		if res.Error != nil {
			return res.Error
		}
		t := TOTP{UserID: userID, SecretSealed: sealed, CreatedAt: s.Now()}
		if err := s.conn(ctx).Create(&t).Error; err != nil {
			return conflict("totp: the user has a confirmed authenticator", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: start totp: %w", classify(err))
	}
	return nil
}

// TOTPOf returns the user's authenticator, confirmed or not; ErrNotFound
// when there is none.
func (s *Store) TOTPOf(ctx context.Context, userID string) (*TOTP, error) {
	var t TOTP
	if err := s.conn(ctx).Where("user_id = ?", userID).Take(&t).Error; err != nil {
		return nil, notFound("totp", err)
	}
	return &t, nil
}

// ConfirmTOTP confirms the user's unconfirmed authenticator with the
// time step of its first right code, in one conditional update: of two
// requests racing, one gets true.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&TOTP{}).Where("user_id = ? AND confirmed_at IS NULL AND last_step < ?", userID, step).
		Updates(map[string]any{"confirmed_at": now, "last_step": step, "last_used_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("store: confirm totp: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UseTOTPStep accepts a code of time step for the user's confirmed
// authenticator, in one conditional update: only a step later than every
// step accepted before, so a code is good once, and of parallel uses of
// one code exactly one gets true.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res := s.conn(ctx).Model(&TOTP{}).Where("user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", userID, step).
		Updates(map[string]any{"last_step": step, "last_used_at": s.Now()})
	if res.Error != nil {
		return false, fmt.Errorf("store: use totp: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ResealTOTP replaces the user's sealed secret old by new (the same
// secret sealed under the current IDP_SECRET), unless it changed meanwhile.
func (s *Store) ResealTOTP(ctx context.Context, userID, old, new string) error {
	if err := s.conn(ctx).Model(&TOTP{}).Where("user_id = ? AND secret_sealed = ?", userID, old).Update("secret_sealed", new).Error; err != nil {
		return fmt.Errorf("store: reseal totp: %w", err)
	}
	return nil
}

// RemoveTOTP removes the user's authenticator; false when there was none.
func (s *Store) RemoveTOTP(ctx context.Context, userID string) (bool, error) {
	res := s.conn(ctx).Where("user_id = ?", userID).Delete(&TOTP{})
	if res.Error != nil {
		return false, fmt.Errorf("store: remove totp: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetLastFactor records the second factor a user just signed in with.
func (s *Store) SetLastFactor(ctx context.Context, userID, factor string) error {
	err := s.conn(ctx).Model(&User{}).Where("id = ? AND last_factor <> ?", userID, factor).Update("last_factor", factor).Error
	if err != nil {
		return fmt.Errorf("store: set last factor: %w", err)
	}
	return nil
}
