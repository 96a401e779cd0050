package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/recovery"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/idp/totp"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// Password resets, in flows of their own with no client. Two things the
// user has prove a self-service reset: a recovery code, then a PIN sent
// to the verified phone; SMS alone never resets a password (a swapped
// SIM would take the account); the code of an authenticator app serves
// as the first as well as a recovery code, and so does a passkey's
// assertion (passkey_reset.go). A user with none of them asks the
// operator, whose link (idp users reset-password) is the proof instead:
//
//	new -> awaiting_reset_code -> awaiting_pin -> awaiting_new_password -> done
//	(forgot)    (username, recovery code)  (PIN)          (new password)
//	            (username, passkey: reset_passkey)
//	new -> awaiting_new_password -> done
//	(reset_link)
//
// Setting the password ends every session of the user, forgets their
// trusted browsers, lifts the sign-in throttle, and tells the phone.

// ResetURL is the link a password reset token opens on issuer.
func ResetURL(issuer, token string) string {
	return strings.TrimSuffix(issuer, "/") + "/password/reset?" + url.Values{"token": {token}}.Encode()
}

// handleResetLink opens an operator's reset link: a live one begins a
// reset at the new password; any other says to ask again, or to use a
// recovery code.
func (s *Server) handleResetLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	link, err := s.store.LinkByToken(ctx, store.LinkPasswordReset, r.URL.Query().Get("token"))
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, r, http.StatusGone, ui.MsgResetLinkInvalid, ui.Action{Label: ui.ActionForgotPassword, URL: "/password/forgot"})
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.startReset(w, r, &link.ID, func(ctx context.Context, f *store.Flow) error {
		return s.store.Move(ctx, f, store.MoveResetLink, map[string]any{"user_id": link.UserID})
	})
}

// handleForgot begins a self-service reset in this browser.
func (s *Server) handleForgot(w http.ResponseWriter, r *http.Request) {
	s.startReset(w, r, nil, func(ctx context.Context, f *store.Flow) error {
		return s.store.Move(ctx, f, store.MoveForgot, nil)
	})
}

// startReset makes a reset flow bound to this browser and its first
// move, in one transaction, and sends the browser to its page.
func (s *Server) startReset(w http.ResponseWriter, r *http.Request, linkID *string, first func(ctx context.Context, f *store.Flow) error) {
	browser := s.browserID(w, r)
	now := s.store.Now()
	f := &store.Flow{Purpose: store.PurposeReset, BrowserHash: hashBrowser(browser), RequestedAt: now, ExpiresAt: now.Add(s.opt.LoginFlowTTL),
		LinkID: linkID}
	err := s.store.InTx(r.Context(), func(ctx context.Context) error {
		if err := s.store.CreateFlow(ctx, f); err != nil {
			return err
		}
		return first(ctx, f)
	})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, stepURL(pageOf[f.State], f.ID), http.StatusSeeOther)
}

// --- forgot password: the username and a recovery code ---------------------

func (s *Server) handleForgotPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingResetCode)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderForgot(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	page := ui.ForgotPage{Common: s.common(r, lf), Action: stepURL(pageOf[lf.State], lf.ID), Error: msg, Actions: s.restartActions(r, lf)}
	if s.webauthn != nil {
		page.PasskeyAction = stepURL("/password/forgot/passkey", lf.ID)
		page.PasskeyOptionsURL = stepURL("/password/forgot/passkey/options", lf.ID)
	}
	if form != nil {
		page.Username = form.Get("username")
		page.WaitMinutes = waitMinutesOf(form)
	}
	s.opt.UI.Render(w, status, page)
}

