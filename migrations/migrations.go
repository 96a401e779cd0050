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
// PostgreSQL an advisory lock serialises them, on SQLite the write lock
// taken by BEGIN IMMEDIATE does.
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

	switch dialect {
	case "postgres":
		// The key is an arbitrary constant of ours: "idp-migrate".
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7305221938)`); err != nil {
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7305221938)`)
	}

	create := `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`
	if dialect == "sqlite" {
		create = strings.Replace(create, "TIMESTAMPTZ", "DATETIME", 1)
	}
	if _, err := conn.ExecContext(ctx, create); err != nil {
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

func apply(ctx context.Context, conn *sql.Conn, dialect string, m Migration) (bool, error) {
	begin, ph := "BEGIN", "$1"
	if dialect == "sqlite" {
		begin, ph = "BEGIN IMMEDIATE", "?"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return false, fmt.Errorf("migrations: begin %04d: %w", m.Version, err)
	}
	rollback := func() { conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }

	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = `+ph, m.Version).Scan(&n); err != nil {
		rollback()
		return false, fmt.Errorf("migrations: read schema_migrations: %w", err)
	}
	if n > 0 {
		rollback()
		return false, nil
	}
	if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
		rollback()
		return false, fmt.Errorf("migrations: apply %s %04d_%s: %w", dialect, m.Version, m.Name, err)
	}
	ins := `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`
	if dialect == "sqlite" {
		ins = `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
	}
	if _, err := conn.ExecContext(ctx, ins, m.Version, m.Name, time.Now().UTC()); err != nil {
		rollback()
		return false, fmt.Errorf("migrations: record %04d: %w", m.Version, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		rollback()
		return false, fmt.Errorf("migrations: commit %04d: %w", m.Version, err)
	}
	return true, nil
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
