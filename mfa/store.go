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
	HoldStore
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
	// Reroute: a resend by another route after a failed delivery. It
	// matches only while the challenge was last sent at Replaces (no other
	// send came since), ignores the cooldown and uses up no resend.
	Reroute  bool
	Replaces time.Time
}

// ChallengeUpdate is what a send records on its challenge.
type ChallengeUpdate struct {
	VerifierRef string
	LastSentAt  time.Time
}

// Window is one sliding window of a limit: at most Max (the sum of the
// amounts counted, 1 a send, or money for the budget) in any span of
// Length.
type Window struct {
	Length time.Duration
	Max    int64
}

// Counted is what CountSend did: counted, or refused by a full window.
type Counted struct {
	OK     bool
	Full   Window    // the window that was full, when not OK
	FreeAt time.Time // when enough of that window has slid out for the send
}

// CounterStore keeps the send log behind the limits: what was sent under
// each key, and when.
type CounterStore interface {
	// CountSend records amount for send under key at at, unless for one of
	// windows the amounts already recorded under key within (at-Length,
	// at] plus amount would pass Max: then it records nothing. It locks
	// the key first, in the transaction ctx carries (or its own), so
	// parallel sends to one key count one after the other and never past
	// Max. With no windows it records unconditionally.
	CountSend(ctx context.Context, key, send string, at time.Time, amount int64, windows []Window) (Counted, error)
	// UncountSend takes back everything recorded for send, under every
	// key (a send refused by another limit).
	UncountSend(ctx context.Context, send string) error
	// SumSince adds up what key recorded after since.
	SumSince(ctx context.Context, key string, since time.Time) (int64, error)
	// DeleteExpiredCounters removes what was recorded before before.
	DeleteExpiredCounters(ctx context.Context, before time.Time) (int64, error)
}

// HoldStore keeps the holds of the SMS-pumping guard and the budget.
type HoldStore interface {
	// Hold returns the hold of scope; nil when it was never held.
	Hold(ctx context.Context, scope string) (*Hold, error)
	// PutHold holds h.Scope unless it is held already (lifted holds are
	// held again); false when it was held.
	PutHold(ctx context.Context, h *Hold) (bool, error)
	// LiftHold lifts a hold; false when scope was not held.
	LiftHold(ctx context.Context, scope, by string, at time.Time) (bool, error)
	// Holds lists every hold, held first, newest first.
	Holds(ctx context.Context) ([]Hold, error)
}

// Hold is a scope (a country or number prefix, or the budget of a day)
// new sends to which are held.
type Hold struct {
	Scope    string     `gorm:"primaryKey" json:"scope"`
	Reason   string     `json:"reason"`
	Sends    int        `json:"sends"`
	Verified int        `json:"verified"`
	HeldAt   time.Time  `json:"held_at"`
	LiftedAt *time.Time `json:"lifted_at,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
}

func (Hold) TableName() string { return "sms_holds" }

// Held reports whether the hold is in force.
func (h *Hold) Held() bool { return h != nil && h.LiftedAt == nil }

// DeliveryStore records what each provider was handed.
type DeliveryStore interface {
	AddDelivery(ctx context.Context, d *Delivery) error
	// PendingDeliveries lists sends to providers created after since whose
	// status is not final, oldest first.
	PendingDeliveries(ctx context.Context, providers, final []string, since time.Time, limit int) ([]Delivery, error)
	// SetDeliveryStatus records a provider's later word on a send.
	SetDeliveryStatus(ctx context.Context, id, status, errText string, at time.Time) error
	// ApplyReceipt records a delivery receipt on the send provider knows
	// as messageID, unless that send is already in a final state
	// (delivered, failed) or in status: a repeated or late receipt changes
	// nothing. found is false when no send matches.
	ApplyReceipt(ctx context.Context, provider, messageID, status, errorCode, errText string, at time.Time) (found, changed bool, err error)
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
