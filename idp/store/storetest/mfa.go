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
	now := s.Now()
	const limit = 5
	hour := []mfa.Window{{Length: time.Hour, Max: limit}}
	errs := race(racers, func(i int) error {
		got, err := s.CountSend(t.Context(), "phone:abc", fmt.Sprint("send-", i), now, 1, hour)
		if err == nil && !got.OK {
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
	if sum, err := s.SumSince(t.Context(), "phone:abc", now.Add(-time.Hour)); err != nil || sum != limit {
		t.Errorf("SumSince = %d, %v; want %d", sum, err, limit)
	}
}

func testSendCounterUncountAndExpiry(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	w := []mfa.Window{{Length: time.Hour, Max: 2}}
	for i := range 2 {
		// The same send under two keys: UncountSend takes back both.
		for _, key := range []string{"k", "other"} {
			if got, err := s.CountSend(ctx, key, fmt.Sprint("s", i), now, 1, w); err != nil || !got.OK {
				t.Fatalf("CountSend: %+v %v", got, err)
			}
		}
	}
	got, err := s.CountSend(ctx, "k", "s2", now, 1, w)
	noErr(t, "CountSend", err)
	if got.OK || got.Full != w[0] || !got.FreeAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("a third send against a limit of 2: %+v, want refused until %v", got, now.Add(time.Hour))
	}
	noErr(t, "UncountSend", s.UncountSend(ctx, "s1"))
	if got, _ := s.CountSend(ctx, "k", "s3", now, 1, w); !got.OK {
		t.Fatal("a send taken back did not free its place")
	}
	if sum, _ := s.SumSince(ctx, "other", now.Add(-time.Hour)); sum != 1 {
		t.Errorf("UncountSend left %d counts of its send under another key, want 1", sum)
	}
	// Nothing recorded with no windows is refused.
	for i := range 3 {
		if got, _ := s.CountSend(ctx, "log", fmt.Sprint("l", i), now, 1, nil); !got.OK {
			t.Fatal("a send with no windows was refused")
		}
	}
	n, err := s.DeleteExpiredCounters(ctx, now.Add(time.Second))
	noErr(t, "DeleteExpiredCounters", err)
	if n != 6 { // k: s0, s3; other: s0; log: 3
		t.Errorf("deleted %d rows recorded before the cut, want 6", n)
	}
	if sum, _ := s.SumSince(ctx, "k", now.Add(-time.Hour)); sum != 0 {
		t.Errorf("%d counts left after deleting them", sum)
	}
}

// testSendCounterSlidingWindow: the window slides with the clock, so a
// burst that straddles the top of an hour gets one allowance, not two,
// and each place comes free exactly an hour after its send.
func testSendCounterSlidingWindow(t *testing.T, s *store.Store) {
	ctx := t.Context()
	top := s.Now().Truncate(time.Hour).Add(time.Hour)
	w := []mfa.Window{{Length: time.Hour, Max: 3}}
	count := func(at time.Time, id string) mfa.Counted {
		t.Helper()
		got, err := s.CountSend(ctx, "phone:slide", id, at, 1, w)
		noErr(t, "CountSend", err)
		return got
	}
	for i, at := range []time.Time{top.Add(-3 * time.Minute), top.Add(-2 * time.Minute), top.Add(-time.Minute)} {
		if !count(at, fmt.Sprint("a", i)).OK {
			t.Fatalf("send %d before the hour refused", i)
		}
	}
	got := count(top.Add(time.Minute), "b0")
	if got.OK {
		t.Fatal("a fourth send two minutes after three, across the top of the hour, was counted")
	}
	if want := top.Add(57 * time.Minute); !got.FreeAt.Equal(want) {
		t.Errorf("refused until %v, want %v (an hour after the oldest)", got.FreeAt, want)
	}
	if count(top.Add(57*time.Minute-time.Second), "b1").OK {
		t.Error("counted a second before the oldest send is an hour old")
	}
	if !count(top.Add(57*time.Minute), "b2").OK {
		t.Error("refused once the oldest send had slid out: the window is (at-1h, at]")
	}
	if count(top.Add(57*time.Minute+time.Second), "b3").OK {
		t.Error("two sends counted for one place freed")
	}
}

// testSendCounterAmounts: a budget counts amounts, not sends.
func testSendCounterAmounts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	day := []mfa.Window{{Length: 24 * time.Hour, Max: 100}}
	for i, amount := range []int64{40, 40} {
		if got, err := s.CountSend(ctx, "spend:day", fmt.Sprint("p", i), now, amount, day); err != nil || !got.OK {
			t.Fatalf("CountSend %d: %+v %v", amount, got, err)
		}
	}
	if got, _ := s.CountSend(ctx, "spend:day", "p2", now, 30, day); got.OK {
		t.Fatal("30 more counted against 100 with 80 spent")
	}
	if got, _ := s.CountSend(ctx, "spend:day", "p3", now, 20, day); !got.OK {
		t.Fatal("20 more refused against 100 with 80 spent")
	}
	if sum, _ := s.SumSince(ctx, "spend:day", now.Add(-time.Hour)); sum != 100 {
		t.Errorf("spent %d, want 100", sum)
	}
}

