package idp

import (
	"context"
	"net/http"
	"strings"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// The phone change. Binding a new number binds a new authenticator, so it
// takes what a login takes (password, then a PIN on the current number),
// then a PIN on the new number; the old number is told afterwards
// (NIST SP 800-63B 6.1.2.3). It is a flow with no client, through the
// same table as a login:
//
//	new -> awaiting_pin -> awaiting_new_phone -> awaiting_new_phone_pin -> done
//	       (PIN to the old number)               (PIN to the new number)

// handlePhoneChangeStart begins a phone change in this browser. A full
// sign-in of the last minutes (see accountFresh) spares the password and
// the current number's PIN: that sign-in proved both, or a recovery code
// in the PIN's stead (session_fresh).
func (s *Server) handlePhoneChangeStart(w http.ResponseWriter, r *http.Request) {
	browser := s.browserID(w, r)
	now := s.store.Now()
	f := &store.Flow{Purpose: store.PurposePhoneChange, BrowserHash: hashBrowser(browser), RequestedAt: now,
		ExpiresAt: now.Add(s.opt.LoginFlowTTL)}
	sess := s.currentSession(r)
	err := s.store.InTx(r.Context(), func(ctx context.Context) error {
		if err := s.store.CreateFlow(ctx, f); err != nil {
			return err
		}
		if sess == nil || !strings.Contains(" "+sess.AMR+" ", " mfa ") || !s.fresh(sess) {
			return nil
		}
		phone, err := s.store.PhoneOf(ctx, sess.UserID)
		if err != nil || phone == nil {
			return err
		}
		at := sess.MFATime
		return s.store.Move(ctx, f, store.MoveSessionFresh, map[string]any{"user_id": sess.UserID, "session_id": sess.ID, "amr": sess.AMR, "auth_time": &at})
	})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, stepURL(pageOf[f.State], f.ID), http.StatusSeeOther)
}

func (s *Server) handleNewPhonePage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPhone)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) handleNewPhoneSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPhone)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		user, err := s.store.UserByID(ctx, *lf.UserID)
		if err != nil {
			return err
		}
		old, err := s.store.PhoneOf(ctx, user.ID)
		if err != nil {
			return err
		}
		if old == nil {
			return errNoPhone
		}
		return s.sendToNewNumber(ctx, r, st, user, old.Number, store.MoveNewPhoneEntered)
	})
}

func (s *Server) handleNewPhonePINPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPIN)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

// handleNewPhonePINSubmit checks the new number's code; the number is
// replaced and the flow done in one transaction, and the old number is
// told afterwards.
func (s *Server) handleNewPhonePINSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPIN)
	if !ok {
		return
	}
	var old, changed string
	s.checkPIN(w, r, lf, func(ctx context.Context, st *step, c *mfa.Challenge) error {
		p, err := s.store.PhoneOf(ctx, *lf.UserID)
		if err != nil {
			return err
		}
		if p == nil {
			return errNoPhone
		}
		if err := s.store.ReplacePhone(ctx, *lf.UserID, p.Number, c.Phone); err != nil {
			return err
		}
		if err := s.store.Move(ctx, lf.Flow, store.MoveNewPhonePIN, nil); err != nil {
			return err
		}
		old, changed = p.Number, c.Phone
		s.stats.add("phone_changed")
		return s.auditIn(ctx, r, store.AuditEvent{Event: "phone.changed", Outcome: "ok", UserID: *lf.UserID, FlowID: lf.ID,
			Detail: mfa.Masked(p.Number) + " -> " + mfa.Masked(c.Phone)})
	})
	if changed != "" && lf.State == store.FlowDone {
		// The old number learns of the change, in the user's language: if
		// it was not its owner, they know at once.
		locale := ""
		if u, err := s.store.UserByID(r.Context(), *lf.UserID); err == nil {
			locale = u.Locale
		}
		lang := s.userLang(r, locale)
		if err := s.opt.MFA.Notify(r.Context(), "phone-changed:"+lf.ID, old, mfa.PhoneChanged(s.productName(), lang, changed), lang); err != nil {
			s.log.WarnContext(r.Context(), "notice not sent", "flow_id", lf.ID, "err", err)
		}
	}
}

func (s *Server) handleNewPhoneResend(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPIN)
	if !ok {
		return
	}
	s.resend(w, r, lf)
}

func (s *Server) handleNewPhoneReroute(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPIN)
	if !ok {
		return
	}
	s.reroute(w, r, lf)
}

// handleNewPhoneAgain goes back from the new number's PIN to type another
// number (a typo, or a number that gets no SMS).
func (s *Server) handleNewPhoneAgain(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowAwaitingNewPIN)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		return s.store.Move(ctx, lf.Flow, store.MoveNewPhoneAgain, nil)
	})
}

func (s *Server) productName() string {
	if s.opt.ProductName != "" {
		return s.opt.ProductName
	}
	return "IDP"
}
