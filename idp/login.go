package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// amrPasswordSMS is what a completed login proves (RFC 8176): a password,
// an SMS code, and so more than one factor.
var amrPasswordSMS = []string{"pwd", "sms", "mfa"}

// loadFlow reads the flow named by ?flow= and checks that this browser
// began it. On failure it has already answered with an error page.
func (s *Server) loadFlow(w http.ResponseWriter, r *http.Request) (*store.Flow, bool) {
	id := r.URL.Query().Get("flow")
	if id == "" {
		s.errorPage(w, r, http.StatusBadRequest, ui.MsgFlowNotFound)
		return nil, false
	}
	f, err := s.store.Flow(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.errorPage(w, r, http.StatusNotFound, ui.MsgFlowExpired)
			return nil, false
		}
		s.log.ErrorContext(r.Context(), "load login flow", "flow_id", id, "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, ui.MsgTemporarilyUnavailable)
		return nil, false
	}
	browser := s.currentBrowser(r)
	if browser == "" || hashBrowser(browser) != f.BrowserHash {
		s.log.WarnContext(r.Context(), "login flow used from another browser", "flow_id", id)
		s.errorPage(w, r, http.StatusForbidden, ui.MsgFlowNotFound)
		return nil, false
	}
	return f, true
}

// postedFlow is loadFlow for a form post: it also checks the CSRF token.
func (s *Server) postedFlow(w http.ResponseWriter, r *http.Request) (*store.Flow, bool) {
	f, ok := s.loadFlow(w, r)
	if !ok {
		return nil, false
	}
	if !s.csrfOK(r, f.ID) {
		s.log.WarnContext(r.Context(), "bad CSRF token", "flow_id", f.ID)
		s.errorPage(w, r, http.StatusForbidden, ui.MsgCSRF)
		return nil, false
	}
	return f, true
}

// stepOf is the one place that says which page a flow is at; every step
// handler serves only flows at its own page (see at), and next sends the
// browser there. "" is a flow that is done or in no state a page serves.
func stepOf(f *store.Flow) string {
	user := f.UserID != nil
	switch {
	case f.State == store.FlowNew:
		return "/login"
	case f.State == store.FlowPasswordOK && user && f.ChallengeID == nil:
		return "/login/phone" // no number yet: enrol one
	case f.State == store.FlowPasswordOK && user:
		return "/login/pin"
	case f.State == store.FlowMFAOK && user && f.Purpose == store.PurposeLogin:
		return "/login/consent"
	case f.State == store.FlowMFAOK && user && f.Purpose == store.PurposePhoneChange:
		return "/account/phone/new"
	case f.State == store.FlowNewPhone && user && f.ChallengeID != nil && f.Purpose == store.PurposePhoneChange:
		return "/account/phone/verify"
	}
	return ""
}

// next sends the browser to the page of the flow's current step. It is
// how every handler reacts to a flow in another state than it serves.
func (s *Server) next(w http.ResponseWriter, r *http.Request, f *store.Flow) {
	path := stepOf(f)
	if path == "" {
		s.errorPage(w, r, http.StatusConflict, ui.MsgFlowNotFound)
		return
	}
	http.Redirect(w, r, stepURL(path, f.ID), http.StatusSeeOther)
}

// at loads the flow of a step handler serving page: named by ?flow=,
// begun by this browser, with its CSRF token on a post, and at that page;
// a flow elsewhere is sent to its own page and at reports false.
func (s *Server) at(w http.ResponseWriter, r *http.Request, page string) (*store.Flow, bool) {
	load := s.loadFlow
	if r.Method == http.MethodPost {
		load = s.postedFlow
	}
	f, ok := load(w, r)
	if !ok {
		return nil, false
	}
	if stepOf(f) != page {
		s.next(w, r, f)
		return nil, false
	}
	return f, true
}

func (s *Server) common(r *http.Request, f *store.Flow) ui.Common {
	lang := s.lang(r, f)
	return ui.Common{
		Lang:      lang,
		CSRFToken: s.csrfToken(f.ID, s.currentBrowser(r)),
		LangLinks: ui.LangLinks(r, lang),
		RequestID: requestID(r),
	}
}

