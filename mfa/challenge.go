package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"gorm.io/gorm"

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
}

func (Challenge) TableName() string { return "sms_challenges" }

// AttemptsLeft is how many wrong codes the challenge still takes.
func (c *Challenge) AttemptsLeft() int { return max(c.MaxAttempts-c.Attempts, 0) }

// Delivery records one hand-over of a message to a provider.
type Delivery struct {
	ID                string `gorm:"primaryKey"`
	ChallengeID       string
	Provider          string
	ProviderMessageID string
	Status            string // the provider's word when it gave one (e.g. queued), else sent; failed or unknown on errors
	Error             string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (Delivery) TableName() string { return "sms_deliveries" }

// Text builds the SMS body for a code in a language.
type Text func(locale, code string) string

// Service runs challenges.
type Service struct {
	DB     *gorm.DB
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
	// Phones says which numbers codes may go to. Start checks every
	// number against it, whichever page asked: the allow-list and the
	// number-type rules have no way around.
	Phones PhonePolicy
	Now    func() time.Time
	Logger *slog.Logger

	stats stats
}

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
}

// Start makes a challenge for a login, supersedes any older one of the
// same login, and sends the code. The challenge is returned even when the
// send failed (with the error), so the page can offer a resend.
func (s *Service) Start(ctx context.Context, r StartRequest) (_ *Challenge, err error) {
	defer func() { s.observe("start", err) }()
	if n, err := s.Phones.Normalise(r.Phone); err != nil || n != r.Phone {
		return nil, errors.Join(ErrPhoneInvalid, err)
	}
	now := s.now()
	c := &Challenge{
		ID: newID(), FlowID: r.FlowID, UserID: r.UserID, Phone: r.Phone,
		MaxAttempts: s.Policy.MaxAttempts, LastSentAt: now, ExpiresAt: now.Add(s.Policy.TTL), CreatedAt: now,
	}
	code := s.newCode()
	c.CodeHash = s.hash(c.ID, code)
	if s.Verifier != nil {
		code, c.CodeHash = "", ""
	}
	err = s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Challenge{}).Where("flow_id = ? AND superseded = ?", r.FlowID, false).
			Update("superseded", true).Error; err != nil {
			return err
		}
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		// Counted in the same transaction: a refused send rolls back, and
		// the older challenge stays as it was.
		return s.reserve(tx, now, r.Phone, r.UserID, r.ClientIP)
	})
	if errors.Is(err, ErrRateLimited) {
		s.log().WarnContext(ctx, "sms send refused by a limit", "flow", r.FlowID, "err", err)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: store challenge: %w", err)
	}
	return c, s.send(ctx, c, code, r.Locale)
}

// Get loads a challenge.
func (s *Service) Get(ctx context.Context, id string) (*Challenge, error) {
	var c Challenge
	err := s.DB.WithContext(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: load challenge: %w", err)
	}
	return &c, nil
}

// ResendIn is how long until a resend is allowed (0: now).
func (s *Service) ResendIn(c *Challenge) time.Duration {
	return max(c.LastSentAt.Add(s.Policy.ResendCooldown).Sub(s.now()), 0)
}

// ResendsLeft is how many resends the challenge still allows.
func (s *Service) ResendsLeft(c *Challenge) int { return max(s.Policy.MaxResends-c.Resends, 0) }

