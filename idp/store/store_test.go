package store_test

import (
	"testing"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/idp/store/storetest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// TestConformance runs the storage conformance suite on SQLite, and on
// PostgreSQL when IDP_TEST_DATABASE_URL is set.
func TestConformance(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		storetest.Run(t, func(t *testing.T) *store.Store {
			return store.New(open(t).Gorm, nil)
		})
	})
}