// commonToRP is common for a page whose form post can end in a redirect
// to the RP (the PIN page when consent is not needed, the consent page):
// browsers apply CSP form-action to the redirects after a post, so the
// RP's origin must be allowed there.
func (s *Server) commonToRP(r *http.Request, f *store.Flow) ui.Common {
	c := s.common(r, f)
	if u := redirectURIOf(f, nil); u != "" {
		c.RedirectURIs = []string{u}
	}
	return c
}

// lang picks the page language: an explicit choice on the language switch
// (remembered in a cookie), then the RP's ui_locales, then the browser's
// Accept-Language, then the operator's default.
func (s *Server) lang(r *http.Request, f *store.Flow) string {
	if l, ok := ui.ParseLang(r.URL.Query().Get("lang")); ok {
		return l
	}
	if c, err := r.Cookie("idp_lang"); err == nil {
		if l, ok := ui.ParseLang(c.Value); ok {
			return l
		}
	}
	uiLocales := ""
	if f != nil {
		if q, err := url.ParseQuery(f.RequestQuery); err == nil {
			uiLocales = q.Get("ui_locales")
		}
	}
	return ui.MatchLang(uiLocales, r.Header.Get("Accept-Language"), s.opt.DefaultLocale)
}

// rememberLang keeps a language chosen on the switch for later pages.
func (s *Server) rememberLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := ui.ParseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: "idp_lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
}

// --- password -------------------------------------------------------------

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login")
	if !ok {
		return
	}
	s.rememberLang(w, r)
	hint := ""
	if q, err := url.ParseQuery(f.RequestQuery); err == nil {
		hint = q.Get("login_hint")
	}
	s.renderLogin(w, r, f, hint, "", http.StatusOK)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, f *store.Flow, username string, msg ui.MsgID, status int) {
	s.renderLoginWait(w, r, f, username, msg, status, 0)
}

func (s *Server) renderLoginWait(w http.ResponseWriter, r *http.Request, f *store.Flow, username string, msg ui.MsgID, status int, wait time.Duration) {
	common := s.common(r, f)
	if wait > 0 {
		common.WaitMinutes = max(int((wait+time.Minute-1)/time.Minute), 1)
	}
	s.opt.UI.Render(w, status, ui.LoginPage{
		Common:   common,
		Action:   stepURL("/login", f.ID),
		Username: username,
		Error:    msg,
	})
}

func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login")
	if !ok {
		return
	}
	ctx := r.Context()
	username := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	if username == "" || pw == "" {
		s.renderLogin(w, r, f, username, ui.MsgMissingCredentials, http.StatusBadRequest)
		return
	}
	acct, nets := AccountThrottleKey(username), networkThrottleKey(s.clientIP(r))
	wait, err := s.store.ThrottleWait(ctx, acct, nets)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if wait > 0 {
		// Refused before any hash is computed: a locked account costs the
		// attacker a round trip and us nothing.
		s.audit(r, store.AuditEvent{Event: "login.password", Outcome: "throttled", Username: username, ClientID: f.ClientID, FlowID: f.ID})
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.renderLoginWait(w, r, f, username, ui.MsgAccountLocked, http.StatusTooManyRequests, wait)
		return
	}
	user, err := s.checkPassword(ctx, username, pw)
	if err != nil {
		if errors.Is(err, password.ErrMismatch) {
			s.log.InfoContext(ctx, "login failed", "flow_id", f.ID, "reason", "bad credentials")
			s.stats.add("password_failed")
			n, terr := s.store.ThrottleFail(ctx, acct, throttleForget, accountDelay)
			if _, nerr := s.store.ThrottleFail(ctx, nets, throttleForget, networkDelay); terr == nil {
				terr = nerr
			}
			if terr != nil {
				s.log.ErrorContext(ctx, "count failed sign-in", "err", terr)
			}
			detail := ""
			if accountDelay(n) >= throttleMaxWait {
				detail = "account temporarily locked"
			}
			s.audit(r, store.AuditEvent{Event: "login.password", Outcome: "failed", Username: username, ClientID: f.ClientID, FlowID: f.ID, Detail: detail})
			s.renderLogin(w, r, f, username, ui.MsgInvalidCredentials, http.StatusUnauthorized)
			return
		}
		s.log.ErrorContext(ctx, "check password", "flow_id", f.ID, "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, ui.MsgTemporarilyUnavailable)
		return
	}
	if _, err := s.store.ThrottleReset(ctx, acct); err != nil {
		s.log.WarnContext(ctx, "reset sign-in throttle", "err", err)
	}
	s.audit(r, store.AuditEvent{Event: "login.password", Outcome: "ok", UserID: user.ID, Username: user.Username, ClientID: f.ClientID, FlowID: f.ID})
	// The flow moves on bound to a new browser id (see newBrowserID).
	fresh := s.newBrowserID(w)
	if err := s.store.AdvanceFlow(ctx, f.ID, store.FlowNew, store.FlowPasswordOK, map[string]any{
		"user_id": user.ID, "amr": "pwd", "browser_hash": hashBrowser(fresh),
	}); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	f.State, f.UserID = store.FlowPasswordOK, &user.ID
	s.sendPIN(w, r, f, user)
}

