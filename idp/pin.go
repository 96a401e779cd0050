package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// amrPasswordSMS is what a completed login proves (RFC 8176): a password,
// an SMS code, and so more than one factor.
var amrPasswordSMS = []string{"pwd", "sms", "mfa"}

// --- phone enrolment --------------------------------------------------------

func (s *Server) handlePhonePage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPhone)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderPhone(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	page := ui.PhonePage{Common: s.commonToRP(r, lf), Action: stepURL(pageOf[lf.State], lf.ID), Error: msg,
		Actions: s.restartActions(r, lf), Change: lf.State == store.FlowAwaitingNewPhone,
		National: strings.EqualFold(s.opt.MFA.Phones.DefaultRegion, "JP")}
	if form != nil {
		page.Phone = form.Get("phone")
		if msg == ui.MsgSMSRateLimited {
			page.WaitMinutes = waitMinutesOf(form)
		}
	}
	s.opt.UI.Render(w, status, page)
}

// handlePhoneSubmit enrols a first number: a code goes to it, and the PIN
// step proves it. A refused send keeps the page, saying why; so does an
// invitation used meanwhile, before any SMS.
func (s *Server) handlePhoneSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPhone)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		if _, err := s.liveLink(ctx, lf); errors.Is(err, errLinkUsed) {
			st.refuse(ui.MsgInvitationInvalid, http.StatusGone)
			return nil
		} else if err != nil {
			return err
		}
		user, err := s.store.UserByID(ctx, *lf.UserID)
		if err != nil {
			return err
		}
		return s.sendToNewNumber(ctx, r, st, user, "", store.MovePhoneEntered)
	})
}

// sendToNewNumber reserves a code to the number typed on a phone page and
// makes move; the number must differ from old (a phone change). A number
// refused, or a send refused, keeps the page with the reason.
func (s *Server) sendToNewNumber(ctx context.Context, r *http.Request, st *step, user *store.User, old string, move store.MoveName) error {
	lf := st.lf
	typed := r.PostFormValue("phone")
	st.form = url.Values{"phone": {typed}}
	number, err := s.opt.MFA.Phones.Normalise(typed)
	if err != nil || !printable(typed) {
		s.log.InfoContext(ctx, "phone refused", "flow_id", lf.ID, "err", err)
		st.refuse(messageFor(err), http.StatusBadRequest)
		return nil
	}
	if number == old {
		st.refuse(ui.MsgPhoneSame, http.StatusBadRequest)
		return nil
	}
	p, refusal, retryAt, err := s.reserve(ctx, r, lf, user, number, false)
	if err != nil {
		return err
	}
	if p == nil {
		switch refusal {
		case "number":
			st.refuse(ui.MsgPhoneNotAllowed, http.StatusForbidden)
		case "held":
			st.refuse(ui.MsgSMSHeld, http.StatusServiceUnavailable)
		default:
			st.form.Set("wait_minutes", strconv.Itoa(waitMinutes(retryAt.Sub(s.opt.MFA.Time()))))
			st.refuse(ui.MsgSMSRateLimited, http.StatusTooManyRequests)
		}
		return nil
	}
	st.send = p
	return s.store.Move(ctx, lf.Flow, move, map[string]any{"challenge_id": p.Challenge.ID})
}

// --- PIN -------------------------------------------------------------------

func (s *Server) handlePINPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPIN)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

// renderPIN shows the PIN page of a flow (the login's, or a phone
// change's for either number). A code that can no longer be typed
// (wrong too often, expired) turns the page into a choice: a new code,
// start again, or back to the app.
func (s *Server) renderPIN(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	c, err := s.opt.MFA.Get(r.Context(), *lf.ChallengeID)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	now := s.opt.MFA.Time()
	action := pageOf[lf.State]
	page := ui.PINPage{
		Common:          s.commonToRP(r, lf),
		Action:          stepURL(action, lf.ID),
		ResendAction:    stepURL(action+"/resend", lf.ID),
		MaskedPhone:     mfa.Masked(c.Phone),
		CodeLength:      s.opt.MFA.Policy.CodeLength,
		ResendInSeconds: int((s.opt.MFA.ResendIn(c) + time.Second - 1) / time.Second),
		ResendsLeft:     s.opt.MFA.ResendsLeft(c),
		AttemptsLeft:    c.AttemptsLeft(),
		Error:           msg,
		Actions:         s.restartActions(r, lf),
		Factors:         s.otherFactors(r, lf),
	}
	if msg == ui.MsgSMSRateLimited {
		page.WaitMinutes = waitMinutesOf(form)
	}
	if lf.State == store.FlowAwaitingPIN && lf.Purpose == store.PurposeLogin && s.opt.TrustedDeviceTTL > 0 {
		page.TrustDays = max(int(s.opt.TrustedDeviceTTL/(24*time.Hour)), 1)
	}
	if lf.State == store.FlowAwaitingNewPIN {
		// A mistyped new number is not a dead end either.
		page.OtherNumberAction = stepURL("/account/phone/verify/again", lf.ID)
	}
	switch {
	case c.Attempts >= c.MaxAttempts:
		page.Closed, page.Error = true, ui.MsgTooManyAttempts
	case !c.ExpiresAt.After(now):
		page.Closed, page.Error = true, ui.MsgPINExpired
	}
	if _, ok, err := s.opt.MFA.Reroute(r.Context(), c); err != nil {
		s.log.WarnContext(r.Context(), "read deliveries for the PIN page", "flow_id", lf.ID, "err", err)
	} else if ok {
		// The receipt said the code did not arrive: another route, at once.
		page.RerouteAction = stepURL(action+"/reroute", lf.ID)
	}
	if page.Error == "" {
		switch {
		case c.Unsent():
			page.Error = ui.MsgSMSUnavailable
		case r.URL.Query().Get("notice") == string(ui.MsgSMSUnavailable):
			page.Error = ui.MsgSMSUnavailable
		case r.URL.Query().Get("notice") == string(ui.MsgPINResent):
			page.Notice = ui.MsgPINResent
		case r.URL.Query().Get("notice") == string(ui.MsgPINRerouted):
			page.Notice = ui.MsgPINRerouted
		}
	}
	if page.Closed && status == http.StatusOK {
		status = http.StatusUnauthorized
	}
	s.opt.UI.Render(w, status, page)
}

