// Package dbtest gives each test a freshly migrated database of its own:
// a temporary SQLite file always, and a PostgreSQL schema of its own when
// IDP_TEST_DATABASE_URL is set. Each is dropped when the test ends, so
// packages can run in parallel against one server.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/gorm"

	"github.com/smspin/idp/migrations/database"
)

// EnvURL names the variable that points the tests at PostgreSQL.
const EnvURL = "IDP_TEST_DATABASE_URL"

// DB is a migrated test database.
type DB struct {
	Dialect string
	URL     string // a URL that opens this same database (and schema)
	Gorm    *gorm.DB
}

// Each runs f as a subtest once a dialect: "sqlite" always, "postgres"
// when IDP_TEST_DATABASE_URL is set (and says so in the log when not).
func Each(t *testing.T, f func(t *testing.T, open func(t *testing.T) *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, func(t *testing.T) *DB { return SQLite(t) }) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(EnvURL) == "" {
			t.Skip(EnvURL + " is not set: PostgreSQL tests skipped (.ci/run sets it)")
		}
		f(t, func(t *testing.T) *DB { return Postgres(t) })
	})
}

// SQLite returns a migrated database in a temporary file.
func SQLite(t testing.TB) *DB {
	t.Helper()
	u := "sqlite:" + filepath.Join(t.TempDir(), "idp.db")
	return open(t, "sqlite", u)
}

// Postgres returns a migrated, empty schema of its own on the server at
// IDP_TEST_DATABASE_URL, dropped after the test.
func Postgres(t testing.TB) *DB {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skip(EnvURL + " is not set: PostgreSQL tests skipped (.ci/run sets it)")
	}
	admin, err := database.Open(t.Context(), base, database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	schema := "t_" + randHex(8)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("dbtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if s, err := admin.DB(); err == nil {
			s.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return open(t, "postgres", u.String())
}

func open(t testing.TB, dialect, u string) *DB {
	t.Helper()
	db, err := database.Open(context.Background(), u, database.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", dialect, err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	if _, err := database.Migrate(t.Context(), db); err != nil {
		t.Fatalf("dbtest: migrate %s: %v", dialect, err)
	}
	return &DB{Dialect: dialect, URL: u, Gorm: db}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
