package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// moveSet names the moves that begin the second factor, by outcome: a
// code reserved, the send refused, the authenticator app asked first.
type moveSet struct{ sent, refused, totp, passkey store.MoveName }

var (
	passwordMoves = moveSet{store.MovePassword, store.MovePasswordRefused, store.MovePasswordTOTP, store.MovePasswordPasskey}
	sessionMoves  = moveSet{store.MoveSession, store.MoveSessionRefused, store.MoveSessionTOTP, store.MoveSessionPasskey}
)

// errNoPhone: a phone change for an account that has no number.
var errNoPhone = errors.New("the account has no phone to change")

// secondFactor begins the PIN step of a flow whose user is known: it
// reserves a code to the user's number (sent once the step commits) and
// makes the move that fits the outcome, with set. A refused send is a
// state of its own, never a dead end: its page says when to try again.
//
// An account without a number moves nowhere: a first number is enrolled
// only through an invitation (see invite.go), never on the strength of a
// password, so the password page says to ask for one and no SMS is sent.
// A session's shortcut leaves the flow at the password, which says so.
func (s *Server) secondFactor(ctx context.Context, r *http.Request, st *step, user *store.User, moves moveSet, set map[string]any) error {
	lf := st.lf
	phone, err := s.store.PhoneOf(ctx, user.ID)
	if err != nil {
		return err
	}
	// A passkey is asked first when it was used last, when the RP takes
	// nothing less (acr phr), or when there is no number; no SMS is sent
	// until the user chooses one. An RP that takes only a passkey, of a
	// user who has none, is told at once that its class cannot be met.
	smsTaken, otpTaken := lf.req.acceptsAMR(amrPasswordSMS), lf.req.acceptsAMR(amrPasswordOTP)
	if lf.req.acceptsAMR(amrPasskey) && (user.LastFactor == store.FactorPasskey || phone == nil || (!smsTaken && !otpTaken)) {
		has, err := s.hasPasskey(ctx, user.ID)
		if err != nil {
			return err
		}
		if has {
			return s.store.Move(ctx, lf.Flow, moves.passkey, set)
		}
	}
	if !smsTaken && !otpTaken && lf.Purpose == store.PurposeLogin {
		return s.unmet(ctx, r, st, user)
	}
	// The factor used last is asked first: a user of an authenticator app
	// (or one with no number left) gets its page, and no SMS is sent until
	// they choose one.
	if (phone == nil || user.LastFactor == store.FactorTOTP) && lf.req.acceptsAMR(amrPasswordOTP) {
		has, err := s.hasTOTP(ctx, user.ID)
		if err != nil {
			return err
		}
		if has {
			return s.store.Move(ctx, lf.Flow, moves.totp, set)
		}
	}
	if phone == nil {
		if moves == sessionMoves {
			return nil
		}
		st.refuse(ui.MsgNeedInvitation, http.StatusForbidden)
		return s.auditIn(ctx, r, store.AuditEvent{Event: "phone.enrolled", Outcome: "refused", UserID: user.ID, Username: user.Username,
			ClientID: lf.ClientID, FlowID: lf.ID, Detail: "no invitation"})
	}
	p, refusal, retryAt, err := s.reserve(ctx, r, lf, user, phone.Number, phone.Verified())
	if err != nil {
		return err
	}
	if p == nil {
		set["refusal"], set["retry_at"] = refusal, retryAt
		return s.store.Move(ctx, lf.Flow, moves.refused, set)
	}
	st.send = p
	set["challenge_id"] = p.Challenge.ID
	return s.store.Move(ctx, lf.Flow, moves.sent, set)
}

