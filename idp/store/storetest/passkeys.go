package storetest

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// Passkeys: several per user, a credential id registered once, its
// counter advanced once per assertion (one of many racers), renamed and
// removed only by their owner.
func testPasskeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, _ = withClock(s, epoch())
	alice, bob := createUser(t, s, "alice"), createUser(t, s, "bob")

	if has, err := s.HasPasskey(ctx, alice.ID); err != nil || has {
		t.Fatalf("HasPasskey before any = %v, %v", has, err)
	}
	key := []byte{0xa5, 0x01, 0x02, 0x03, 0x26}
	noErr(t, "AddPasskey 1", s.AddPasskey(ctx, &store.Passkey{CredentialID: "cred-1", UserID: alice.ID, Name: "laptop", PublicKey: key,
		SignCount: 5, Transports: "internal,hybrid", AAGUID: "00000000-0000-0000-0000-000000000000", AttestationType: "none",
		AttestationFormat: "none", UserVerified: true, BackupEligible: true, BackupState: true}))
	noErr(t, "AddPasskey 2", s.AddPasskey(ctx, &store.Passkey{CredentialID: "cred-2", UserID: alice.ID, Name: "key", PublicKey: key}))
	wantErr(t, "the same credential for bob", s.AddPasskey(ctx, &store.Passkey{CredentialID: "cred-1", UserID: bob.ID, PublicKey: key}), store.ErrConflict)

	got, err := s.PasskeysOf(ctx, alice.ID)
	noErr(t, "PasskeysOf", err)
	if len(got) != 2 || got[0].CredentialID != "cred-1" || string(got[0].PublicKey) != string(key) || got[0].SignCount != 5 ||
		got[0].Transports != "internal,hybrid" || !got[0].BackupEligible || !got[0].BackupState || !got[0].UserVerified ||
		got[0].AttestationType != "none" || !got[0].CreatedAt.Equal(epoch()) || got[0].LastUsedAt != nil {
		t.Fatalf("PasskeysOf = %+v", got)
	}
	if others, _ := s.PasskeysOf(ctx, bob.ID); len(others) != 0 {
		t.Errorf("bob's passkeys = %+v; want none", others)
	}

	errs := race(racers, func(int) error {
		ok, err := s.UsePasskey(ctx, alice.ID, "cred-1", 5, 6, false, true, true)
		if err == nil && !ok {
			return store.ErrConflict
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	if ok, err := s.UsePasskey(ctx, bob.ID, "cred-2", 0, 1, false, true, false); err != nil || ok {
		t.Errorf("UsePasskey of another user's credential = %v, %v; want false", ok, err)
	}
	got, _ = s.PasskeysOf(ctx, alice.ID)
	if got[0].SignCount != 6 || got[0].LastUsedAt == nil {
		t.Errorf("after UsePasskey: %+v", got[0])
	}

	if ok, err := s.RenamePasskey(ctx, bob.ID, "cred-1", "mine"); err != nil || ok {
		t.Errorf("bob renaming alice's passkey = %v, %v; want false", ok, err)
	}
	if ok, err := s.RenamePasskey(ctx, alice.ID, "cred-1", "work laptop"); err != nil || !ok {
		t.Errorf("RenamePasskey = %v, %v", ok, err)
	}
	if ok, err := s.RemovePasskey(ctx, bob.ID, "cred-2"); err != nil || ok {
		t.Errorf("bob removing alice's passkey = %v, %v; want false", ok, err)
	}
	if ok, err := s.RemovePasskey(ctx, alice.ID, "cred-2"); err != nil || !ok {
		t.Errorf("RemovePasskey = %v, %v", ok, err)
	}
	got, _ = s.PasskeysOf(ctx, alice.ID)
	if len(got) != 1 || got[0].Name != "work laptop" {
		t.Errorf("after rename and remove: %+v", got)
	}
	if has, _ := s.HasPasskey(ctx, alice.ID); !has {
		t.Error("HasPasskey = false after one was left")
	}
}

// Ceremonies: a new one replaces the old, each is taken once (one of many
// racers), only by its user, and not after it expired.
func testCeremonies(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	alice, bob := createUser(t, s, "alice"), createUser(t, s, "bob")
	exp := epoch().Add(5 * time.Minute)
	noErr(t, "PutCeremony", s.PutCeremony(ctx, store.Ceremony{ID: "login:f1", UserID: alice.ID, Data: "one", ExpiresAt: exp}))
	noErr(t, "PutCeremony again", s.PutCeremony(ctx, store.Ceremony{ID: "login:f1", UserID: alice.ID, Data: "two", ExpiresAt: exp}))
	_, err := s.TakeCeremony(ctx, "login:f1", bob.ID)
	wantErr(t, "bob taking alice's ceremony", err, store.ErrNotFound)

	var data string
	errs := race(racers, func(int) error {
		c, err := s.TakeCeremony(ctx, "login:f1", alice.ID)
		if err == nil {
			data = c.Data
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrNotFound)
	if data != "two" {
		t.Errorf("taken ceremony = %q; want the newer", data)
	}

	noErr(t, "PutCeremony 3", s.PutCeremony(ctx, store.Ceremony{ID: "login:f1", UserID: alice.ID, Data: "three", ExpiresAt: exp}))
	clk.Advance(6 * time.Minute)
	_, err = s.TakeCeremony(ctx, "login:f1", alice.ID)
	wantErr(t, "an expired ceremony", err, store.ErrNotFound)

	// A passwordless ceremony has no user yet: taken as such, once, and
	// not as any user's.
	exp = clk.Now().Add(5 * time.Minute)
	noErr(t, "PutCeremony without a user", s.PutCeremony(ctx, store.Ceremony{ID: "passwordless:f2", Data: "four", ExpiresAt: exp}))
	_, err = s.TakeCeremony(ctx, "passwordless:f2", alice.ID)
	wantErr(t, "alice taking a ceremony of no user", err, store.ErrNotFound)
	errs = race(racers, func(int) error {
		_, err := s.TakeCeremony(ctx, "passwordless:f2", "")
		return err
	})
	exactlyOneWins(t, errs, store.ErrNotFound)
}