func testHolds(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	if h, err := s.Hold(ctx, "prefix:+8190123"); err != nil || h != nil {
		t.Fatalf("Hold of a scope never held = %+v, %v", h, err)
	}
	// Of parallel sends that find a prefix failing, one sets the hold.
	errs := race(racers, func(int) error {
		set, err := s.PutHold(t.Context(), &mfa.Hold{Scope: "prefix:+8190123", Reason: "conversion", Sends: 20, HeldAt: now})
		if err == nil && !set {
			return errFull
		}
		return err
	})
	exactlyOneWins(t, errs, errFull)
	h, err := s.Hold(ctx, "prefix:+8190123")
	noErr(t, "Hold", err)
	if !h.Held() || h.Sends != 20 || h.Reason != "conversion" || !h.HeldAt.Equal(now) {
		t.Fatalf("hold = %+v", h)
	}
	if ok, err := s.LiftHold(ctx, "prefix:+8190123", "ops", now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("LiftHold: %v %v", ok, err)
	}
	if ok, _ := s.LiftHold(ctx, "prefix:+8190123", "ops", now.Add(time.Minute)); ok {
		t.Error("a lifted hold was lifted again")
	}
	if ok, _ := s.LiftHold(ctx, "prefix:+1", "ops", now); ok {
		t.Error("a scope never held was lifted")
	}
	h, _ = s.Hold(ctx, "prefix:+8190123")
	if h.Held() || h.LiftedAt == nil || !h.LiftedAt.Equal(now.Add(time.Minute)) || h.LiftedBy != "ops" {
		t.Fatalf("lifted hold = %+v", h)
	}
	noErr(t, "PutHold", func() error {
		_, err := s.PutHold(ctx, &mfa.Hold{Scope: "country:+44", Reason: "conversion", HeldAt: now})
		return err
	}())
	if set, _ := s.PutHold(ctx, &mfa.Hold{Scope: "prefix:+8190123", Reason: "conversion", Sends: 25, HeldAt: now.Add(time.Hour)}); !set {
		t.Fatal("a lifted hold could not be set again")
	}
	hs, err := s.Holds(ctx)
	noErr(t, "Holds", err)
	if len(hs) != 2 || hs[0].Scope != "prefix:+8190123" || !hs[0].Held() || hs[0].Sends != 25 || hs[0].LiftedBy != "" {
		t.Errorf("holds = %+v", hs)
	}
}

// testDeliveryReceipts: a receipt finds its send by provider and message
// id; repeats, racing duplicates and late receipts after a final state
// change nothing.
func testDeliveryReceipts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := s.Now()
	c := newChallenge(t, s, "flow-r", now)
	d := &mfa.Delivery{ID: s.NewID(), ChallengeID: c.ID, Provider: "twilio", ProviderMessageID: "SM1", Status: "queued", CreatedAt: now, UpdatedAt: now}
	noErr(t, "AddDelivery", s.AddDelivery(ctx, d))
	other := &mfa.Delivery{ID: s.NewID(), ChallengeID: c.ID, Provider: "xoxzo", ProviderMessageID: "SM1", Status: "queued", CreatedAt: now, UpdatedAt: now}
	noErr(t, "AddDelivery", s.AddDelivery(ctx, other))
	if found, changed, err := s.ApplyReceipt(ctx, "twilio", "SM-none", "failed", "", "", now); err != nil || found || changed {
		t.Fatalf("receipt for no send: found %v, changed %v, %v", found, changed, err)
	}
	at := now.Add(time.Minute)
	errs := race(racers, func(int) error {
		_, changed, err := s.ApplyReceipt(t.Context(), "twilio", "SM1", "failed", "30003", "receipt: undelivered", at)
		if err == nil && !changed {
			return errFull
		}
		return err
	})
	exactlyOneWins(t, errs, errFull)
	if found, changed, err := s.ApplyReceipt(ctx, "twilio", "SM1", "delivered", "", "", at.Add(time.Minute)); err != nil || !found || changed {
		t.Fatalf("a late delivered after failed: found %v, changed %v, %v; want found and unchanged", found, changed, err)
	}
	ds, err := s.ChallengeDeliveries(ctx, c.ID)
	noErr(t, "ChallengeDeliveries", err)
	byProvider := map[string]mfa.Delivery{}
	for _, d := range ds {
		byProvider[d.Provider] = d
	}
	got := byProvider["twilio"]
	if got.Status != "failed" || got.ErrorCode != "30003" || got.ReceiptAt == nil || !got.ReceiptAt.Equal(at) || got.Error != "receipt: undelivered" {
		t.Errorf("delivery after receipts = %+v", got)
	}
	if o := byProvider["xoxzo"]; o.Status != "queued" || o.ReceiptAt != nil {
		t.Errorf("another provider's send with the same id changed: %+v", o)
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
		} else if waits[i] > rule.First+time.Second || waits[i] < rule.First-5*time.Second {
			// (each try reads its own clock: a block another set a moment
			// after this one's read runs a little past First from here)
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
	noErr(t, "TouchSession", s.TouchSession(ctx, sess.ID, later, "pwd otp mfa"))
	got, _ = s.Session(ctx, sess.ID)
	if !got.MFATime.Equal(later) || got.AMR != "pwd otp mfa" {
		t.Errorf("MFATime = %v, AMR %q; want %v, pwd otp mfa", got.MFATime, got.AMR, later)
	}
	noErr(t, "TouchSession without a factor", s.TouchSession(ctx, sess.ID, time.Time{}, "pwd"))
	if got, _ = s.Session(ctx, sess.ID); !got.MFATime.Equal(later) || got.AMR != "pwd otp mfa" {
		t.Errorf("a plain touch changed MFATime %v, AMR %q", got.MFATime, got.AMR)
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
