package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/idp/totp"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// The authenticator app (TOTP, RFC 6238): a second factor that is not an
// SMS. It is added on the account page (a QR code and the same key as
// text, then a code to confirm it); at sign-in it stands in for the PIN,
// on a page of its own:
//
//	new -> awaiting_totp -> mfa_ok            (password_totp, totp)
//	awaiting_pin -> awaiting_totp             (choose_totp)
//	awaiting_totp -> awaiting_pin             (choose_sms: a code is sent only now)
//
// The factor a user signed in with last is asked first (User.LastFactor):
// a user of the app gets its page and no SMS. A login with it proves
// pwd, otp and mfa: urn:idp:acr:mfa, not urn:idp:acr:pwd+sms.
//
// Every try is counted against the account and the client network before
// the code is checked, as passwords and recovery codes are; a right code
// is accepted once, by the store's conditional update of the last time
// step (store.UseTOTPStep), so a replay inside the window, or two tabs
// sending one code at once, get one sign-in between them.

// totpRule limits tries at authenticator codes per account: five free,
// then a growing wait. A guess is one in a million, so five and then
// one a half minute, doubling, leave a guesser nowhere.
var totpRule = store.ThrottleRule{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// totpThrottleKey is the throttle key of an account's authenticator codes,
// by its username in normal form: sign-in, set-up and reset share it.
func totpThrottleKey(username string) string {
	sum := sha256.Sum256([]byte("totp\x00" + username))
	return "totp:" + hex.EncodeToString(sum[:16])
}

// hasTOTP reports whether the user has a confirmed authenticator app.
func (s *Server) hasTOTP(ctx context.Context, userID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	t, err := s.store.TOTPOf(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return t.Confirmed(), err
}

// errTOTPWrong: no authenticator (in the state asked for), or a code that
// is none of its codes in the window.
var errTOTPWrong = errors.New("authenticator code not right")

// errTOTPUnreadable: the stored secret does not open under IDP_SECRET or
// IDP_SECRET_OLD (the secret it was sealed under was dropped). No code can
// be checked; the person is sent to another factor, not to an error page.
var errTOTPUnreadable = errors.New("authenticator secret cannot be opened")

// totpTry is one try at an authenticator code: its throttle keys, and
// what the check found.
type totpTry struct {
	keys []string
	wait time.Duration // > 0: refused by the throttle, nothing checked
	step int64         // the time step of a right code
}

// tryTOTP counts a try at user's authenticator code (confirmed or, while
// it is set up, not) and checks it: errTOTPWrong when it is not right; a
// right one's step is still to be accepted, once, by the store. The try
// stays counted unless the caller's step takes it back.
func (s *Server) tryTOTP(ctx context.Context, r *http.Request, user *store.User, typed string, confirmed bool) (*totpTry, error) {
	t := &totpTry{keys: []string{totpThrottleKey(user.Username), networkThrottleKey(s.clientIP(r))}}
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: t.keys[0], Rule: totpRule}, store.ThrottleKey{Key: t.keys[1], Rule: networkRule})
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		t.wait = wait
		return t, nil
	}
	row, err := s.store.TOTPOf(ctx, user.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.Confirmed() != confirmed) {
		return t, errTOTPWrong
	}
	if err != nil {
		s.untry(ctx, t.keys...)
		return nil, err
	}
	secret, stale, err := s.totps.Open(user.ID, row.SecretSealed)
	if err != nil {
		s.untry(ctx, t.keys...)
		s.log.ErrorContext(ctx, "a TOTP secret does not open: was it sealed under an IDP_SECRET no longer set? Keep the old one in IDP_SECRET_OLD", "user_id", user.ID, "err", err)
		return nil, errTOTPUnreadable
	}
	if stale {
		s.reseal(ctx, user.ID, row.SecretSealed, secret)
	}
	// The clock the PIN challenges keep.
	step, ok := totp.Check(secret, typed, s.opt.MFA.Time())
	if !ok {
		return t, errTOTPWrong
	}
	t.step = step
	return t, nil
}

