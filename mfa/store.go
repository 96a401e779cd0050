package mfa

import (
	"context"
	"time"
)

// Store keeps what the second factor must remember: challenges, send
// counters and deliveries. Every method runs inside the transaction ctx
// carries, when it carries one, so a login step that issues or checks a
// code commits once with the rest of the step (idp/store implements it).
// Single-use changes are conditional statements that report whether they
// matched, so they hold with many instances on one database.
type Store interface {
	ChallengeStore
	CounterStore
	DeliveryStore
	// InTx runs f in one transaction, or in the one ctx carries.
	InTx(ctx context.Context, f func(ctx context.Context) error) error
	// NewID returns a new random identifier.
	NewID() string
}

// ChallengeStore persists challenges.
type ChallengeStore interface {
	// CreateChallenge stores c and marks every older challenge of the
	// same flow superseded.
	CreateChallenge(ctx context.Context, c *Challenge) error
	// Challenge loads a challenge; ErrNotFound when there is none.
	Challenge(ctx context.Context, id string) (*Challenge, error)
	// CountAttempt counts one attempt at a live challenge (not consumed,
	// not superseded, not exhausted, not expired at now) in one
	// conditional update, and returns the challenge as counted; nil when
	// nothing was counted.
	CountAttempt(ctx context.Context, id string, now time.Time) (*Challenge, error)
	// ConsumeChallenge marks an unconsumed, unsuperseded challenge used;
	// false when another request got there first.
	ConsumeChallenge(ctx context.Context, id string, now time.Time) (bool, error)
	// RenewChallenge gives a challenge a new code (a resend) when it is
	// neither consumed nor superseded, has resends left below maxResends,
	// and was last sent no later than sentBefore; attempts start again.
	// False when it did not match.
	RenewChallenge(ctx context.Context, id string, r Renewal) (bool, error)
	// UpdateChallenge records what a send learnt: the provider's
	// verification id, or an earlier last_sent_at that lifts the cooldown
	// after a send that failed. Zero fields are left as they are.
	UpdateChallenge(ctx context.Context, id string, u ChallengeUpdate) error
}

// Renewal is what a resend changes.
type Renewal struct {
	CodeHash   string
	SentAt     time.Time
	ExpiresAt  time.Time
	SentBefore time.Time // the cooldown: last sent no later than this
	MaxResends int
}

// ChallengeUpdate is what a send records on its challenge.
type ChallengeUpdate struct {
	VerifierRef string
	LastSentAt  time.Time
}

// CounterStore keeps the send counters of the limits.
type CounterStore interface {
	// CountSend adds one to the counter of key in the window that starts
	// at start (expiring at end) unless it already holds max, in one
	// conditional upsert; false when it was full.
	CountSend(ctx context.Context, key string, start, end time.Time, max int) (bool, error)
	// UncountSend takes back one count (a send refused by another limit).
	UncountSend(ctx context.Context, key string, start time.Time) error
	// DeleteExpiredCounters removes counters whose window ended before now.
	DeleteExpiredCounters(ctx context.Context, now time.Time) (int64, error)
}

// DeliveryStore records what each provider was handed.
type DeliveryStore interface {
	AddDelivery(ctx context.Context, d *Delivery) error
	// PendingDeliveries lists sends to providers created after since whose
	// status is not final, oldest first.
	PendingDeliveries(ctx context.Context, providers, final []string, since time.Time, limit int) ([]Delivery, error)
	// SetDeliveryStatus records a provider's later word on a send.
	SetDeliveryStatus(ctx context.Context, id, status, errText string, at time.Time) error
	// RecentDeliveries lists the newest sends, newest first, each with the
	// number of its challenge ("" for notices).
	RecentDeliveries(ctx context.Context, limit int) ([]DeliveryTo, error)
	// ChallengeDeliveries lists the sends of one challenge, oldest first.
	ChallengeDeliveries(ctx context.Context, challengeID string) ([]Delivery, error)
}

// DeliveryTo is a delivery with the number it went to.
type DeliveryTo struct {
	Delivery
	Phone string
}