// handlePINSubmit checks the code of the login's PIN step. The whole step
// (attempt counted, code consumed, number confirmed, session made, flow
// moved, and the authorize response when no consent is needed) commits
// once or not at all; a wrong code commits its counted attempt alone.
func (s *Server) handlePINSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPIN)
	if !ok {
		return
	}
	s.checkPIN(w, r, lf, func(ctx context.Context, st *step, c *mfa.Challenge) error {
		switch lf.Purpose {
		case store.PurposeEnrol:
			return s.enrolPIN(ctx, r, st, c)
		case store.PurposeReset:
			return s.resetPIN(ctx, st)
		}
		// The number is proven: verify it.
		confirmed, err := s.store.ConfirmPhone(ctx, *lf.UserID, c.Phone)
		if err != nil {
			return err
		}
		if confirmed != store.PhoneAlreadyVerified {
			if err := s.auditIn(ctx, r, store.AuditEvent{Event: "phone." + string(confirmed), Outcome: "ok", UserID: *lf.UserID,
				FlowID: lf.ID, Detail: mfa.Masked(c.Phone)}); err != nil {
				return err
			}
		}
		now := s.store.Now()
		set := map[string]any{"amr": strings.Join(amrPasswordSMS, " "), "auth_time": now}
		if lf.Purpose == store.PurposePhoneChange {
			return s.store.Move(ctx, lf.Flow, store.MoveOldPhonePIN, set)
		}
		// The browser is signed in from here on: a new session after a
		// full login, or the same one with a fresh PIN time.
		sid, err := s.signIn(ctx, r, st, now, amrPasswordSMS)
		if err != nil {
			return err
		}
		set["session_id"] = sid
		if err := s.trustThisBrowser(ctx, r, st, *lf.UserID); err != nil {
			return err
		}
		if err := s.store.SetLastFactor(ctx, *lf.UserID, store.FactorSMS); err != nil {
			return err
		}
		s.stats.add("pin_ok")
		return s.store.Move(ctx, lf.Flow, store.MovePIN, set)
	})
}

// checkPIN verifies the code posted for the flow's challenge and, when it
// is right, makes the step's move with then, all in one transaction. A
// verdict on the code (wrong, used up, expired) commits the attempt it
// counted and shows the page again. With a provider that checks codes,
// the provider is asked first, outside any transaction (the attempt is
// counted before it), and the step follows in one.
func (s *Server) checkPIN(w http.ResponseWriter, r *http.Request, lf *loginFlow, then func(ctx context.Context, st *step, c *mfa.Challenge) error) {
	code := r.PostFormValue("code")
	if !printable(code) || len(code) > 64 {
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgPINFormat, nil)
		return
	}
	verify := func(ctx context.Context) (*mfa.Challenge, error) {
		c, err := s.opt.MFA.Verify(ctx, *lf.ChallengeID, code)
		if err == nil && (c.FlowID != lf.ID || c.UserID != *lf.UserID) {
			// A challenge of another login never counts; the rollback
			// takes its consumption back.
			return nil, errors.Join(errWrongChallenge, mfa.ErrNotFound)
		}
		return c, err
	}
	var remote *mfa.Challenge
	if s.opt.MFA.ChecksRemotely() {
		c, err := verify(r.Context())
		if err != nil {
			s.pinRefused(w, r, lf, err)
			return
		}
		remote = c
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		c := remote
		if c == nil {
			var err error
			c, err = verify(ctx)
			if errors.Is(err, errWrongChallenge) {
				return err
			}
			if mfa.IsVerdict(err) {
				msg := messageFor(err)
				if err := s.auditIn(ctx, r, store.AuditEvent{Event: "pin.verify", Outcome: pinOutcome(msg), UserID: *lf.UserID,
					ClientID: lf.ClientID, FlowID: lf.ID}); err != nil {
					return err
				}
				s.log.InfoContext(ctx, "pin rejected", "flow_id", lf.ID, "reason", err.Error())
				st.refuse(msg, http.StatusUnauthorized)
				return nil // the attempt counted stays counted
			}
			if err != nil {
				return err
			}
		}
		if err := then(ctx, st, c); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "second factor verified", "flow_id", lf.ID)
		return s.auditIn(ctx, r, store.AuditEvent{Event: "pin.verify", Outcome: "ok", UserID: *lf.UserID, ClientID: lf.ClientID, FlowID: lf.ID})
	})
}