// sendPIN sends the PIN of a flow whose password is checked (or spared by
// a session): to the user's number, or, for a user with none, by way of
// the enrolment page.
func (s *Server) sendPIN(w http.ResponseWriter, r *http.Request, f *store.Flow, user *store.User) {
	ctx := r.Context()
	phone, err := s.store.PhoneOf(ctx, user.ID)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if phone == nil && f.Purpose == store.PurposePhoneChange {
		s.errorPage(w, r, http.StatusConflict, ui.MsgNoPhone)
		return
	}
	if phone == nil {
		// No number yet: the user enrols one, proven by the same PIN step.
		http.Redirect(w, r, stepURL("/login/phone", f.ID), http.StatusSeeOther)
		return
	}
	s.startChallenge(w, r, f, user, phone.Number)
}

// checkPassword verifies a username and password. An unknown username
// costs one hash too and fails with the same error as a wrong password,
// so neither the answer nor its timing tells which accounts exist.
func (s *Server) checkPassword(ctx context.Context, username, pw string) (*store.User, error) {
	user, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.opt.Passwords.VerifyNothing(ctx, pw)
	}
	if err != nil {
		return nil, err
	}
	if err := s.opt.Passwords.Verify(ctx, user.PasswordHash, pw); err != nil {
		return nil, err
	}
	if s.opt.Passwords.NeedsRehash(user.PasswordHash) {
		if h, err := s.opt.Passwords.Hash(ctx, pw); err == nil {
			if err := s.store.SetPasswordHash(ctx, user.ID, h); err != nil {
				s.log.WarnContext(ctx, "rehash password", "err", err)
			}
		}
	}
	return user, nil
}

// startChallenge sends a PIN to number for the flow and shows the PIN page.
func (s *Server) startChallenge(w http.ResponseWriter, r *http.Request, f *store.Flow, user *store.User, number string) {
	ctx := r.Context()
	c, err := s.opt.MFA.Start(ctx, mfa.StartRequest{FlowID: f.ID, UserID: user.ID, Phone: number, Locale: s.lang(r, f), ClientIP: s.clientIP(r)})
	ev := store.AuditEvent{Event: "pin.sent", Outcome: "ok", UserID: user.ID, Username: user.Username, ClientID: f.ClientID, FlowID: f.ID,
		Detail: mfa.Masked(number)}
	var limited *mfa.RateLimitError
	if errors.As(err, &limited) {
		ev.Outcome, ev.Detail = "refused", ev.Detail+": send limit per "+limited.Scope
		s.audit(r, ev)
		s.rateLimitedPage(w, r, f, limited)
		return
	}
	if errors.Is(err, mfa.ErrPhoneInvalid) {
		// The number is vetted at every send (the allow-list may have
		// changed since an operator registered it).
		ev.Outcome, ev.Detail = "refused", ev.Detail+": number not allowed"
		s.audit(r, ev)
		s.log.WarnContext(ctx, "no PIN sent: number refused", "flow_id", f.ID, "err", err)
		s.errorPage(w, r, http.StatusForbidden, messageFor(err))
		return
	}
	if err != nil {
		ev.Outcome = "failed"
	}
	s.audit(r, ev)
	if c == nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if err := s.store.SetFlowChallenge(ctx, f.ID, c.ID); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	target := stepURL("/login/pin", f.ID)
	if err != nil {
		target += "&sent=failed"
	} else {
		target += "&sent=1"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// rateLimitedPage tells the user that no code was sent and when one can
// be (a refused first send: there is no code to type yet).
func (s *Server) rateLimitedPage(w http.ResponseWriter, r *http.Request, f *store.Flow, e *mfa.RateLimitError) {
	s.log.WarnContext(r.Context(), "no PIN sent: send limit reached", "flow_id", f.ID, "scope", e.Scope, "retry_after", e.RetryAfter)
	lang := s.lang(r, f)
	w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())+1))
	s.opt.UI.Render(w, http.StatusTooManyRequests, ui.ErrorPage{
		Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r), WaitMinutes: waitMinutes(e)},
		Msg:    ui.MsgSMSRateLimited, Status: http.StatusTooManyRequests,
	})
}

