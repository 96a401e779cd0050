package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/ui"
)

// --- password -------------------------------------------------------------

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowNew)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	common := s.commonToRP(r, lf)
	username := lf.req.LoginHint
	if form != nil {
		username = form.Get("username")
		if msg == ui.MsgAccountLocked {
			common.WaitMinutes, _ = strconv.Atoi(form.Get("wait_minutes"))
		}
	}
	page := ui.LoginPage{Common: common, Action: stepURL("/login", lf.ID), Username: username, Error: msg}
	switch lf.Purpose {
	case store.PurposeLogin:
		page.Actions, page.ForgotURL = s.restartActions(r, lf), "/password/forgot"
	case store.PurposeEnrol:
		page.For, page.Actions = ui.LoginForEnrol, s.restartActions(r, lf)
	case store.PurposeAccount:
		page.For, page.ForgotURL = ui.LoginForAccount, "/password/forgot"
	case store.PurposePhoneChange:
		page.For, page.ForgotURL = ui.LoginForPhoneChange, "/password/forgot"
	case store.PurposeDevice:
		page.For, page.Actions, page.ForgotURL = ui.LoginForDevice, s.restartActions(r, lf), "/password/forgot"
	}
	if s.passwordlessOffered(lf) {
		page.PasskeyAction, page.PasskeyOptionsURL = stepURL("/login/passwordless", lf.ID), stepURL("/login/passwordless/options", lf.ID)
	}
	s.opt.UI.Render(w, status, page)
}

// handleLoginSubmit checks a username and password. The try is counted
// by the throttle before any hash is computed; a right password moves the
// flow on, bound to a new browser id, to the PIN (a code reserved in the
// same transaction and sent after it), to enrolment, or to the page that
// says the code could not be sent yet.
func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowNew)
	if !ok {
		return
	}
	ctx := r.Context()
	typed := r.PostFormValue("username")
	pw := r.PostFormValue("password")
	form := url.Values{"username": {typed}}
	switch {
	case !printable(typed) || len(typed) > 256 || len(pw) > 1024 || !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
		// No account is named so, and no password typed so: refused
		// before anything is counted or stored.
		form.Set("username", "")
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgInvalidCredentials, form)
		return
	case strings.TrimSpace(typed) == "" || pw == "":
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgMissingCredentials, form)
		return
	}
	// One spelling per account ("Alice", "ａｌｉｃｅ" and "alice" are one):
	// the lookup and the throttle key both use it, so another spelling is
	// not another allowance. A name with no normal form names no account.
	username, err := store.NormalizeUsername(typed)
	if err != nil {
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgInvalidCredentials, form)
		return
	}
	acct, nets := AccountThrottleKey(username), networkThrottleKey(s.clientIP(r))
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: acct, Rule: accountRule}, store.ThrottleKey{Key: nets, Rule: networkRule})
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	if wait > 0 {
		// Refused before any hash is computed: a locked account costs the
		// attacker a round trip and us nothing.
		s.audit(r, store.AuditEvent{Event: "login.password", Outcome: "throttled", Username: username, ClientID: lf.ClientID, FlowID: lf.ID})
		s.renderLocked(w, r, lf, wait, form)
		return
	}
	user, rehash, err := s.checkPassword(ctx, username, pw)
	if errors.Is(err, password.ErrMismatch) {
		s.log.InfoContext(ctx, "login failed", "flow_id", lf.ID, "reason", "bad credentials")
		s.stats.add("password_failed")
		// The try was counted already; it stays counted.
		s.audit(r, store.AuditEvent{Event: "login.password", Outcome: "failed", Username: username, ClientID: lf.ClientID, FlowID: lf.ID})
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgInvalidCredentials, form)
		return
	}
	if err != nil {
		s.untry(ctx, acct, nets)
		s.fail(w, r, lf, err)
		return
	}
	if s.refuseDisabled(w, r, lf, user, store.AuditEvent{Event: "login.password", Outcome: "disabled", UserID: user.ID,
		Username: user.Username, ClientID: lf.ClientID, FlowID: lf.ID}, form) {
		return
	}
	// The flow moves on bound to a new browser id: an id seen or planted
	// before the login (session fixation) is worth nothing after it.
	browser := newBrowserID()
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, acct, nets) }
		if err := s.store.ThrottleSucceeded(ctx, []string{acct}, []string{nets}); err != nil {
			return err
		}
		if rehash != "" {
			if err := s.store.SetPasswordHash(ctx, user.ID, rehash); err != nil {
				return err
			}
		}
		if err := s.auditIn(ctx, r, store.AuditEvent{Event: "login.password", Outcome: "ok", UserID: user.ID, Username: user.Username,
			ClientID: lf.ClientID, FlowID: lf.ID}); err != nil {
			return err
		}
		s.stats.add("password_ok")
		set := map[string]any{"user_id": user.ID, "amr": "pwd", "browser_hash": hashBrowser(browser)}
		trusted, err := s.trustedFor(ctx, r, lf, user.ID)
		switch {
		case err != nil:
		case lf.Purpose == store.PurposeEnrol:
			err = s.enrolPassword(ctx, r, st, user, set)
		case trusted:
			err = s.skipSecondFactor(ctx, r, st, store.MovePasswordTrusted, s.store.Now(), set)
		default:
			err = s.secondFactor(ctx, r, st, user, passwordMoves, set)
		}
		if err == nil && lf.State != store.FlowNew {
			// Only a flow that moved is bound to the new id; one refused
			// here stays with the browser's current one.
			st.cookies = append(st.cookies, s.browserCookie(browser))
		}
		return err
	})
}

