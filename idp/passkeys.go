package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// Passkeys (WebAuthn, with go-webauthn): a second factor bound to this
// origin, so a look-alike site cannot relay it. One or more are added on
// the account page; at sign-in a passkey stands in for the PIN, on a page
// of its own:
//
//	new -> awaiting_passkey -> mfa_ok     (password_passkey, passkey)
//	awaiting_pin -> awaiting_passkey      (choose_passkey)
//	awaiting_passkey -> awaiting_pin      (choose_sms: a code is sent only now)
//
// The relying party is the issuer: its host is the RP ID, its origin the
// only origin. A ceremony's challenge and options are kept on the server
// (store.Ceremony), one per flow (login) or per session (registration),
// short lived and taken by the answer that uses it, right or wrong: a
// replayed assertion finds no challenge to answer. An assertion counts
// only for the flow's user: its credential must be one of theirs and its
// user handle theirs (go-webauthn's checks against the user we load).
//
// A login with a passkey proves pwd, swk (hwk would need an attestation
// that proves hardware; we ask for none), user when the authenticator saw
// the user present, and mfa (a password and a key); never pin. Its class
// is urn:idp:acr:phr, phishing-resistant.

// ceremonyTTL is how long a WebAuthn ceremony's challenge may be answered.
const ceremonyTTL = 5 * time.Minute

// passkeyNameMax is the longest name a passkey may have, in characters.
const passkeyNameMax = 64

// amrPasskey is what a sign-in with a password and a passkey proves at
// most; the factors list and acr checks use it.
var amrPasskey = []string{"pwd", "swk", "user", "mfa"}

// newWebAuthn makes the relying party of the issuer.
func newWebAuthn(iss *url.URL, name string) (*webauthn.WebAuthn, error) {
	t := webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{RPID: iss.Hostname(), RPDisplayName: name, RPOrigins: []string{iss.Scheme + "://" + iss.Host},
		Timeouts: webauthn.TimeoutsConfig{Login: t, Registration: t}})
	if err != nil {
		return nil, fmt.Errorf("idp: webauthn relying party: %w", err)
	}
	return wa, nil
}

// passkeyUser is a user as go-webauthn sees one: the user handle is the
// user's id (random, not the username), the credentials those stored.
type passkeyUser struct {
	user  *store.User
	rows  []store.Passkey
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.user.ID) }
func (u *passkeyUser) WebAuthnName() string                       { return u.user.Username }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.user.Username }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// row is the stored passkey of a credential id, or nil.
func (u *passkeyUser) row(id []byte) *store.Passkey {
	key := base64.RawURLEncoding.EncodeToString(id)
	for i := range u.rows {
		if u.rows[i].CredentialID == key {
			return &u.rows[i]
		}
	}
	return nil
}

