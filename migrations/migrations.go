// Package migrations holds the versioned, forward-only SQL schema for
// PostgreSQL and SQLite, embedded in the binary, and applies it.
//
// Files are named NNNN_name.up.sql, one set a dialect, with the same
// versions in both. A file is never edited once it has landed: a change
// is a new file. Each migration runs in its own transaction and is
// recorded in schema_migrations.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialects names the supported databases.
var Dialects = []string{"postgres", "sqlite"}

// Migration is one versioned SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// List returns the migrations of a dialect in version order.
func List(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".up.sql") {
			continue
		}
		num, rest, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migrations: %s/%s: name must be NNNN_name.up.sql", dialect, name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrations: %s/%s: bad version %q", dialect, name, num)
		}
		body, err := files.ReadFile(path.Join(dialect, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".up.sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations: %s: version %d used twice", dialect, out[i].Version)
		}
	}
	return out, nil
}

// Apply brings the schema up to the newest version and returns the
// versions it applied. Several processes may call it at once: on
// PostgreSQL a transaction-scoped advisory lock serialises them, on SQLite
// the write lock taken by BEGIN IMMEDIATE does.
//
// Every statement runs inside a transaction that also holds the lock, and
// nothing is left on the session: so Apply works on a direct connection
// and through a pooler in transaction mode (PgBouncer) alike, where a
// session-level lock would be taken on one server connection and its
// unlock sent to another.
func Apply(ctx context.Context, db *sql.DB, dialect string) ([]int, error) {
	list, err := List(dialect)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close()

	create := `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`
	if dialect == "sqlite" {
		create = strings.Replace(create, "TIMESTAMPTZ", "DATETIME", 1)
	}
	err = locked(ctx, conn, dialect, func() error {
		_, err := conn.ExecContext(ctx, create)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}

	var applied []int
	for _, m := range list {
		done, err := apply(ctx, conn, dialect, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// migrateLock is the key of the advisory lock: an arbitrary constant of
// ours ("idp-migrate").
const migrateLock = 7305221938

// errSkip ends a locked transaction with a rollback and no error.
var errSkip = errors.New("skip")

// locked runs f in a transaction that holds the migration lock, and
// commits unless f fails.
func locked(ctx context.Context, conn *sql.Conn, dialect string, f func() error) error {
	begin := "BEGIN"
	if dialect == "sqlite" {
		begin = "BEGIN IMMEDIATE"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if dialect == "postgres" {
		// Released by COMMIT or ROLLBACK: no unlock to send.
		_, err := conn.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock))
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("lock: %w", err)
		}
	}
	if err := f(); err != nil {
		conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if errors.Is(err, errSkip) {
			return nil
		}
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// apply runs one migration unless schema_migrations has it, and reports
// whether it ran.
func apply(ctx context.Context, conn *sql.Conn, dialect string, m Migration) (bool, error) {
	ph := "$1"
	ins := `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`
	if dialect == "sqlite" {
		ph = "?"
		ins = `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
	}
	ran := false
	err := locked(ctx, conn, dialect, func() error {
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = `+ph, m.Version).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			return errSkip
		}
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if _, err := conn.ExecContext(ctx, ins, m.Version, m.Name, time.Now().UTC()); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		ran = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("migrations: %s %04d_%s: %w", dialect, m.Version, m.Name, err)
	}
	return ran, nil
}

// Pending reports the versions not yet applied.
func Pending(ctx context.Context, db *sql.DB, dialect string) ([]int, error) {
	list, err := List(dialect)
	if err != nil {
		return nil, err
	}
	have := map[int]bool{}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			have[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []int
	for _, m := range list {
		if !have[m.Version] {
			out = append(out, m.Version)
		}
	}
	return out, nil
}