// waitMinutes rounds a wait up to whole minutes, never zero.
func waitMinutes(e *mfa.RateLimitError) int {
	return max(int((e.RetryAfter+time.Minute-1)/time.Minute), 1)
}

// stepFailed answers an error in a step: a flow another request moved on
// goes to its current step, anything else to the error page.
func (s *Server) stepFailed(w http.ResponseWriter, r *http.Request, f *store.Flow, err error) {
	ctx := r.Context()
	if errors.Is(err, store.ErrFlowMoved) {
		if cur, lerr := s.store.Flow(ctx, f.ID); lerr == nil {
			s.next(w, r, cur)
			return
		}
	}
	s.log.ErrorContext(ctx, "login step failed", "flow_id", f.ID, "state", string(f.State), "err", err)
	status := http.StatusInternalServerError
	if messageFor(err) == ui.MsgTemporarilyUnavailable || isDBUnavailable(err) {
		status = http.StatusServiceUnavailable
	}
	msg := messageFor(err)
	if status == http.StatusServiceUnavailable {
		msg = ui.MsgTemporarilyUnavailable
	}
	s.errorPage(w, r, status, msg)
}

// --- phone enrolment --------------------------------------------------------

func (s *Server) handlePhonePage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/phone")
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.opt.UI.Render(w, http.StatusOK, ui.PhonePage{Common: s.commonToRP(r, f), Action: stepURL("/login/phone", f.ID)})
}

func (s *Server) handlePhoneSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/phone")
	if !ok {
		return
	}
	ctx := r.Context()
	// Only a user with no number may enrol one here; changing a number is
	// a separate, stronger procedure.
	if p, err := s.store.PhoneOf(ctx, *f.UserID); err != nil || p != nil {
		if err == nil {
			err = errors.New("user already has a phone")
		}
		s.stepFailed(w, r, f, err)
		return
	}
	number, err := s.opt.MFA.Phones.Normalise(r.PostFormValue("phone"))
	if err != nil {
		s.log.InfoContext(ctx, "phone refused at enrolment", "flow_id", f.ID, "err", err)
		s.opt.UI.Render(w, http.StatusBadRequest, ui.PhonePage{Common: s.commonToRP(r, f), Action: stepURL("/login/phone", f.ID),
			Phone: r.PostFormValue("phone"), Error: messageFor(err)})
		return
	}
	user, err := s.store.UserByID(ctx, *f.UserID)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	s.startChallenge(w, r, f, user, number)
}

// --- PIN -------------------------------------------------------------------

// pinPath is where a flow's PIN form posts: the login's PIN, or the new
// number's PIN in a phone change.
func pinPath(f *store.Flow) string {
	if f.State == store.FlowNewPhone {
		return "/account/phone/verify"
	}
	return "/login/pin"
}

func (s *Server) handlePINPage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/pin")
	if !ok {
		return
	}
	s.showPIN(w, r, f)
}

// showPIN shows a flow's PIN page as reached by a redirect: ?sent= says
// whether the last send went out.
func (s *Server) showPIN(w http.ResponseWriter, r *http.Request, f *store.Flow) {
	s.rememberLang(w, r)
	var notice, errMsg ui.MsgID
	switch r.URL.Query().Get("sent") {
	case "again":
		notice = ui.MsgPINResent
	case "failed":
		errMsg = ui.MsgSMSUnavailable
	}
	s.renderPIN(w, r, f, http.StatusOK, errMsg, notice)
}

