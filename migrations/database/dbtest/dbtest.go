// Package dbtest gives each test a freshly migrated database of its own:
// a temporary SQLite file always, and a PostgreSQL schema of its own when
// IDP_TEST_DATABASE_URL is set. Each is dropped when the test ends, so
// packages can run in parallel against one server.
//
// On PostgreSQL each test also gets a role of its own, named like its
// schema, whose search_path setting is that schema, and the test connects
// as that role. The schema is thus chosen by the server for every
// connection the role opens, not by a search_path parameter in the URL: a
// pooler in transaction mode (PgBouncer) refuses startup parameters it
// does not track, and reuses server connections across clients, while a
// role's settings hold on every server connection it makes for that role.
// So the same tests run directly and through PgBouncer, and as an
// unprivileged role, as the provider runs in production. The user of
// IDP_TEST_DATABASE_URL needs CREATEROLE (the postgres superuser of a
// development server has it).
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
	return open(t, "sqlite", sqliteURL(t), true)
}

// Postgres returns a migrated, empty schema of its own on the server at
// IDP_TEST_DATABASE_URL, dropped after the test.
func Postgres(t testing.TB) *DB {
	t.Helper()
	return open(t, "postgres", postgresURL(t), true)
}

// Empty returns a database of the dialect ("sqlite" or "postgres") with
// no schema at all, for tests of the migrations themselves. Its Gorm is
// open; nothing has been applied.
func Empty(t testing.TB, dialect string) *DB {
	t.Helper()
	if dialect == "postgres" {
		return open(t, dialect, postgresURL(t), false)
	}
	return open(t, "sqlite", sqliteURL(t), false)
}

func sqliteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "idp.db")
}

// postgresURL makes a role and a schema of its own for the test, both
// dropped after it, and returns the URL that connects as that role.
func postgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skip(EnvURL + " is not set: PostgreSQL tests skipped (.ci/run sets it)")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvURL, err)
	}
	admin, err := database.Open(t.Context(), base, database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	name := "t_" + randHex(8)
	create := "CREATE ROLE " + name + " LOGIN"
	user := url.User(name)
	if _, ok := u.User.Password(); ok {
		// A server that asks for passwords asks the test role for one too.
		pw := randHex(16)
		create += " PASSWORD '" + pw + "'"
		user = url.UserPassword(name, pw)
	}
	for _, stmt := range []string{
		create,
		"ALTER ROLE " + name + " SET search_path = " + name,
		"CREATE SCHEMA " + name + " AUTHORIZATION " + name,
	} {
		if err := admin.Exec(stmt).Error; err != nil {
			t.Fatalf("dbtest: %s: %v (the user of %s needs CREATEROLE)", stmt, err, EnvURL)
		}
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + name + " CASCADE")
		// Server connections a pooler still keeps for the role end now,
		// so none outlives its test.
		admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", name)
		admin.Exec("DROP ROLE " + name)
		if s, err := admin.DB(); err == nil {
			s.Close()
		}
	})
	u.User = user
	return u.String()
}

func open(t testing.TB, dialect, u string, migrate bool) *DB {
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
	if migrate {
		if _, err := database.Migrate(t.Context(), db); err != nil {
			t.Fatalf("dbtest: migrate %s: %v", dialect, err)
		}
	}
	return &DB{Dialect: dialect, URL: u, Gorm: db}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
