package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/sms"
)

// Outcomes of Verify and Resend other than success. Pages map them to
// messages; a wrong code and an unknown challenge look the same.
var (
	ErrCodeMismatch     = errors.New("mfa: wrong code")
	ErrExpired          = errors.New("mfa: challenge expired")
	ErrTooManyAttempts  = errors.New("mfa: too many wrong codes")
	ErrNotFound         = errors.New("mfa: no such challenge")
	ErrUsed             = errors.New("mfa: challenge already used")
	ErrResendTooSoon    = errors.New("mfa: resend too soon")
	ErrResendLimit      = errors.New("mfa: no resends left")
	ErrSendFailed       = errors.New("mfa: the SMS could not be sent")
	ErrSendUnknown      = errors.New("mfa: the SMS may not have been sent")
	ErrPermanentFailure = errors.New("mfa: the number cannot receive SMS")
)

// Policy bounds a challenge.
type Policy struct {
	CodeLength     int           // digits, 4..8
	TTL            time.Duration // validity of a code
	MaxAttempts    int           // wrong tries that end the challenge
	ResendCooldown time.Duration // wait between sends
	MaxResends     int           // resends a challenge
}

// DefaultPolicy is the policy DESIGN.md sets.
var DefaultPolicy = Policy{CodeLength: 6, TTL: 5 * time.Minute, MaxAttempts: 5, ResendCooldown: 60 * time.Second, MaxResends: 3}

// Challenge is a code sent and not yet settled.
type Challenge struct {
	ID          string `gorm:"primaryKey"`
	FlowID      string
	UserID      string
	Phone       string
	CodeHash    string
	Attempts    int
	MaxAttempts int
	Resends     int
	LastSentAt  time.Time
	ExpiresAt   time.Time
	ConsumedAt  *time.Time
	Superseded  bool
	CreatedAt   time.Time
	// VerifierRef is the provider's id of the verification when a
	// Verifier makes and checks the code; CodeHash is empty then.
	VerifierRef string
	// KnownNumber: the user had verified this number before; the
	// SMS-pumping guard never holds it.
	KnownNumber bool
}

func (Challenge) TableName() string { return "sms_challenges" }

// Unsent reports whether the last code was surely not sent (the provider
// refused it): the cooldown is lifted then, so a new one can be asked for
// at once.
func (c *Challenge) Unsent() bool { return c.LastSentAt.Unix() == 0 }

// AttemptsLeft is how many wrong codes the challenge still takes.
func (c *Challenge) AttemptsLeft() int { return max(c.MaxAttempts-c.Attempts, 0) }