func (s *Server) renderPIN(w http.ResponseWriter, r *http.Request, f *store.Flow, status int, errMsg, notice ui.MsgID) {
	s.renderPINPage(w, r, f, status, errMsg, notice, 0)
}

// renderPINWait shows the PIN page with an error that says how many
// minutes to wait.
func (s *Server) renderPINWait(w http.ResponseWriter, r *http.Request, f *store.Flow, status int, errMsg ui.MsgID, minutes int) {
	s.renderPINPage(w, r, f, status, errMsg, "", minutes)
}

func (s *Server) renderPINPage(w http.ResponseWriter, r *http.Request, f *store.Flow, status int, errMsg, notice ui.MsgID, minutes int) {
	c, err := s.opt.MFA.Get(r.Context(), *f.ChallengeID)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	common := s.commonToRP(r, f)
	common.WaitMinutes = minutes
	s.opt.UI.Render(w, status, ui.PINPage{
		Common:          common,
		Action:          stepURL(pinPath(f), f.ID),
		ResendAction:    stepURL(pinPath(f)+"/resend", f.ID),
		MaskedPhone:     mfa.Masked(c.Phone),
		CodeLength:      s.opt.MFA.Policy.CodeLength,
		ResendInSeconds: int((s.opt.MFA.ResendIn(c) + time.Second - 1) / time.Second),
		ResendsLeft:     s.opt.MFA.ResendsLeft(c),
		Error:           errMsg,
		Notice:          notice,
	})
}

func (s *Server) handlePINSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/pin")
	if !ok {
		return
	}
	ctx := r.Context()
	code := r.PostFormValue("code")
	c, err := s.opt.MFA.Verify(ctx, *f.ChallengeID, code)
	if err == nil && (c.FlowID != f.ID || c.UserID != *f.UserID) {
		err = mfa.ErrNotFound // a challenge of another login never counts
	}
	if err != nil {
		s.pinRejected(w, r, f, err)
		return
	}
	// The number is proven: enrol or verify it.
	confirmed, err := s.store.ConfirmPhone(ctx, *f.UserID, c.Phone)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if confirmed != store.PhoneAlreadyVerified {
		s.audit(r, store.AuditEvent{Event: "phone." + string(confirmed), Outcome: "ok", UserID: *f.UserID, FlowID: f.ID, Detail: mfa.Masked(c.Phone)})
	}
	now := s.store.Now()
	set := map[string]any{"amr": strings.Join(amrPasswordSMS, " "), "auth_time": now}
	if f.Purpose == store.PurposeLogin {
		// The browser is signed in from here on: a new session after a full
		// login, or the same one with a fresh PIN time.
		if f.SessionID != nil {
			if err := s.store.TouchSession(ctx, *f.SessionID, now); err != nil {
				s.stepFailed(w, r, f, err)
				return
			}
		} else {
			sess, err := s.startSession(w, r, f, now)
			if err != nil {
				s.stepFailed(w, r, f, err)
				return
			}
			set["session_id"] = sess.ID
			f.SessionID = &sess.ID
		}
	}
	if err := s.store.AdvanceFlow(ctx, f.ID, store.FlowPasswordOK, store.FlowMFAOK, set); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	s.log.InfoContext(ctx, "second factor verified", "flow_id", f.ID)
	s.audit(r, store.AuditEvent{Event: "pin.verify", Outcome: "ok", UserID: *f.UserID, ClientID: f.ClientID, FlowID: f.ID})
	f.State = store.FlowMFAOK
	s.next(w, r, f)
}

// pinRejected answers a PIN that did not verify.
func (s *Server) pinRejected(w http.ResponseWriter, r *http.Request, f *store.Flow, err error) {
	ctx := r.Context()
	msg := messageFor(err)
	outcome := map[ui.MsgID]string{ui.MsgPINInvalid: "failed", ui.MsgPINExpired: "expired", ui.MsgTooManyAttempts: "exhausted"}[msg]
	if outcome == "" {
		outcome = "error"
	}
	s.audit(r, store.AuditEvent{Event: "pin.verify", Outcome: outcome, UserID: deref(f.UserID), ClientID: f.ClientID, FlowID: f.ID})
	switch msg {
	case ui.MsgPINInvalid, ui.MsgPINExpired:
		s.log.InfoContext(ctx, "pin rejected", "flow_id", f.ID, "reason", err.Error())
		s.renderPIN(w, r, f, http.StatusUnauthorized, msg, "")
	case ui.MsgTooManyAttempts:
		s.log.WarnContext(ctx, "pin attempts exhausted", "flow_id", f.ID)
		s.errorPage(w, r, http.StatusUnauthorized, msg)
	default:
		s.stepFailed(w, r, f, err)
	}
}

