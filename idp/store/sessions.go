package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Session is a browser's sign-in: after a full login (password and PIN)
// later logins from the same browser may skip the password, and the PIN
// while it is remembered. ID is the sid claim of its ID tokens.
type Session struct {
	ID         string `gorm:"primaryKey"`
	TokenHash  string
	UserID     string
	AMR        string
	AuthTime   time.Time // when the password was checked
	MFATime    time.Time // when a PIN was last checked
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	UserAgent  string
	IP         string
}

func (Session) TableName() string { return "sessions" }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte("session\x00" + token))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores a session for the cookie value token.
func (s *Store) CreateSession(ctx context.Context, sess *Session, token string) error {
	now := s.Now()
	if sess.ID == "" {
		sess.ID = NewID()
	}
	sess.TokenHash = hashToken(token)
	sess.CreatedAt, sess.LastSeenAt = now, now
	sess.AuthTime, sess.MFATime, sess.ExpiresAt = sess.AuthTime.UTC(), sess.MFATime.UTC(), sess.ExpiresAt.UTC()
	if err := s.conn(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionByToken returns the live session of a cookie value: not revoked,
// not expired.
func (s *Store) SessionByToken(ctx context.Context, token string) (*Session, error) {
	var sess Session
	err := s.conn(ctx).Where("token_hash = ? AND revoked_at IS NULL AND expires_at > ?", hashToken(token), s.Now()).Take(&sess).Error
	if err != nil {
		return nil, notFound("session", err)
	}
	return &sess, nil
}

// Session returns a session by id, live or not.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	var sess Session
	if err := s.conn(ctx).Where("id = ?", id).Take(&sess).Error; err != nil {
		return nil, notFound("session", err)
	}
	return &sess, nil
}

// SessionLive reports whether a session exists, unrevoked and unexpired.
func (s *Store) SessionLive(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL AND expires_at > ?", id, s.Now()).Count(&n).Error
	return n == 1, err
}

// TouchSession records a use of the session, and a new second factor
// when mfaTime is not zero: then amr, when not empty, is what it proved.
func (s *Store) TouchSession(ctx context.Context, id string, mfaTime time.Time, amr string) error {
	upd := map[string]any{"last_seen_at": s.Now()}
	if !mfaTime.IsZero() {
		upd["mfa_time"] = mfaTime.UTC()
		if amr != "" {
			upd["amr"] = amr
		}
	}
	return s.conn(ctx).Model(&Session{}).Where("id = ?", id).Updates(upd).Error
}

// UserSessions lists a user's live sessions, newest first.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]Session, error) {
	var out []Session
	err := s.conn(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.Now()).
		Order("created_at DESC").Find(&out).Error
	return out, err
}

// RevokeSession ends a session and what it issued: its access tokens, and
// its refresh tokens except offline_access ones, which are meant to outlive
// the browser session (OIDC Core 11). In the same transaction it writes a
// logout token delivery for each of the session's clients with a
// back-channel logout URI, so every way of ending a session (logout, the
// operator's revoke, disabling a user) tells the RPs. It reports whether a
// live session was ended.
func (s *Store) RevokeSession(ctx context.Context, id string) (bool, error) {
	var ended bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", s.Now())
		if res.Error != nil {
			return res.Error
		}
		ended = res.RowsAffected == 1
		if ended {
			// The RPs of the session are told, by the outbox, only once
			// this transaction commits (Back-Channel Logout 1.0).
			var sess Session
			if err := s.conn(ctx).Select("user_id").Where("id = ?", id).Take(&sess).Error; err != nil {
				return err
			}
			if err := s.enqueueLogouts(ctx, id, sess.UserID); err != nil {
				return err
			}
		}
		// sid <> '' lets the planner use the partial index on sid.
		if err := s.conn(ctx).Table(tableAccess).Where("sid = ? AND sid <> ''", id).Delete(&TokenRow{}).Error; err != nil {
			return err
		}
		return s.conn(ctx).Table(tableRefresh).
			Where("sid = ? AND (' ' || granted_scopes || ' ') NOT LIKE ?", id, "% offline_access %").
			Update("active", false).Error
	})
	if err != nil {
		return false, fmt.Errorf("store: revoke session: %w", err)
	}
	return ended, nil
}

// RevokeUserSessions ends every session of a user and returns how many.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string) (int, error) {
	list, err := s.UserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sess := range list {
		ended, err := s.RevokeSession(ctx, sess.ID)
		if err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}