// reseal seals a secret an old IDP_SECRET opened under the current one,
// so that the old one can be dropped once every app was used. Best
// effort: the next use tries again.
func (s *Server) reseal(ctx context.Context, userID, old, secret string) {
	sealed, err := s.totps.Seal(userID, secret)
	if err == nil {
		err = s.store.ResealTOTP(ctx, userID, old, sealed)
	}
	if err != nil {
		s.log.WarnContext(ctx, "reseal a TOTP secret", "err", err)
	}
}

// --- the sign-in page ----------------------------------------------------------

func (s *Server) handleTOTPPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingTOTP)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	page := ui.TOTPPage{Common: s.commonToRP(r, lf), Action: stepURL(pageOf[lf.State], lf.ID), Error: msg,
		Factors: s.otherFactors(r, lf), Actions: s.restartActions(r, lf)}
	if msg == ui.MsgAccountLocked {
		page.WaitMinutes = waitMinutesOf(form)
	}
	s.opt.UI.Render(w, status, page)
}

// handleTOTPSubmit checks the authenticator code of the second step. The
// try is counted first; a right code's step is accepted in the step that
// signs the user in, so of two requests with one code one goes on.
func (s *Server) handleTOTPSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingTOTP)
	if !ok {
		return
	}
	ctx := r.Context()
	typed := r.PostFormValue("totp_code")
	if _, ok := totp.Normalize(typed); !ok {
		// Not the shape of a code: no guess, nothing counted.
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgTOTPInvalid, nil)
		return
	}
	user, err := s.store.UserByID(ctx, deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	ev := store.AuditEvent{Event: "totp.verify", UserID: user.ID, Username: user.Username, ClientID: lf.ClientID, FlowID: lf.ID}
	try, err := s.tryTOTP(ctx, r, user, typed, true)
	switch {
	case errors.Is(err, errTOTPWrong):
		ev.Outcome = "failed"
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgTOTPInvalid, nil)
		return
	case errors.Is(err, errTOTPUnreadable):
		s.render(w, r, lf, http.StatusConflict, ui.MsgTOTPUnreadable, nil)
		return
	case err != nil:
		s.fail(w, r, lf, err)
		return
	case try.wait > 0:
		ev.Outcome = "throttled"
		s.audit(r, ev)
		s.renderLocked(w, r, lf, try.wait, nil)
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, try.keys...) }
		used, err := s.store.UseTOTPStep(ctx, user.ID, try.step)
		if err != nil {
			return err
		}
		if !used {
			// Its step was accepted already: a replay, or the same code
			// sent twice at once. The try stays counted.
			ev.Outcome, ev.Detail = "failed", "code used already"
			st.refuse(ui.MsgTOTPInvalid, http.StatusUnauthorized)
			return s.auditIn(ctx, r, ev)
		}
		return s.secondFactorPassed(ctx, r, st, lf, user.ID, passedFactor{name: store.FactorTOTP, keys: try.keys, amr: amrPasswordOTP, ev: ev,
			move: store.MoveTOTP, phoneMove: store.MoveOldPhoneTOTP})
	})
}

// --- the account page: add and remove ----------------------------------------

// handleTOTPNew begins adding an authenticator app: a new secret, sealed
// and stored unconfirmed (replacing one left half set up), then the page
// that shows it. An account that has one must remove it first.
func (s *Server) handleTOTPNew(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	key, err := totp.New(s.productName(), au.user.Username)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	sealed, err := s.totps.Seal(au.user.ID, key.Secret)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if err := s.store.StartTOTP(ctx, au.user.ID, sealed); errors.Is(err, store.ErrConflict) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
}

// handleTOTPSetupPage shows the secret being set up, as a QR code and as
// text: only to a fresh sign-in, and only until it is confirmed; after
// that it is never shown again.
func (s *Server) handleTOTPSetupPage(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if !s.fresh(au.sess) {
		http.Redirect(w, r, "/account/signin", http.StatusSeeOther)
		return
	}
	s.rememberLang(w, r)
	s.renderTOTPSetup(w, r, au, http.StatusOK, "", nil)
}

