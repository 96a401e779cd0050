// Package admin is the operator's side of the provider: the user
// lifecycle (list, show, create, disable, enable, delete, phone, links,
// sessions, unlock) and client and key administration. The CLI and the
// admin HTTP API both call it, so a rule (what disabling ends, what
// clearing a phone issues) holds the same whichever way an operator acts,
// and every action is written to the audit log here, once.
package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// Link lifetimes by default, and the longest a reset link may have.
const (
	InvitationTTL = 7 * 24 * time.Hour
	ResetTTL      = time.Hour
	MaxResetTTL   = 24 * time.Hour
)

// Service carries out operator actions.
type Service struct {
	Store  *store.Store
	Issuer string
	Phones mfa.PhonePolicy
	// Passwords hashes the password of a user created with one.
	Passwords *password.Hasher
}

// InputError is a request the service refuses as it stands: the message
// says what is wrong, in words an operator can act on.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func invalid(format string, args ...any) error { return &InputError{fmt.Sprintf(format, args...)} }

// Invalid is an InputError saying what is wrong.
func Invalid(format string, args ...any) error { return invalid(format, args...) }

// ErrNotFound: no such user, client or session (wrapped, with which).
var ErrNotFound = store.ErrNotFound

// ErrConflict: a username or client id is taken (wrapped).
var ErrConflict = store.ErrConflict

// Phone is a user's number as an operator sees it.
type Phone struct {
	Number     string     `json:"number"`
	Verified   bool       `json:"verified"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

// User is a user as an operator sees it; never the password hash.
type User struct {
	ID         string     `json:"id"`
	Username   string     `json:"username"`
	Locale     string     `json:"locale,omitempty"`
	Disabled   bool       `json:"disabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	Phone      *Phone     `json:"phone"`
	// Factors are filled in for one user (ShowUser), not in lists.
	Factors *Factors `json:"factors,omitempty"`
}

// Factors are the ways a user proves who they are.
type Factors struct {
	Password       bool       `json:"password"`
	SMS            bool       `json:"sms"` // a verified phone
	RecoveryCodes  int        `json:"recovery_codes_left"`
	RecoveryMadeAt *time.Time `json:"recovery_codes_made_at,omitempty"`
	TrustedDevices int        `json:"trusted_devices"`
	TOTP           bool       `json:"totp"` // an authenticator app, confirmed
	Passkeys       []Passkey  `json:"passkeys"`
}

