package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// createUser stores a user with no phone and returns it.
func createUser(t *testing.T, s *store.Store, username string) *store.User {
	t.Helper()
	u := &store.User{Username: username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Locale: "ja"}
	noErr(t, "CreateUser("+username+")", s.CreateUser(t.Context(), u, nil))
	return u
}

func testUserRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tests := []struct {
		name  string
		phone *store.Phone
	}{
		{"without phone", nil},
		{"with unverified phone", &store.Phone{Number: "+819012345678"}},
		{"with verified phone", &store.Phone{Number: "+819087654321", VerifiedAt: new(s.Now())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &store.User{Username: "user-" + strings.ReplaceAll(tc.name, " ", "-"), PasswordHash: "hash", Locale: "en"}
			noErr(t, "CreateUser", s.CreateUser(ctx, u, tc.phone))
			if u.ID == "" {
				t.Fatal("CreateUser did not assign an id")
			}
			for _, get := range []struct {
				name string
				load func() (*store.User, error)
			}{
				{"UserByUsername", func() (*store.User, error) { return s.UserByUsername(ctx, u.Username) }},
				{"UserByID", func() (*store.User, error) { return s.UserByID(ctx, u.ID) }},
			} {
				got, err := get.load()
				noErr(t, get.name, err)
				if got.ID != u.ID || got.Username != u.Username || got.PasswordHash != u.PasswordHash || got.Locale != u.Locale {
					t.Errorf("%s = %+v, want %+v", get.name, got, u)
				}
				if !got.CreatedAt.Equal(u.CreatedAt) || !got.UpdatedAt.Equal(u.UpdatedAt) {
					t.Errorf("%s: created, updated = %v, %v; want %v, %v", get.name, got.CreatedAt, got.UpdatedAt, u.CreatedAt, u.UpdatedAt)
				}
			}

			p, err := s.PhoneOf(ctx, u.ID)
			noErr(t, "PhoneOf", err)
			switch {
			case tc.phone == nil && p != nil:
				t.Errorf("PhoneOf = %+v, want nil", p)
			case tc.phone != nil && p == nil:
				t.Errorf("PhoneOf = nil, want %s", tc.phone.Number)
			case tc.phone != nil:
				if p.Number != tc.phone.Number || p.Verified() != tc.phone.Verified() {
					t.Errorf("PhoneOf = %s verified %v, want %s verified %v", p.Number, p.Verified(), tc.phone.Number, tc.phone.Verified())
				}
				if tc.phone.VerifiedAt != nil && !p.VerifiedAt.Equal(*tc.phone.VerifiedAt) {
					t.Errorf("VerifiedAt = %v, want %v", p.VerifiedAt, tc.phone.VerifiedAt)
				}
			}
		})
	}

	_, err := s.UserByUsername(ctx, "nobody")
	wantErr(t, "UserByUsername(unknown)", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, "nobody")
	wantErr(t, "UserByID(unknown)", err, store.ErrNotFound)
	p, err := s.PhoneOf(ctx, "nobody")
	if p != nil || err != nil {
		t.Errorf("PhoneOf(unknown) = %v, %v; want nil, nil", p, err)
	}

	u := createUser(t, s, "rehash")
	noErr(t, "SetPasswordHash", s.SetPasswordHash(ctx, u.ID, "new-hash"))
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.PasswordHash != "new-hash" {
		t.Errorf("password hash = %q after SetPasswordHash", got.PasswordHash)
	}
}

func testUserDuplicateUsername(t *testing.T, s *store.Store) {
	ctx := t.Context()
	first := createUser(t, s, "alice")
	dup := &store.User{Username: "alice", PasswordHash: "other"}
	err := s.CreateUser(ctx, dup, &store.Phone{Number: "+819011112222"})
	wantErr(t, "CreateUser(duplicate username)", err, store.ErrConflict)

	got, err := s.UserByUsername(ctx, "alice")
	noErr(t, "UserByUsername", err)
	if got.ID != first.ID || got.PasswordHash != first.PasswordHash {
		t.Errorf("duplicate replaced the user: %+v", got)
	}
	// The failed user's phone went with its transaction.
	if p, err := s.PhoneOf(ctx, dup.ID); p != nil || err != nil {
		t.Errorf("PhoneOf(failed user) = %v, %v; want nil, nil", p, err)
	}
}

