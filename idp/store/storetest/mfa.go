package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// newChallenge stores a live challenge of flow, sent at now.
func newChallenge(t *testing.T, s *store.Store, flow string, now time.Time) *mfa.Challenge {
	t.Helper()
	c := &mfa.Challenge{ID: s.NewID(), FlowID: flow, UserID: "user-1", Phone: "+819012345678", CodeHash: "hash-1",
		MaxAttempts: 5, LastSentAt: now, ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now}
	noErr(t, "CreateChallenge", s.CreateChallenge(t.Context(), c))
	return c
}

func testChallengeRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	got, err := s.Challenge(ctx, c.ID)
	noErr(t, "Challenge", err)
	if got.FlowID != "flow-1" || got.Phone != c.Phone || got.CodeHash != "hash-1" || got.Attempts != 0 ||
		!got.ExpiresAt.Equal(c.ExpiresAt) || got.ConsumedAt != nil || got.Superseded {
		t.Errorf("Challenge = %+v, want %+v", got, c)
	}
	_, err = s.Challenge(ctx, "no-such-challenge")
	wantErr(t, "Challenge(unknown)", err, mfa.ErrNotFound)
	noErr(t, "UpdateChallenge", s.UpdateChallenge(ctx, c.ID, mfa.ChallengeUpdate{VerifierRef: "VE123", LastSentAt: time.Unix(0, 0)}))
	got, err = s.Challenge(ctx, c.ID)
	noErr(t, "Challenge", err)
	if got.VerifierRef != "VE123" || !got.Unsent() {
		t.Errorf("after update: ref %q, last sent %v", got.VerifierRef, got.LastSentAt)
	}
	// Expired: no attempt is counted.
	late, err := s.CountAttempt(ctx, c.ID, c.ExpiresAt)
	noErr(t, "CountAttempt at expiry", err)
	if late != nil {
		t.Error("an attempt was counted at expiry")
	}
}

// A new challenge of a flow supersedes the older ones: they take no more
// attempts and cannot be consumed.
func testChallengeSupersede(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	old := newChallenge(t, s, "flow-1", now)
	other := newChallenge(t, s, "flow-2", now)
	newChallenge(t, s, "flow-1", now)
	got, err := s.Challenge(ctx, old.ID)
	noErr(t, "Challenge", err)
	if !got.Superseded {
		t.Error("the older challenge of the flow is not superseded")
	}
	if c, err := s.CountAttempt(ctx, old.ID, now); err != nil || c != nil {
		t.Errorf("CountAttempt on a superseded challenge: %v, %v", c, err)
	}
	if ok, err := s.ConsumeChallenge(ctx, old.ID, now); err != nil || ok {
		t.Errorf("ConsumeChallenge on a superseded challenge: %v, %v", ok, err)
	}
	if got, _ := s.Challenge(ctx, other.ID); got.Superseded {
		t.Error("another flow's challenge was superseded")
	}
}

// Parallel attempts: each is counted by its own update, no more are
// counted than the challenge takes, and each learns a distinct count.
func testChallengeConcurrentAttempts(t *testing.T, s *store.Store) {
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	counts := make([]int, racers)
	errs := race(racers, func(i int) error {
		got, err := s.CountAttempt(t.Context(), c.ID, now)
		if err != nil {
			return err
		}
		if got == nil {
			return errFull
		}
		counts[i] = got.Attempts
		return nil
	})
	seen := map[int]bool{}
	counted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			counted++
			if seen[counts[i]] {
				t.Errorf("two attempts were told count %d", counts[i])
			}
			seen[counts[i]] = true
		case !errors.Is(err, errFull):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if counted != c.MaxAttempts {
		t.Errorf("%d attempts counted in parallel, want exactly %d", counted, c.MaxAttempts)
	}
}

var errFull = errors.New("not counted")

func testChallengeConcurrentConsume(t *testing.T, s *store.Store) {
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	errs := race(racers, func(int) error {
		ok, err := s.ConsumeChallenge(t.Context(), c.ID, now)
		if err == nil && !ok {
			return errFull
		}
		return err
	})
	exactlyOneWins(t, errs, errFull)
}