// Passkey is one of a user's WebAuthn credentials, as an operator sees it.
type Passkey struct {
	ID         string     `json:"id"` // base64url credential id
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func userOf(u *store.User, p *store.Phone) User {
	v := User{ID: u.ID, Username: u.Username, Locale: u.Locale, Disabled: u.Disabled(), DisabledAt: u.DisabledAt, CreatedAt: u.CreatedAt}
	if p != nil {
		v.Phone = &Phone{Number: p.Number, Verified: p.Verified(), VerifiedAt: p.VerifiedAt}
	}
	return v
}

// audit records an operator action. by says who acted ("operator" for
// the CLI, "admin API").
func (s *Service) audit(ctx context.Context, event string, u *store.User, clientID, by, detail string) error {
	e := store.AuditEvent{Event: event, Outcome: "ok", ClientID: clientID, Detail: "by " + by}
	if u != nil {
		e.UserID, e.Username = u.ID, u.Username
	}
	if detail != "" {
		e.Detail += ", " + detail
	}
	if err := s.Store.Audit(ctx, e); err != nil {
		return fmt.Errorf("admin: %s done, but not recorded in the audit log: %w", event, err)
	}
	return nil
}

// FindUser finds a user by id or by username as an operator typed it (in
// its normal form, as the user signs in).
func (s *Service) FindUser(ctx context.Context, ref string) (*store.User, error) {
	if ref == "" {
		return nil, invalid("no user given")
	}
	if store.ValidID(ref) {
		u, err := s.Store.UserByID(ctx, ref)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	name, err := store.NormalizeUsername(ref)
	if err != nil {
		return nil, fmt.Errorf("no user %q: %w", ref, store.ErrNotFound)
	}
	u, err := s.Store.UserByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user %q: %w", ref, store.ErrNotFound)
	}
	return u, err
}

// MaxPage is the most users one page lists.
const MaxPage = 1000

// ListUsers lists users in username order; next, when not "", is the
// After of the next page.
func (s *Service) ListUsers(ctx context.Context, search, after string, limit int) (_ []User, next string, _ error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > MaxPage {
		return nil, "", invalid("limit must be 1 to %d", MaxPage)
	}
	if len(search) > 256 || len(after) > 256 {
		return nil, "", invalid("search and after are at most 256 bytes")
	}
	rows, err := s.Store.ListUsers(ctx, store.UserQuery{Search: search, After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	out := make([]User, 0, min(len(rows), limit))
	for i := range rows {
		if i == limit {
			next = rows[i-1].Username
			break
		}
		var p *store.Phone
		if rows[i].Number != "" {
			p = &store.Phone{Number: rows[i].Number, VerifiedAt: rows[i].PhoneVerifiedAt}
		}
		out = append(out, userOf(&rows[i].User, p))
	}
	return out, next, nil
}

// ShowUser returns one user with their phone and factors.
func (s *Service) ShowUser(ctx context.Context, ref string) (*User, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, u)
}

func (s *Service) view(ctx context.Context, u *store.User) (*User, error) {
	p, err := s.Store.PhoneOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	v := userOf(u, p)
	f := &Factors{Password: u.PasswordHash != "", SMS: p.Verified()}
	left, made, err := s.Store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	f.RecoveryCodes = left
	if !made.IsZero() {
		f.RecoveryMadeAt = &made
	}
	devices, err := s.Store.UserTrustedDevices(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	f.TrustedDevices = len(devices)
	keys, err := s.Store.PasskeysOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	f.Passkeys = []Passkey{}
	for _, k := range keys {
		f.Passkeys = append(f.Passkeys, Passkey{ID: k.CredentialID, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt})
	}
	switch t, err := s.Store.TOTPOf(ctx, u.ID); {
	case err == nil:
		f.TOTP = t.Confirmed()
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	v.Factors = f
	return &v, nil
}

// NewUser is a user to create. Exactly one of Password and PasswordHash
// is given (an existing argon2id, argon2i or bcrypt hash, kept as it is
// and replaced at the first sign-in).
type NewUser struct {
	Username      string `json:"username"`
	Password      string `json:"password,omitempty"`
	PasswordHash  string `json:"password_hash,omitempty"`
	Phone         string `json:"phone,omitempty"`
	PhoneVerified bool   `json:"phone_verified,omitempty"`
	Locale        string `json:"locale,omitempty"`
}

// Created is a new user and, when they have no phone, the invitation
// link with which they enrol one.
type Created struct {
	User
	InvitationURL       string     `json:"invitation_url,omitempty"`
	InvitationExpiresAt *time.Time `json:"invitation_expires_at,omitempty"`
}

// CheckNewUser normalises a new user's username and phone and checks the
// rest, before any password is hashed.
func (s *Service) CheckNewUser(n *NewUser) error {
	if n.Username == "" {
		return invalid("username is required")
	}
	name, err := store.NormalizeUsername(n.Username)
	if err != nil {
		return invalid("username %q: %v", n.Username, err)
	}
	n.Username = name
	switch {
	case (n.Password == "") == (n.PasswordHash == ""):
		return invalid("give a password or a password_hash (one of them)")
	case n.PhoneVerified && n.Phone == "":
		return invalid("phone_verified needs a phone")
	case n.Locale != "" && n.Locale != "en" && n.Locale != "ja":
		return invalid("locale must be en or ja")
	}
	if n.PasswordHash != "" {
		if err := password.Importable(n.PasswordHash); err != nil {
			return invalid("password_hash: %v", err)
		}
	} else if err := password.CheckNew(n.Password, name); err != nil {
		return invalid("%s", PasswordProblem(err))
	}
	if n.Phone != "" {
		num, err := s.normalisePhone(n.Phone)
		if err != nil {
			return err
		}
		n.Phone = num
	}
	return nil
}

func (s *Service) normalisePhone(typed string) (string, error) {
	n, err := s.Phones.Normalise(typed)
	if err != nil {
		return "", invalid("phone %q: %v (give a mobile number, e.g. +819012345678, or a national one in IDP_SMS_DEFAULT_REGION)", typed, err)
	}
	return n, nil
}

// PasswordProblem says in plain words why a new password is refused.
func PasswordProblem(err error) string {
	switch {
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("the password has fewer than %d characters", password.MinLength)
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("the password is longer than %d characters", password.MaxLength)
	case errors.Is(err, password.ErrCommon):
		return "the password is one of the most common passwords (found in breaches); choose another"
	case errors.Is(err, password.ErrContext):
		return "the password is too close to the username, or one character repeated; choose another"
	}
	return err.Error()
}

// CreateUser adds a user (CheckNewUser first). Without a phone the user
// gets an invitation link, the only way to enrol a first one.
func (s *Service) CreateUser(ctx context.Context, n NewUser, by string) (*Created, error) {
	if err := s.CheckNewUser(&n); err != nil {
		return nil, err
	}
	hash := n.PasswordHash
	if hash == "" {
		if s.Passwords == nil {
			return nil, errors.New("admin: no password hasher")
		}
		h, err := s.Passwords.Hash(ctx, n.Password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	u := &store.User{Username: n.Username, PasswordHash: hash, Locale: n.Locale}
	var p *store.Phone
	if n.Phone != "" {
		p = &store.Phone{Number: n.Phone}
		if n.PhoneVerified {
			now := s.Store.Now()
			p.VerifiedAt = &now
		}
	}
	if err := s.Store.CreateUser(ctx, u, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("username %q is taken: %w", u.Username, store.ErrConflict)
		}
		return nil, err
	}
	if err := s.audit(ctx, "user.created", u, "", by, ""); err != nil {
		return nil, err
	}
	out := &Created{User: userOf(u, p)}
	if p == nil {
		link, until, err := s.invite(ctx, u, InvitationTTL, by)
		if err != nil {
			return nil, fmt.Errorf("%s was created, but its invitation was not (make one with users invite): %w", u.Username, err)
		}
		out.InvitationURL, out.InvitationExpiresAt = link, &until
	}
	return out, nil
}

// UserChange is what an operator may change of a user directly; the
// rest has its own action (disable, phone, reset link).
type UserChange struct {
	Locale *string `json:"locale"`
}

// UpdateUser applies a change.
func (s *Service) UpdateUser(ctx context.Context, ref string, ch UserChange, by string) (*User, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if ch.Locale != nil {
		if l := *ch.Locale; l != "" && l != "en" && l != "ja" {
			return nil, invalid("locale must be en, ja or empty")
		}
		if err := s.Store.SetUserLocale(ctx, u.ID, *ch.Locale); err != nil {
			return nil, err
		}
		u.Locale = *ch.Locale
		if err := s.audit(ctx, "user.updated", u, "", by, "locale="+*ch.Locale); err != nil {
			return nil, err
		}
	}
	return s.view(ctx, u)
}

// Disable stops a user signing in and ends their sessions, refresh and
// access tokens and logins in progress at once.
func (s *Service) Disable(ctx context.Context, ref, by string) (*User, int, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	changed, n, err := s.Store.DisableUser(ctx, u.ID)
	if err != nil {
		return nil, 0, err
	}
	if changed {
		if err := s.audit(ctx, "user.disabled", u, "", by, fmt.Sprintf("%d sessions ended", n)); err != nil {
			return nil, n, err
		}
	}
	u, err = s.Store.UserByID(ctx, u.ID)
	if err != nil {
		return nil, n, err
	}
	v, err := s.view(ctx, u)
	return v, n, err
}

// Enable lets a disabled user sign in again.
func (s *Service) Enable(ctx context.Context, ref, by string) (*User, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	changed, err := s.Store.EnableUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if changed {
		if err := s.audit(ctx, "user.enabled", u, "", by, ""); err != nil {
			return nil, err
		}
	}
	u.DisabledAt = nil
	return s.view(ctx, u)
}

// Delete removes a user and all of theirs (sessions, tokens, phone,
// codes, links); the audit log keeps its record.
func (s *Service) Delete(ctx context.Context, ref, by string) (*store.User, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		return nil, err
	}
	if _, err := s.Store.ThrottleReset(ctx, idp.UserThrottleKeys(u.Username)...); err != nil {
		return nil, err
	}
	return u, s.audit(ctx, "user.deleted", u, "", by, "")
}

// SetPhone gives a user a number (replacing theirs); verified says the
// operator vouches for it, else the user proves it with the first PIN.
func (s *Service) SetPhone(ctx context.Context, ref, number string, verified bool, by string) (*User, error) {
	if number == "" {
		return nil, invalid("number is required")
	}
	num, err := s.normalisePhone(number)
	if err != nil {
		return nil, err
	}
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetPhone(ctx, u.ID, num, verified); err != nil {
		return nil, err
	}
	detail := "unverified"
	if verified {
		detail = "vouched for"
	}
	if err := s.audit(ctx, "phone.set", u, "", by, detail); err != nil {
		return nil, err
	}
	return s.view(ctx, u)
}

// PhoneCleared is a user without a phone and the invitation link with
// which they enrol a new one.
type PhoneCleared struct {
	Username      string    `json:"username"`
	HadPhone      bool      `json:"had_phone"`
	InvitationURL string    `json:"invitation_url"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// ClearPhone removes a user's number and makes an invitation link: the
// user enrols a new number through it, as a new user would. Their
// sessions end, since the factor they proved is gone.
func (s *Service) ClearPhone(ctx context.Context, ref, by string) (*PhoneCleared, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	had, err := s.Store.ClearPhone(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.RevokeUserSessions(ctx, u.ID); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, "phone.cleared", u, "", by, ""); err != nil {
		return nil, err
	}
	link, until, err := s.invite(ctx, u, InvitationTTL, by)
	if err != nil {
		return nil, err
	}
	return &PhoneCleared{Username: u.Username, HadPhone: had, InvitationURL: link, ExpiresAt: until}, nil
}

func (s *Service) invite(ctx context.Context, u *store.User, ttl time.Duration, by string) (string, time.Time, error) {
	token, l, err := s.Store.CreateLink(ctx, u.ID, store.LinkInvitation, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.audit(ctx, "invitation.created", u, "", by, "valid until "+l.ExpiresAt.Format(time.RFC3339)); err != nil {
		return "", time.Time{}, err
	}
	return idp.InvitationURL(s.Issuer, token), l.ExpiresAt, nil
}

// Invite makes a new invitation link for a user without a phone (an
// older link stops working).
func (s *Service) Invite(ctx context.Context, ref string, ttl time.Duration, by string) (*store.User, string, time.Time, error) {
	if ttl <= 0 {
		ttl = InvitationTTL
	}
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	p, err := s.Store.PhoneOf(ctx, u.ID)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	if p != nil {
		return nil, "", time.Time{}, invalid("%s has a phone already; an invitation is only for enrolling a first one", u.Username)
	}
	link, until, err := s.invite(ctx, u, ttl, by)
	return u, link, until, err
}

// ResetLink makes a single-use link that sets a new password (an older
// link stops working); using it ends every session of the user.
func (s *Service) ResetLink(ctx context.Context, ref string, ttl time.Duration, by string) (*store.User, string, time.Time, error) {
	if ttl == 0 {
		ttl = ResetTTL
	}
	if ttl < 0 || ttl > MaxResetTTL {
		return nil, "", time.Time{}, invalid("a reset link is valid at most 24h: it is as good as the password")
	}
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	token, l, err := s.Store.CreateLink(ctx, u.ID, store.LinkPasswordReset, ttl)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	if err := s.audit(ctx, "password_reset.created", u, "", by, "valid until "+l.ExpiresAt.Format(time.RFC3339)); err != nil {
		return nil, "", time.Time{}, err
	}
	return u, idp.ResetURL(s.Issuer, token), l.ExpiresAt, nil
}

// Session is a user's sign-in session as an operator sees it.
type Session struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen_at"`
	AuthTime  time.Time `json:"auth_time"`
	MFATime   time.Time `json:"mfa_time"`
	Expires   time.Time `json:"expires_at"`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
	AMR       string    `json:"amr"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
}

// Sessions lists a user's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, ref string) ([]Session, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.UserSessions(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := []Session{}
	for _, x := range list {
		out = append(out, Session{ID: x.ID, Created: x.CreatedAt, LastSeen: x.LastSeenAt, AuthTime: x.AuthTime, MFATime: x.MFATime,
			Expires: x.ExpiresAt, UserAgent: x.UserAgent, IP: x.IP, AMR: x.AMR, Username: u.Username, UserID: u.ID})
	}
	return out, nil
}

// EndSessions ends every session of a user (and what they issued).
func (s *Service) EndSessions(ctx context.Context, ref, by string) (int, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return 0, err
	}
	n, err := s.Store.RevokeUserSessions(ctx, u.ID)
	if err != nil {
		return n, err
	}
	return n, s.audit(ctx, "session.ended", u, "", by, fmt.Sprintf("all %d sessions", n))
}

// EndSession ends one session by id.
func (s *Service) EndSession(ctx context.Context, id, by string) (bool, error) {
	sess, err := s.Store.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("no session %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	ended, err := s.Store.RevokeSession(ctx, id)
	if err != nil || !ended {
		return ended, err
	}
	u, _ := s.Store.UserByID(ctx, sess.UserID)
	return true, s.audit(ctx, "session.ended", u, "", by, "session "+id)
}

// Unlock lifts the sign-in throttle of a user's account; it reports
// whether the account was throttled.
func (s *Service) Unlock(ctx context.Context, ref, by string) (*store.User, bool, error) {
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	n, err := s.Store.ThrottleReset(ctx, idp.UserThrottleKeys(u.Username)...)
	if err != nil {
		return nil, false, err
	}
	return u, n > 0, s.audit(ctx, "account.unlocked", u, "", by, "")
}

// Factors an operator may remove (the phone has its own action, which
// issues an invitation).
const (
	FactorRecoveryCodes  = "recovery_codes"
	FactorTrustedDevices = "trusted_devices"
	FactorTOTP           = "totp"
	FactorPasskeys       = "passkeys"
)

// RemoveFactor removes a user's recovery codes, trusted browsers,
// authenticator app or passkeys (a lost phone or key), and reports how
// many went. The user's sessions are left alone: a browser's session does
// not live on the factor it was proven by.
func (s *Service) RemoveFactor(ctx context.Context, ref, factor, by string) (int, error) {
	if factor != FactorRecoveryCodes && factor != FactorTrustedDevices && factor != FactorTOTP && factor != FactorPasskeys {
		return 0, invalid("factor %q: give %s, %s, %s or %s (the phone is cleared with its own action, which makes an invitation)",
			factor, FactorRecoveryCodes, FactorTrustedDevices, FactorTOTP, FactorPasskeys)
	}
	u, err := s.FindUser(ctx, ref)
	if err != nil {
		return 0, err
	}
	var n int
	switch factor {
	case FactorRecoveryCodes:
		left, _, err := s.Store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			return 0, err
		}
		if err := s.Store.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return 0, err
		}
		n = left
		err = s.audit(ctx, "recovery_codes.removed", u, "", by, fmt.Sprintf("%d unused", n))
		return n, err
	case FactorPasskeys:
		keys, err := s.Store.PasskeysOf(ctx, u.ID)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			removed, err := s.Store.RemovePasskey(ctx, u.ID, k.CredentialID)
			if err != nil {
				return n, err
			}
			if removed {
				n++
			}
		}
		return n, s.audit(ctx, "passkey.removed", u, "", by, fmt.Sprintf("all %d, by operator", n))
	case FactorTOTP:
		removed, err := s.Store.RemoveTOTP(ctx, u.ID)
		if err != nil {
			return 0, err
		}
		if removed {
			n = 1
		}
		return n, s.audit(ctx, "totp.removed", u, "", by, "by operator")
	default:
		forgot, err := s.Store.ForgetTrustedDevices(ctx, u.ID, "", "")
		if err != nil {
			return 0, err
		}
		n = int(forgot)
		return n, s.audit(ctx, "trusted_device.forgotten", u, "", by, fmt.Sprintf("all %d", n))
	}
}