func (s *Server) renderTOTPSetup(w http.ResponseWriter, r *http.Request, au *accountUser, status int, msg ui.MsgID, form url.Values) {
	ctx := r.Context()
	row, err := s.store.TOTPOf(ctx, au.user.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.Confirmed()) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	secret, _, err := s.totps.Open(au.user.ID, row.SecretSealed)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	key, err := totp.KeyOf(secret, s.productName(), au.user.Username)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	qr, err := key.QR(200)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	page := ui.TOTPSetupPage{Common: s.accountCommon(r, au.sess), QRCode: qr, Secret: key.Secret, Action: "/account/totp",
		Error: msg, AccountURL: "/account"}
	if msg == ui.MsgAccountLocked {
		page.WaitMinutes = waitMinutesOf(form)
	}
	s.opt.UI.Render(w, status, page)
}

// handleTOTPConfirm confirms the authenticator app being set up with its
// first code: from then on it signs in, and the phone is told.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	typed := r.PostFormValue("totp_code")
	if _, ok := totp.Normalize(typed); !ok {
		s.renderTOTPSetup(w, r, au, http.StatusBadRequest, ui.MsgTOTPInvalid, nil)
		return
	}
	ev := store.AuditEvent{Event: "totp.added", UserID: au.user.ID, Username: au.user.Username, Detail: "on the account page"}
	try, err := s.tryTOTP(ctx, r, au.user, typed, false)
	switch {
	case errors.Is(err, errTOTPWrong):
		ev.Outcome = "failed"
		s.audit(r, ev)
		s.renderTOTPSetup(w, r, au, http.StatusUnauthorized, ui.MsgTOTPInvalid, nil)
		return
	case errors.Is(err, errTOTPUnreadable):
		s.renderTOTPSetup(w, r, au, http.StatusConflict, ui.MsgTOTPUnreadable, nil)
		return
	case err != nil:
		s.fail(w, r, nil, err)
		return
	case try.wait > 0:
		retryAfter(w, try.wait)
		s.renderTOTPSetup(w, r, au, http.StatusTooManyRequests, ui.MsgAccountLocked, url.Values{"wait_minutes": {strconv.Itoa(waitMinutes(try.wait))}})
		return
	}
	var confirmed bool
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if confirmed, err = s.store.ConfirmTOTP(ctx, au.user.ID, try.step); err != nil || !confirmed {
			return err
		}
		if err := s.store.ThrottleSucceeded(ctx, []string{try.keys[0]}, []string{try.keys[1]}); err != nil {
			return err
		}
		// The app just proved to work: the next sign-in asks it first.
		if err := s.store.SetLastFactor(ctx, au.user.ID, store.FactorTOTP); err != nil {
			return err
		}
		ev.Outcome = "ok"
		return s.auditIn(ctx, r, ev)
	})
	if err != nil {
		s.untry(ctx, try.keys...)
		s.fail(w, r, nil, err)
		return
	}
	if !confirmed { // confirmed by a parallel request meanwhile
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	s.notify(r, au.user.ID, "totp-added:"+au.user.ID+":"+strconv.FormatInt(try.step, 10), func(lang string) string {
		return mfa.TOTPAdded(s.productName(), lang)
	})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgTOTPAdded)), http.StatusSeeOther)
}

// handleTOTPRemove removes the authenticator app (a fresh sign-in, as
// every change); the phone is told.
func (s *Server) handleTOTPRemove(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var removed bool
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if removed, err = s.store.RemoveTOTP(ctx, au.user.ID); err != nil || !removed {
			return err
		}
		if au.user.LastFactor == store.FactorTOTP {
			if err := s.store.SetLastFactor(ctx, au.user.ID, store.FactorSMS); err != nil {
				return err
			}
		}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "totp.removed", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username,
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
	s.notify(r, au.user.ID, "totp-removed:"+au.sess.ID+":"+strconv.FormatInt(s.now().Unix(), 10), func(lang string) string {
		return mfa.TOTPRemoved(s.productName(), lang)
	})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgTOTPRemoved)), http.StatusSeeOther)
}