// A resend renews a challenge only after the cooldown and within the
// resends it allows; it gives a challenge ended by wrong codes new tries.
func testChallengeRenew(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	for range 5 {
		if got, err := s.CountAttempt(ctx, c.ID, now); err != nil || got == nil {
			t.Fatalf("CountAttempt: %v, %v", got, err)
		}
	}
	renew := func(at time.Time) (bool, error) {
		return s.RenewChallenge(ctx, c.ID, mfa.Renewal{CodeHash: "hash-" + at.String(), SentAt: at, ExpiresAt: at.Add(5 * time.Minute),
			SentBefore: at.Add(-time.Minute), MaxResends: 2})
	}
	if ok, err := renew(now.Add(30 * time.Second)); err != nil || ok {
		t.Fatalf("renew within the cooldown: %v, %v", ok, err)
	}
	later := now.Add(time.Minute)
	if ok, err := renew(later); err != nil || !ok {
		t.Fatalf("renew after the cooldown: %v, %v", ok, err)
	}
	got, err := s.Challenge(ctx, c.ID)
	noErr(t, "Challenge", err)
	if got.Attempts != 0 || got.Resends != 1 || got.CodeHash == "hash-1" || !got.LastSentAt.Equal(later) {
		t.Errorf("after renew: attempts %d, resends %d, hash %q, sent %v", got.Attempts, got.Resends, got.CodeHash, got.LastSentAt)
	}
	if ok, _ := renew(later.Add(time.Minute)); !ok {
		t.Fatal("second resend refused")
	}
	if ok, _ := renew(later.Add(2 * time.Minute)); ok {
		t.Fatal("a resend past MaxResends was allowed")
	}
	if ok, _ := s.ConsumeChallenge(ctx, c.ID, later); !ok {
		t.Fatal("consume")
	}
	if ok, _ := s.RenewChallenge(ctx, c.ID, mfa.Renewal{SentAt: later, SentBefore: later.Add(time.Hour), MaxResends: 10}); ok {
		t.Fatal("a consumed challenge was renewed")
	}
}

// The challenge writes run in the transaction the context carries: rolled
// back, they leave nothing.
func testChallengeInTransaction(t *testing.T, s *store.Store) {
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	boom := errors.New("boom")
	err := s.InTx(t.Context(), func(ctx context.Context) error {
		if got, err := s.CountAttempt(ctx, c.ID, now); err != nil || got == nil {
			return fmt.Errorf("count: %v %v", got, err)
		}
		if ok, err := s.ConsumeChallenge(ctx, c.ID, now); err != nil || !ok {
			return fmt.Errorf("consume: %v %v", ok, err)
		}
		return boom
	})
	wantErr(t, "InTx", err, boom)
	got, err := s.Challenge(t.Context(), c.ID)
	noErr(t, "Challenge", err)
	if got.Attempts != 0 || got.ConsumedAt != nil {
		t.Errorf("rolled back step left attempts %d, consumed %v", got.Attempts, got.ConsumedAt)
	}
}

func testSendCounterConcurrent(t *testing.T, s *store.Store) {
	start := s.Now().Truncate(time.Hour)
	const limit = 5
	errs := race(racers, func(int) error {
		ok, err := s.CountSend(t.Context(), "phone:abc:h", start, start.Add(time.Hour), limit)
		if err == nil && !ok {
			return errFull
		}
		return err
	})
	counted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			counted++
		case !errors.Is(err, errFull):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if counted != limit {
		t.Errorf("%d sends counted in parallel against a limit of %d", counted, limit)
	}
}

func testSendCounterUncountAndExpiry(t *testing.T, s *store.Store) {
	ctx := t.Context()
	start := s.Now().Truncate(time.Hour)
	for range 2 {
		if ok, err := s.CountSend(ctx, "k", start, start.Add(time.Hour), 2); err != nil || !ok {
			t.Fatalf("CountSend: %v %v", ok, err)
		}
	}
	if ok, _ := s.CountSend(ctx, "k", start, start.Add(time.Hour), 2); ok {
		t.Fatal("a third send counted against a limit of 2")
	}
	noErr(t, "UncountSend", s.UncountSend(ctx, "k", start))
	if ok, _ := s.CountSend(ctx, "k", start, start.Add(time.Hour), 2); !ok {
		t.Fatal("a send taken back did not free its place")
	}
	// Another window is another counter.
	if ok, _ := s.CountSend(ctx, "k", start.Add(time.Hour), start.Add(2*time.Hour), 2); !ok {
		t.Fatal("the next window is full")
	}
	n, err := s.DeleteExpiredCounters(ctx, start.Add(90*time.Minute))
	noErr(t, "DeleteExpiredCounters", err)
	if n != 1 {
		t.Errorf("deleted %d counters, want the one whose window ended", n)
	}
}

