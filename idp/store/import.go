package store

import (
	"context"
	"fmt"
	"strings"
)

// ImportUser is one user of a bulk import, already checked: a username in
// its normal form, a password hash Importable, a phone in E.164 or "".
type ImportUser struct {
	Username      string
	PasswordHash  string
	Phone         string
	PhoneVerified bool
}

// MaxImportBatch bounds one ImportUsers call: SQLite takes at most 32766
// parameters in a statement, and a user takes six.
const MaxImportBatch = 5000

// ImportUsers creates the users whose username is free, with their
// phones, in one transaction of two multi-row INSERTs, and returns the
// usernames it created. A taken username is skipped and nothing about
// that user changes, so importing the same file again changes nothing.
func (s *Store) ImportUsers(ctx context.Context, users []ImportUser) ([]string, error) {
	if len(users) == 0 {
		return nil, nil
	}
	if len(users) > MaxImportBatch {
		return nil, fmt.Errorf("store: import: %d users in one batch, more than %d", len(users), MaxImportBatch)
	}
	for _, u := range users {
		if n, err := NormalizeUsername(u.Username); err != nil || n != u.Username {
			return nil, fmt.Errorf("store: import: username %q is not in its normal form", u.Username)
		}
	}
	// Rows are told apart by the id made here: a name twice in one batch
	// is two rows, of which the database keeps one.
	byID := make(map[string]*ImportUser, len(users))
	now := s.Now()
	var created []string
	err := s.InTx(ctx, func(ctx context.Context) error {
		var q strings.Builder
		args := make([]any, 0, 6*len(users))
		q.WriteString("INSERT INTO users (id, username, password_hash, locale, created_at, updated_at) VALUES ")
		for i, u := range users {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,'',?,?)")
			id := NewID()
			byID[id] = &users[i]
			args = append(args, id, u.Username, u.PasswordHash, now, now)
		}
		// A name twice in one batch, or already taken, is skipped by the
		// database itself: no read before the write, no race with another
		// import or a sign-up.
		q.WriteString(" ON CONFLICT (username) DO NOTHING RETURNING id, username")
		var rows []struct{ ID, Username string }
		if err := s.conn(ctx).Raw(q.String(), args...).Scan(&rows).Error; err != nil {
			return fmt.Errorf("store: import users: %w", err)
		}
		q.Reset()
		args = args[:0]
		n := 0
		for _, r := range rows {
			created = append(created, r.Username)
			u := byID[r.ID]
			if u == nil || u.Phone == "" {
				continue
			}
			if n > 0 {
				q.WriteByte(',')
			}
			n++
			q.WriteString("(?,?,?,?,?)")
			var verified any
			if u.PhoneVerified {
				verified = now
			}
			args = append(args, r.ID, u.Phone, verified, now, now)
		}
		if n == 0 {
			return nil
		}
		if err := s.conn(ctx).Exec("INSERT INTO phones (user_id, number, verified_at, created_at, updated_at) VALUES "+q.String(), args...).Error; err != nil {
			return fmt.Errorf("store: import phones: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}