// Usernames are stored in their normal form: another spelling of a taken
// name is taken, and a name without a normal form is refused.
func testUserUsernameNormalised(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := &store.User{Username: "  Carol.Smith ", PasswordHash: "hash"}
	noErr(t, "CreateUser", s.CreateUser(ctx, u, nil))
	if u.Username != "carol.smith" {
		t.Errorf("stored username = %q, want carol.smith", u.Username)
	}
	got, err := s.UserByUsername(ctx, "carol.smith")
	noErr(t, "UserByUsername(normal form)", err)
	if got.ID != u.ID {
		t.Errorf("UserByUsername found %s, want %s", got.ID, u.ID)
	}
	for _, other := range []string{"carol.smith", "CAROL.SMITH", "ｃａｒｏｌ.ｓｍｉｔｈ"} {
		err := s.CreateUser(ctx, &store.User{Username: other, PasswordHash: "hash"}, nil)
		wantErr(t, "CreateUser("+other+")", err, store.ErrConflict)
	}
	for _, bad := range []string{"", "carol smith", "carol\x00"} {
		err := s.CreateUser(ctx, &store.User{Username: bad, PasswordHash: "hash"}, nil)
		wantErr(t, fmt.Sprintf("CreateUser(%q)", bad), err, store.ErrInvalidUsername)
	}
}

// ConfirmPhone enrols or verifies the number a PIN was typed back from,
// but never replaces a verified number with another.
func testConfirmPhone(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const (
		number = "+819012345678"
		other  = "+819098765432"
	)
	tests := []struct {
		name       string
		have       *store.Phone // the user's phone before
		confirm    string
		wantErr    bool
		wantNumber string
		wantDone   store.PhoneConfirmed
	}{
		{"enrols a first phone", nil, number, false, number, store.PhoneEnrolled},
		{"verifies an unverified number", &store.Phone{Number: number}, number, false, number, store.PhoneNowVerified},
		{"replaces an unverified number", &store.Phone{Number: number}, other, false, other, store.PhoneNowVerified},
		{"keeps a verified number", &store.Phone{Number: number, VerifiedAt: new(s.Now())}, number, false, number, store.PhoneAlreadyVerified},
		{"refuses to replace a verified number", &store.Phone{Number: number, VerifiedAt: new(s.Now())}, other, true, number, store.PhoneAlreadyVerified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &store.User{Username: strings.ReplaceAll(tc.name, " ", "-"), PasswordHash: "hash"}
			noErr(t, "CreateUser", s.CreateUser(ctx, u, tc.have))
			var before *store.Phone
			if tc.have != nil {
				before, _ = s.PhoneOf(ctx, u.ID)
			}

			done, err := s.ConfirmPhone(ctx, u.ID, tc.confirm)
			if tc.wantErr != (err != nil) {
				t.Fatalf("ConfirmPhone(%s) err = %v, want error %v", tc.confirm, err, tc.wantErr)
			}
			if done != tc.wantDone {
				t.Errorf("ConfirmPhone(%s) says %q, want %q", tc.confirm, done, tc.wantDone)
			}
			p, err := s.PhoneOf(ctx, u.ID)
			noErr(t, "PhoneOf", err)
			if p == nil {
				t.Fatal("no phone after ConfirmPhone")
			}
			if p.Number != tc.wantNumber || !p.Verified() {
				t.Errorf("phone = %s verified %v, want %s verified", p.Number, p.Verified(), tc.wantNumber)
			}
			if before != nil && before.Verified() && !p.VerifiedAt.Equal(*before.VerifiedAt) {
				t.Errorf("VerifiedAt of a verified phone moved from %v to %v", before.VerifiedAt, p.VerifiedAt)
			}
		})
	}
}