// Delivery records one hand-over of a message to a provider.
type Delivery struct {
	ID                string `gorm:"primaryKey"`
	ChallengeID       string
	Provider          string
	ProviderMessageID string
	Status            string // the provider's word when it gave one (e.g. queued), else sent; failed or unknown on errors; delivered or failed from a receipt
	Error             string
	ErrorCode         string     // the carrier's or provider's error code from a receipt
	ReceiptAt         *time.Time // when a delivery receipt (pushed or polled) last changed Status
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (Delivery) TableName() string { return "sms_deliveries" }

// Text builds the SMS body for a code in a language.
type Text func(locale, code string) string

// Service runs challenges.
type Service struct {
	Store  Store
	Sender sms.Sender
	Policy Policy
	Secret []byte // keys the code hashes
	// OldSecrets are earlier Secrets (IDP_SECRET rotation): codes sent
	// before the rotation still verify.
	OldSecrets [][]byte
	Text       Text
	// Verifier, when set, makes, sends and checks the codes instead of
	// Sender (Twilio Verify, the Xoxzo OTP API). Attempts, expiry, resend
	// rules and send limits still apply on top of the provider's own.
	Verifier otp.Verifier
	// Limits cap sends per phone, user, client network and in all; the
	// zero value sets no limit.
	Limits Limits
	// Phones says which numbers codes may go to. Reserve checks every
	// number against it, whichever page asked: the allow-list and the
	// number-type rules have no way around.
	Phones PhonePolicy
	// Pumping is the SMS-pumping guard; the zero value turns it off.
	Pumping Pumping
	// Budget caps the estimated daily spend; the zero value sets none.
	Budget Budget
	// ReceiptWait, when not 0, is how long a send through a provider in
	// Receipts may go without a delivery receipt before the PIN page
	// offers another route.
	ReceiptWait time.Duration
	// Receipts names the providers that push a receipt for every send.
	Receipts []string
	Now      func() time.Time
	Logger   *slog.Logger

	stats stats
}

// Time is the service's clock: send limits, cooldowns and expiry are
// judged by it.
func (s *Service) Time() time.Time { return s.now() }

func (s *Service) now() time.Time {
	n := time.Now
	if s.Now != nil {
		n = s.Now
	}
	return n().UTC().Truncate(time.Microsecond)
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// StartRequest asks for a new challenge.
type StartRequest struct {
	FlowID string
	UserID string
	Phone  string // E.164
	Locale string
	// ClientIP is the address of the browser asking, for the per-network
	// send limit; the zero Addr skips that limit.
	ClientIP netip.Addr
	// KnownNumber: the user has verified Phone before (the SMS-pumping
	// guard never holds such a number).
	KnownNumber bool
}

// Pending is a code reserved and not yet handed to a provider: its
// challenge is stored and its send counted. Deliver sends it.
type Pending struct {
	Challenge *Challenge
	code      string
	locale    string
	first     bool     // a first send (Start), not a resend
	skip      []string // providers not to send through (a reroute)
	reroute   bool
}

// Reserve makes a challenge for a login: it checks the number against the
// policy, counts the send against every limit, supersedes any older
// challenge of the same login and stores the new one, all in the
// transaction ctx carries. A refused send counts against nothing and
// stores nothing (*RateLimitError, ErrPhoneInvalid). Nothing is sent:
// call Deliver once the transaction has committed, so no transaction is
// ever held open across a call to a provider.
func (s *Service) Reserve(ctx context.Context, r StartRequest) (_ *Pending, err error) {
	defer func() {
		if err != nil {
			s.observe("start", err)
		}
	}()
	if n, err := s.Phones.Normalise(r.Phone); err != nil || n != r.Phone {
		return nil, errors.Join(ErrPhoneInvalid, err)
	}
	now := s.now()
	// Counted before anything is stored: a refused send leaves no trace.
	to := sendTo{id: s.Store.NewID(), phone: r.Phone, userID: r.UserID, ip: r.ClientIP, known: r.KnownNumber}
	if err := s.countSend(ctx, now, to); err != nil {
		if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrHeld) {
			s.log().WarnContext(ctx, "sms send refused", "flow", r.FlowID, "err", err)
		}
		return nil, err
	}
	c := &Challenge{
		ID: s.Store.NewID(), FlowID: r.FlowID, UserID: r.UserID, Phone: r.Phone, KnownNumber: r.KnownNumber,
		MaxAttempts: s.Policy.MaxAttempts, LastSentAt: now, ExpiresAt: now.Add(s.Policy.TTL), CreatedAt: now,
	}
	code := s.newCode()
	c.CodeHash = s.hash(c.ID, code)
	if s.Verifier != nil {
		code, c.CodeHash = "", ""
	}
	if err := s.Store.CreateChallenge(ctx, c); err != nil {
		return nil, fmt.Errorf("mfa: store challenge: %w", err)
	}
	return &Pending{Challenge: c, code: code, locale: r.Locale, first: true}, nil
}

// Deliver hands a reserved code to the provider and records the outcome
// (one short transaction). The challenge stays usable when the send
// failed: the error says how, and a resend is allowed at once when
// nothing went out.
func (s *Service) Deliver(ctx context.Context, p *Pending) (err error) {
	op := "resend"
	switch {
	case p.first:
		op = "start"
	case p.reroute:
		op = "reroute"
	}
	defer func() { s.observe(op, err) }()
	return s.send(ctx, p.Challenge, p.code, p.locale, p.skip)
}

// Start reserves and delivers a code in one call, for a caller with
// nothing else to commit with the reservation.
func (s *Service) Start(ctx context.Context, r StartRequest) (*Challenge, error) {
	var p *Pending
	var refused error
	err := s.Store.InTx(ctx, func(ctx context.Context) (err error) {
		p, err = s.Reserve(ctx, r)
		return commitRefusal(err, &refused)
	})
	if err = errors.Join(err, refused); err != nil {
		return nil, err
	}
	return p.Challenge, s.Deliver(ctx, p)
}

// commitRefusal keeps a refusal by a limit or a hold out of the
// transaction's way, so what the refusal wrote (a hold set) commits; it
// counted nothing.
func commitRefusal(err error, refused *error) error {
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrHeld) {
		*refused = err
		return nil
	}
	return err
}

