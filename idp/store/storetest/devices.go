package storetest

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// A trusted browser counts for its own user alone, until it expires or
// is forgotten; its token is not stored.
func testTrustedDevices(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	alice, bob := createUser(t, s, "alice"), createUser(t, s, "bob")
	d := &store.TrustedDevice{UserID: alice.ID, ExpiresAt: epoch().Add(time.Hour), UserAgent: "ua", IP: "192.0.2.1"}
	noErr(t, "CreateTrustedDevice", s.CreateTrustedDevice(ctx, d, "alice-token"))
	if d.TokenHash == "alice-token" {
		t.Fatal("the token itself is stored")
	}
	clk.Advance(time.Minute)
	got, err := s.UseTrustedDevice(ctx, "alice-token", alice.ID)
	noErr(t, "UseTrustedDevice", err)
	if got.ID != d.ID || !got.LastUsedAt.Equal(epoch().Add(time.Minute)) {
		t.Errorf("UseTrustedDevice = %+v", got)
	}
	_, err = s.UseTrustedDevice(ctx, "alice-token", bob.ID)
	wantErr(t, "alice's token for bob", err, store.ErrNotFound)
	_, err = s.UseTrustedDevice(ctx, "other-token", alice.ID)
	wantErr(t, "an unknown token", err, store.ErrNotFound)

	d2 := &store.TrustedDevice{UserID: alice.ID, ExpiresAt: epoch().Add(2 * time.Hour)}
	noErr(t, "CreateTrustedDevice 2", s.CreateTrustedDevice(ctx, d2, "alice-token-2"))
	list, err := s.UserTrustedDevices(ctx, alice.ID)
	noErr(t, "UserTrustedDevices", err)
	if len(list) != 2 {
		t.Fatalf("%d devices listed, want 2", len(list))
	}
	// Bob cannot forget alice's device by its id.
	if n, _ := s.ForgetTrustedDevices(ctx, bob.ID, d.ID, ""); n != 0 {
		t.Errorf("bob forgot %d of alice's devices", n)
	}
	// Everything but the one this browser holds.
	n, err := s.ForgetTrustedDevices(ctx, alice.ID, "", "alice-token-2")
	noErr(t, "ForgetTrustedDevices", err)
	if n != 1 {
		t.Errorf("forgot %d, want 1", n)
	}
	_, err = s.UseTrustedDevice(ctx, "alice-token-2", alice.ID)
	noErr(t, "the kept device", err)
	// Expired.
	clk.Advance(2 * time.Hour)
	_, err = s.UseTrustedDevice(ctx, "alice-token-2", alice.ID)
	wantErr(t, "an expired device", err, store.ErrNotFound)
	if list, _ := s.UserTrustedDevices(ctx, alice.ID); len(list) != 0 {
		t.Errorf("expired devices listed: %+v", list)
	}
	clk.Advance(time.Second)
	_, err = s.DeleteExpired(ctx)
	noErr(t, "DeleteExpired", err)
	var left int64
	noErr(t, "count", s.DB().Model(&store.TrustedDevice{}).Count(&left).Error)
	if left != 0 {
		t.Errorf("DeleteExpired left %d expired devices", left)
	}
}