func (s *Server) handlePINResend(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/pin")
	if !ok {
		return
	}
	s.resend(w, r, f, stepURL("/login/pin", f.ID))
}

// resend sends a new code for the flow's challenge and returns to its PIN
// page at back.
func (s *Server) resend(w http.ResponseWriter, r *http.Request, f *store.Flow, back string) {
	_, err := s.opt.MFA.Resend(r.Context(), *f.ChallengeID, s.lang(r, f), s.clientIP(r))
	var limited *mfa.RateLimitError
	if errors.As(err, &limited) {
		s.log.WarnContext(r.Context(), "resend refused by a send limit", "flow_id", f.ID, "scope", limited.Scope)
		s.renderPINWait(w, r, f, http.StatusTooManyRequests, ui.MsgSMSRateLimited, waitMinutes(limited))
		return
	}
	if err != nil {
		msg := messageFor(err)
		if msg == ui.MsgServerError {
			s.stepFailed(w, r, f, err)
			return
		}
		status := http.StatusTooManyRequests
		if msg == ui.MsgSMSUnavailable {
			status = http.StatusServiceUnavailable
		}
		s.renderPIN(w, r, f, status, msg, "")
		return
	}
	http.Redirect(w, r, back+"&sent=again", http.StatusSeeOther)
}

// --- consent and the authorize response --------------------------------------

func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/consent")
	if !ok {
		return
	}
	ctx := r.Context()
	client, err := s.store.Client(ctx, f.ClientID)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	requested := requestedScopes(f)
	need, err := s.consentNeeded(ctx, f)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if !need {
		s.finish(w, r, f, true)
		return
	}
	s.rememberLang(w, r)
	common := s.commonToRP(r, f)
	s.opt.UI.Render(w, http.StatusOK, ui.ConsentPage{
		Common: common, Action: stepURL("/login/consent", f.ID),
		ClientName: client.Name, ClientID: client.GetID(), LogoURL: client.LogoURI, Scopes: requested,
	})
}

func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/login/consent")
	if !ok {
		return
	}
	if r.PostFormValue("consent") != "allow" {
		s.finish(w, r, f, false)
		return
	}
	if err := s.store.GrantConsent(r.Context(), *f.UserID, f.ClientID, requestedScopes(f)); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	s.finish(w, r, f, true)
}

// consentNeeded reports whether the user must be asked before the client
// gets the scopes of the flow: not for a first-party client, nor when an
// earlier grant covers them, unless the RP asked with prompt=consent.
func (s *Server) consentNeeded(ctx context.Context, f *store.Flow) (bool, error) {
	client, err := s.store.Client(ctx, f.ClientID)
	if err != nil {
		return false, err
	}
	if promptHas(f, "consent") {
		return true, nil
	}
	if client.FirstParty {
		return false, nil
	}
	granted, err := s.store.ConsentedScopes(ctx, *f.UserID, f.ClientID)
	if err != nil {
		return false, err
	}
	return !covers(granted, requestedScopes(f)), nil
}

