package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// ImportUsers creates the free names with their phones, skips the taken
// ones without touching them, and a second run changes nothing.
func testImportUsers(t *testing.T, s *store.Store) {
	ctx := t.Context()
	existing := createUser(t, s, "taken")
	batch := []store.ImportUser{
		{Username: "imp-a", PasswordHash: "hash-a", Phone: "+819011110001", PhoneVerified: true},
		{Username: "imp-b", PasswordHash: "hash-b", Phone: "+819011110002"},
		{Username: "imp-c", PasswordHash: "hash-c"},
		{Username: "taken", PasswordHash: "hash-taken", Phone: "+819011110003", PhoneVerified: true},
		{Username: "imp-a", PasswordHash: "hash-a-again", Phone: "+819011110009"}, // twice in one batch
	}
	created, err := s.ImportUsers(ctx, batch)
	noErr(t, "ImportUsers", err)
	slices.Sort(created)
	if want := []string{"imp-a", "imp-b", "imp-c"}; !slices.Equal(created, want) {
		t.Fatalf("created %q, want %q", created, want)
	}
	for _, tc := range []struct {
		name, hash, phone string
		verified          bool
	}{
		{"imp-a", "hash-a", "+819011110001", true},
		{"imp-b", "hash-b", "+819011110002", false},
		{"imp-c", "hash-c", "", false},
	} {
		u, err := s.UserByUsername(ctx, tc.name)
		noErr(t, "UserByUsername("+tc.name+")", err)
		if u.PasswordHash != tc.hash || u.CreatedAt.IsZero() {
			t.Errorf("%s: hash %q created %v", tc.name, u.PasswordHash, u.CreatedAt)
		}
		p, err := s.PhoneOf(ctx, u.ID)
		noErr(t, "PhoneOf", err)
		switch {
		case tc.phone == "" && p != nil:
			t.Errorf("%s has phone %s, want none", tc.name, p.Number)
		case tc.phone != "" && (p == nil || p.Number != tc.phone || p.Verified() != tc.verified):
			t.Errorf("%s: phone %+v, want %s verified %v", tc.name, p, tc.phone, tc.verified)
		}
	}
	// The taken name kept its hash and got no phone.
	u, err := s.UserByUsername(ctx, "taken")
	noErr(t, "UserByUsername(taken)", err)
	if u.ID != existing.ID || u.PasswordHash != existing.PasswordHash {
		t.Errorf("the existing user changed: %+v", u)
	}
	if p, _ := s.PhoneOf(ctx, u.ID); p != nil {
		t.Errorf("the existing user got phone %s", p.Number)
	}
	// Again: nothing is created, nothing changes.
	again, err := s.ImportUsers(ctx, batch)
	noErr(t, "ImportUsers again", err)
	if len(again) != 0 {
		t.Errorf("second import created %q", again)
	}
	if u, _ := s.UserByUsername(ctx, "imp-a"); u.PasswordHash != "hash-a" {
		t.Errorf("second import changed imp-a's hash to %q", u.PasswordHash)
	}
	// A name not in its normal form is the caller's mistake.
	if _, err := s.ImportUsers(ctx, []store.ImportUser{{Username: "Imp-D", PasswordHash: "h"}}); err == nil {
		t.Error("ImportUsers took a username not in its normal form")
	}
	// A full batch fits the databases' parameter limits.
	full := make([]store.ImportUser, store.MaxImportBatch)
	for i := range full {
		full[i] = store.ImportUser{Username: fmt.Sprintf("bulk-%05d", i), PasswordHash: "h", Phone: "+819011112222"}
	}
	created, err = s.ImportUsers(ctx, full)
	noErr(t, "ImportUsers(full batch)", err)
	if len(created) != store.MaxImportBatch {
		t.Errorf("a full batch created %d users, want %d", len(created), store.MaxImportBatch)
	}
}