func testDeliveries(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	c := newChallenge(t, s, "flow-1", now)
	for i, st := range []string{"queued", "sent"} {
		d := &mfa.Delivery{ID: s.NewID(), ChallengeID: c.ID, Provider: "xoxzo", ProviderMessageID: fmt.Sprint("m", i), Status: st,
			CreatedAt: now.Add(time.Duration(i) * time.Second), UpdatedAt: now}
		noErr(t, "AddDelivery", s.AddDelivery(ctx, d))
	}
	notice := &mfa.Delivery{ID: s.NewID(), ChallengeID: "phone-changed:x", Provider: "twilio", Status: "sent", CreatedAt: now.Add(5 * time.Second), UpdatedAt: now}
	noErr(t, "AddDelivery", s.AddDelivery(ctx, notice))
	pending, err := s.PendingDeliveries(ctx, []string{"xoxzo"}, []string{"delivered", "failed"}, now.Add(-time.Hour), 10)
	noErr(t, "PendingDeliveries", err)
	if len(pending) != 2 || pending[0].ProviderMessageID != "m0" {
		t.Fatalf("pending = %+v", pending)
	}
	noErr(t, "SetDeliveryStatus", s.SetDeliveryStatus(ctx, pending[0].ID, "failed", "provider reports undelivered", now))
	pending, _ = s.PendingDeliveries(ctx, []string{"xoxzo"}, []string{"delivered", "failed"}, now.Add(-time.Hour), 10)
	if len(pending) != 1 {
		t.Errorf("a failed delivery is still pending: %+v", pending)
	}
	recent, err := s.RecentDeliveries(ctx, 10)
	noErr(t, "RecentDeliveries", err)
	if len(recent) != 3 || recent[0].ID != notice.ID || recent[0].Phone != "" || recent[2].Phone != c.Phone {
		t.Errorf("recent = %+v", recent)
	}
	mine, err := s.ChallengeDeliveries(ctx, c.ID)
	noErr(t, "ChallengeDeliveries", err)
	if len(mine) != 2 || mine[1].Error != "" || mine[0].Error == "" {
		t.Errorf("challenge deliveries = %+v", mine)
	}
}

