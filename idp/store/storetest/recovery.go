package storetest

import (
	"fmt"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// Recovery codes are found by user and public id, used once (by one of
// many racers), counted, and replaced as a set.
func testRecoveryCodes(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, _ = withClock(s, epoch())
	alice, bob := createUser(t, s, "alice"), createUser(t, s, "bob")
	set := func(prefix string) []store.RecoveryCode {
		var out []store.RecoveryCode
		for i := range 10 {
			out = append(out, store.RecoveryCode{CodeID: fmt.Sprintf("%s%03d", prefix, i), CodeHash: "hash-" + prefix})
		}
		return out
	}
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, alice.ID, set("a")))
	noErr(t, "ReplaceRecoveryCodes bob", s.ReplaceRecoveryCodes(ctx, bob.ID, set("a")))
	left, made, err := s.RecoveryCodesLeft(ctx, alice.ID)
	noErr(t, "RecoveryCodesLeft", err)
	if left != 10 || !made.Equal(epoch()) {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 10 made at %v", left, made, epoch())
	}
	c, err := s.UnusedRecoveryCode(ctx, alice.ID, "a003")
	noErr(t, "UnusedRecoveryCode", err)
	if c.UserID != alice.ID || c.CodeHash != "hash-a" {
		t.Errorf("UnusedRecoveryCode = %+v", c)
	}
	_, err = s.UnusedRecoveryCode(ctx, alice.ID, "zzzz")
	wantErr(t, "an unknown id", err, store.ErrNotFound)

	errs := race(racers, func(int) error {
		ok, err := s.UseRecoveryCode(ctx, alice.ID, "a003")
		if err == nil && !ok {
			return store.ErrConflict
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	_, err = s.UnusedRecoveryCode(ctx, alice.ID, "a003")
	wantErr(t, "a used code", err, store.ErrNotFound)
	if left, _, _ := s.RecoveryCodesLeft(ctx, alice.ID); left != 9 {
		t.Errorf("after one use %d left, want 9", left)
	}
	// Bob's code with the same id is his own, untouched.
	_, err = s.UnusedRecoveryCode(ctx, bob.ID, "a003")
	noErr(t, "bob's code of the same id", err)

	// A new set replaces the old one whole.
	noErr(t, "ReplaceRecoveryCodes again", s.ReplaceRecoveryCodes(ctx, alice.ID, set("b")))
	_, err = s.UnusedRecoveryCode(ctx, alice.ID, "a004")
	wantErr(t, "a code of the old set", err, store.ErrNotFound)
	if left, _, _ := s.RecoveryCodesLeft(ctx, alice.ID); left != 10 {
		t.Errorf("after a new set %d left, want 10", left)
	}
	if left, made, _ := s.RecoveryCodesLeft(ctx, createUser(t, s, "carol").ID); left != 0 || !made.IsZero() {
		t.Errorf("a user without codes: %d, %v", left, made)
	}
}