// handleForgotSubmit checks a username and the first proof: one of its
// recovery codes, or the code of its authenticator app. The try is
// counted before the check, as at sign-in. A right code is used up (a
// recovery code) or its time step accepted (an authenticator code), and
// a PIN goes to the account's verified phone; an account without one is
// told to ask the operator. A wrong username and a wrong code look the
// same.
func (s *Server) handleForgotSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingResetCode)
	if !ok {
		return
	}
	ctx := r.Context()
	typed := r.PostFormValue("username")
	form := url.Values{"username": {typed}}
	username, err := store.NormalizeUsername(typed)
	typedCode := r.PostFormValue("recovery_code")
	code, isRecovery := recovery.Parse(typedCode)
	_, isTOTP := totp.Normalize(typedCode)
	if err != nil || !(isRecovery || isTOTP) || !printable(typed) || len(typed) > 256 {
		// No account or no code is named so: refused before anything is counted.
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgResetRefused, form)
		return
	}
	if !isRecovery {
		s.forgotWithTOTP(w, r, lf, username, typedCode, form)
		return
	}
	ev := store.AuditEvent{Event: "recovery_code.used", Username: username, FlowID: lf.ID, Detail: "password reset"}
	keys := []store.ThrottleKey{{Key: recoveryThrottleKey(username), Rule: recoveryRule}, {Key: networkThrottleKey(s.clientIP(r)), Rule: networkRule}}
	wait, err := s.store.ThrottleTry(ctx, keys...)
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
	if errors.Is(err, store.ErrNotFound) {
		err = s.opt.Passwords.VerifyNothing(ctx, code.Secret) // the same cost as a known name
		if err == nil || errors.Is(err, password.ErrMismatch) {
			err = errRecoveryCodeWrong
		}
	} else if err == nil {
		ev.UserID = user.ID
		err = s.checkRecoveryCode(ctx, user.ID, code)
	}
	if errors.Is(err, errRecoveryCodeWrong) {
		ev.Outcome = "failed"
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgResetRefused, form)
		return
	}
	if err != nil {
		s.untry(ctx, keys[0].Key, keys[1].Key)
		s.fail(w, r, lf, err)
		return
	}
	s.resetSecondProof(w, r, lf, user, ev, form, []string{keys[0].Key, keys[1].Key}, func(ctx context.Context) (bool, error) {
		// Used up now: every PIN this reset sends costs a code.
		return s.store.UseRecoveryCode(ctx, user.ID, code.ID)
	})
}

// forgotWithTOTP is handleForgotSubmit for an authenticator code: the
// try counted first, against the same allowance as at sign-in.
func (s *Server) forgotWithTOTP(w http.ResponseWriter, r *http.Request, lf *loginFlow, username, typed string, form url.Values) {
	ctx := r.Context()
	ev := store.AuditEvent{Event: "totp.verify", Username: username, FlowID: lf.ID, Detail: "password reset"}
	user, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// Counted as a known name's try would be: a name's allowance does
		// not tell whether it exists.
		user, err = &store.User{Username: username}, nil
	}
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	ev.UserID = user.ID
	try, err := s.tryTOTP(ctx, r, user, typed, true)
	switch {
	case errors.Is(err, errTOTPWrong):
		ev.Outcome = "failed"
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgResetRefused, form)
		return
	case errors.Is(err, errTOTPUnreadable):
		s.render(w, r, lf, http.StatusConflict, ui.MsgTOTPUnreadable, form)
		return
	case err != nil:
		s.fail(w, r, lf, err)
		return
	case try.wait > 0:
		ev.Outcome = "throttled"
		s.audit(r, ev)
		s.renderLocked(w, r, lf, try.wait, form)
		return
	}
	s.resetSecondProof(w, r, lf, user, ev, form, try.keys, func(ctx context.Context) (bool, error) {
		return s.store.UseTOTPStep(ctx, user.ID, try.step)
	})
}

// resetSecondProof goes on from a right first proof of a reset: use
// takes it (false: a parallel request took it first), and a PIN goes to
// the verified phone for the second; without one the operator is the way.
func (s *Server) resetSecondProof(w http.ResponseWriter, r *http.Request, lf *loginFlow, user *store.User, ev store.AuditEvent, form url.Values,
	keys []string, use func(ctx context.Context) (bool, error)) {
	s.resetSecondProofBy(w, r, lf, user, ev, form, keys, "otp", store.MoveResetCode, store.MoveResetRefused, use)
}

// resetSecondProofBy is resetSecondProof for a first proof that says amr
// and moves by sent (a PIN on its way) or refused (it could not be sent).
func (s *Server) resetSecondProofBy(w http.ResponseWriter, r *http.Request, lf *loginFlow, user *store.User, ev store.AuditEvent, form url.Values,
	keys []string, amr string, sent, refused store.MoveName, use func(ctx context.Context) (bool, error)) {
	phone, err := s.store.PhoneOf(r.Context(), user.ID)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if !phone.Verified() {
		// The second proof cannot be had: the operator's link is the way.
		ev.Outcome, ev.Detail = "refused", "password reset: no verified phone"
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusForbidden, ui.MsgResetNeedsOperator, form)
		return
	}
	// Every first proof of a reset comes through here: a disabled
	// account gets no PIN and no new password.
	disabled := ev
	disabled.Outcome, disabled.Detail = "refused", "password reset: account disabled"
	if s.refuseDisabled(w, r, lf, user, disabled, form) {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, keys...) }
		used, err := use(ctx)
		if err != nil {
			return err
		}
		if !used {
			st.form = form
			st.refuse(ui.MsgResetRefused, http.StatusUnauthorized)
			ev.Outcome, ev.Detail = "failed", "password reset: code used already"
			return s.auditIn(ctx, r, ev)
		}
		if err := s.store.ThrottleSucceeded(ctx, keys[:1], keys[1:]); err != nil {
			return err
		}
		ev.Outcome = "ok"
		if err := s.auditIn(ctx, r, ev); err != nil {
			return err
		}
		set := map[string]any{"user_id": user.ID, "amr": amr}
		p, refusal, retryAt, err := s.reserve(ctx, r, lf, user, phone.Number, phone.Verified())
		if err != nil {
			return err
		}
		if p == nil {
			set["refusal"], set["retry_at"] = refusal, retryAt
			return s.store.Move(ctx, lf.Flow, refused, set)
		}
		st.send = p
		set["challenge_id"] = p.Challenge.ID
		return s.store.Move(ctx, lf.Flow, sent, set)
	})
}

