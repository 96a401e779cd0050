// Package store persists everything the provider keeps, through GORM:
// users and phones, clients, consents, login flows, signing keys and the
// fosite token storage (authorize codes, access and refresh tokens, PKCE
// and OpenID Connect sessions).
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

	"github.com/ory/fosite"
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
	return &Store{db: db, now: now, AuthCodeTTL: 10 * time.Minute, AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour}
}

// DB returns the underlying database, for readiness checks.
func (s *Store) DB() *gorm.DB { return s.db }

// Now is the store's clock, in UTC, at the precision both databases keep.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

type txKey struct{}

// conn returns the transaction in ctx, or the database bound to ctx.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
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

// BeginTX implements fosite's storage.Transactional.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("store: transaction already open")
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, fmt.Errorf("store: begin: %w", tx.Error)
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit implements fosite's storage.Transactional.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("store: commit without a transaction")
	}
	if err := tx.Commit().Error; err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Rollback implements fosite's storage.Transactional.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("store: rollback without a transaction")
	}
	if err := tx.Rollback().Error; err != nil && !errors.Is(err, gorm.ErrInvalidTransaction) {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}

// InTx runs f in a transaction (or in the one ctx already carries).
func (s *Store) InTx(ctx context.Context, f func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return f(ctx)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return f(context.WithValue(ctx, txKey{}, tx))
	})
}

// notFound maps gorm's not-found to fosite.ErrNotFound, which both fosite
// and our handlers understand, keeping the context of the lookup.
func notFound(what string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("store: %s: %w", what, fosite.ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// ErrNotFound is returned, wrapped, when a row does not exist.
var ErrNotFound = fosite.ErrNotFound

// ErrConflict is returned, wrapped, when a unique value is taken.
var ErrConflict = errors.New("already exists")

func conflict(what string, err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("store: %s: %w", what, ErrConflict)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// NewID returns a random, URL-safe identifier with 160 bits of entropy.
func NewID() string {
	b := make([]byte, 20)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// hashKey turns a token signature into its primary key. Keys stay short,
// and a database dump does not hold even the signature half of a token.
func hashKey(sig string) string {
	sum := sha256.Sum256([]byte(sig))
	return hex.EncodeToString(sum[:])
}