// Resend replaces the code of a live challenge with a new one and sends
// it. The old code stops working at once. Refused within the cooldown
// (ErrResendTooSoon) and after MaxResends (ErrResendLimit).
func (s *Service) Resend(ctx context.Context, id, locale string, ip netip.Addr) (_ *Challenge, err error) {
	defer func() { s.observe("resend", err) }()
	now := s.now()
	code := s.newCode()
	var claimed bool
	err = s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		upd := map[string]any{
			"code_hash":    s.hash(id, code),
			"resends":      gorm.Expr("resends + 1"),
			"last_sent_at": now,
			"expires_at":   now.Add(s.Policy.TTL),
		}
		if s.Verifier != nil {
			code, upd["code_hash"] = "", ""
		}
		res := tx.Model(&Challenge{}).
			Where("id = ? AND consumed_at IS NULL AND superseded = ? AND attempts < max_attempts AND resends < ? AND last_sent_at <= ?",
				id, false, s.Policy.MaxResends, now.Add(-s.Policy.ResendCooldown)).
			Updates(upd)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		claimed = true
		var c Challenge
		if err := tx.Where("id = ?", id).Take(&c).Error; err != nil {
			return err
		}
		// A refused send rolls the resend back: the code sent before
		// keeps working, and no resend is used up.
		return s.reserve(tx, now, c.Phone, c.UserID, ip)
	})
	if errors.Is(err, ErrRateLimited) {
		s.log().WarnContext(ctx, "sms resend refused by a limit", "challenge", id, "err", err)
		c, gerr := s.Get(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		return c, err
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: resend: %w", err)
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !claimed {
		return c, s.why(c, now, true)
	}
	return c, s.send(ctx, c, code, locale)
}

// why explains why a conditional update matched nothing.
func (s *Service) why(c *Challenge, now time.Time, resend bool) error {
	switch {
	case c.ConsumedAt != nil:
		return ErrUsed
	case c.Superseded:
		return ErrNotFound
	case c.Attempts >= c.MaxAttempts:
		return ErrTooManyAttempts
	case resend && c.Resends >= s.Policy.MaxResends:
		return ErrResendLimit
	case resend:
		return ErrResendTooSoon
	case !c.ExpiresAt.After(now):
		return ErrExpired
	}
	return ErrNotFound
}

// Verify checks a code. On success the challenge is consumed and returned.
// A wrong code returns ErrCodeMismatch with the challenge (for the
// attempts left); the fifth wrong code returns ErrTooManyAttempts.
func (s *Service) Verify(ctx context.Context, id, code string) (_ *Challenge, err error) {
	defer func() { s.observe("verify", err) }()
	now := s.now()
	db := s.DB.WithContext(ctx)
	// Count the attempt first, in one conditional statement: a guess that
	// is not counted is never compared.
	var counted []Challenge
	err = db.Raw(`UPDATE sms_challenges SET attempts = attempts + 1
		WHERE id = ? AND consumed_at IS NULL AND superseded = ? AND attempts < max_attempts AND expires_at > ?
		RETURNING id, code_hash, attempts, max_attempts, phone, verifier_ref`, id, false, now).Scan(&counted).Error
	if err != nil {
		return nil, fmt.Errorf("mfa: count attempt: %w", err)
	}
	if len(counted) != 1 {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return c, s.why(c, now, false)
	}
	got := counted[0]
	right := false
	if s.Verifier != nil {
		if right, err = s.check(ctx, &got, code); err != nil {
			c, gerr := s.Get(ctx, id)
			if gerr != nil {
				return nil, gerr
			}
			return c, err
		}
	} else {
		right = s.codeMatches(id, normalise(code), got.CodeHash)
	}
	if !right {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		// Judge by the count this attempt's own UPDATE returned, not by
		// the row read back: parallel attempts may have counted since,
		// and each must learn its own place (the first MaxAttempts-1
		// wrong codes are mismatches, only the last one exhausts).
		if got.Attempts >= got.MaxAttempts {
			s.log().WarnContext(ctx, "sms challenge exhausted", "challenge", id)
			return c, ErrTooManyAttempts
		}
		return c, ErrCodeMismatch
	}
	// Consume: of parallel right answers, one finds it unconsumed.
	res := db.Model(&Challenge{}).Where("id = ? AND consumed_at IS NULL AND superseded = ?", id, false).Update("consumed_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("mfa: consume challenge: %w", res.Error)
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if res.RowsAffected != 1 {
		return c, ErrUsed
	}
	return c, nil
}

// send hands the code to the sender and records the delivery.
func (s *Service) send(ctx context.Context, c *Challenge, code, locale string) error {
	var msg sms.Message
	var rcpt sms.Receipt
	var err error
	if s.Verifier != nil {
		msg = sms.Message{To: c.Phone, Locale: locale, Ref: c.ID}
		rcpt, err = s.startVerification(ctx, c, locale)
	} else {
		msg = sms.Message{To: c.Phone, Body: s.Text(locale, code), Code: code, Locale: locale, Ref: c.ID}
		rcpt, err = s.Sender.Send(ctx, msg)
	}
	now := s.now()
	d := Delivery{ID: newID(), ChallengeID: c.ID, Provider: rcpt.Provider, ProviderMessageID: rcpt.MessageID, Status: "sent", CreatedAt: now, UpdatedAt: now}
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
			epoch := time.Unix(0, 0).UTC()
			if err := s.DB.WithContext(ctx).Model(&Challenge{}).Where("id = ?", c.ID).Update("last_sent_at", epoch).Error; err != nil {
				s.log().ErrorContext(ctx, "lift resend cooldown", "challenge", c.ID, "err", err)
			} else {
				c.LastSentAt = epoch
			}
		}
		s.log().ErrorContext(ctx, "sms send failed", "challenge", c.ID, "msg", msg, "kind", sms.KindOf(err).String(), "err", err)
	} else if rcpt.Status != "" {
		d.Status = rcpt.Status
	}
	if d.Provider == "" {
		d.Provider = "unknown"
	}
	if err := s.DB.WithContext(ctx).Create(&d).Error; err != nil {
		s.log().ErrorContext(ctx, "record sms delivery", "challenge", c.ID, "err", err)
	}
	if sendErr != nil {
		return fmt.Errorf("%w: %w", sendErr, err)
	}
	return nil
}

// Deliveries lists the sends of a challenge, oldest first.
func (s *Service) Deliveries(ctx context.Context, challengeID string) ([]Delivery, error) {
	var ds []Delivery
	err := s.DB.WithContext(ctx).Where("challenge_id = ?", challengeID).Order("created_at").Find(&ds).Error
	return ds, err
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

func newID() string {
	b := make([]byte, 20)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
