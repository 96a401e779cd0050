package idp_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// A user migrated with a bcrypt hash signs in with their old password, and
// the hash is replaced by an argon2id one at that moment.
func TestImportedHashRehashedAtSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		bc, _ := bcrypt.GenerateFromPassword([]byte("migrated password"), bcrypt.MinCost)
		u := &store.User{Username: "legacy", PasswordHash: string(bc)}
		if err := e.Store.CreateUser(context.Background(), u, &store.Phone{Number: "+819012345678"}); err != nil {
			t.Fatal(err)
		}
		c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
		r := newRP(t, e, c)
		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"legacy"}, "password": {"migrated password"}})
		if p.URL.Path != "/login/pin" {
			t.Fatalf("old password: at %s (%d)", p.URL.Path, p.Status)
		}
		got, _ := e.Store.UserByID(t.Context(), u.ID)
		if !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
			t.Fatalf("hash after sign-in: %.12s…, want argon2id", got.PasswordHash)
		}
	})
}