var errWrongChallenge = errors.New("challenge of another flow")

// pinRefused answers a code a provider refused (or could not check).
func (s *Server) pinRefused(w http.ResponseWriter, r *http.Request, lf *loginFlow, err error) {
	if !mfa.IsVerdict(err) {
		s.fail(w, r, lf, err)
		return
	}
	msg := messageFor(err)
	s.audit(r, store.AuditEvent{Event: "pin.verify", Outcome: pinOutcome(msg), UserID: *lf.UserID, ClientID: lf.ClientID, FlowID: lf.ID})
	s.render(w, r, lf, http.StatusUnauthorized, msg, nil)
}

func pinOutcome(msg ui.MsgID) string {
	switch msg {
	case ui.MsgPINInvalid:
		return "failed"
	case ui.MsgPINExpired:
		return "expired"
	case ui.MsgTooManyAttempts:
		return "exhausted"
	}
	return "error"
}

func (s *Server) handlePINResend(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPIN)
	if !ok {
		return
	}
	s.resend(w, r, lf)
}

// resend gives the flow's challenge a new code: after the cooldown, within
// the resends a challenge allows and the send limits; also the way on
// from a code wrong too often or expired.
func (s *Server) resend(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		p, err := s.opt.MFA.ReserveResend(ctx, *lf.ChallengeID, s.langFor(r, lf.req.UILocales), s.clientIP(r))
		if errors.Is(err, mfa.ErrResendTooSoon) || errors.Is(err, mfa.ErrResendLimit) {
			st.refuse(messageFor(err), http.StatusTooManyRequests)
			return nil
		}
		if done, err := s.sendRefused(ctx, r, st, err); done {
			return err
		}
		st.send = p
		st.notice = ui.MsgPINResent
		return nil
	})
}

func (s *Server) handlePINReroute(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingPIN)
	if !ok {
		return
	}
	s.reroute(w, r, lf)
}

// reroute sends the flow's challenge a new code by another provider of
// the chain, at once, after a delivery receipt said the last one did not
// arrive: a resend in the engine's terms (no move), without the cooldown,
// counted against the send limits.
func (s *Server) reroute(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		p, err := s.opt.MFA.ReserveReroute(ctx, *lf.ChallengeID, s.langFor(r, lf.req.UILocales), s.clientIP(r))
		if errors.Is(err, mfa.ErrNoReroute) {
			// Nothing failed, no route is left, or a parallel request
			// rerouted already: the page shows where things stand.
			st.refuse(ui.MsgResendTooSoon, http.StatusConflict)
			return nil
		}
		if done, err := s.sendRefused(ctx, r, st, err); done {
			return err
		}
		s.log.InfoContext(ctx, "code sent by another route", "flow_id", lf.ID)
		st.send = p
		st.notice = ui.MsgPINRerouted
		return nil
	})
}

// sendRefused handles what a resend or a reroute returned other than a
// code: a limit or a hold refuses the step with its page (done, nil);
// another error fails it (done, err); nil is not done.
func (s *Server) sendRefused(ctx context.Context, r *http.Request, st *step, err error) (bool, error) {
	lf := st.lf
	var limited *mfa.RateLimitError
	var held *mfa.HoldError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &limited):
		s.log.WarnContext(ctx, "new code refused by a send limit", "flow_id", lf.ID, "scope", limited.Scope)
		st.form = url.Values{"wait_minutes": {strconv.Itoa(waitMinutes(limited.RetryAfter))}}
		st.refuse(ui.MsgSMSRateLimited, http.StatusTooManyRequests)
		return true, nil
	case errors.As(err, &held):
		s.log.WarnContext(ctx, "new code refused: sends held", "flow_id", lf.ID, "scope", held.Hold.Scope)
		if err := s.auditResendHold(ctx, r, lf, held); err != nil {
			return true, err
		}
		st.refuse(ui.MsgSMSHeld, http.StatusServiceUnavailable)
		return true, nil
	}
	return true, err
}

// waitMinutesOf reads the wait a refused send put in a page's form.
func waitMinutesOf(form url.Values) int {
	n, _ := strconv.Atoi(form.Get("wait_minutes"))
	return n
}
