package migrations_test

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/smspin/idp/migrations"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// Both dialects must carry the same versions, so a change made for one
// cannot be forgotten for the other.
func TestDialectsHaveSameVersions(t *testing.T) {
	pg, err := migrations.List("postgres")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := migrations.List("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Version != lite[i].Version || pg[i].Name != lite[i].Name {
			t.Errorf("migration %d: postgres %04d_%s, sqlite %04d_%s", i, pg[i].Version, pg[i].Name, lite[i].Version, lite[i].Name)
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		db := open(t) // already migrated once
		applied, err := database.Migrate(t.Context(), db.Gorm)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second run applied %v, want nothing", applied)
		}
		sqlDB, _ := db.Gorm.DB()
		pending, err := migrations.Pending(t.Context(), sqlDB, db.Dialect)
		if err != nil || len(pending) != 0 {
			t.Fatalf("pending = %v, %v", pending, err)
		}
		var n int
		if err := db.Gorm.Raw("SELECT COUNT(*) FROM oauth_refresh_tokens WHERE access_signature = ''").Scan(&n).Error; err != nil {
			t.Fatalf("refresh table lacks access_signature: %v", err)
		}
	})
}

func TestUnknownDialect(t *testing.T) {
	if _, err := migrations.List("oracle"); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
}

// 0030 brings ASCII usernames to lower case where no two accounts merge,
// and leaves every other name as it was.
func TestUsernameNormalFormMigration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		db := open(t)
		list, err := migrations.List(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		var sql string
		for _, m := range list {
			if m.Version == 30 {
				sql = m.SQL
			}
		}
		if sql == "" {
			t.Fatal("no migration 0030")
		}
		// Names as an older release stored them.
		want := map[string]string{
			"Alice":     "alice",     // ASCII, alone: lowered
			"BOB":       "BOB",       // BOB and Bob would merge: kept
			"Bob":       "Bob",       //
			"Ｃarol":     "Ｃarol",     // not ASCII: kept
			"dave":      "dave",      // already normal
			"Eve Smith": "Eve Smith", // a space: kept
		}
		i := 0
		for name := range want {
			i++
			if err := db.Gorm.Exec("INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES (?, ?, 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
				fmt.Sprint("u", i), name).Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Gorm.Exec(sql).Error; err != nil {
			t.Fatalf("0030: %v", err)
		}
		var got []string
		if err := db.Gorm.Raw("SELECT username FROM users").Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		var wantList []string
		for _, v := range want {
			wantList = append(wantList, v)
		}
		slices.Sort(got)
		slices.Sort(wantList)
		if !slices.Equal(got, wantList) {
			t.Errorf("usernames after 0030 = %q, want %q", got, wantList)
		}
	})
}

// Instances that start together all migrate: each version must be applied
// exactly once, by one of them, and none may fail.
func TestApplyConcurrently(t *testing.T) {
	for _, dialect := range migrations.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" && os.Getenv(dbtest.EnvURL) == "" {
				t.Skip(dbtest.EnvURL + " is not set")
			}
			empty := dbtest.Empty(t, dialect)
			const instances = 4
			results := make([][]int, instances)
			errs := make([]error, instances)
			var wg sync.WaitGroup
			for i := range instances {
				db, err := database.Open(t.Context(), empty.URL, database.Options{MaxOpenConns: 2})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if s, err := db.DB(); err == nil {
						s.Close()
					}
				})
				wg.Go(func() { results[i], errs[i] = database.Migrate(t.Context(), db) })
			}
			wg.Wait()
			seen := map[int]int{}
			for i := range instances {
				if errs[i] != nil {
					t.Errorf("instance %d: %v", i, errs[i])
				}
				for _, v := range results[i] {
					seen[v]++
				}
			}
			all, _ := migrations.List(dialect)
			for _, m := range all {
				if seen[m.Version] != 1 {
					t.Errorf("version %d applied %d times, want once", m.Version, seen[m.Version])
				}
			}
			sqlDB, _ := empty.Gorm.DB()
			if pending, err := migrations.Pending(t.Context(), sqlDB, dialect); err != nil || len(pending) != 0 {
				t.Errorf("pending after the race = %v, %v", pending, err)
			}
		})
	}
}
