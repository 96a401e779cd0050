package storetest

import (
	"errors"
	"fmt"
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
		got.ChallengeID != nil || got.AMR != "" || got.AuthTime != nil || got.Moves != "" {
		t.Errorf("Flow = %+v, want %+v", got, f)
	}
	if !got.RequestedAt.Equal(f.RequestedAt) || !got.ExpiresAt.Equal(f.ExpiresAt) || !got.CreatedAt.Equal(f.CreatedAt) {
		t.Errorf("Flow times = %v, %v, %v; want %v, %v, %v", got.RequestedAt, got.ExpiresAt, got.CreatedAt, f.RequestedAt, f.ExpiresAt, f.CreatedAt)
	}
	_, err = s.Flow(ctx, "no-such-flow")
	wantErr(t, "Flow(unknown)", err, store.ErrNotFound)

	// Every flow is born new: a session's shortcut is a move, not a birth
	// further on.
	born := &store.Flow{ClientID: clientID, State: store.FlowMFAOK, RequestedAt: s.Now(), ExpiresAt: s.Now().Add(time.Minute)}
	wantErr(t, "CreateFlow in mfa_ok", s.CreateFlow(ctx, born), store.ErrIllegalMove)
}

// forceState puts a flow into a state and purpose directly in the
// database, as no sequence of legal moves need reach every pair.
func forceState(t *testing.T, s *store.Store, f *store.Flow, state store.FlowState, purpose string) {
	t.Helper()
	noErr(t, "force state", s.DB().Exec(`UPDATE login_flows SET state = ?, purpose = ? WHERE id = ?`, string(state), purpose, f.ID).Error)
	f.State, f.Purpose = state, purpose
}

// setFor is what a move of the table is given: every column it needs.
func setFor(t *testing.T, s *store.Store, m store.Move, userID string) map[string]any {
	set := map[string]any{}
	now := s.Now()
	for _, k := range m.Needs {
		switch k {
		case "user_id":
			set[k] = userID
		case "auth_time":
			set[k] = now
		case "amr":
			set[k] = "pwd sms mfa"
		case "refusal":
			set[k] = "limit:phone"
		default:
			set[k] = k + "-" + store.NewID()
		}
	}
	return set
}

// testFlowMoves drives the transition table: from every state, for both
// purposes, every move is tried. The moves the table lists succeed, land
// in their state and record themselves; every other is refused by the
// store and leaves the flow as it was.
func testFlowMoves(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice")
	names := map[store.MoveName]bool{}
	for _, m := range store.Moves {
		names[m.Name] = true
	}
	legal := 0
	for _, purpose := range store.Purposes {
		for _, from := range store.States {
			for name := range names {
				t.Run(fmt.Sprintf("%s/%s/%s", purpose, from, name), func(t *testing.T) {
					f := newFlow(t, s, s.Now(), 10*time.Minute)
					forceState(t, s, f, from, purpose)
					m, ok := store.LookupMove(name, from, purpose)
					if !ok {
						var any store.Move
						for _, x := range store.Moves {
							if x.Name == name {
								any = x
							}
						}
						err := s.Move(ctx, f, name, setFor(t, s, any, u.ID))
						wantErr(t, "illegal move", err, store.ErrIllegalMove)
						got, err := s.Flow(ctx, f.ID)
						noErr(t, "Flow", err)
						if got.State != from || got.Moves != "" {
							t.Fatalf("refused move changed the flow: state %s, moves %q", got.State, got.Moves)
						}
						return
					}
					legal++
					set := setFor(t, s, m, u.ID)
					// Without what it needs, even a legal move is refused.
					if len(m.Needs) > 0 {
						short := map[string]any{}
						for k, v := range set {
							if k != m.Needs[0] {
								short[k] = v
							}
						}
						wantErr(t, "move without "+m.Needs[0], s.Move(ctx, f, name, short), store.ErrIllegalMove)
					}
					noErr(t, "legal move", s.Move(ctx, f, name, set))
					got, err := s.Flow(ctx, f.ID)
					noErr(t, "Flow", err)
					if got.State != m.To || f.State != m.To {
						t.Fatalf("after %s: stored state %s, returned %s; want %s", name, got.State, f.State, m.To)
					}
					if !got.Made(name) || got.Moves != string(name) {
						t.Errorf("moves = %q, want %q", got.Moves, name)
					}
					for k, v := range set {
						if k == "user_id" && (got.UserID == nil || *got.UserID != v) {
							t.Errorf("user_id = %v, want %v", got.UserID, v)
						}
						if k == "challenge_id" && (got.ChallengeID == nil || *got.ChallengeID != v) {
							t.Errorf("challenge_id = %v, want %v", got.ChallengeID, v)
						}
						if k == "amr" && got.AMR != v {
							t.Errorf("amr = %q, want %v", got.AMR, v)
						}
					}
					for _, k := range m.Clears {
						if (k == "user_id" && got.UserID != nil) || (k == "challenge_id" && got.ChallengeID != nil) || (k == "amr" && got.AMR != "") {
							t.Errorf("%s not cleared by %s", k, name)
						}
					}
					// The same move from the old state again: the flow has moved.
					again := *got
					again.State = from
					if from != m.To {
						wantErr(t, "the same move twice", s.Move(ctx, &again, name, set), store.ErrFlowMoved)
					}
				})
			}
		}
	}
	if legal < len(store.Moves) {
		t.Errorf("only %d legal (state, move) pairs tried; the table has %d moves", legal, len(store.Moves))
	}
}