// reserve reserves a code to number (known: verified by the user before)
// for the flow. A send refused by a limit, a hold or the number policy is
// not an error: it returns no code, why ("limit:<scope>", "held",
// "number") and when a send may succeed (nil: not by waiting), and
// records the refusal in the audit log; a hold this send set is audited
// as sms.held.
func (s *Server) reserve(ctx context.Context, r *http.Request, lf *loginFlow, user *store.User, number string, known bool) (*mfa.Pending, string, *time.Time, error) {
	p, err := s.opt.MFA.Reserve(ctx, mfa.StartRequest{FlowID: lf.ID, UserID: user.ID, Phone: number,
		Locale: s.langFor(r, lf.req.UILocales), ClientIP: s.clientIP(r), KnownNumber: known})
	ev := store.AuditEvent{Event: "pin.sent", Outcome: "refused", UserID: user.ID, Username: user.Username, ClientID: lf.ClientID,
		FlowID: lf.ID, Detail: mfa.Masked(number)}
	var limited *mfa.RateLimitError
	var held *mfa.HoldError
	switch {
	case errors.As(err, &held):
		s.log.WarnContext(ctx, "no PIN sent: sends held", "flow_id", lf.ID, "scope", held.Hold.Scope, "reason", held.Hold.Reason)
		ev.Detail += ": sends held (" + held.Hold.Reason + ")"
		if err := s.auditHold(ctx, r, lf, user, held); err != nil {
			return nil, "", nil, err
		}
		return nil, "held", nil, s.auditIn(ctx, r, ev)
	case errors.As(err, &limited):
		s.log.WarnContext(ctx, "no PIN sent: send limit reached", "flow_id", lf.ID, "scope", limited.Scope, "retry_after", limited.RetryAfter)
		ev.Detail += ": send limit per " + limited.Scope
		at := s.opt.MFA.Time().Add(limited.RetryAfter) // the limits' own clock
		return nil, "limit:" + limited.Scope, &at, s.auditIn(ctx, r, ev)
	case errors.Is(err, mfa.ErrPhoneInvalid):
		// The number is vetted at every send (the allow-list may have
		// changed since an operator registered it).
		s.log.WarnContext(ctx, "no PIN sent: number refused", "flow_id", lf.ID, "err", err)
		ev.Detail += ": number not allowed"
		return nil, "number", nil, s.auditIn(ctx, r, ev)
	case err != nil:
		return nil, "", nil, err
	}
	// Recorded with the step: the code is on its way once it commits (a
	// provider's refusal is recorded after the send).
	ev.Outcome, ev.Detail = "ok", mfa.Masked(number)
	return p, "", nil, s.auditIn(ctx, r, ev)
}

// auditHold records, with the step, a hold this send set.
func (s *Server) auditHold(ctx context.Context, r *http.Request, lf *loginFlow, user *store.User, held *mfa.HoldError) error {
	if !held.New {
		return nil
	}
	h := held.Hold
	return s.auditIn(ctx, r, store.AuditEvent{Event: "sms.held", Outcome: "held", UserID: user.ID, Username: user.Username,
		ClientID: lf.ClientID, FlowID: lf.ID,
		Detail: fmt.Sprintf("%s: %s, %d sent, %d verified", h.Scope, h.Reason, h.Sends, h.Verified)})
}

// auditResendHold is auditHold for a resend, whose user is the flow's.
func (s *Server) auditResendHold(ctx context.Context, r *http.Request, lf *loginFlow, held *mfa.HoldError) error {
	user := &store.User{}
	if lf.UserID != nil {
		user.ID = *lf.UserID
	}
	return s.auditHold(ctx, r, lf, user, held)
}

// deliver sends a code reserved by a committed step and records the
// outcome; a failed send leaves the PIN page offering another at once,
// and is audited (its reservation was, with the step).
func (s *Server) deliver(r *http.Request, lf *loginFlow, p *mfa.Pending) error {
	err := s.opt.MFA.Deliver(r.Context(), p)
	if err == nil {
		s.stats.add("pin_sent")
		return nil
	}
	c := p.Challenge
	s.audit(r, store.AuditEvent{Event: "pin.sent", Outcome: "failed", UserID: c.UserID, ClientID: lf.ClientID, FlowID: lf.ID,
		Detail: mfa.Masked(c.Phone) + ": the provider did not take it"})
	return err
}

// --- a refused send ----------------------------------------------------------

