package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/ui"
)

// Passwordless sign-in (IDP_PASSKEY_PASSWORDLESS, off by default): the
// sign-in page offers, beside the password, "Sign in with a passkey". A
// passkey that verified its user (the UV flag: fingerprint, face, device
// PIN) is a key held and a user verified, two factors, so it stands for
// both the password and the SMS step:
//
//	new -> mfa_ok     (passkey_passwordless)
//
// The options name no credential (a discoverable assertion) and require
// user verification; the challenge is kept on the server for the flow,
// taken by the first answer, right or wrong. The assertion's user handle
// (the user's id) names the account; its credential must be one of
// theirs (go-webauthn checks both against the user we load). A passkey
// that did not verify its user is refused with its own message: the
// password is the way then. Tries are counted before anything is
// verified: by network at once, by account once the handle names one.
//
// Such a sign-in proves swk, user and mfa (RFC 8176): never pwd, never
// hwk (no attestation proves hardware). Its class is urn:idp:acr:phr.

// amrPasswordless is what a passwordless sign-in proves.
var amrPasswordless = []string{"swk", "user", "mfa"}

// passwordlessCeremony is the id of a flow's passwordless ceremony.
func passwordlessCeremony(lf *loginFlow) string { return "passwordless:" + lf.ID }

// passwordlessOffered reports whether the flow's sign-in page offers a
// passkey alone: when the operator turned it on, passkeys work on this
// issuer, the flow signs in (an app, the account page, a device) and the
// RP takes what such a sign-in proves.
func (s *Server) passwordlessOffered(lf *loginFlow) bool {
	if !s.opt.PasskeyPasswordless || s.webauthn == nil || lf.State != store.FlowNew {
		return false
	}
	if _, ok := store.LookupMove(store.MovePasskeyPasswordless, lf.State, lf.Purpose); !ok {
		return false
	}
	return lf.req.acceptsAMR(amrPasswordless)
}

// handlePasswordlessOptions begins a discoverable assertion for the flow,
// voiding its last.
func (s *Server) handlePasswordlessOptions(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowNew)
	if !ok {
		return
	}
	if !s.passwordlessOffered(lf) {
		writeJSONError(w, http.StatusNotFound, "passwordless_off", "Signing in with a passkey alone is not offered here; use the password.")
		return
	}
	assertion, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		s.fail(w, r, lf, fmt.Errorf("begin passwordless login: %w", err))
		return
	}
	// No user yet: the ceremony belongs to the flow alone.
	if err := s.putCeremony(r.Context(), passwordlessCeremony(lf), "", sd); err != nil {
		s.fail(w, r, lf, err)
		return
	}
	writeOptions(w, assertion)
}

// errPasskeyUnverified: the assertion's authenticator did not verify its
// user, so it cannot replace the password.
var errPasskeyUnverified = errors.New("the authenticator did not verify the user (no UV flag)")