// A move only sets the columns a move may set.
func testFlowMoveColumns(t *testing.T, s *store.Store) {
	f := newFlow(t, s, s.Now(), 10*time.Minute)
	u := createUser(t, s, "alice")
	err := s.Move(t.Context(), f, store.MovePasswordRefused, map[string]any{"user_id": u.ID, "amr": "pwd", "refusal": "number", "client_id": "other"})
	wantErr(t, "a move setting client_id", err, store.ErrIllegalMove)
}

func testFlowExpired(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	f := newFlow(t, s, clk.Now(), 10*time.Minute)
	u := createUser(t, s, "alice")

	clk.Advance(10*time.Minute - time.Second)
	_, err := s.Flow(ctx, f.ID)
	noErr(t, "Flow just before expiry", err)

	clk.Advance(time.Second)
	_, err = s.Flow(ctx, f.ID)
	wantErr(t, "Flow at expiry", err, store.ErrNotFound)
	wantErr(t, "Move of an expired flow",
		s.Move(ctx, f, store.MovePasswordRefused, map[string]any{"user_id": u.ID, "amr": "pwd", "refusal": "number"}), store.ErrFlowMoved)
	got, err := s.FlowAnyState(ctx, f.ID)
	noErr(t, "FlowAnyState of an expired flow", err)
	if got.State != store.FlowNew {
		t.Errorf("expired flow state = %s", got.State)
	}
}

func testFlowConcurrentMove(t *testing.T, s *store.Store) {
	f := newFlow(t, s, s.Now(), 10*time.Minute)
	u := createUser(t, s, "alice")
	errs := race(racers, func(int) error {
		mine := *f
		return s.Move(t.Context(), &mine, store.MovePasswordRefused, map[string]any{"user_id": u.ID, "amr": "pwd", "refusal": "number"})
	})
	exactlyOneWins(t, errs, store.ErrFlowMoved)
	got, err := s.Flow(t.Context(), f.ID)
	noErr(t, "Flow", err)
	if got.State != store.FlowSendRefused || got.Moves != string(store.MovePasswordRefused) {
		t.Errorf("state = %q, moves %q; want %q after one move", got.State, got.Moves, store.FlowSendRefused)
	}
}

// The moves a flow made are kept in order (a reused session shows there).
func testFlowMovesRecorded(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newFlow(t, s, s.Now(), 10*time.Minute)
	u := createUser(t, s, "alice")
	noErr(t, "session", s.Move(ctx, f, store.MoveSession, map[string]any{"user_id": u.ID, "amr": "pwd", "session_id": "s1", "challenge_id": "c1"}))
	noErr(t, "restart", s.Move(ctx, f, store.MoveRestart, nil))
	if f.UserID != nil || f.SessionID != nil || f.ChallengeID != nil || f.AMR != "" {
		t.Errorf("restart left %+v", f)
	}
	noErr(t, "password", s.Move(ctx, f, store.MovePassword, map[string]any{"user_id": u.ID, "amr": "pwd", "challenge_id": "c2"}))
	if f.Moves != "session restart password" || !f.Made(store.MoveSession) || f.Made(store.MoveSessionMFA) {
		t.Errorf("moves = %q", f.Moves)
	}
	if err := s.Move(ctx, f, store.MoveFinish, nil); !errors.Is(err, store.ErrIllegalMove) {
		t.Errorf("finish from awaiting_pin: %v, want illegal", err)
	}
}
