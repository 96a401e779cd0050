package store_test

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func TestClientCache(t *testing.T) {
	db := dbtest.SQLite(t)
	s := store.New(db.Gorm, nil)
	err := s.CreateClient(t.Context(), store.NewClient{ID: "c", Name: "Before", Secret: "s-0123456789-0123456789-0123456789",
		RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid"}, TokenEndpointAuthMethod: "client_secret_basic"})
	if err != nil {
		t.Fatal(err)
	}
	s.ClientCacheTTL = time.Hour
	if c, _ := s.Client(t.Context(), "c"); c.Name != "Before" {
		t.Fatal(c.Name)
	}
	db.Gorm.Exec(`UPDATE clients SET name = 'After' WHERE id = 'c'`)
	if c, _ := s.Client(t.Context(), "c"); c.Name != "Before" {
		t.Fatalf("within the cache TTL the client was read again: %s", c.Name)
	}
	s.ClientCacheTTL = 0
	if c, _ := s.Client(t.Context(), "c"); c.Name != "After" {
		t.Fatalf("without the cache the change is not seen: %s", c.Name)
	}
	if _, err := s.Client(t.Context(), "missing"); err == nil {
		t.Fatal("unknown client found")
	}
}
