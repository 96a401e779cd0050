// Package database opens the store named by IDP_DATABASE_URL with GORM and
// brings its schema up to date.
//
// Two kinds of URL are understood: postgres://... (or postgresql://...),
// served by gorm.io/driver/postgres, and sqlite:PATH, served by a pure-Go
// SQLite driver so the embedded default needs no C toolchain.
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/smspin/idp/migrations"
)

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	MaxIdleConns int
	Logger       *slog.Logger
}

// Dialect returns "postgres" or "sqlite" for a database URL.
func Dialect(dsn string) (string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", nil
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return "", errors.New("sqlite: URL needs a path, e.g. sqlite:idp.db")
		}
		return "sqlite", nil
	}
	return "", fmt.Errorf("unsupported database URL %q: use postgres://... or sqlite:PATH", redact(dsn))
}

// Open connects to the database. It does not migrate.
func Open(ctx context.Context, dsn string, opt Options) (*gorm.DB, error) {
	dialect, err := Dialect(dsn)
	if err != nil {
		return nil, err
	}
	cfg := &gorm.Config{
		// Duplicate keys and missing rows map to gorm's errors on both
		// dialects.
		TranslateError: true,
		// Every write here is one statement, atomic by itself, or runs in a
		// transaction the store opens for the whole step; GORM's own
		// transaction around each one would only add two round trips.
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var db *gorm.DB
	switch dialect {
	case "postgres":
		db, err = gorm.Open(postgres.Open(dsn), cfg)
	case "sqlite":
		db, err = gorm.Open(sqlite.Open(SQLiteDSN(strings.TrimPrefix(dsn, "sqlite:"))), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	maxOpen, maxIdle := opt.MaxOpenConns, opt.MaxIdleConns
	if maxOpen <= 0 {
		maxOpen = 20
	}
	if maxIdle <= 0 || maxIdle > maxOpen {
		maxIdle = maxOpen
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", dialect, redact(dsn), err)
	}
	return db, nil
}

// SQLiteDSN turns a path into a DSN with the settings a server needs:
// WAL so readers never wait for the writer, a busy timeout instead of
// immediate "database is locked" errors, foreign keys on, and write
// transactions that take the lock at BEGIN so two of them never deadlock
// upgrading a read lock.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

// DialectOf reports the dialect of an open database.
func DialectOf(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// Migrate applies pending migrations and returns the versions applied.
func Migrate(ctx context.Context, db *gorm.DB) ([]int, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	return migrations.Apply(ctx, sqlDB, DialectOf(db))
}

// redact hides a password in a database URL for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