// untry takes back a password try that failed for want of the database,
// not of the password: an outage must not lock people out afterwards. It
// is best effort (the database may still be away).
func (s *Server) untry(ctx context.Context, keys ...string) {
	if err := s.store.ThrottleSucceeded(ctx, nil, keys); err != nil {
		s.log.WarnContext(ctx, "take back a sign-in try", "err", err)
	}
}

// checkPassword verifies a username and password. An unknown username
// costs one hash too and fails with the same error as a wrong password,
// so neither the answer nor its timing tells which accounts exist. When
// the stored hash is outdated, rehash is the password hashed anew.
func (s *Server) checkPassword(ctx context.Context, username, pw string) (_ *store.User, rehash string, _ error) {
	user, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", s.opt.Passwords.VerifyNothing(ctx, pw)
	}
	if err != nil {
		return nil, "", err
	}
	if err := s.opt.Passwords.Verify(ctx, user.PasswordHash, pw); err != nil {
		return nil, "", err
	}
	if s.opt.Passwords.NeedsRehash(user.PasswordHash) {
		if h, err := s.opt.Passwords.Hash(ctx, pw); err == nil {
			rehash = h
		} else {
			s.log.WarnContext(ctx, "rehash password", "err", err)
		}
	}
	return user, rehash, nil
}

// renderLocked answers a try refused by a throttle: the page says how
// long to wait, and Retry-After says it to machines.
func (s *Server) renderLocked(w http.ResponseWriter, r *http.Request, lf *loginFlow, wait time.Duration, form url.Values) {
	if form == nil {
		form = url.Values{}
	}
	retryAfter(w, wait)
	form.Set("wait_minutes", strconv.Itoa(waitMinutes(wait)))
	s.render(w, r, lf, http.StatusTooManyRequests, ui.MsgAccountLocked, form)
}

// retryAfter sets Retry-After to a wait, rounded up to whole seconds.
func retryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}

// refuseDisabled answers a proof of identity (a password, a passkey, a
// reset's first proof) for an account the operator disabled: a page that
// says so and its audit event. It is said only to whoever gave the proof:
// to anyone else a disabled account looks like any other.
func (s *Server) refuseDisabled(w http.ResponseWriter, r *http.Request, lf *loginFlow, user *store.User, ev store.AuditEvent, form url.Values) bool {
	if !user.Disabled() {
		return false
	}
	s.audit(r, ev)
	s.render(w, r, lf, http.StatusForbidden, ui.MsgAccountDisabled, form)
	return true
}

// printable reports whether s is text a person can type: valid UTF-8
// without control characters. Anything else in a form field is junk,
// refused before it reaches the database.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
