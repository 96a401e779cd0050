package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/recovery"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// Recovery codes: ten single-use codes a user saves for the day the phone
// is lost. On the PIN page a link leads to a page where one is typed
// instead (choose_recovery_code); a right code is used up, the phone is
// told, and the page after it says how many are left:
//
//	awaiting_pin -> awaiting_recovery_code -> recovery_code_used -> mfa_ok
//	             (choose_recovery_code)   (recovery_code)        (continue)
//
// A phone change takes a recovery code for the current number's PIN
// (old_phone_recovery_code): that is how a lost phone is replaced.
//
// A code is found by its public id and checked with one slow hash. Every
// try is counted against the account and the client network before the
// hash, as passwords are, so guessing is throttled the same way.

// amrPasswordOTP is what a sign-in with a recovery code proves (RFC 8176):
// a password, a one-time code that is not an SMS, and so more than one
// factor.
var amrPasswordOTP = []string{"pwd", "otp", "mfa"}

// recoveryRule limits tries at recovery codes per account.
var recoveryRule = store.ThrottleRule{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// recoveryThrottleKey is the throttle key of an account's recovery codes,
// by its username in normal form: a sign-in and a password reset (which
// knows only the name typed) share one allowance.
func recoveryThrottleKey(username string) string {
	sum := sha256.Sum256([]byte("recovery\x00" + username))
	return "rcv:" + hex.EncodeToString(sum[:16])
}

// NewRecoveryCodes makes a user's set of recovery codes, replacing the
// old set, and returns them as the user is shown them, this once. Each is
// hashed with hasher (a slow hash) before the set is stored.
func NewRecoveryCodes(ctx context.Context, st *store.Store, hasher *password.Hasher, userID string) ([]string, error) {
	codes := recovery.New(recovery.Count)
	rows := make([]store.RecoveryCode, len(codes))
	shown := make([]string, len(codes))
	for i, c := range codes {
		h, err := hasher.Hash(ctx, c.Secret)
		if err != nil {
			return nil, fmt.Errorf("hash recovery code: %w", err)
		}
		rows[i] = store.RecoveryCode{CodeID: c.ID, CodeHash: h}
		shown[i] = c.String()
	}
	if err := st.ReplaceRecoveryCodes(ctx, userID, rows); err != nil {
		return nil, err
	}
	return shown, nil
}

// --- the factors a user may choose on the second page --------------------

// factor is a second factor a page of the second step can offer instead
// of the one it shows. A new kind of factor is a new entry here, with its
// own state and a move of the table that chooses it.
type factor struct {
	name  string          // in the URL its choice posts to: /login/factor/{name}
	label ui.ActionID     // the link's words
	move  store.MoveName  // the move that chooses it
	to    store.FlowState // where that move goes
	amr   []string        // what a login with it proves
	// has reports whether the user can use it in this flow.
	has func(ctx context.Context, s *Server, lf *loginFlow) (bool, error)
}

var factors = []factor{
	{"sms", ui.ActionUseSMS, store.MoveChooseSMS, store.FlowAwaitingPIN, amrPasswordSMS,
		func(ctx context.Context, s *Server, lf *loginFlow) (bool, error) {
			if lf.ChallengeID != nil {
				return true, nil
			}
			// No code was sent yet (the app was asked first): one is sent
			// when the user chooses it, to the account's number.
			phone, err := s.store.PhoneOf(ctx, deref(lf.UserID))
			return phone != nil, err
		}},
	{"totp", ui.ActionUseTOTP, store.MoveChooseTOTP, store.FlowAwaitingTOTP, amrPasswordOTP,
		func(ctx context.Context, s *Server, lf *loginFlow) (bool, error) {
			return s.hasTOTP(ctx, deref(lf.UserID))
		}},
	{"passkey", ui.ActionUsePasskey, store.MoveChoosePasskey, store.FlowAwaitingPasskey, amrPasskey,
		func(ctx context.Context, s *Server, lf *loginFlow) (bool, error) {
			return s.hasPasskey(ctx, deref(lf.UserID))
		}},
	{"recovery", ui.ActionUseRecoveryCode, store.MoveChooseRecovery, store.FlowAwaitingRecovery, amrPasswordOTP,
		func(ctx context.Context, s *Server, lf *loginFlow) (bool, error) {
			left, _, err := s.store.RecoveryCodesLeft(ctx, deref(lf.UserID))
			return left > 0, err
		}},
}

// otherFactors are the factors a flow's page offers besides its own: each
// the table allows from here, the user has, and the RP accepts.
func (s *Server) otherFactors(r *http.Request, lf *loginFlow) []ui.Action {
	var out []ui.Action
	for _, f := range factors {
		if f.to == lf.State {
			continue
		}
		if _, ok := store.LookupMove(f.move, lf.State, lf.Purpose); !ok || !lf.req.acceptsAMR(f.amr) {
			continue // not from here, or not what the RP requires
		}
		if has, err := f.has(r.Context(), s, lf); err != nil || !has {
			continue
		}
		out = append(out, ui.Action{Label: f.label, URL: stepURL("/login/factor/"+f.name, lf.ID), Post: true,
			CSRFToken: s.csrfToken(lf.ID, s.currentBrowser(r))})
	}
	return out
}

// handleChooseFactor takes the flow to the page of another factor.
func (s *Server) handleChooseFactor(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, anyState)
	if !ok {
		return
	}
	var f *factor
	for i := range factors {
		if factors[i].name == r.PathValue("name") {
			f = &factors[i]
		}
	}
	if f == nil {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound, s.restartActions(r, lf)...)
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		if has, err := f.has(ctx, s, lf); err != nil || !has || !lf.req.acceptsAMR(f.amr) {
			return errors.Join(store.ErrIllegalMove, err)
		}
		if f.to == store.FlowAwaitingPIN {
			return s.chooseSMS(ctx, r, st)
		}
		return s.store.Move(ctx, lf.Flow, f.move, nil)
	})
}

