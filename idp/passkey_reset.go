package idp

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"context"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/ui"
)

// A passkey as the first proof of a forgotten-password reset, instead of
// a recovery code or an authenticator code; the PIN to the verified phone
// is still the second. The options name no credential (a discoverable
// assertion) and are the same for every username, known or not, with a
// passkey or not, as the forgot page answers every wrong username and
// code alike; the challenge is kept only for a user who has passkeys, so
// any other answer finds none. A passkey that is not discoverable (a
// security key that keeps no credential) cannot be offered here.

// handleForgotPasskeyOptions begins the reset's assertion for the typed
// username, voiding the flow's last.
func (s *Server) handleForgotPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingResetCode)
	if !ok {
		return
	}
	if s.webauthn == nil {
		writeJSONError(w, http.StatusConflict, "no_passkey", "Passkeys are off on this server.")
		return
	}
	ctx := r.Context()
	assertion, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.fail(w, r, lf, fmt.Errorf("begin passkey reset: %w", err))
		return
	}
	typed := r.PostFormValue("username")
	if username, err := store.NormalizeUsername(typed); err == nil && printable(typed) && len(typed) <= 256 {
		user, err := s.store.UserByUsername(ctx, username)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			s.fail(w, r, lf, err)
			return
		default:
			has, err := s.hasPasskey(ctx, user.ID)
			if err != nil {
				s.fail(w, r, lf, err)
				return
			}
			if has {
				sd.UserID = []byte(user.ID)
				if err := s.putCeremony(ctx, "reset:"+lf.ID, user.ID, sd); err != nil {
					s.fail(w, r, lf, err)
					return
				}
			}
		}
	}
	writeOptions(w, assertion)
}

// handleForgotPasskey checks the username and its passkey's assertion,
// counted first as at sign-in; a right one is accepted once (its
// ceremony taken, its counter advanced) and a PIN goes to the phone.
func (s *Server) handleForgotPasskey(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingResetCode)
	if !ok {
		return
	}
	ctx := r.Context()
	typed := r.PostFormValue("username")
	form := url.Values{"username": {typed}}
	username, err := store.NormalizeUsername(typed)
	raw := r.PostFormValue("passkey_assertion")
	if err != nil || raw == "" || s.webauthn == nil || !printable(typed) || len(typed) > 256 {
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgResetRefused, form)
		return
	}
	ev := store.AuditEvent{Event: "passkey.verify", Username: username, FlowID: lf.ID, Detail: "password reset"}
	keys := []string{passkeyThrottleKey(username), networkThrottleKey(s.clientIP(r))}
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: keys[0], Rule: passkeyRule}, store.ThrottleKey{Key: keys[1], Rule: networkRule})
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if wait > 0 {
		ev.Outcome = "throttled"
		s.audit(r, ev)
		s.renderLocked(w, r, lf, wait, form)
		return
	}
	user, err := s.store.UserByUsername(ctx, username)
	var pu *passkeyUser
	var cred *webauthn.Credential
	var row *store.Passkey
	if errors.Is(err, store.ErrNotFound) {
		err = &errPasskeyWrong{"no such user"}
	} else if err == nil {
		ev.UserID = user.ID
		pu, err = s.passkeyUserOf(ctx, user)
		if err == nil {
			cred, row, err = s.verifyResetAssertion(ctx, lf, pu, raw)
		}
	}
	var wrong *errPasskeyWrong
	switch {
	case errors.As(err, &wrong):
		ev.Outcome, ev.Detail = "failed", "password reset: "+wrong.why
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgResetRefused, form)
		return
	case err != nil:
		s.untry(ctx, keys...)
		s.fail(w, r, lf, err)
		return
	}
	ev.Detail = "password reset: " + row.Name
	flags := cred.Flags
	s.resetSecondProofBy(w, r, lf, user, ev, form, keys, "swk", store.MoveResetPasskey, store.MoveResetPasskeyRefused, func(ctx context.Context) (bool, error) {
		return s.store.UsePasskey(ctx, user.ID, row.CredentialID, row.SignCount, int64(cred.Authenticator.SignCount), false,
			flags.UserVerified, flags.BackupState)
	})
}

// verifyResetAssertion is verifyAssertion for the reset's ceremony: the
// assertion must carry the named user's handle.
func (s *Server) verifyResetAssertion(ctx context.Context, lf *loginFlow, pu *passkeyUser, raw string) (*webauthn.Credential, *store.Passkey, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(raw))
	if err != nil {
		return nil, nil, &errPasskeyWrong{"not an assertion: " + truncate(err.Error(), 80)}
	}
	sd, err := s.takeCeremony(ctx, "reset:"+lf.ID, pu.user.ID)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(parsed.Response.UserHandle, []byte(pu.user.ID)) {
		return nil, nil, &errPasskeyWrong{"the user handle is not the named user's"}
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
		return nil, nil, &errPasskeyWrong{fmt.Sprintf("signature counter went back (%d after %d): a cloned authenticator?", parsed.Response.AuthenticatorData.Counter, row.SignCount)}
	}
	return cred, row, nil
}