// handlePasswordlessSubmit checks a discoverable assertion and signs its
// user in: of two requests with one assertion, one goes on (the ceremony
// is taken once, the counter advanced once).
func (s *Server) handlePasswordlessSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowNew)
	if !ok {
		return
	}
	if !s.passwordlessOffered(lf) {
		s.render(w, r, lf, http.StatusNotFound, ui.MsgInvalidRequest, nil)
		return
	}
	ctx := r.Context()
	raw := r.PostFormValue("passkey_assertion")
	if raw == "" || len(raw) > 64<<10 || !utf8.ValidString(raw) {
		// No script, or a browser without passkeys: nothing was asked.
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgPasskeyInvalid, nil)
		return
	}
	ev := store.AuditEvent{Event: "passkey.verify", ClientID: lf.ClientID, FlowID: lf.ID, Detail: "passwordless"}
	refuse := func(status int, msg ui.MsgID, why string, form url.Values) {
		ev.Outcome, ev.Detail = "failed", "passwordless: "+why
		if status == http.StatusTooManyRequests {
			ev.Outcome, ev.Detail = "throttled", "passwordless"
		}
		s.audit(r, ev)
		s.render(w, r, lf, status, msg, form)
	}
	// Counted by network before anything is parsed or verified, as
	// passwords are; by account once the assertion names one.
	nets := networkThrottleKey(s.clientIP(r))
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: nets, Rule: networkRule})
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if wait > 0 {
		retryAfter(w, wait)
		refuse(http.StatusTooManyRequests, ui.MsgAccountLocked, "", url.Values{"wait_minutes": {strconv.Itoa(waitMinutes(wait))}})
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(raw))
	if err != nil {
		refuse(http.StatusUnauthorized, ui.MsgPasskeyInvalid, "not an assertion: "+truncate(err.Error(), 80), nil)
		return
	}
	// The challenge is used up by this answer, whatever it is.
	sd, err := s.takeCeremony(ctx, passwordlessCeremony(lf), "")
	var wrong *errPasskeyWrong
	if errors.As(err, &wrong) {
		refuse(http.StatusUnauthorized, ui.MsgPasskeyInvalid, wrong.why, nil)
		return
	} else if err != nil {
		s.untry(ctx, nets)
		s.fail(w, r, lf, err)
		return
	}
	handle := string(parsed.Response.UserHandle)
	if handle == "" || !printable(handle) || len(handle) > 128 {
		refuse(http.StatusUnauthorized, ui.MsgPasskeyInvalid, "no user handle (not a discoverable credential)", nil)
		return
	}
	user, err := s.store.UserByID(ctx, handle)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadInput) {
		refuse(http.StatusUnauthorized, ui.MsgPasskeyInvalid, "the user handle names no user", nil)
		return
	} else if err != nil {
		s.untry(ctx, nets)
		s.fail(w, r, lf, err)
		return
	}
	ev.UserID, ev.Username = user.ID, user.Username
	acct := passkeyThrottleKey(user.Username)
	if wait, err = s.store.ThrottleTry(ctx, store.ThrottleKey{Key: acct, Rule: passkeyRule}); err != nil {
		s.untry(ctx, nets)
		s.fail(w, r, lf, err)
		return
	}
	if wait > 0 {
		retryAfter(w, wait)
		refuse(http.StatusTooManyRequests, ui.MsgAccountLocked, "", url.Values{"wait_minutes": {strconv.Itoa(waitMinutes(wait))}})
		return
	}
	keys := []string{acct, nets}
	cred, row, err := s.verifyPasswordless(ctx, user, sd, parsed)
	switch {
	case errors.Is(err, errPasskeyUnverified):
		refuse(http.StatusUnauthorized, ui.MsgPasskeyUnverified, err.Error(), nil)
		return
	case errors.As(err, &wrong):
		refuse(http.StatusUnauthorized, ui.MsgPasskeyInvalid, wrong.why, nil)
		return
	case err != nil:
		s.untry(ctx, keys...)
		s.fail(w, r, lf, err)
		return
	}
	disabled := ev
	disabled.Outcome = "disabled"
	if s.refuseDisabled(w, r, lf, user, disabled, nil) {
		return
	}
	flags := cred.Flags
	browser := newBrowserID()
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, keys...) }
		used, err := s.store.UsePasskey(ctx, user.ID, row.CredentialID, row.SignCount, int64(cred.Authenticator.SignCount), false,
			flags.UserVerified, flags.BackupState)
		if err != nil {
			return err
		}
		if !used { // a parallel assertion advanced the counter first
			ev.Outcome, ev.Detail = "failed", "passwordless: counter advanced meanwhile"
			st.refuse(ui.MsgPasskeyInvalid, http.StatusUnauthorized)
			return s.auditIn(ctx, r, ev)
		}
		if err := s.store.ThrottleSucceeded(ctx, []string{acct}, []string{nets}); err != nil {
			return err
		}
		if err := s.store.SetLastFactor(ctx, user.ID, store.FactorPasskey); err != nil {
			return err
		}
		ev.Outcome, ev.Detail = "ok", "passwordless"
		if err := s.auditIn(ctx, r, ev); err != nil {
			return err
		}
		now := s.store.Now()
		sess, cookie, err := s.startSession(ctx, r, user.ID, now, amrPasswordless)
		if err != nil {
			return err
		}
		st.cookies = append(st.cookies, cookie, s.browserCookie(browser))
		s.log.InfoContext(ctx, "passwordless sign-in", "flow_id", lf.ID, "credential", row.Name)
		return s.store.Move(ctx, lf.Flow, store.MovePasskeyPasswordless, map[string]any{"user_id": user.ID,
			"amr": strings.Join(amrPasswordless, " "), "auth_time": now, "session_id": sess.ID, "browser_hash": hashBrowser(browser)})
	})
}

// verifyPasswordless checks a discoverable assertion against the flow's
// ceremony and the passkeys of the user its handle names.
func (s *Server) verifyPasswordless(ctx context.Context, user *store.User, sd *webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (*webauthn.Credential, *store.Passkey, error) {
	pu, err := s.passkeyUserOf(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	row := pu.row(parsed.RawID)
	if row == nil {
		return nil, nil, &errPasskeyWrong{"not one of the user's credentials"}
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, nil, errPasskeyUnverified
	}
	sd.UserID = []byte(user.ID) // the handle named them; go-webauthn checks it again
	cred, err := s.webauthn.ValidateLogin(pu, *sd, parsed)
	if err != nil {
		return nil, nil, &errPasskeyWrong{truncate(protocolDetail(err), 120)}
	}
	if cred.Authenticator.CloneWarning {
		return nil, nil, &errPasskeyWrong{fmt.Sprintf("signature counter went back (%d after %d): a cloned authenticator?", parsed.Response.AuthenticatorData.Counter, row.SignCount)}
	}
	return cred, row, nil
}