// passkeyUserOf loads a user's passkeys as go-webauthn credentials.
func (s *Server) passkeyUserOf(ctx context.Context, user *store.User) (*passkeyUser, error) {
	rows, err := s.store.PasskeysOf(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{user: user, rows: rows}
	for _, p := range rows {
		id, err := base64.RawURLEncoding.DecodeString(p.CredentialID)
		if err != nil {
			return nil, fmt.Errorf("passkey %q: bad credential id: %w", p.CredentialID, err)
		}
		aaguid, _ := hex.DecodeString(p.AAGUID)
		c := webauthn.Credential{ID: id, PublicKey: p.PublicKey, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
			Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
			Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: uint32(p.SignCount)}}
		for _, t := range strings.Split(p.Transports, ",") {
			if t != "" {
				c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
			}
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// hasPasskey reports whether the user has a passkey.
func (s *Server) hasPasskey(ctx context.Context, userID string) (bool, error) {
	if userID == "" || s.webauthn == nil {
		return false, nil
	}
	return s.store.HasPasskey(ctx, userID)
}

// putCeremony keeps a ceremony's session data for its answer.
func (s *Server) putCeremony(ctx context.Context, id, userID string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("encode webauthn session: %w", err)
	}
	return s.store.PutCeremony(ctx, store.Ceremony{ID: id, UserID: userID, Data: string(data), ExpiresAt: s.store.Now().Add(ceremonyTTL)})
}

// errPasskeyWrong: the answer does not verify for this ceremony and user
// (no live challenge, not this user's credential, a bad signature, a
// counter that went back); why says which, for the audit log only.
type errPasskeyWrong struct{ why string }

func (e *errPasskeyWrong) Error() string { return "passkey not accepted: " + e.why }

// takeCeremony takes the live ceremony id of the user (so it is answered
// once, whatever the answer).
func (s *Server) takeCeremony(ctx context.Context, id, userID string) (*webauthn.SessionData, error) {
	c, err := s.store.TakeCeremony(ctx, id, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &errPasskeyWrong{"no live challenge (expired, used, or never asked)"}
	}
	if err != nil {
		return nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(c.Data), &sd); err != nil {
		return nil, fmt.Errorf("decode webauthn session: %w", err)
	}
	return &sd, nil
}

// writeOptions answers a ceremony's options as JSON, never cached.
func writeOptions(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// --- sign-in -------------------------------------------------------------------

// passkeyRule limits assertions per account. A signature cannot be
// guessed, but each one costs a verification and a forged one is an
// attack: five free, then a growing wait, as for authenticator codes.
var passkeyRule = store.ThrottleRule{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// passkeyThrottleKey is the throttle key of an account's passkey
// assertions, by its username in normal form.
func passkeyThrottleKey(username string) string {
	sum := sha256.Sum256([]byte("passkey\x00" + username))
	return "passkey:" + hex.EncodeToString(sum[:16])
}

func (s *Server) handlePasskeyPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPasskey)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderPasskey(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	page := ui.PasskeyPage{Common: s.commonToRP(r, lf), Action: stepURL(pageOf[lf.State], lf.ID),
		OptionsURL: stepURL("/login/passkey/options", lf.ID), Error: msg, Factors: s.otherFactors(r, lf), Actions: s.restartActions(r, lf)}
	if msg == ui.MsgAccountLocked {
		page.WaitMinutes = waitMinutesOf(form)
	}
	s.opt.UI.Render(w, status, page)
}

// handlePasskeyOptions begins an assertion for the flow's user: a new
// challenge (voiding the flow's last), allowing only their credentials.
func (s *Server) handlePasskeyOptions(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPasskey)
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := s.store.UserByID(ctx, deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	pu, err := s.passkeyUserOf(ctx, user)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if len(pu.creds) == 0 || s.webauthn == nil { // removed since the flow came here
		writeJSONError(w, http.StatusConflict, "no_passkey", "The account has no passkey; choose another way to sign in.")
		return
	}
	assertion, sd, err := s.webauthn.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.fail(w, r, lf, fmt.Errorf("begin passkey login: %w", err))
		return
	}
	if err := s.putCeremony(ctx, "login:"+lf.ID, user.ID, sd); err != nil {
		s.fail(w, r, lf, err)
		return
	}
	writeOptions(w, assertion)
}

// verifyAssertion checks a posted assertion against the flow's ceremony
// and the user's passkeys; the ceremony is used up either way.
func (s *Server) verifyAssertion(ctx context.Context, lf *loginFlow, pu *passkeyUser, raw string) (*webauthn.Credential, *store.Passkey, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(raw))
	if err != nil {
		return nil, nil, &errPasskeyWrong{"not an assertion: " + truncate(err.Error(), 80)}
	}
	sd, err := s.takeCeremony(ctx, "login:"+lf.ID, pu.user.ID)
	if err != nil {
		return nil, nil, err
	}
	cred, err := s.webauthn.ValidateLogin(pu, *sd, parsed)
	if err != nil {
		return nil, nil, &errPasskeyWrong{truncate(protocolDetail(err), 120)}
	}
	row := pu.row(cred.ID)
	if row == nil {
		return nil, nil, &errPasskeyWrong{"not one of the user's credentials"}
	}
	if cred.Authenticator.CloneWarning {
		// The counter did not grow: two copies of one key are in use,
		// or the authenticator is broken. Either way, not this time.
		return nil, nil, &errPasskeyWrong{fmt.Sprintf("signature counter went back (%d after %d): a cloned authenticator?", parsed.Response.AuthenticatorData.Counter, row.SignCount)}
	}
	return cred, row, nil
}

// protocolDetail is the detail of go-webauthn's error, for the log.
func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return err.Error()
}