// Get loads a challenge.
func (s *Service) Get(ctx context.Context, id string) (*Challenge, error) {
	c, err := s.Store.Challenge(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("mfa: load challenge: %w", err)
	}
	return c, err
}

// ResendIn is how long until a resend is allowed (0: now).
func (s *Service) ResendIn(c *Challenge) time.Duration {
	return max(c.LastSentAt.Add(s.Policy.ResendCooldown).Sub(s.now()), 0)
}

// ResendsLeft is how many resends the challenge still allows.
func (s *Service) ResendsLeft(c *Challenge) int { return max(s.Policy.MaxResends-c.Resends, 0) }

// ReserveResend gives a challenge a new code, in the transaction ctx
// carries: the old code stops working, and the new one gets the full
// number of tries (so a challenge ended by wrong codes can be asked for
// again). The send is counted against the limits first. Refused within
// the cooldown (ErrResendTooSoon), after MaxResends (ErrResendLimit) and
// by a limit (*RateLimitError); a refusal counts against nothing and
// changes nothing. Every code costs a counted send, so the guesses a day
// allows stay within the daily send limits times MaxAttempts. Deliver
// sends it.
func (s *Service) ReserveResend(ctx context.Context, id, locale string, ip netip.Addr) (_ *Pending, err error) {
	defer func() {
		if err != nil {
			s.observe("resend", err)
		}
	}()
	now := s.now()
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	// Checked here only to answer without counting a send that cannot
	// happen; the conditional update below is what decides.
	if why := s.whyNoResend(c, now); why != nil {
		return nil, why
	}
	to := sendTo{id: s.Store.NewID(), phone: c.Phone, userID: c.UserID, ip: ip, known: c.KnownNumber}
	if err := s.countSend(ctx, now, to); err != nil {
		if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrHeld) {
			s.log().WarnContext(ctx, "sms resend refused", "challenge", id, "err", err)
		}
		return nil, err
	}
	code := s.newCode()
	hash := s.hash(id, code)
	if s.Verifier != nil {
		code, hash = "", ""
	}
	ok, err := s.Store.RenewChallenge(ctx, id, Renewal{CodeHash: hash, SentAt: now, ExpiresAt: now.Add(s.Policy.TTL),
		SentBefore: now.Add(-s.Policy.ResendCooldown), MaxResends: s.Policy.MaxResends})
	if err != nil {
		return nil, fmt.Errorf("mfa: resend: %w", err)
	}
	if !ok { // another request resent it meanwhile
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		s.uncountSend(ctx, to.id)
		if why := s.whyNoResend(c, now); why != nil {
			return nil, why
		}
		return nil, ErrResendTooSoon
	}
	c.CodeHash, c.Attempts, c.Resends, c.LastSentAt, c.ExpiresAt = hash, 0, c.Resends+1, now, now.Add(s.Policy.TTL)
	return &Pending{Challenge: c, code: code, locale: locale}, nil
}

// Resend reserves and delivers a new code in one call.
func (s *Service) Resend(ctx context.Context, id, locale string, ip netip.Addr) (*Challenge, error) {
	var p *Pending
	var refused error
	err := s.Store.InTx(ctx, func(ctx context.Context) (err error) {
		p, err = s.ReserveResend(ctx, id, locale, ip)
		return commitRefusal(err, &refused)
	})
	if err = errors.Join(err, refused); err != nil {
		return nil, err
	}
	return p.Challenge, s.Deliver(ctx, p)
}

// whyNoResend says why a challenge cannot get a new code now, or nil.
func (s *Service) whyNoResend(c *Challenge, now time.Time) error {
	switch {
	case c.ConsumedAt != nil:
		return ErrUsed
	case c.Superseded:
		return ErrNotFound
	case c.Resends >= s.Policy.MaxResends:
		return ErrResendLimit
	case c.LastSentAt.After(now.Add(-s.Policy.ResendCooldown)):
		return ErrResendTooSoon
	}
	return nil
}

