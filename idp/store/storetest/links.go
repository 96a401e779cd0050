package storetest

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// A user link opens once: found by its token while live, used up by one
// conditional update, replaced by a newer link of its kind, dead after
// its time, and its token is not stored.
func testUserLinks(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	u := createUser(t, s, "alice")
	token, l, err := s.CreateLink(ctx, u.ID, store.LinkInvitation, time.Hour)
	noErr(t, "CreateLink", err)
	if len(token) < 43 || l.TokenHash == token || l.UserID != u.ID {
		t.Fatalf("CreateLink = %q, %+v; want a 256-bit token stored only as a hash", token, l)
	}
	got, err := s.LinkByToken(ctx, store.LinkInvitation, token)
	noErr(t, "LinkByToken", err)
	if got.ID != l.ID || !got.ExpiresAt.Equal(epoch().Add(time.Hour)) {
		t.Errorf("LinkByToken = %+v, want %+v", got, l)
	}
	// Another kind's lookup, or a token one character off, opens nothing.
	_, err = s.LinkByToken(ctx, store.LinkPasswordReset, token)
	wantErr(t, "LinkByToken of another kind", err, store.ErrNotFound)
	_, err = s.LinkByToken(ctx, store.LinkInvitation, token[:len(token)-1]+"x")
	wantErr(t, "LinkByToken of a wrong token", err, store.ErrNotFound)

	// A newer link replaces the old; a link of another kind stands beside it.
	reset, _, err := s.CreateLink(ctx, u.ID, store.LinkPasswordReset, time.Hour)
	noErr(t, "CreateLink reset", err)
	newer, nl, err := s.CreateLink(ctx, u.ID, store.LinkInvitation, time.Hour)
	noErr(t, "CreateLink again", err)
	_, err = s.LinkByToken(ctx, store.LinkInvitation, token)
	wantErr(t, "the replaced link", err, store.ErrNotFound)
	_, err = s.LiveLink(ctx, l.ID)
	wantErr(t, "LiveLink of the replaced link", err, store.ErrNotFound)
	_, err = s.LinkByToken(ctx, store.LinkPasswordReset, reset)
	noErr(t, "the reset link beside the invitation", err)

	// Used once, by exactly one of many racers.
	errs := race(racers, func(int) error {
		ok, err := s.UseLink(ctx, nl.ID)
		if err == nil && !ok {
			return store.ErrConflict
		}
		return err
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	_, err = s.LinkByToken(ctx, store.LinkInvitation, newer)
	wantErr(t, "a used link", err, store.ErrNotFound)

	// Expired: neither found nor usable.
	_, rl, err := s.CreateLink(ctx, u.ID, store.LinkPasswordReset, time.Hour)
	noErr(t, "CreateLink", err)
	clk.Advance(time.Hour)
	_, err = s.LiveLink(ctx, rl.ID)
	wantErr(t, "LiveLink at expiry", err, store.ErrNotFound)
	if ok, err := s.UseLink(ctx, rl.ID); err != nil || ok {
		t.Errorf("UseLink at expiry = %v, %v; want false", ok, err)
	}
	// Expired links are cleared away with the rest.
	clk.Advance(time.Second)
	_, err = s.DeleteExpired(ctx)
	noErr(t, "DeleteExpired", err)
	var left int64
	noErr(t, "count", s.DB().Model(&store.UserLink{}).Where("id = ?", rl.ID).Count(&left).Error)
	if left != 0 {
		t.Error("DeleteExpired left an expired link")
	}
	// A user's links go with the user.
	noErr(t, "delete user", s.DB().Exec(`DELETE FROM users WHERE id = ?`, u.ID).Error)
	var n int64
	noErr(t, "count", s.DB().Model(&store.UserLink{}).Where("user_id = ?", u.ID).Count(&n).Error)
	if n != 0 {
		t.Errorf("%d links outlive their user", n)
	}
}
