package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// StatelessAccessToken reports whether r's access token is a JWT that is
// never stored: a client_credentials token (its subject is the client,
// and no sign-in session) of a client with JWT access tokens. Such a token
// costs no database write; revoking it puts its jti on a list until it
// expires. Every other access token keeps its row, so that revocation and
// logout end it at once wherever it is checked against us.
func StatelessAccessToken(r fosite.Requester) bool {
	c, ok := r.GetClient().(*Client)
	if !ok || c.AccessTokenFormat != AccessTokenJWT || r.GetSession() == nil {
		return false
	}
	return r.GetSession().GetSubject() == c.GetID() && sidOf(r) == ""
}

type revokedAccessRow struct {
	JTI       string `gorm:"column:jti;primaryKey"`
	ExpiresAt time.Time
}

func (revokedAccessRow) TableName() string { return "revoked_access_tokens" }

// RevokeAccessTokenJTI puts a stateless access token on the revocation
// list until it expires (RFC 7009).
func (s *Store) RevokeAccessTokenJTI(ctx context.Context, jti string, exp time.Time) error {
	err := s.conn(ctx).Exec(`INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO NOTHING`, hashKey(jti), exp.UTC()).Error
	if err != nil {
		return fmt.Errorf("store: revoke access token: %w", err)
	}
	return nil
}

// AccessTokenJTIRevoked reports whether a stateless access token was
// revoked.
func (s *Store) AccessTokenJTIRevoked(ctx context.Context, jti string) (bool, error) {
	var row revokedAccessRow
	err := s.conn(ctx).Where("jti = ?", hashKey(jti)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: revoked access token: %w", err)
	}
	return true, nil
}