// why explains why an attempt was not counted.
func (s *Service) why(c *Challenge, now time.Time) error {
	switch {
	case c.ConsumedAt != nil:
		return ErrUsed
	case c.Superseded:
		return ErrNotFound
	case c.Attempts >= c.MaxAttempts:
		return ErrTooManyAttempts
	case !c.ExpiresAt.After(now):
		return ErrExpired
	}
	return ErrNotFound
}

// ChecksRemotely reports whether Verify asks a provider (a Verifier) to
// check codes: such a Verify makes a network call and must not run inside
// a transaction.
func (s *Service) ChecksRemotely() bool { return s.Verifier != nil }

// Verify checks a code. On success the challenge is consumed and returned.
// A wrong code returns ErrCodeMismatch with the challenge (for the
// attempts left); the last wrong code returns ErrTooManyAttempts.
//
// Its writes run in the transaction ctx carries: with codes checked here
// (an HMAC) the whole check, attempt count included, commits with the
// caller's step. The caller must commit even when the code was wrong,
// or the attempt goes uncounted (IsVerdict tells such outcomes). With a
// Verifier the provider is asked between the count and the consume, so
// ctx must carry no transaction then (see ChecksRemotely).
func (s *Service) Verify(ctx context.Context, id, code string) (_ *Challenge, err error) {
	defer func() { s.observe("verify", err) }()
	now := s.now()
	// Count the attempt first, in one conditional statement: a guess that
	// is not counted is never compared.
	got, err := s.Store.CountAttempt(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("mfa: count attempt: %w", err)
	}
	if got == nil {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return c, s.why(c, now)
	}
	right := false
	if s.Verifier != nil {
		if right, err = s.check(ctx, got, code); err != nil {
			return got, err
		}
	} else {
		right = s.codeMatches(id, normalise(code), got.CodeHash)
	}
	if !right {
		// Judge by the count this attempt's own update returned: parallel
		// attempts may have counted since, and each must learn its own
		// place (the first MaxAttempts-1 wrong codes are mismatches, only
		// the last one exhausts).
		if got.Attempts >= got.MaxAttempts {
			s.log().WarnContext(ctx, "sms challenge exhausted", "challenge", id)
			return got, ErrTooManyAttempts
		}
		return got, ErrCodeMismatch
	}
	// Consume: of parallel right answers, one finds it unconsumed.
	ok, err := s.Store.ConsumeChallenge(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("mfa: consume challenge: %w", err)
	}
	if !ok {
		return got, ErrUsed
	}
	got.ConsumedAt = &now
	if err := s.recordVerified(ctx, got, now); err != nil {
		return nil, err
	}
	return got, nil
}

// IsVerdict reports whether err is Verify's answer about the code (wrong,
// used, expired, exhausted, unknown) rather than a failure to check it:
// the attempt it counted must be committed.
func IsVerdict(err error) bool {
	for _, v := range []error{ErrCodeMismatch, ErrTooManyAttempts, ErrExpired, ErrUsed, ErrNotFound} {
		if errors.Is(err, v) {
			return true
		}
	}
	return false
}

