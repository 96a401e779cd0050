package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// Kinds of user link.
const (
	LinkInvitation    = "invitation"     // enrols a first phone
	LinkPasswordReset = "password_reset" // sets a new password
)

// UserLink is a single-use link an operator hands to a user. The link
// carries a random token; only its hash is kept, so a copy of the
// database opens nothing.
type UserLink struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	Kind      string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (UserLink) TableName() string { return "user_links" }

// hashLinkToken is the stored form of a link's token. The token holds
// 256 random bits, so a fast hash is as safe as a slow one.
func hashLinkToken(kind, token string) string {
	sum := sha256.Sum256([]byte("link\x00" + kind + "\x00" + token))
	return hex.EncodeToString(sum[:])
}

// CreateLink makes a new link of kind for a user, valid for ttl, and
// removes the user's older links of that kind in the same transaction:
// only the newest works. It returns the token, shown this once.
func (s *Store) CreateLink(ctx context.Context, userID, kind string, ttl time.Duration) (string, *UserLink, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now()
	l := &UserLink{ID: NewID(), UserID: userID, Kind: kind, TokenHash: hashLinkToken(kind, token), CreatedAt: now, ExpiresAt: now.Add(ttl).UTC()}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("user_id = ? AND kind = ?", userID, kind).Delete(&UserLink{}).Error; err != nil {
			return err
		}
		return s.conn(ctx).Create(l).Error
	})
	if err != nil {
		return "", nil, fmt.Errorf("store: create %s link: %w", kind, err)
	}
	return token, l, nil
}

// LinkByToken returns the live link (unused, unexpired) of kind that
// token opens; ErrNotFound when there is none.
func (s *Store) LinkByToken(ctx context.Context, kind, token string) (*UserLink, error) {
	var l UserLink
	err := s.conn(ctx).Where("token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hashLinkToken(kind, token), kind, s.Now()).Take(&l).Error
	if err != nil {
		return nil, notFound("link", err)
	}
	return &l, nil
}

// LiveLink returns a link by id while it is unused and unexpired;
// ErrNotFound otherwise (used, replaced or expired).
func (s *Store) LiveLink(ctx context.Context, id string) (*UserLink, error) {
	var l UserLink
	if err := s.conn(ctx).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, s.Now()).Take(&l).Error; err != nil {
		return nil, notFound("link", err)
	}
	return &l, nil
}

// UseLink uses a live link up, in one conditional update: of two
// requests racing with one link, one gets true.
func (s *Store) UseLink(ctx context.Context, id string) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&UserLink{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).Update("used_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("store: use link: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}
