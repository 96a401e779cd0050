package store

import (
	"context"
	"fmt"
	"time"
)

// Passkey is one of a user's WebAuthn credentials: several a user. The
// verification of ceremonies is the caller's (idp, with go-webauthn);
// the store keeps what a later assertion is checked against.
type Passkey struct {
	CredentialID      string `gorm:"primaryKey"` // base64url of the authenticator's credential id
	UserID            string
	Name              string
	PublicKey         []byte // COSE
	SignCount         int64
	CloneWarning      bool
	Transports        string // comma separated, as the browser reported them
	AAGUID            string `gorm:"column:aaguid"`
	AttestationType   string
	AttestationFormat string
	UserVerified      bool
	BackupEligible    bool
	BackupState       bool
	CreatedAt         time.Time
	LastUsedAt        *time.Time
}

func (Passkey) TableName() string { return "passkeys" }

// FactorPasskey is User.LastFactor after a sign-in with a passkey.
const FactorPasskey = "passkey"

// AddPasskey stores a newly registered passkey; ErrConflict when its
// credential id is registered already (to anyone).
func (s *Store) AddPasskey(ctx context.Context, p *Passkey) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.Now()
	}
	if err := s.conn(ctx).Create(p).Error; err != nil {
		return conflict("add passkey", err)
	}
	return nil
}

// PasskeysOf lists the user's passkeys, oldest first.
func (s *Store) PasskeysOf(ctx context.Context, userID string) ([]Passkey, error) {
	var out []Passkey
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, credential_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: passkeys of user: %w", classify(err))
	}
	return out, nil
}

// HasPasskey reports whether the user has at least one passkey.
func (s *Store) HasPasskey(ctx context.Context, userID string) (bool, error) {
	var n int64
	if err := s.conn(ctx).Model(&Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("store: count passkeys: %w", classify(err))
	}
	return n > 0, nil
}

// UsePasskey records a verified assertion of the user's passkey: the new
// signature counter and flags, in one conditional update on the counter
// it was checked against, so of two assertions racing with one counter
// one gets true.
func (s *Store) UsePasskey(ctx context.Context, userID, credentialID string, oldCount, newCount int64, cloneWarning, userVerified, backupState bool) (bool, error) {
	res := s.conn(ctx).Model(&Passkey{}).Where("user_id = ? AND credential_id = ? AND sign_count = ?", userID, credentialID, oldCount).
		Updates(map[string]any{"sign_count": newCount, "clone_warning": cloneWarning, "user_verified": userVerified,
			"backup_state": backupState, "last_used_at": s.Now()})
	if res.Error != nil {
		return false, fmt.Errorf("store: use passkey: %w", classify(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// RenamePasskey renames one of the user's passkeys; false when the user
// has no such passkey.
func (s *Store) RenamePasskey(ctx context.Context, userID, credentialID, name string) (bool, error) {
	res := s.conn(ctx).Model(&Passkey{}).Where("user_id = ? AND credential_id = ?", userID, credentialID).Update("name", name)
	if res.Error != nil {
		return false, fmt.Errorf("store: rename passkey: %w", classify(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// RemovePasskey removes one of the user's passkeys; false when the user
// has no such passkey.
func (s *Store) RemovePasskey(ctx context.Context, userID, credentialID string) (bool, error) {
	res := s.conn(ctx).Where("user_id = ? AND credential_id = ?", userID, credentialID).Delete(&Passkey{})
	if res.Error != nil {
		return false, fmt.Errorf("store: remove passkey: %w", classify(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// Ceremony is a WebAuthn ceremony under way: its session data (challenge
// and options, JSON) kept on the server until one answer takes it.
type Ceremony struct {
	ID        string `gorm:"primaryKey"`   // "login:<flow id>", "register:<session id>"
	UserID    string `gorm:"default:null"` // "" (NULL): a passwordless sign-in's, before any user is known
	Data      string
	ExpiresAt time.Time
}

func (Ceremony) TableName() string { return "webauthn_ceremonies" }

// PutCeremony stores a ceremony, replacing the one of the same id: a new
// challenge voids the one before.
func (s *Store) PutCeremony(ctx context.Context, c Ceremony) error {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("id = ?", c.ID).Delete(&Ceremony{}).Error; err != nil {
			return err
		}
		return s.conn(ctx).Create(&c).Error
	})
	if err != nil {
		return fmt.Errorf("store: put ceremony: %w", classify(err))
	}
	return nil
}

// TakeCeremony returns the live ceremony id of the user (userID "": of
// no user, a passwordless sign-in's) and deletes it,
// so each challenge is answered once: of parallel takers one gets it,
// the others (and every later one) ErrNotFound.
func (s *Store) TakeCeremony(ctx context.Context, id, userID string) (*Ceremony, error) {
	var c Ceremony
	q := s.conn(ctx).Where("id = ? AND expires_at > ?", id, s.Now())
	if userID == "" {
		q = q.Where("user_id IS NULL")
	} else {
		q = q.Where("user_id = ?", userID)
	}
	if err := q.Take(&c).Error; err != nil {
		return nil, notFound("ceremony", err)
	}
	res := s.conn(ctx).Where("id = ? AND data = ?", id, c.Data).Delete(&Ceremony{})
	if res.Error != nil {
		return nil, fmt.Errorf("store: take ceremony: %w", classify(res.Error))
	}
	if res.RowsAffected != 1 { // another answer took it a moment ago
		return nil, fmt.Errorf("store: ceremony: %w", ErrNotFound)
	}
	return &c, nil
}