// send hands the code to the sender and records the delivery, with what
// it learnt about the challenge, in one short transaction.
func (s *Service) send(ctx context.Context, c *Challenge, code, locale string, skip []string) error {
	var msg sms.Message
	var rcpt sms.Receipt
	var err error
	var upd ChallengeUpdate
	if s.Verifier != nil {
		msg = sms.Message{To: c.Phone, Locale: locale, Ref: c.ID}
		var st otp.Started
		st, err = s.Verifier.Start(ctx, c.Phone, locale, c.ID)
		rcpt = sms.Receipt{Provider: st.Provider, MessageID: st.ID, Status: "sent"}
		if err == nil {
			upd.VerifierRef, c.VerifierRef = st.ID, st.ID
		}
	} else {
		msg = sms.Message{To: c.Phone, Body: s.Text(locale, code), Code: code, Locale: locale, Ref: c.ID, Skip: skip}
		rcpt, err = s.Sender.Send(ctx, msg)
	}
	now := s.now()
	d := Delivery{ID: s.Store.NewID(), ChallengeID: c.ID, Provider: rcpt.Provider, ProviderMessageID: rcpt.MessageID, Status: "sent", CreatedAt: now, UpdatedAt: now}
	var sendErr error
	if err != nil {
		var se *sms.Error
		if errors.As(err, &se) {
			d.Provider = se.Provider
		}
		d.Error = err.Error()
		switch sms.KindOf(err) {
		case sms.Unknown:
			d.Status, sendErr = "unknown", ErrSendUnknown
		case sms.Permanent:
			d.Status, sendErr = "failed", ErrPermanentFailure
		default:
			d.Status, sendErr = "failed", ErrSendFailed
		}
		if sendErr != ErrSendUnknown {
			// Nothing went out: let the user ask again at once, and say so
			// in the challenge returned to the caller too.
			upd.LastSentAt = time.Unix(0, 0).UTC()
		}
		s.log().ErrorContext(ctx, "sms send failed", "challenge", c.ID, "msg", msg, "kind", sms.KindOf(err).String(), "err", err)
	} else {
		if rcpt.Status != "" {
			d.Status = rcpt.Status
		}
		if price, ok := s.Budget.Price(rcpt.Provider, c.Phone); ok {
			s.stats.addN("spend_estimated_micros", price)
		}
	}
	if d.Provider == "" {
		d.Provider = "unknown"
	}
	rerr := s.Store.InTx(ctx, func(ctx context.Context) error {
		if upd != (ChallengeUpdate{}) {
			if err := s.Store.UpdateChallenge(ctx, c.ID, upd); err != nil {
				return err
			}
		}
		return s.Store.AddDelivery(ctx, &d)
	})
	switch {
	case rerr != nil && upd.VerifierRef != "":
		// The code went out but its check cannot be found again: the
		// user must ask for a new one.
		s.log().ErrorContext(ctx, "record sms delivery", "challenge", c.ID, "err", rerr)
		return fmt.Errorf("%w: record verification id: %w", ErrSendUnknown, rerr)
	case rerr != nil:
		s.log().ErrorContext(ctx, "record sms delivery", "challenge", c.ID, "err", rerr)
	case !upd.LastSentAt.IsZero():
		c.LastSentAt = upd.LastSentAt
	}
	if sendErr != nil {
		return fmt.Errorf("%w: %w", sendErr, err)
	}
	return nil
}

// Deliveries lists the sends of a challenge, oldest first.
func (s *Service) Deliveries(ctx context.Context, challengeID string) ([]Delivery, error) {
	return s.Store.ChallengeDeliveries(ctx, challengeID)
}

// newCode draws CodeLength uniform decimal digits from crypto/rand.
func (s *Service) newCode() string {
	n := s.Policy.CodeLength
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic("mfa: crypto/rand failed: " + err.Error()) // never happens on Go 1.24+
	}
	return fmt.Sprintf("%0*d", n, v)
}

// codeMatches compares a code with a stored hash under the current secret
// and, during a rotation, the old ones; each comparison in constant time.
func (s *Service) codeMatches(id, code, stored string) bool {
	ok := hmac.Equal([]byte(hashWith(s.Secret, id, code)), []byte(stored))
	for _, old := range s.OldSecrets {
		ok = hmac.Equal([]byte(hashWith(old, id, code)), []byte(stored)) || ok
	}
	return ok
}

// hash is the stored form of a code: HMAC-SHA256 keyed from the system
// secret over the challenge id and the code, so a hash is useless for any
// other challenge and a database dump does not yield codes by brute force
// without the secret.
func (s *Service) hash(id, code string) string { return hashWith(s.Secret, id, code) }

func hashWith(secret []byte, id, code string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sms-pin\x00" + id + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// normalise drops spaces and dashes people type or paste around codes and
// turns full-width digits (common with Japanese input methods) into ASCII.
func normalise(code string) string {
	var b strings.Builder
	for _, r := range code {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == ' ' || r == '-' || r == '　' || r == '－' || r == '‐' || r == '\u00a0' || r == '\t':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
