package storetest

import (
	"testing"

	"github.com/smspin/idp/idp/store"
)

// A TOTP authenticator is set up unconfirmed, confirmed once, accepts
// each time step once and only forward (one of many racers with one
// code), and is removed; the last factor is remembered per user.
func testTOTP(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, _ = withClock(s, epoch())
	alice, bob := createUser(t, s, "alice"), createUser(t, s, "bob")

	_, err := s.TOTPOf(ctx, alice.ID)
	wantErr(t, "no authenticator yet", err, store.ErrNotFound)
	noErr(t, "StartTOTP", s.StartTOTP(ctx, alice.ID, "sealed-1"))
	noErr(t, "StartTOTP again, unconfirmed", s.StartTOTP(ctx, alice.ID, "sealed-2"))
	got, err := s.TOTPOf(ctx, alice.ID)
	noErr(t, "TOTPOf", err)
	if got.SecretSealed != "sealed-2" || got.Confirmed() || !got.CreatedAt.Equal(epoch()) {
		t.Errorf("TOTPOf = %+v; want the second, unconfirmed, made at %v", got, epoch())
	}
	if ok, err := s.UseTOTPStep(ctx, alice.ID, 100); err != nil || ok {
		t.Errorf("UseTOTPStep on an unconfirmed authenticator = %v, %v; want false", ok, err)
	}

	errs := race(racers, func(int) error {
		ok, err := s.ConfirmTOTP(ctx, alice.ID, 100)
		if err == nil && !ok {
			return store.ErrConflict
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	got, _ = s.TOTPOf(ctx, alice.ID)
	if !got.Confirmed() || got.LastStep != 100 || got.LastUsedAt == nil {
		t.Errorf("after ConfirmTOTP: %+v", got)
	}
	err = s.StartTOTP(ctx, alice.ID, "sealed-3")
	wantErr(t, "StartTOTP over a confirmed one", err, store.ErrConflict)
	if got, _ := s.TOTPOf(ctx, alice.ID); got.SecretSealed != "sealed-2" {
		t.Errorf("a refused StartTOTP changed the secret to %q", got.SecretSealed)
	}

	// The confirming code's step is used; so is every earlier one.
	for _, step := range []int64{100, 99} {
		if ok, err := s.UseTOTPStep(ctx, alice.ID, step); err != nil || ok {
			t.Errorf("UseTOTPStep(%d) after step 100 = %v, %v; want false", step, ok, err)
		}
	}
	errs = race(racers, func(int) error {
		ok, err := s.UseTOTPStep(ctx, alice.ID, 101)
		if err == nil && !ok {
			return store.ErrConflict
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	if got, _ := s.TOTPOf(ctx, alice.ID); got.LastStep != 101 {
		t.Errorf("LastStep = %d, want 101", got.LastStep)
	}
	if ok, err := s.UseTOTPStep(ctx, bob.ID, 102); err != nil || ok {
		t.Errorf("UseTOTPStep for a user without one = %v, %v", ok, err)
	}

	noErr(t, "SetLastFactor", s.SetLastFactor(ctx, alice.ID, store.FactorTOTP))
	noErr(t, "SetLastFactor again", s.SetLastFactor(ctx, alice.ID, store.FactorTOTP))
	if u, _ := s.UserByID(ctx, alice.ID); u.LastFactor != store.FactorTOTP {
		t.Errorf("LastFactor = %q", u.LastFactor)
	}
	if u, _ := s.UserByID(ctx, bob.ID); u.LastFactor != "" {
		t.Errorf("bob's LastFactor = %q", u.LastFactor)
	}

	if ok, err := s.RemoveTOTP(ctx, alice.ID); err != nil || !ok {
		t.Errorf("RemoveTOTP = %v, %v", ok, err)
	}
	if ok, err := s.RemoveTOTP(ctx, alice.ID); err != nil || ok {
		t.Errorf("RemoveTOTP twice = %v, %v", ok, err)
	}
	_, err = s.TOTPOf(ctx, alice.ID)
	wantErr(t, "a removed authenticator", err, store.ErrNotFound)
	noErr(t, "StartTOTP after removal", s.StartTOTP(ctx, alice.ID, "sealed-4"))
}