// chooseSMS takes the flow to the PIN: the code sent already, or, when
// none was (the authenticator app was asked first), a code reserved now
// and sent once the step commits; a refused send goes to its own page.
func (s *Server) chooseSMS(ctx context.Context, r *http.Request, st *step) error {
	lf := st.lf
	if lf.ChallengeID != nil {
		return s.store.Move(ctx, lf.Flow, store.MoveChooseSMS, map[string]any{"challenge_id": *lf.ChallengeID})
	}
	user, err := s.store.UserByID(ctx, deref(lf.UserID))
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
		return s.store.Move(ctx, lf.Flow, store.MoveChooseSMSRefused, map[string]any{"refusal": refusal, "retry_at": retryAt})
	}
	st.send = p
	return s.store.Move(ctx, lf.Flow, store.MoveChooseSMS, map[string]any{"challenge_id": p.Challenge.ID})
}

// --- the recovery code page ------------------------------------------------

func (s *Server) handleRecoveryPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingRecovery)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderRecovery(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	page := ui.RecoveryPage{Common: s.commonToRP(r, lf), Action: stepURL(pageOf[lf.State], lf.ID), Error: msg,
		Factors: s.otherFactors(r, lf), Actions: s.restartActions(r, lf)}
	if msg == ui.MsgAccountLocked {
		page.WaitMinutes = waitMinutesOf(form)
	}
	s.opt.UI.Render(w, status, page)
}

