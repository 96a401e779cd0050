package mfa

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// ErrNoReroute: the last code of a challenge is not known to have failed,
// or no other route is left to send it by.
var ErrNoReroute = errors.New("mfa: no other route to send by")

// router is a Sender made of named routes tried in order (sms.Chain).
type router interface{ Names() []string }

// Reroute reports whether the PIN page should offer to send the code by
// another route: a delivery receipt said the last code failed (or none
// came within ReceiptWait from a provider that always sends one), and a
// provider of the chain has not failed this challenge yet. It returns the
// providers the new send must skip.
func (s *Service) Reroute(ctx context.Context, c *Challenge) ([]string, bool, error) {
	r, ok := s.Sender.(router)
	if !ok || s.Verifier != nil || c.ConsumedAt != nil || c.Superseded {
		return nil, false, nil
	}
	ds, err := s.Store.ChallengeDeliveries(ctx, c.ID)
	if err != nil {
		return nil, false, fmt.Errorf("mfa: deliveries: %w", err)
	}
	if len(ds) == 0 {
		return nil, false, nil
	}
	now := s.now()
	var skip []string
	for i, d := range ds {
		if s.undelivered(d, now) || (i < len(ds)-1 && d.Status == "failed") {
			skip = append(skip, d.Provider)
		}
	}
	last := ds[len(ds)-1]
	if last.CreatedAt.Before(c.LastSentAt) {
		// The newest code was reserved after the last delivery was
		// recorded: its send is in flight (a reroute or resend that just
		// committed), and a second one would send twice.
		return nil, false, nil
	}
	if !s.undelivered(last, now) {
		return nil, false, nil
	}
	for _, name := range r.Names() {
		if !slices.Contains(skip, name) {
			return skip, true, nil
		}
	}
	return nil, false, nil
}

// undelivered: a receipt said d failed, or none came in time from a
// provider that always sends one.
func (s *Service) undelivered(d Delivery, now time.Time) bool {
	if d.ReceiptAt != nil {
		return d.Status == string(sms.DeliveryFailed)
	}
	return s.ReceiptWait > 0 && slices.Contains(s.Receipts, d.Provider) && !slices.Contains(finalStates, d.Status) &&
		!now.Before(d.CreatedAt.Add(s.ReceiptWait))
}

// ReserveReroute gives a challenge a new code to send by another route,
// in the transaction ctx carries, after a receipt said the last one did
// not arrive (Reroute): at once, without the resend cooldown and without
// using up a resend, but counted against the send limits like any send.
// Of parallel reroutes one wins: the renewal is conditional on the send
// it replaces. Deliver sends it, skipping the routes that failed.
func (s *Service) ReserveReroute(ctx context.Context, id, locale string, ip netip.Addr) (_ *Pending, err error) {
	defer func() {
		if err != nil {
			s.observe("reroute", err)
		}
	}()
	now := s.now()
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	skip, ok, err := s.Reroute(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoReroute
	}
	to := sendTo{id: s.Store.NewID(), phone: c.Phone, userID: c.UserID, ip: ip, known: c.KnownNumber}
	if err := s.countSend(ctx, now, to); err != nil {
		return nil, err
	}
	code := s.newCode()
	hash := s.hash(id, code)
	renewed, err := s.Store.RenewChallenge(ctx, id, Renewal{CodeHash: hash, SentAt: now, ExpiresAt: now.Add(s.Policy.TTL),
		Reroute: true, Replaces: c.LastSentAt})
	if err != nil {
		return nil, fmt.Errorf("mfa: reroute: %w", err)
	}
	if !renewed { // another request rerouted or resent it meanwhile
		s.uncountSend(ctx, to.id)
		return nil, ErrNoReroute
	}
	c.CodeHash, c.Attempts, c.LastSentAt, c.ExpiresAt = hash, 0, now, now.Add(s.Policy.TTL)
	return &Pending{Challenge: c, code: code, locale: locale, skip: skip, reroute: true}, nil
}