// finish answers the RP's authorize request. It is the only place that
// issues an authorization code, and only for a flow it moves from mfa_ok
// (password and PIN both checked) to done in one conditional update, so a
// flow yields at most one response and never one without the PIN.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, f *store.Flow, allow bool) {
	ctx := r.Context()
	if f.Purpose != store.PurposeLogin {
		s.stepFailed(w, r, f, errors.New("finish: not a login flow"))
		return
	}
	if err := s.store.AdvanceFlow(ctx, f.ID, store.FlowMFAOK, store.FlowDone, nil); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	// Rebuild the authorize request from what was stored: fosite checks
	// it again (the client may have changed since), and it keeps the time
	// the RP asked, which prompt and max_age are judged against.
	orig := r.Clone(ctx)
	orig.Method = http.MethodGet
	orig.URL = &url.URL{Path: "/oauth2/auth", RawQuery: f.RequestQuery}
	orig.Form, orig.PostForm, orig.Body, orig.ContentLength = nil, nil, http.NoBody, 0
	orig.Header = r.Header.Clone()
	orig.Header.Del("Content-Type")
	ar, err := s.oauth.NewAuthorizeRequest(ctx, orig)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = f.RequestedAt
	}
	if !allow {
		s.audit(r, store.AuditEvent{Event: "consent", Outcome: "denied", UserID: deref(f.UserID), ClientID: f.ClientID, FlowID: f.ID})
		s.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user declined the request."))
		return
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	user, err := s.store.UserByID(ctx, *f.UserID)
	if err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	session := s.sessionFor(f, user)
	if err := s.addRequestedClaims(r, ar, user, session); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		err = unavailable(err) // the RP is told to try again, not that we broke
		rfc := fosite.ErrorToRFC6749Error(err)
		s.log.ErrorContext(ctx, "authorize response", "flow_id", f.ID, "error", rfc.ErrorField, "debug", rfc.DebugField)
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	s.log.InfoContext(ctx, "login completed", "flow_id", f.ID, "client_id", f.ClientID)
	s.audit(r, store.AuditEvent{Event: "login.completed", Outcome: "ok", UserID: user.ID, Username: user.Username, ClientID: f.ClientID,
		FlowID: f.ID, Detail: "amr=" + f.AMR})
	s.stats.add("login_completed")
	s.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// sessionFor is the fosite session of a completed login: the ID token
// claims the RP can check (OIDC Core 2, RFC 8176).
func (s *Server) sessionFor(f *store.Flow, u *store.User) *openid.DefaultSession {
	authTime := authTimeOf(f).Truncate(time.Second)
	extra := map[string]any{}
	if f.SessionID != nil {
		extra["sid"] = *f.SessionID // ties the tokens to the session, for logout
	}
	return &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{
			Subject:                         u.ID,
			AuthTime:                        authTime,
			RequestedAt:                     f.RequestedAt.Truncate(time.Second),
			AuthenticationMethodsReferences: strings.Fields(f.AMR),
			// Only a password and a PIN complete a flow, so the class is
			// always ours (OIDC Core 2, acr).
			AuthenticationContextClassReference: ACRPasswordSMS,
			Extra:                               extra,
		},
		Headers:  &jwt.Headers{Extra: map[string]any{}},
		Subject:  u.ID,
		Username: u.Username,
	}
}

// addRequestedClaims puts into the ID token the standard claims the RP
// asked for there with the claims parameter (OIDC Core 5.5), as far as the
// scopes the user granted release them; the rest stays at userinfo.
func (s *Server) addRequestedClaims(r *http.Request, ar fosite.AuthorizeRequester, u *store.User, sess *openid.DefaultSession) error {
	raw := ar.GetRequestForm().Get("claims")
	if raw == "" {
		return nil
	}
	var req struct {
		IDToken map[string]json.RawMessage `json:"id_token"`
	}
	if json.Unmarshal([]byte(raw), &req) != nil || len(req.IDToken) == 0 {
		return nil // malformed or nothing for the ID token: ignored, as OIDC Core 5.5 allows
	}
	available, err := s.userClaims(r, u, ar.GetGrantedScopes())
	if err != nil {
		return err
	}
	for name := range req.IDToken {
		if v, ok := available[name]; ok && name != "sub" {
			sess.Claims.Extra[name] = v
		}
	}
	return nil
}

func requestedScopes(f *store.Flow) []string {
	q, _ := url.ParseQuery(f.RequestQuery)
	return strings.Fields(q.Get("scope"))
}

func promptHas(f *store.Flow, v string) bool {
	q, _ := url.ParseQuery(f.RequestQuery)
	for _, p := range strings.Fields(q.Get("prompt")) {
		if p == v {
			return true
		}
	}
	return false
}

func redirectURIOf(f *store.Flow, c *store.Client) string {
	q, _ := url.ParseQuery(f.RequestQuery)
	if u := q.Get("redirect_uri"); u != "" {
		return u
	}
	if c != nil && len(c.GetRedirectURIs()) > 0 {
		return c.GetRedirectURIs()[0]
	}
	return ""
}

func covers(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
