package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// newDeviceRequest stores a pending device request of the fixture client.
func newDeviceRequest(t *testing.T, s *store.Store, tag string, interval int, ttl time.Duration) *store.DeviceRequest {
	t.Helper()
	d := &store.DeviceRequest{DeviceCodeHash: "device-" + tag, UserCodeHash: "user-" + tag, ClientID: clientID,
		Scopes: "openid offline_access", PollInterval: interval, ExpiresAt: s.Now().Add(ttl)}
	noErr(t, "CreateDeviceRequest", s.CreateDeviceRequest(t.Context(), d))
	return d
}

// testDeviceRequests: a request is found by its user code while pending
// and live; polls sooner than the interval raise it by 5 s (slow_down);
// the user's answer and the redemption are each made once; an expired
// request is reported expired and can be neither answered nor redeemed.
func testDeviceRequests(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	u := createUser(t, s, "alice")
	s, clk := withClock(s, epoch())
	d := newDeviceRequest(t, s, "a", 5, 10*time.Minute)

	err := s.CreateDeviceRequest(ctx, &store.DeviceRequest{DeviceCodeHash: "device-other", UserCodeHash: "user-a", ClientID: clientID,
		PollInterval: 5, ExpiresAt: s.Now().Add(time.Minute)})
	wantErr(t, "a user code taken", err, store.ErrConflict)

	got, err := s.PendingDeviceRequest(ctx, []string{"old-key-hash", "user-a"})
	noErr(t, "PendingDeviceRequest", err)
	if got.ID != d.ID || got.State != store.DevicePending || got.ClientID != clientID || got.Scopes != "openid offline_access" {
		t.Errorf("PendingDeviceRequest = %+v", got)
	}
	_, err = s.PendingDeviceRequest(ctx, []string{"user-b"})
	wantErr(t, "unknown user code", err, store.ErrNotFound)
	_, err = s.PollDeviceRequest(ctx, "device-b")
	wantErr(t, "unknown device code", err, store.ErrNotFound)

	poll := func(wantFast bool, wantInterval int) {
		t.Helper()
		p, err := s.PollDeviceRequest(ctx, "device-a")
		noErr(t, "PollDeviceRequest", err)
		if p.TooFast != wantFast || p.Expired || p.Request.PollInterval != wantInterval {
			t.Errorf("poll: too fast %v, expired %v, interval %d; want %v, false, %d", p.TooFast, p.Expired, p.Request.PollInterval, wantFast, wantInterval)
		}
	}
	poll(false, 5) // the first
	clk.Advance(time.Second)
	poll(true, 10) // too soon: slow down
	clk.Advance(10 * time.Second)
	poll(false, 10) // waited the new interval
	clk.Advance(9500 * time.Millisecond)
	poll(false, 10) // half a second early is forgiven

	// Parallel polls of a pending request: one is counted, the rest are
	// too soon.
	clk.Advance(time.Minute)
	var fast atomic.Int32
	for _, err := range race(racers, func(int) error {
		p, err := s.PollDeviceRequest(ctx, "device-a")
		if err == nil && p.TooFast {
			fast.Add(1)
		}
		return err
	}) {
		noErr(t, "parallel poll", err)
	}
	if fast := int(fast.Load()); fast != racers-1 {
		t.Errorf("%d of %d parallel polls were too soon, want %d", fast, racers, racers-1)
	}

	// One answer stands.
	decision := store.DeviceDecision{Approve: true, UserID: u.ID, FlowID: "flow-1", AMR: "pwd sms mfa", ACR: "urn:idp:acr:pwd+sms",
		AuthTime: s.Now(), Scopes: []string{"openid"}}
	exactlyOneWins(t, race(racers, func(int) error { return s.DecideDeviceRequest(ctx, d.ID, decision) }), store.ErrDeviceDecided)
	got, err = s.DeviceRequestByID(ctx, d.ID)
	noErr(t, "DeviceRequestByID", err)
	if got.State != store.DeviceApproved || deref(got.UserID) != u.ID || got.AMR != "pwd sms mfa" || got.GrantedScopes != "openid" ||
		got.AuthTime == nil || !got.AuthTime.Equal(decision.AuthTime) {
		t.Errorf("approved request = %+v", got)
	}
	_, err = s.PendingDeviceRequest(ctx, []string{"user-a"})
	wantErr(t, "user code of an answered request", err, store.ErrNotFound)
	if p, err := s.PollDeviceRequest(ctx, "device-a"); err != nil || p.TooFast || p.Request.State != store.DeviceApproved {
		t.Errorf("poll of an approved request: %+v, %v", p, err)
	}

	// One redemption stands.
	exactlyOneWins(t, race(racers, func(i int) error { return s.RedeemDeviceRequest(ctx, d.ID, "req-1") }), store.ErrDeviceDecided)
	got, _ = s.DeviceRequestByID(ctx, d.ID)
	if got.State != store.DeviceUsed || got.RequestID != "req-1" {
		t.Errorf("redeemed request: state %s, request id %q", got.State, got.RequestID)
	}

	// Expiry: reported, and nothing more can be done.
	e := newDeviceRequest(t, s, "e", 5, time.Minute)
	clk.Advance(time.Minute)
	if p, err := s.PollDeviceRequest(ctx, "device-e"); err != nil || !p.Expired {
		t.Errorf("poll of an expired request: %+v, %v", p, err)
	}
	_, err = s.PendingDeviceRequest(ctx, []string{"user-e"})
	wantErr(t, "user code of an expired request", err, store.ErrNotFound)
	wantErr(t, "answer to an expired request", s.DecideDeviceRequest(ctx, e.ID, decision), store.ErrDeviceDecided)
	denied := newDeviceRequest(t, s, "d", 5, time.Minute)
	noErr(t, "deny", s.DecideDeviceRequest(ctx, denied.ID, store.DeviceDecision{UserID: u.ID, FlowID: "flow-2", AuthTime: s.Now()}))
	wantErr(t, "redeem a denied request", s.RedeemDeviceRequest(ctx, denied.ID, "req-2"), store.ErrDeviceDecided)

	// Cleanup keeps an expired request a day, so a late poll hears it expired.
	clk.Advance(23 * time.Hour)
	_, err = s.DeleteExpired(ctx)
	noErr(t, "DeleteExpired", err)
	if _, err := s.DeviceRequestByID(ctx, e.ID); err != nil {
		t.Errorf("expired request gone within the day: %v", err)
	}
	clk.Advance(2 * time.Hour)
	_, err = s.DeleteExpired(ctx)
	noErr(t, "DeleteExpired", err)
	_, err = s.DeviceRequestByID(ctx, e.ID)
	wantErr(t, "request a day past expiry", err, store.ErrNotFound)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
