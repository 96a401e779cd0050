package store

import (
	"context"
	"fmt"
	"time"
)

// SigningKey is a stored signing key. PrivateEnc is the private JWK,
// encrypted; PublicJWK is the public JWK as JSON.
type SigningKey struct {
	KID          string `gorm:"column:kid;primaryKey"`
	Alg          string
	PrivateEnc   string
	PublicJWK    string `gorm:"column:public_jwk"`
	Active       bool
	CreatedAt    time.Time
	RetiredAt    *time.Time
	PublishUntil *time.Time
}

func (SigningKey) TableName() string { return "signing_keys" }

// PublishedKeys returns the active keys and the retired ones still
// published, oldest first.
func (s *Store) PublishedKeys(ctx context.Context) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.conn(ctx).Where("active = ? OR publish_until > ?", true, s.Now()).Order("created_at").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("store: signing keys: %w", err)
	}
	return keys, nil
}

// AddSigningKey stores k as the active key of its algorithm. Any key
// active before it is retired, published until publishUntil. With
// onlyIfNone set it adds the key only when its algorithm has no active key
// yet; a concurrent first start that loses the race gets ErrConflict.
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey, publishUntil time.Time, onlyIfNone bool) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.Now()
		if onlyIfNone {
			var n int64
			if err := s.conn(ctx).Model(&SigningKey{}).Where("alg = ? AND active = ?", k.Alg, true).Count(&n).Error; err != nil {
				return fmt.Errorf("store: signing keys: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("store: signing key for %s: %w", k.Alg, ErrConflict)
			}
		} else {
			pu := publishUntil.UTC()
			if err := s.conn(ctx).Model(&SigningKey{}).Where("alg = ? AND active = ?", k.Alg, true).
				Updates(map[string]any{"active": false, "retired_at": now, "publish_until": pu}).Error; err != nil {
				return fmt.Errorf("store: retire signing key: %w", err)
			}
		}
		k.Active = true
		k.CreatedAt = now
		if err := s.conn(ctx).Create(&k).Error; err != nil {
			return conflict("add signing key", err)
		}
		return nil
	})
}

// ResealSigningKey replaces a key's encrypted private half, if it is still
// oldEnc (another instance may have resealed it already).
func (s *Store) ResealSigningKey(ctx context.Context, kid, oldEnc, newEnc string) error {
	return s.conn(ctx).Model(&SigningKey{}).Where("kid = ? AND private_enc = ?", kid, oldEnc).Update("private_enc", newEnc).Error
}
