// Package store persists everything the provider keeps, through GORM:
// users and phones, clients, consents, login flows, device authorization
// requests, signing keys and the fosite token storage (authorize codes,
// access and refresh tokens, PKCE and OpenID Connect sessions).
//
// Tables come from the SQL in migrations/; the row structs here only map
// them. Single-use changes are conditional updates that check the number
// of rows they touched, so they stay correct with many instances on one
// database. A transaction begun by BeginTX travels in the context, and
// every query runs inside it when one is there.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Store is the GORM-backed store.
type Store struct {
	db  *gorm.DB
	now func() time.Time

	// Lifespans fill in an expiry when a fosite session carries none.
	AuthCodeTTL, AccessTokenTTL, RefreshTokenTTL time.Duration

	// ClientCacheTTL keeps loaded clients in memory that long (0: not at
	// all). Every token, introspection and revocation request loads its
	// client, often twice; a few seconds of staleness after an operator
	// changes a client is the price.
	ClientCacheTTL time.Duration
	clients        sync.Map // id -> cachedClient
}

type cachedClient struct {
	c     *Client
	until time.Time
}

// New wraps an open, migrated database.
func New(db *gorm.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	registerClassifier(db)
	return &Store{db: db, now: now, AuthCodeTTL: 10 * time.Minute, AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour}
}

// DB returns the underlying database, for readiness checks.
func (s *Store) DB() *gorm.DB { return s.db }

// Now is the store's clock, in UTC, at the precision both databases keep.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

type txKey struct{}

// tx is a transaction travelling in a context. savepoint names the
// savepoint fosite's BeginTX set when it entered a transaction of ours.
type tx struct {
	db        *gorm.DB
	savepoint string
}

func txOf(ctx context.Context) (*tx, bool) {
	t, ok := ctx.Value(txKey{}).(*tx)
	return t, ok
}

// conn returns the transaction in ctx, or the database bound to ctx.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if t, ok := txOf(ctx); ok {
		return t.db
	}
	return s.db.WithContext(ctx)
}

// single is conn for a write that is one statement: without GORM's
// default transaction around it, it is one round trip and one commit
// instead of three (BEGIN, the statement, COMMIT). Inside a transaction
// it changes nothing.
func (s *Store) single(ctx context.Context) *gorm.DB {
	return s.conn(ctx).Session(&gorm.Session{SkipDefaultTransaction: true})
}

// BeginTX implements fosite's storage.Transactional. Inside a transaction
// of ours (a login step that issues a code, a code exchange) it sets a
// savepoint instead: the step commits once, with fosite's writes in it,
// and fosite's rollback still undoes exactly its own.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if t, ok := txOf(ctx); ok {
		name := "fosite_" + strings.ToLower(NewID()[:8])
		if err := t.db.SavePoint(name).Error; err != nil {
			return ctx, fmt.Errorf("store: savepoint: %w", classify(err))
		}
		return context.WithValue(ctx, txKey{}, &tx{db: t.db, savepoint: name}), nil
	}
	db := s.db.WithContext(ctx).Begin()
	if db.Error != nil {
		return ctx, fmt.Errorf("store: begin: %w", classify(db.Error))
	}
	return context.WithValue(ctx, txKey{}, &tx{db: db}), nil
}

// Commit implements fosite's storage.Transactional; a transaction fosite
// entered is committed by whoever began it.
func (s *Store) Commit(ctx context.Context) error {
	t, ok := txOf(ctx)
	if !ok {
		return errors.New("store: commit without a transaction")
	}
	if t.savepoint != "" {
		return nil
	}
	if err := t.db.Commit().Error; err != nil {
		return fmt.Errorf("store: commit: %w", classify(err))
	}
	return nil
}

// Rollback implements fosite's storage.Transactional: inside a
// transaction of ours, back to fosite's savepoint.
func (s *Store) Rollback(ctx context.Context) error {
	t, ok := txOf(ctx)
	if !ok {
		return errors.New("store: rollback without a transaction")
	}
	if t.savepoint != "" {
		if err := t.db.RollbackTo(t.savepoint).Error; err != nil {
			return fmt.Errorf("store: rollback to savepoint: %w", classify(err))
		}
		return nil
	}
	if err := t.db.Rollback().Error; err != nil && !errors.Is(err, gorm.ErrInvalidTransaction) {
		return fmt.Errorf("store: rollback: %w", classify(err))
	}
	return nil
}

// InTx runs f in a transaction, or in the one ctx already carries: a
// step's writes commit together or not at all.
func (s *Store) InTx(ctx context.Context, f func(ctx context.Context) error) error {
	if _, ok := txOf(ctx); ok {
		return f(ctx)
	}
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return f(context.WithValue(ctx, txKey{}, &tx{db: db}))
	})
	return classify(err)
}

// NewID returns a random, URL-safe identifier with 160 bits of entropy.
func NewID() string {
	b := make([]byte, 20)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// ValidID reports whether id could have come from NewID: anything else
// names no row, and need not be looked up.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// hashKey turns a token signature into its primary key. Keys stay short,
// and a database dump does not hold even the signature half of a token.
func hashKey(sig string) string {
	sum := sha256.Sum256([]byte(sig))
	return hex.EncodeToString(sum[:])
}
