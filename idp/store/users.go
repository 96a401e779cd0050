package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// User is an account that can sign in.
type User struct {
	ID           string `gorm:"primaryKey"`
	Username     string
	PasswordHash string
	Locale       string
	// LastFactor is the second factor the user last signed in with
	// ("sms", "totp"; "" before any): offered first next time.
	LastFactor string
	// DisabledAt is set while an operator has disabled the account: it
	// cannot sign in, and it had its sessions and tokens ended.
	DisabledAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Disabled reports whether an operator disabled the account.
func (u *User) Disabled() bool { return u != nil && u.DisabledAt != nil }

func (User) TableName() string { return "users" }

// Phone is a user's SMS number. VerifiedAt is set once a PIN sent to it
// was typed back, or when the operator vouched for it.
type Phone struct {
	UserID     string `gorm:"primaryKey"`
	Number     string // E.164
	VerifiedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (Phone) TableName() string { return "phones" }

// Verified reports whether the number was proven.
func (p *Phone) Verified() bool { return p != nil && p.VerifiedAt != nil }

// CreateUser stores a new user and, when phone is not nil, their phone,
// in one transaction. The username is stored in its normal form
// (NormalizeUsername), which u.Username then holds; one that has none is
// ErrInvalidUsername. A taken username is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User, phone *Phone) error {
	name, err := NormalizeUsername(u.Username)
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	u.Username = name
	now := s.Now()
	if u.ID == "" {
		u.ID = NewID()
	}
	u.CreatedAt, u.UpdatedAt = now, now
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Create(u).Error; err != nil {
			return conflict("create user "+u.Username, err)
		}
		if phone == nil {
			return nil
		}
		phone.UserID = u.ID
		phone.CreatedAt, phone.UpdatedAt = now, now
		if err := s.conn(ctx).Create(phone).Error; err != nil {
			return conflict("create phone", err)
		}
		return nil
	})
}

// UserByUsername loads a user by username, compared as given: pass the
// normal form (NormalizeUsername) of what was typed.
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	if err := s.conn(ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		return nil, notFound("user", err)
	}
	return &u, nil
}

// UserByID loads a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.conn(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, notFound("user", err)
	}
	return &u, nil
}

// SetPasswordHash replaces a user's password hash (rehash on login).
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return s.conn(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"password_hash": hash, "updated_at": s.Now()}).Error
}

// PhoneOf returns a user's phone, or nil when they have none.
func (s *Store) PhoneOf(ctx context.Context, userID string) (*Phone, error) {
	var p Phone
	err := s.conn(ctx).Where("user_id = ?", userID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: phone: %w", err)
	}
	return &p, nil
}

// PhoneConfirmed says what ConfirmPhone changed.
type PhoneConfirmed string

const (
	PhoneEnrolled        PhoneConfirmed = "enrolled" // the user had no number
	PhoneNowVerified     PhoneConfirmed = "verified" // the number was registered, unproven
	PhoneAlreadyVerified PhoneConfirmed = ""         // nothing to change
)

// ConfirmPhone records that number was proven by a PIN for the user: it
// marks an existing unverified number verified, or enrols it when the user
// had none, and says which. A verified phone is never replaced here:
// changing a phone is its own, stronger, procedure.
func (s *Store) ConfirmPhone(ctx context.Context, userID, number string) (PhoneConfirmed, error) {
	now := s.Now()
	var done PhoneConfirmed
	err := s.InTx(ctx, func(ctx context.Context) error {
		p, err := s.PhoneOf(ctx, userID)
		if err != nil {
			return err
		}
		switch {
		case p == nil:
			done = PhoneEnrolled
			return s.conn(ctx).Create(&Phone{UserID: userID, Number: number, VerifiedAt: &now, CreatedAt: now, UpdatedAt: now}).Error
		case p.Number != number && p.Verified():
			return errors.New("store: confirm phone: user has another verified number")
		case p.Number != number:
			done = PhoneNowVerified
			return s.conn(ctx).Model(&Phone{}).Where("user_id = ?", userID).
				Updates(map[string]any{"number": number, "verified_at": now, "updated_at": now}).Error
		case p.Verified():
			return nil
		}
		done = PhoneNowVerified
		return s.conn(ctx).Model(&Phone{}).Where("user_id = ? AND verified_at IS NULL", userID).
			Updates(map[string]any{"verified_at": now, "updated_at": now}).Error
	})
	return done, err
}

// ReplacePhone changes a user's number from old to new, verified, in one
// conditional update: it fails with ErrFlowMoved when the number is no
// longer old (changed meanwhile by another request).
func (s *Store) ReplacePhone(ctx context.Context, userID, old, new string) error {
	now := s.Now()
	res := s.conn(ctx).Model(&Phone{}).Where("user_id = ? AND number = ?", userID, old).
		Updates(map[string]any{"number": new, "verified_at": now, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("store: replace phone: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: replace phone: %w", ErrFlowMoved)
	}
	return nil
}