// amrOfPasskey is what a sign-in with a password and this assertion
// proves (RFC 8176).
func amrOfPasskey(cred *webauthn.Credential) []string {
	// swk: no attestation proves the key is hardware (we ask for none),
	// so hwk is never claimed.
	amr := []string{"pwd", "swk"}
	if cred.Flags.UserPresent {
		amr = append(amr, "user")
	}
	// A password and a key the user holds are two factors; a verified
	// user (biometric or PIN on the device) is one more, never "pin".
	return append(amr, "mfa")
}

// handlePasskeySubmit checks the assertion of the second step and signs
// the user in: of two requests with one assertion, one goes on (the
// ceremony is taken once, the counter advanced once).
func (s *Server) handlePasskeySubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPasskey)
	if !ok {
		return
	}
	ctx := r.Context()
	raw := r.PostFormValue("passkey_assertion")
	if raw == "" || s.webauthn == nil {
		// No script, or a browser without passkeys: nothing was asked.
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgPasskeyInvalid, nil)
		return
	}
	user, err := s.store.UserByID(ctx, deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	pu, err := s.passkeyUserOf(ctx, user)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	ev := store.AuditEvent{Event: "passkey.verify", UserID: user.ID, Username: user.Username, ClientID: lf.ClientID, FlowID: lf.ID}
	// Counted before anything is checked, as passwords and codes are.
	keys := []string{passkeyThrottleKey(user.Username), networkThrottleKey(s.clientIP(r))}
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: keys[0], Rule: passkeyRule}, store.ThrottleKey{Key: keys[1], Rule: networkRule})
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if wait > 0 {
		ev.Outcome = "throttled"
		s.audit(r, ev)
		s.renderLocked(w, r, lf, wait, nil)
		return
	}
	cred, row, err := s.verifyAssertion(ctx, lf, pu, raw)
	var wrong *errPasskeyWrong
	switch {
	case errors.As(err, &wrong):
		ev.Outcome, ev.Detail = "failed", wrong.why
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgPasskeyInvalid, nil)
		return
	case err != nil:
		s.untry(ctx, keys...)
		s.fail(w, r, lf, err)
		return
	}
	flags := cred.Flags
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, keys...) }
		used, err := s.store.UsePasskey(ctx, user.ID, row.CredentialID, row.SignCount, int64(cred.Authenticator.SignCount), false,
			flags.UserVerified, flags.BackupState)
		if err != nil {
			return err
		}
		if !used { // a parallel assertion advanced the counter first
			ev.Outcome, ev.Detail = "failed", "counter advanced meanwhile"
			st.refuse(ui.MsgPasskeyInvalid, http.StatusUnauthorized)
			return s.auditIn(ctx, r, ev)
		}
		amr := amrOfPasskey(cred)
		ev.Detail = row.Name + "; amr=" + strings.Join(amr, " ")
		return s.secondFactorPassed(ctx, r, st, lf, user.ID, passedFactor{name: store.FactorPasskey, keys: keys, amr: amr, ev: ev,
			move: store.MovePasskey, phoneMove: store.MoveOldPhonePasskey})
	})
}

// --- the account page: add, rename, remove -------------------------------------

// handlePasskeyRegisterOptions begins adding a passkey: a new challenge
// for the session (voiding its last), excluding the passkeys the user has.
func (s *Server) handlePasskeyRegisterOptions(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	if s.webauthn == nil {
		writeJSONError(w, http.StatusNotFound, "passkeys_off", "Passkeys are off: the issuer's host is not a domain name.")
		return
	}
	ctx := r.Context()
	pu, err := s.passkeyUserOf(ctx, au.user)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	creation, sd, err := s.webauthn.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		s.fail(w, r, nil, fmt.Errorf("begin passkey registration: %w", err))
		return
	}
	if err := s.putCeremony(ctx, "register:"+au.sess.ID, au.user.ID, sd); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	writeOptions(w, creation)
}

// passkeyName is a typed name, trimmed; ok is false when it is too long
// or not text.
func passkeyName(typed string) (string, bool) {
	name := strings.TrimSpace(typed)
	return name, utf8.ValidString(name) && utf8.RuneCountInString(name) <= passkeyNameMax && !strings.ContainsAny(name, "\x00\r\n")
}

