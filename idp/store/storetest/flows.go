package storetest

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// newFlow stores a flow that expires ttl after now.
func newFlow(t *testing.T, s *store.Store, now time.Time, ttl time.Duration) *store.Flow {
	t.Helper()
	f := &store.Flow{
		ClientID:     clientID,
		RequestQuery: "client_id=" + clientID + "&response_type=code&scope=openid",
		BrowserHash:  "0123456789abcdef",
		RequestedAt:  now,
		ExpiresAt:    now.Add(ttl),
	}
	noErr(t, "CreateFlow", s.CreateFlow(t.Context(), f))
	return f
}

func testFlowRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newFlow(t, s, s.Now(), 10*time.Minute)
	if f.ID == "" || f.State != store.FlowNew {
		t.Fatalf("CreateFlow: id %q, state %q; want an id and %q", f.ID, f.State, store.FlowNew)
	}
	got, err := s.Flow(ctx, f.ID)
	noErr(t, "Flow", err)
	if got.ID != f.ID || got.ClientID != f.ClientID || got.RequestQuery != f.RequestQuery ||
		got.BrowserHash != f.BrowserHash || got.State != store.FlowNew || got.UserID != nil ||
		got.ChallengeID != nil || got.AMR != "" || got.AuthTime != nil {
		t.Errorf("Flow = %+v, want %+v", got, f)
	}
	if !got.RequestedAt.Equal(f.RequestedAt) || !got.ExpiresAt.Equal(f.ExpiresAt) || !got.CreatedAt.Equal(f.CreatedAt) {
		t.Errorf("Flow times = %v, %v, %v; want %v, %v, %v", got.RequestedAt, got.ExpiresAt, got.CreatedAt, f.RequestedAt, f.ExpiresAt, f.CreatedAt)
	}
	_, err = s.Flow(ctx, "no-such-flow")
	wantErr(t, "Flow(unknown)", err, store.ErrNotFound)
}

// AdvanceFlow moves a flow only from the state it is in.
func testFlowAdvance(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice")
	f := newFlow(t, s, s.Now(), 10*time.Minute)

	wantErr(t, "AdvanceFlow from a wrong state",
		s.AdvanceFlow(ctx, f.ID, store.FlowPasswordOK, store.FlowMFAOK, nil), store.ErrFlowMoved)
	wantErr(t, "AdvanceFlow of an unknown flow",
		s.AdvanceFlow(ctx, "no-such-flow", store.FlowNew, store.FlowPasswordOK, nil), store.ErrFlowMoved)

	noErr(t, "new -> password_ok", s.AdvanceFlow(ctx, f.ID, store.FlowNew, store.FlowPasswordOK,
		map[string]any{"user_id": u.ID, "amr": "pwd"}))
	wantErr(t, "new -> password_ok again",
		s.AdvanceFlow(ctx, f.ID, store.FlowNew, store.FlowPasswordOK, nil), store.ErrFlowMoved)

	authTime := s.Now()
	noErr(t, "password_ok -> mfa_ok", s.AdvanceFlow(ctx, f.ID, store.FlowPasswordOK, store.FlowMFAOK,
		map[string]any{"amr": "pwd sms", "auth_time": authTime}))
	got, err := s.Flow(ctx, f.ID)
	noErr(t, "Flow", err)
	if got.State != store.FlowMFAOK || got.UserID == nil || *got.UserID != u.ID || got.AMR != "pwd sms" ||
		got.AuthTime == nil || !got.AuthTime.Equal(authTime) {
		t.Errorf("after two steps: state %q, user %v, amr %q, auth_time %v", got.State, got.UserID, got.AMR, got.AuthTime)
	}

	noErr(t, "mfa_ok -> done", s.AdvanceFlow(ctx, f.ID, store.FlowMFAOK, store.FlowDone, nil))
	wantErr(t, "mfa_ok -> done again", s.AdvanceFlow(ctx, f.ID, store.FlowMFAOK, store.FlowDone, nil), store.ErrFlowMoved)
}

// The challenge is set only while the flow waits for a PIN.
func testFlowChallenge(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice")
	f := newFlow(t, s, s.Now(), 10*time.Minute)

	wantErr(t, "SetFlowChallenge in new", s.SetFlowChallenge(ctx, f.ID, "ch-0"), store.ErrFlowMoved)
	noErr(t, "advance", s.AdvanceFlow(ctx, f.ID, store.FlowNew, store.FlowPasswordOK, map[string]any{"user_id": u.ID}))
	noErr(t, "SetFlowChallenge in password_ok", s.SetFlowChallenge(ctx, f.ID, "ch-1"))
	noErr(t, "SetFlowChallenge again (resend)", s.SetFlowChallenge(ctx, f.ID, "ch-2"))
	got, err := s.Flow(ctx, f.ID)
	noErr(t, "Flow", err)
	if got.ChallengeID == nil || *got.ChallengeID != "ch-2" {
		t.Errorf("ChallengeID = %v, want ch-2", got.ChallengeID)
	}
	noErr(t, "advance", s.AdvanceFlow(ctx, f.ID, store.FlowPasswordOK, store.FlowMFAOK, nil))
	wantErr(t, "SetFlowChallenge in mfa_ok", s.SetFlowChallenge(ctx, f.ID, "ch-3"), store.ErrFlowMoved)
	wantErr(t, "SetFlowChallenge of an unknown flow", s.SetFlowChallenge(ctx, "no-such-flow", "ch-4"), store.ErrFlowMoved)
}

func testFlowExpired(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	f := newFlow(t, s, clk.Now(), 10*time.Minute)

	clk.Advance(10*time.Minute - time.Second)
	_, err := s.Flow(ctx, f.ID)
	noErr(t, "Flow just before expiry", err)

	clk.Advance(time.Second)
	_, err = s.Flow(ctx, f.ID)
	wantErr(t, "Flow at expiry", err, store.ErrNotFound)
	wantErr(t, "AdvanceFlow of an expired flow",
		s.AdvanceFlow(ctx, f.ID, store.FlowNew, store.FlowPasswordOK, nil), store.ErrFlowMoved)
}

func testFlowConcurrentAdvance(t *testing.T, s *store.Store) {
	f := newFlow(t, s, s.Now(), 10*time.Minute)
	errs := race(racers, func(int) error {
		return s.AdvanceFlow(t.Context(), f.ID, store.FlowNew, store.FlowPasswordOK, map[string]any{"amr": "pwd"})
	})
	exactlyOneWins(t, errs, store.ErrFlowMoved)
	got, err := s.Flow(t.Context(), f.ID)
	noErr(t, "Flow", err)
	if got.State != store.FlowPasswordOK {
		t.Errorf("state = %q, want %q", got.State, store.FlowPasswordOK)
	}
}
