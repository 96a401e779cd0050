package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"
)

// The kinds of database failure the rest of the provider tells apart. The
// store maps every driver error to one of them, once (classify); callers
// test with errors.Is and never read error text.
var (
	// ErrUnavailable: the database cannot be reached or cannot serve now
	// (connection refused, reset or timed out, a server shutting down or
	// starting, too many connections, a lock timeout). Try again later:
	// pages answer 503, protocol endpoints temporarily_unavailable.
	ErrUnavailable = errors.New("database unavailable")
	// ErrBadInput: the database refused a value (bytes that are not text
	// in its encoding, such as NUL; a value too long). The request was
	// bad, not the database: a 4xx answer.
	ErrBadInput = errors.New("value the database cannot store")
)

// ErrNotFound is returned, wrapped, when a row does not exist.
var ErrNotFound = fosite.ErrNotFound

// ErrConflict is returned, wrapped, when a unique value is taken.
var ErrConflict = errors.New("already exists")

// classified marks an error already mapped, so mapping twice changes nothing.
type classified struct {
	kind error
	err  error
}

func (c *classified) Error() string   { return c.kind.Error() + ": " + c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.kind, c.err} }

// classify maps a driver error to ErrUnavailable, ErrBadInput or
// ErrConflict (keeping the original in the chain), and leaves anything
// else as it is.
func classify(err error) error {
	if err == nil || errors.Is(err, gorm.ErrRecordNotFound) {
		return err
	}
	var done *classified
	if errors.As(err, &done) {
		return err
	}
	if kind := kindOf(err); kind != nil {
		return &classified{kind: kind, err: err}
	}
	return err
}

func kindOf(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrConflict
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505":
			return ErrConflict
		case pg.Code[:2] == "22": // data exception: encoding, too long, out of range
			return ErrBadInput
		case pg.Code[:2] == "08", pg.Code[:2] == "53", pg.Code[:2] == "57", pg.Code == "40001", pg.Code == "40P01", pg.Code == "55P03",
			pg.Code == "25006":
			// connection exceptions, insufficient resources, operator
			// intervention (shutdown, cannot connect now), serialization
			// failures, deadlocks and lock timeouts, and a standby reached
			// during a failover (read-only transaction): all pass
			return ErrUnavailable
		}
		return nil
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return ErrUnavailable
		case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
			return ErrBadInput
		case sqlite3.SQLITE_CONSTRAINT:
			if lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
				return ErrConflict
			}
		}
		return nil
	}
	var netErr net.Error
	var connect *pgconn.ConnectError
	switch {
	case errors.Is(err, pgx.ErrTxCommitRollback):
		// A transaction an earlier failure aborted: nothing was written,
		// and the request may be tried again.
		return ErrUnavailable
	case errors.As(err, &netErr), errors.As(err, &connect),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return ErrUnavailable
	}
	return nil
}

// Unavailable reports whether err means the database could not serve.
func Unavailable(err error) bool { return errors.Is(classify(err), ErrUnavailable) }

// registerClassifier maps the errors of every statement GORM runs on db.
func registerClassifier(db *gorm.DB) {
	const name = "idp:classify"
	cb := db.Callback()
	if cb.Query().Get(name) != nil {
		return
	}
	f := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = classify(tx.Error)
		}
	}
	cb.Create().After("gorm:create").Register(name, f)
	cb.Query().After("gorm:query").Register(name, f)
	cb.Update().After("gorm:update").Register(name, f)
	cb.Delete().After("gorm:delete").Register(name, f)
	cb.Row().After("gorm:row").Register(name, f)
	cb.Raw().After("gorm:raw").Register(name, f)
}

// notFound maps gorm's not-found to ErrNotFound, which both fosite and our
// handlers understand, keeping the context of the lookup.
func notFound(what string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, classify(err))
}

func conflict(what string, err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("store: %s: %w", what, ErrConflict)
	}
	return fmt.Errorf("store: %s: %w", what, classify(err))
}
