package idp

import (
	"context"
	"net/http"
	"strings"

	"github.com/smspin/idp/idp/store"
)

// passedFactor is a second factor other than the PIN that was right: an
// authenticator app's code or a passkey.
type passedFactor struct {
	name      string   // store.FactorTOTP, store.FactorPasskey: asked first next time
	keys      []string // the throttle keys its try counted: the account's, then the network's
	amr       []string
	ev        store.AuditEvent // its audit event, Outcome and Detail still to fill in for a failure
	move      store.MoveName   // the sign-in's move
	phoneMove store.MoveName   // the move of a phone change, which signs no one in
}

// secondFactorPassed finishes, inside the step's transaction, a step
// whose factor was right: the try is taken back (the account's forgotten,
// one off the network's), the factor is the one asked first next time,
// the success is audited, and the flow moves on: to the new number's page
// in a phone change, else signed in with the factor's amr.
func (s *Server) secondFactorPassed(ctx context.Context, r *http.Request, st *step, lf *loginFlow, userID string, f passedFactor) error {
	if err := s.store.ThrottleSucceeded(ctx, f.keys[:1], f.keys[1:]); err != nil {
		return err
	}
	if err := s.store.SetLastFactor(ctx, userID, f.name); err != nil {
		return err
	}
	f.ev.Outcome = "ok"
	if err := s.auditIn(ctx, r, f.ev); err != nil {
		return err
	}
	now := s.store.Now()
	set := map[string]any{"amr": strings.Join(f.amr, " "), "auth_time": now}
	if lf.Purpose == store.PurposePhoneChange {
		return s.store.Move(ctx, lf.Flow, f.phoneMove, set)
	}
	sid, err := s.signIn(ctx, r, st, now, f.amr)
	if err != nil {
		return err
	}
	set["session_id"] = sid
	s.log.InfoContext(ctx, "second factor verified", "flow_id", lf.ID, "factor", f.name)
	return s.store.Move(ctx, lf.Flow, f.move, set)
}