// resetPIN is the PIN step of a self-service reset: with the recovery
// code before it, both proofs are in.
func (s *Server) resetPIN(ctx context.Context, st *step) error {
	amr := "otp sms"
	if st.lf.AMR == "swk" {
		amr = "swk sms"
	}
	return s.store.Move(ctx, st.lf.Flow, store.MoveResetPIN, map[string]any{"amr": amr, "auth_time": s.store.Now()})
}

// --- the new password ----------------------------------------------------------

func (s *Server) handleNewPasswordPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPassword)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderNewPassword(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID) {
	user, err := s.store.UserByID(r.Context(), deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	s.opt.UI.Render(w, status, ui.NewPasswordPage{Common: s.common(r, lf), Action: stepURL(pageOf[lf.State], lf.ID),
		Username: user.Username, Error: msg, Actions: s.restartActions(r, lf)})
}

// handleNewPasswordSubmit sets the new password of a proven reset, in one
// transaction with everything it ends: the link (used up, or the step
// fails when another browser used it first), every session of the user
// and the sign-in throttle. The phone is told afterwards.
func (s *Server) handleNewPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPassword)
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := s.store.UserByID(ctx, deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	hash, msg := s.newPasswordHash(ctx, r, user.Username)
	if msg != "" {
		s.render(w, r, lf, http.StatusBadRequest, msg, nil)
		return
	}
	by := "recovery code or authenticator code, and PIN"
	if lf.LinkID != nil {
		by = "operator's link"
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		if lf.LinkID != nil {
			used, err := s.store.UseLink(ctx, *lf.LinkID)
			if err != nil {
				return err
			}
			if !used {
				return errResetLinkUsed
			}
		}
		if err := s.setPassword(ctx, r, user, hash, "password.reset", by); err != nil {
			return err
		}
		ended, err := s.store.RevokeUserSessions(ctx, user.ID)
		if err != nil {
			return err
		}
		if _, err := s.store.ForgetTrustedDevices(ctx, user.ID, "", ""); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "password reset", "flow_id", lf.ID, "sessions_ended", ended)
		return s.store.Move(ctx, lf.Flow, store.MoveNewPassword, nil)
	})
	if lf.State == store.FlowDone {
		s.notify(r, user.ID, "password-reset:"+lf.ID, func(lang string) string { return mfa.PasswordReset(s.productName(), lang) })
	}
}

// errResetLinkUsed: the flow's reset link was used meanwhile (or replaced).
var errResetLinkUsed = errors.New("the reset link was used, replaced or has expired")

// newPasswordHash checks a new password typed twice on a form and hashes
// it; or it says what is wrong with it.
func (s *Server) newPasswordHash(ctx context.Context, r *http.Request, username string) (string, ui.MsgID) {
	pw, again := r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	switch {
	case pw == "":
		return "", ui.MsgPasswordTooShort
	case pw != again:
		return "", ui.MsgPasswordMismatch
	case !printable(pw) || strings.ContainsRune(pw, 0):
		return "", ui.MsgPasswordInvalid
	}
	switch err := password.CheckNew(pw, username); {
	case errors.Is(err, password.ErrTooShort):
		return "", ui.MsgPasswordTooShort
	case errors.Is(err, password.ErrTooLong):
		return "", ui.MsgPasswordTooLong
	case errors.Is(err, password.ErrCommon):
		return "", ui.MsgPasswordCommon
	case err != nil:
		return "", ui.MsgPasswordWeak
	}
	hash, err := s.opt.Passwords.Hash(ctx, pw)
	if err != nil {
		s.log.ErrorContext(ctx, "hash a new password", "err", err)
		return "", ui.MsgServerError
	}
	return hash, ""
}

// setPassword stores a user's new password hash, lifts the sign-in
// throttle (the password it guarded is gone) and records event, in the
// transaction ctx carries.
func (s *Server) setPassword(ctx context.Context, r *http.Request, u *store.User, hash, event, detail string) error {
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	if err := s.store.ThrottleSucceeded(ctx, []string{AccountThrottleKey(u.Username)}, nil); err != nil {
		return err
	}
	return s.auditIn(ctx, r, store.AuditEvent{Event: event, Outcome: "ok", UserID: u.ID, Username: u.Username, Detail: detail})
}