// handlePasskeyRegister stores the new credential the browser made for
// the session's ceremony; the phone is told.
func (s *Server) handlePasskeyRegister(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	back := ui.Action{Label: ui.ActionAccount, URL: "/account"}
	ev := store.AuditEvent{Event: "passkey.added", UserID: au.user.ID, Username: au.user.Username, Detail: "on the account page"}
	refuse := func(why string) {
		ev.Outcome, ev.Detail = "failed", why
		s.audit(r, ev)
		s.errorPage(w, r, http.StatusBadRequest, ui.MsgPasskeyNotAdded, back)
	}
	name, ok := passkeyName(r.PostFormValue("passkey_name"))
	if !ok {
		refuse("name not valid")
		return
	}
	raw := r.PostFormValue("passkey_credential")
	if raw == "" || s.webauthn == nil {
		refuse("no credential from the browser")
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(raw))
	if err != nil {
		refuse("not a credential: " + truncate(err.Error(), 80))
		return
	}
	pu, err := s.passkeyUserOf(ctx, au.user)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	sd, err := s.takeCeremony(ctx, "register:"+au.sess.ID, au.user.ID)
	var wrong *errPasskeyWrong
	if errors.As(err, &wrong) {
		refuse(wrong.why)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	cred, err := s.webauthn.CreateCredential(pu, *sd, parsed)
	if err != nil {
		refuse(truncate(protocolDetail(err), 120))
		return
	}
	if name == "" {
		name = describeAgent(r.UserAgent())
	}
	var transports []string
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	row := &store.Passkey{CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID), UserID: au.user.ID, Name: name,
		PublicKey: cred.PublicKey, SignCount: int64(cred.Authenticator.SignCount), Transports: strings.Join(transports, ","),
		AAGUID: hex.EncodeToString(cred.Authenticator.AAGUID), AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.AddPasskey(ctx, row); err != nil {
			return err
		}
		// The passkey just proved to work: the next sign-in asks it first.
		if err := s.store.SetLastFactor(ctx, au.user.ID, store.FactorPasskey); err != nil {
			return err
		}
		ev.Outcome, ev.Detail = "ok", name+" (on the account page)"
		return s.auditIn(ctx, r, ev)
	})
	if errors.Is(err, store.ErrConflict) {
		refuse("credential registered already")
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.notify(r, au.user.ID, "passkey-added:"+row.CredentialID, func(lang string) string {
		return mfa.PasskeyAdded(s.productName(), lang)
	})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgPasskeyAdded)), http.StatusSeeOther)
}

// handlePasskeyRename renames one of the user's passkeys.
func (s *Server) handlePasskeyRename(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	back := ui.Action{Label: ui.ActionAccount, URL: "/account"}
	name, ok := passkeyName(r.PostFormValue("passkey_name"))
	if !ok || name == "" {
		s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest, back)
		return
	}
	ctx := r.Context()
	var renamed bool
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if renamed, err = s.store.RenamePasskey(ctx, au.user.ID, r.PostFormValue("credential"), name); err != nil || !renamed {
			return err
		}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "passkey.renamed", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username, Detail: name})
	})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if !renamed {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound, back)
		return
	}
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgPasskeyRenamed)), http.StatusSeeOther)
}

// handlePasskeyRemove removes one of the user's passkeys (a fresh
// sign-in, as every change); the phone is told.
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostFormValue("credential")
	var removed bool
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if removed, err = s.store.RemovePasskey(ctx, au.user.ID, id); err != nil || !removed {
			return err
		}
		left, err := s.store.HasPasskey(ctx, au.user.ID)
		if err != nil {
			return err
		}
		if !left && au.user.LastFactor == store.FactorPasskey {
			if err := s.store.SetLastFactor(ctx, au.user.ID, store.FactorSMS); err != nil {
				return err
			}
		}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "passkey.removed", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username,
			Detail: "on the account page"})
	})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if !removed {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound, ui.Action{Label: ui.ActionAccount, URL: "/account"})
		return
	}
	s.notify(r, au.user.ID, "passkey-removed:"+id, func(lang string) string {
		return mfa.PasskeyRemoved(s.productName(), lang)
	})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgPasskeyRemoved)), http.StatusSeeOther)
}
