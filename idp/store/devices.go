package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"
)

// TrustedDevice is a browser a user trusted to spare the second factor
// until ExpiresAt. Its cookie holds a random token; only a hash of it is
// kept, and it counts for its own user alone.
type TrustedDevice struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	TokenHash  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         string
}

func (TrustedDevice) TableName() string { return "trusted_devices" }

// Holds reports whether a browser's cookie value is this device's.
func (d *TrustedDevice) Holds(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(hashDeviceToken(token)), []byte(d.TokenHash)) == 1
}

func hashDeviceToken(token string) string {
	sum := sha256.Sum256([]byte("device\x00" + token))
	return hex.EncodeToString(sum[:])
}

// CreateTrustedDevice stores a trusted browser for the cookie value token.
func (s *Store) CreateTrustedDevice(ctx context.Context, d *TrustedDevice, token string) error {
	now := s.Now()
	if d.ID == "" {
		d.ID = NewID()
	}
	d.TokenHash = hashDeviceToken(token)
	d.CreatedAt, d.LastUsedAt, d.ExpiresAt = now, now, d.ExpiresAt.UTC()
	if err := s.conn(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("store: trust a device: %w", err)
	}
	return nil
}

// UseTrustedDevice finds the live trusted browser of a cookie value for
// one user, and records its use; ErrNotFound when the cookie names none
// of that user's (another user's cookie included).
func (s *Store) UseTrustedDevice(ctx context.Context, token, userID string) (*TrustedDevice, error) {
	now := s.Now()
	var d TrustedDevice
	err := s.conn(ctx).Where("token_hash = ? AND user_id = ? AND expires_at > ?", hashDeviceToken(token), userID, now).Take(&d).Error
	if err != nil {
		return nil, notFound("trusted device", err)
	}
	if err := s.conn(ctx).Model(&TrustedDevice{}).Where("id = ?", d.ID).Update("last_used_at", now).Error; err != nil {
		return nil, fmt.Errorf("store: use trusted device: %w", err)
	}
	d.LastUsedAt = now
	return &d, nil
}

// UserTrustedDevices lists a user's live trusted browsers, newest first.
func (s *Store) UserTrustedDevices(ctx context.Context, userID string) ([]TrustedDevice, error) {
	var out []TrustedDevice
	err := s.conn(ctx).Where("user_id = ? AND expires_at > ?", userID, s.Now()).Order("created_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: trusted devices: %w", err)
	}
	return out, nil
}

// ForgetTrustedDevices forgets a user's trusted browsers: the one with
// id, or every one when id is "", except keep's (a cookie value, "" for
// none). It returns how many it forgot.
func (s *Store) ForgetTrustedDevices(ctx context.Context, userID, id, keep string) (int64, error) {
	q := s.conn(ctx).Where("user_id = ?", userID)
	if id != "" {
		q = q.Where("id = ?", id)
	}
	if keep != "" {
		q = q.Where("token_hash <> ?", hashDeviceToken(keep))
	}
	res := q.Delete(&TrustedDevice{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: forget trusted devices: %w", res.Error)
	}
	return res.RowsAffected, nil
}
