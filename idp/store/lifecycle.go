package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UserSummary is a user with their phone, as an operator lists them.
type UserSummary struct {
	User
	Number          string     // "" when the user has no phone
	PhoneVerifiedAt *time.Time `gorm:"column:phone_verified_at"`
}

// UserQuery selects users for an operator's list: Search matches part of
// the username or of the phone number, or a whole user id; After is the
// last username of the previous page (keyset paging: a page costs the
// same however deep it is).
type UserQuery struct {
	Search string
	After  string
	Limit  int
}

// likeEscape makes s match itself in a LIKE pattern (escape character \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListUsers returns users in username order.
func (s *Store) ListUsers(ctx context.Context, q UserQuery) ([]UserSummary, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	db := s.conn(ctx).Table("users AS u").
		Select("u.*, COALESCE(p.number, '') AS number, p.verified_at AS phone_verified_at").
		Joins("LEFT JOIN phones p ON p.user_id = u.id")
	if q.Search != "" {
		pat := "%" + likeEscape(q.Search) + "%"
		low := "%" + likeEscape(strings.ToLower(q.Search)) + "%"
		db = db.Where(`u.username LIKE ? ESCAPE '\' OR u.username LIKE ? ESCAPE '\' OR p.number LIKE ? ESCAPE '\' OR u.id = ?`, pat, low, pat, q.Search)
	}
	if q.After != "" {
		db = db.Where("u.username > ?", q.After)
	}
	var out []UserSummary
	if err := db.Order("u.username").Limit(limit).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list users: %w", classify(err))
	}
	return out, nil
}

// endUserAccess ends everything a user holds: their sessions (telling
// the RPs by back-channel logout), every access and refresh token with
// them as subject (offline_access ones too), codes not yet exchanged, and
// logins in progress past the password. Part of a transaction.
func (s *Store) endUserAccess(ctx context.Context, userID string) (int, error) {
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
	db := s.conn(ctx)
	for _, t := range []string{tableAccess, tableCodes, tablePKCE, tableOIDC} {
		if err := db.Table(t).Where("subject = ? AND subject <> ''", userID).Delete(&TokenRow{}).Error; err != nil {
			return n, fmt.Errorf("store: end access: %s: %w", t, err)
		}
	}
	if err := db.Table(tableRefresh).Where("subject = ? AND subject <> ''", userID).Update("active", false).Error; err != nil {
		return n, fmt.Errorf("store: end access: refresh tokens: %w", err)
	}
	if err := db.Exec("DELETE FROM login_flows WHERE user_id = ?", userID).Error; err != nil {
		return n, fmt.Errorf("store: end access: login flows: %w", err)
	}
	return n, nil
}

// DisableUser disables a user and, in the same transaction, ends their
// sessions, tokens and logins in progress. It reports whether the user
// was enabled before, and how many sessions ended.
func (s *Store) DisableUser(ctx context.Context, userID string) (changed bool, sessions int, err error) {
	err = s.InTx(ctx, func(ctx context.Context) error {
		now := s.Now()
		res := s.conn(ctx).Model(&User{}).Where("id = ? AND disabled_at IS NULL", userID).
			Updates(map[string]any{"disabled_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected == 1
		if !changed {
			if _, err := s.UserByID(ctx, userID); err != nil {
				return err
			}
		}
		// Ended again even when disabled already: nothing may have been
		// issued since, but if it was, it goes.
		sessions, err = s.endUserAccess(ctx, userID)
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: disable user: %w", classify(err))
	}
	return changed, sessions, nil
}

// EnableUser lets a disabled user sign in again; it reports whether the
// user was disabled.
func (s *Store) EnableUser(ctx context.Context, userID string) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&User{}).Where("id = ? AND disabled_at IS NOT NULL", userID).
		Updates(map[string]any{"disabled_at": nil, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("store: enable user: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return false, err
		}
	}
	return res.RowsAffected == 1, nil
}

// DeleteUser removes a user and everything of theirs: sessions (the RPs
// are told first), tokens, phone, challenges, links, recovery codes,
// trusted browsers and consents. The audit log
// keeps its rows: it is the record of what happened.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return err
		}
		if _, err := s.endUserAccess(ctx, userID); err != nil {
			return err
		}
		db := s.conn(ctx)
		if err := db.Table(tableRefresh).Where("subject = ? AND subject <> ''", userID).Delete(&TokenRow{}).Error; err != nil {
			return err
		}
		if err := db.Exec("DELETE FROM sms_challenges WHERE user_id = ?", userID).Error; err != nil {
			return err
		}
		// The rest goes by ON DELETE CASCADE (phones, sessions, links,
		// recovery codes, trusted devices, consents).
		return db.Where("id = ?", userID).Delete(&User{}).Error
	})
	if err != nil {
		return fmt.Errorf("store: delete user: %w", classify(err))
	}
	return nil
}

// SetPhone gives a user the number, replacing any other; verified marks
// it proven (the operator vouches for it), else the user proves it with
// the first PIN.
func (s *Store) SetPhone(ctx context.Context, userID, number string, verified bool) error {
	now := s.Now()
	var at *time.Time
	if verified {
		at = &now
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return err
		}
		db := s.conn(ctx)
		res := db.Model(&Phone{}).Where("user_id = ?", userID).
			Updates(map[string]any{"number": number, "verified_at": at, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if err := db.Create(&Phone{UserID: userID, Number: number, VerifiedAt: at, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
				return err
			}
		}
		// Codes sent to the old number are worth nothing now.
		return db.Exec("DELETE FROM sms_challenges WHERE user_id = ?", userID).Error
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: set phone: %w", classify(err))
	}
	return err
}

// ClearPhone removes a user's phone and the codes sent to it; it reports
// whether there was one.
func (s *Store) ClearPhone(ctx context.Context, userID string) (bool, error) {
	var had bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return err
		}
		res := s.conn(ctx).Where("user_id = ?", userID).Delete(&Phone{})
		if res.Error != nil {
			return res.Error
		}
		had = res.RowsAffected == 1
		return s.conn(ctx).Exec("DELETE FROM sms_challenges WHERE user_id = ?", userID).Error
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("store: clear phone: %w", classify(err))
	}
	return had, err
}

// SetUserLocale changes a user's preferred language.
func (s *Store) SetUserLocale(ctx context.Context, userID, locale string) error {
	res := s.conn(ctx).Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"locale": locale, "updated_at": s.Now()})
	if res.Error != nil {
		return fmt.Errorf("store: set locale: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: set locale: user: %w", ErrNotFound)
	}
	return nil
}