var rule = store.ThrottleRule{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// Tries sent at once are counted before their work: no more than the
// allowance go ahead, whatever their number, and the rest learn the wait.
func testThrottleConcurrentTries(t *testing.T, s *store.Store) {
	const n = 40
	keys := []store.ThrottleKey{{Key: "acct:a", Rule: rule}, {Key: "net:n", Rule: store.ThrottleRule{Free: 30, First: time.Second, Max: time.Hour, Forget: time.Hour}}}
	waits := make([]time.Duration, n)
	errs := race(n, func(i int) (err error) {
		waits[i], err = s.ThrottleTry(t.Context(), keys...)
		return err
	})
	allowed := 0
	for i, err := range errs {
		noErr(t, fmt.Sprint("try ", i), err)
		if waits[i] == 0 {
			allowed++
		} else if waits[i] > rule.First || waits[i] < rule.First-5*time.Second {
			t.Errorf("try %d told to wait %s, want about %s", i, waits[i], rule.First)
		}
	}
	if allowed != rule.Free {
		t.Errorf("%d of %d parallel tries allowed, want exactly %d", allowed, n, rule.Free)
	}
	// Refused tries counted against no key: the network saw only five.
	var failures int
	noErr(t, "read", s.DB().Raw(`SELECT failures FROM login_throttle WHERE key = ?`, "net:n").Scan(&failures).Error)
	if failures != rule.Free {
		t.Errorf("network key counted %d tries, want %d", failures, rule.Free)
	}
}

func testThrottleBlocksAndForgets(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	k := store.ThrottleKey{Key: "acct:b", Rule: rule}
	for i := range rule.Free {
		if wait, err := s.ThrottleTry(ctx, k); err != nil || wait != 0 {
			t.Fatalf("try %d: %v, %v", i, wait, err)
		}
	}
	wait, _ := s.ThrottleTry(ctx, k)
	if wait != rule.First {
		t.Fatalf("after %d tries: wait %s, want %s", rule.Free, wait, rule.First)
	}
	clk.Advance(rule.First)
	if wait, _ := s.ThrottleTry(ctx, k); wait != 0 {
		t.Fatalf("after the wait: refused for %s", wait)
	}
	// That sixth try doubles the block.
	if wait, _ := s.ThrottleTry(ctx, k); wait != 2*rule.First {
		t.Fatalf("after the sixth: wait %s, want %s", wait, 2*rule.First)
	}
	// Up to the cap, and no further.
	for range 20 {
		clk.Advance(rule.Max)
		s.ThrottleTry(ctx, k)
	}
	if wait, _ := s.ThrottleTry(ctx, k); wait != rule.Max {
		t.Fatalf("at the cap: wait %s, want %s", wait, rule.Max)
	}
	clk.Advance(rule.Forget + rule.Max)
	for i := range rule.Free {
		if wait, _ := s.ThrottleTry(ctx, k); wait != 0 {
			t.Fatalf("a day later, try %d refused for %s", i, wait)
		}
	}
	n, err := s.ThrottleReset(ctx, k.Key)
	noErr(t, "ThrottleReset", err)
	if n != 1 {
		t.Errorf("reset %d keys", n)
	}
}

func testThrottleSucceeded(t *testing.T, s *store.Store) {
	ctx := t.Context()
	acct, nets := store.ThrottleKey{Key: "acct:c", Rule: rule}, store.ThrottleKey{Key: "net:c", Rule: rule}
	for range rule.Free - 1 {
		s.ThrottleTry(ctx, acct, nets)
	}
	noErr(t, "ThrottleSucceeded", s.ThrottleSucceeded(ctx, []string{acct.Key}, []string{nets.Key}))
	var acctRows, netFailures int
	s.DB().Raw(`SELECT COUNT(*) FROM login_throttle WHERE key = ?`, acct.Key).Scan(&acctRows)
	s.DB().Raw(`SELECT failures FROM login_throttle WHERE key = ?`, nets.Key).Scan(&netFailures)
	if acctRows != 0 || netFailures != rule.Free-2 {
		t.Errorf("after a success: account rows %d (want 0), network count %d (want %d)", acctRows, netFailures, rule.Free-2)
	}
}

func testSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice")
	now := s.Now()
	sess := &store.Session{UserID: u.ID, AMR: "pwd sms mfa", AuthTime: now, MFATime: now, ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateSession", s.CreateSession(ctx, sess, "cookie-token"))
	got, err := s.SessionByToken(ctx, "cookie-token")
	noErr(t, "SessionByToken", err)
	if got.ID != sess.ID || got.UserID != u.ID || !got.AuthTime.Equal(now) {
		t.Errorf("SessionByToken = %+v", got)
	}
	_, err = s.SessionByToken(ctx, "other-token")
	wantErr(t, "SessionByToken(unknown)", err, store.ErrNotFound)
	later := now.Add(time.Minute)
	noErr(t, "TouchSession", s.TouchSession(ctx, sess.ID, later))
	got, _ = s.Session(ctx, sess.ID)
	if !got.MFATime.Equal(later) {
		t.Errorf("MFATime = %v, want %v", got.MFATime, later)
	}
	errs := race(racers, func(int) error {
		ended, err := s.RevokeSession(t.Context(), sess.ID)
		if err == nil && !ended {
			return errFull
		}
		return err
	})
	exactlyOneWins(t, errs, errFull)
	if live, _ := s.SessionLive(ctx, sess.ID); live {
		t.Error("a revoked session is live")
	}
	_, err = s.SessionByToken(ctx, "cookie-token")
	wantErr(t, "SessionByToken(revoked)", err, store.ErrNotFound)
}

// A pushed request is used once, even by requests racing on it.
func testPARSingleUse(t *testing.T, s *store.Store) {
	createClient(t, s)
	ctx := t.Context()
	ar := fosite.NewAuthorizeRequest()
	ar.Client = &fosite.DefaultClient{ID: clientID}
	ar.Form = url.Values{"redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st-0123456789"}}
	ar.RequestedAt = s.Now()
	const uri = "urn:ietf:params:oauth:request_uri:abc"
	noErr(t, "CreatePARSession", s.CreatePARSession(ctx, uri, ar))
	got, err := s.GetPARSession(ctx, uri)
	noErr(t, "GetPARSession", err)
	if got.GetRequestForm().Get("state") != "st-0123456789" || got.GetClient().GetID() != clientID {
		t.Errorf("GetPARSession = %+v", got)
	}
	errs := race(racers, func(int) error { return s.DeletePARSession(t.Context(), uri) })
	exactlyOneWins(t, errs, store.ErrNotFound)
	_, err = s.GetPARSession(ctx, uri)
	wantErr(t, "GetPARSession after use", err, store.ErrNotFound)
}

// Errors the database gives are classified once: a value it cannot store
// is bad input (never "unavailable"), a taken key a conflict.
func testErrorsClassified(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createUser(t, s, "alice")
	err := s.CreateUser(ctx, &store.User{Username: "alice", PasswordHash: "x"}, nil)
	wantErr(t, "duplicate user", err, store.ErrConflict)
	for _, junk := range []string{"nul\x00byte", "bad\xffutf8"} {
		_, err := s.UserByUsername(ctx, junk)
		if store.Unavailable(err) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("lookup of %q: %v is classified as an outage", junk, err)
		}
		if err == nil {
			t.Errorf("lookup of %q found a user", junk)
		}
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBadInput) {
			t.Errorf("lookup of %q: %v, want not found or bad input", junk, err)
		}
	}
}