func (s *Server) handleWaitPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowSendRefused)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderWait(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID) {
	page := ui.WaitPage{Common: s.commonToRP(r, lf), Msg: ui.MsgSMSRateLimited, Actions: s.restartActions(r, lf),
		Factors: s.otherFactors(r, lf)}
	switch lf.Refusal {
	case "number":
		// Waiting will not help: the page says whom to ask.
		page.Msg, status = ui.MsgPhoneNotAllowed, http.StatusForbidden
	case "held":
		// Held until an operator lifts the hold (or the budget's day
		// ends): trying again is offered, with no time to wait for.
		page.Msg, status = ui.MsgSMSHeld, http.StatusServiceUnavailable
		page.RetryAction = stepURL("/login/wait", lf.ID)
	default:
		if lf.RetryAt == nil || !lf.RetryAt.After(lf.ExpiresAt.Add(s.opt.MFA.Time().Sub(s.store.Now()))) {
			// Offered only when the flow lives long enough to use it;
			// otherwise the page says when to come back from the app.
			page.RetryAction = stepURL("/login/wait", lf.ID)
		}
		if lf.RetryAt != nil {
			if wait := lf.RetryAt.Sub(s.opt.MFA.Time()); wait > 0 {
				page.WaitSeconds = int((wait + time.Second - 1) / time.Second)
				page.WaitMinutes = waitMinutes(wait)
				w.Header().Set("Retry-After", strconv.Itoa(page.WaitSeconds))
				status = http.StatusTooManyRequests
			}
		}
	}
	if msg != "" && msg != page.Msg {
		page.Error = msg
	}
	s.opt.UI.Render(w, status, page)
}

// handleWaitSubmit asks again for the code a limit refused: once the wait
// is over the code is reserved and the flow goes to the PIN; refused
// again, it stays and says for how long.
func (s *Server) handleWaitSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowSendRefused)
	if !ok {
		return
	}
	if lf.Refusal == "number" || (lf.RetryAt != nil && lf.RetryAt.After(s.opt.MFA.Time())) {
		// Nothing to try: the page says what to wait for.
		s.render(w, r, lf, http.StatusTooManyRequests, ui.MsgSMSRateLimited, nil)
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		user, err := s.store.UserByID(ctx, *lf.UserID)
		if err != nil {
			return err
		}
		phone, err := s.store.PhoneOf(ctx, user.ID)
		if err != nil {
			return err
		}
		if phone == nil {
			return errNoPhone
		}
		p, refusal, retryAt, err := s.reserve(ctx, r, lf, user, phone.Number, phone.Verified())
		if err != nil {
			return err
		}
		if p == nil {
			if err := s.store.Move(ctx, lf.Flow, store.MoveRetryRefused, map[string]any{"refusal": refusal, "retry_at": retryAt}); err != nil {
				return err
			}
			if refusal == "held" {
				st.refuse(ui.MsgSMSHeld, http.StatusServiceUnavailable)
			} else {
				st.refuse(ui.MsgSMSRateLimited, http.StatusTooManyRequests)
			}
			return nil
		}
		st.send = p
		return s.store.Move(ctx, lf.Flow, store.MoveRetrySend, map[string]any{"challenge_id": p.Challenge.ID})
	})
}

// unmet ends a login whose RP requires a class no factor of the user can
// meet: the RP is told unmet_authentication_requirements, and nothing is
// sent (OpenID Connect Core Unmet Authentication Requirements 1.0).
func (s *Server) unmet(ctx context.Context, r *http.Request, st *step, user *store.User) error {
	lf := st.lf
	if err := s.store.Move(ctx, lf.Flow, store.MoveCancel, nil); err != nil {
		return err
	}
	ctx, _, err := s.clientOf(ctx, lf)
	if err != nil {
		return err
	}
	ar, err := s.rebuildAuthorize(ctx, r, lf)
	if err != nil && (ar == nil || !ar.IsRedirectURIValid()) {
		return err
	}
	if err == nil {
		err = errUnmetACR.WithHint("The user has no factor of the authentication context class required.")
	}
	st.issued = &issued{ar: ar, err: err}
	return s.auditIn(ctx, r, store.AuditEvent{Event: "login.completed", Outcome: "unmet_acr", UserID: user.ID, Username: user.Username,
		ClientID: lf.ClientID, FlowID: lf.ID, Detail: "no factor the RP requires"})
}