// handleRecoverySubmit checks a recovery code. The try is counted before
// its one hash; a right code is used up in the step that moves the flow
// on, and the phone is told once it has committed.
func (s *Server) handleRecoverySubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingRecovery)
	if !ok {
		return
	}
	ctx := r.Context()
	userID := *lf.UserID
	code, ok := recovery.Parse(r.PostFormValue("recovery_code"))
	if !ok {
		// Not the shape of a code: no guess, nothing counted.
		s.render(w, r, lf, http.StatusBadRequest, ui.MsgRecoveryCodeInvalid, nil)
		return
	}
	user, err := s.store.UserByID(ctx, userID)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	ev := store.AuditEvent{Event: "recovery_code.used", UserID: userID, Username: user.Username, ClientID: lf.ClientID, FlowID: lf.ID}
	keys := []store.ThrottleKey{{Key: recoveryThrottleKey(user.Username), Rule: recoveryRule}, {Key: networkThrottleKey(s.clientIP(r)), Rule: networkRule}}
	wait, err := s.store.ThrottleTry(ctx, keys...)
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
	if err := s.checkRecoveryCode(ctx, userID, code); err != nil {
		if !errors.Is(err, errRecoveryCodeWrong) {
			s.untry(ctx, keys[0].Key, keys[1].Key)
			s.fail(w, r, lf, err)
			return
		}
		ev.Outcome = "failed"
		s.audit(r, ev)
		s.render(w, r, lf, http.StatusUnauthorized, ui.MsgRecoveryCodeInvalid, nil)
		return
	}
	var left int
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		st.undo = func(ctx context.Context) { s.untry(ctx, keys[0].Key, keys[1].Key) }
		if err := s.store.ThrottleSucceeded(ctx, []string{keys[0].Key}, []string{keys[1].Key}); err != nil {
			return err
		}
		used, err := s.store.UseRecoveryCode(ctx, userID, code.ID)
		if err != nil {
			return err
		}
		if !used { // another request used it a moment ago
			st.refuse(ui.MsgRecoveryCodeInvalid, http.StatusUnauthorized)
			return nil
		}
		if left, _, err = s.store.RecoveryCodesLeft(ctx, userID); err != nil {
			return err
		}
		ev.Outcome, ev.Detail = "ok", fmt.Sprintf("%d left", left)
		if err := s.auditIn(ctx, r, ev); err != nil {
			return err
		}
		now := s.store.Now()
		set := map[string]any{"amr": strings.Join(amrPasswordOTP, " "), "auth_time": now}
		if lf.Purpose == store.PurposePhoneChange {
			return s.store.Move(ctx, lf.Flow, store.MoveOldPhoneRecovery, set)
		}
		sid, err := s.signIn(ctx, r, st, now, amrPasswordOTP)
		if err != nil {
			return err
		}
		set["session_id"] = sid
		return s.store.Move(ctx, lf.Flow, store.MoveRecoveryCode, set)
	})
	if lf.State != store.FlowAwaitingRecovery {
		// The phone learns a code stood in for it: if the phone's owner
		// did not do it, they know at once.
		s.notify(r, userID, "recovery-code-used:"+lf.ID, func(lang string) string {
			return mfa.RecoveryCodeUsed(s.productName(), lang, left)
		})
	}
}

// errRecoveryCodeWrong: no unused code with that id, or a wrong secret.
var errRecoveryCodeWrong = errors.New("recovery code not right")

// checkRecoveryCode checks a typed code with one slow hash: of the stored
// code its id names, or of nothing when there is none, so neither the
// answer nor its time tells which ids exist.
func (s *Server) checkRecoveryCode(ctx context.Context, userID string, code recovery.Code) error {
	stored, err := s.store.UnusedRecoveryCode(ctx, userID, code.ID)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.opt.Passwords.VerifyNothing(ctx, code.Secret); err != nil && !errors.Is(err, password.ErrMismatch) {
			return err
		}
		return errRecoveryCodeWrong
	}
	if err != nil {
		return err
	}
	err = s.opt.Passwords.Verify(ctx, stored.CodeHash, code.Secret)
	if errors.Is(err, password.ErrMismatch) {
		return errRecoveryCodeWrong
	}
	return err
}

// --- after a recovery code: how many are left --------------------------------

func (s *Server) handleRecoveryUsedPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowRecoveryUsed)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderRecoveryUsed(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int) {
	left, _, err := s.store.RecoveryCodesLeft(r.Context(), deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	s.opt.UI.Render(w, status, ui.RecoveryUsedPage{Common: s.commonToRP(r, lf), Action: stepURL(pageOf[lf.State], lf.ID),
		Left: left, PhoneChangeURL: "/account/phone"})
}

// handleRecoveryUsedSubmit goes on with the sign-in: consent, or the app.
func (s *Server) handleRecoveryUsedSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowRecoveryUsed)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		return s.store.Move(ctx, lf.Flow, store.MoveContinue, nil)
	})
}
