package idp

import (
	"errors"
	"net/http"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// The phone change. Binding a new number binds a new authenticator, so it
// takes what a login takes (password, then a PIN on the current number),
// then a PIN on the new number; the old number is told afterwards
// (NIST SP 800-63B 6.1.2.3). It is a login flow with no client:
//
//	new -> password_ok -> mfa_ok -> new_phone -> done
//	       (PIN to the old number)  (PIN to the new number)

// handlePhoneChangeStart begins a phone change in this browser.
func (s *Server) handlePhoneChangeStart(w http.ResponseWriter, r *http.Request) {
	browser := s.browserID(w, r)
	now := s.store.Now()
	f := &store.Flow{Purpose: store.PurposePhoneChange, BrowserHash: hashBrowser(browser), RequestedAt: now,
		ExpiresAt: now.Add(s.opt.LoginFlowTTL)}
	if err := s.store.CreateFlow(r.Context(), f); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	http.Redirect(w, r, stepURL("/login", f.ID), http.StatusSeeOther)
}

func (s *Server) handleNewPhonePage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/account/phone/new")
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.opt.UI.Render(w, http.StatusOK, ui.PhonePage{Common: s.common(r, f), Action: stepURL("/account/phone/new", f.ID)})
}

func (s *Server) handleNewPhoneSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/account/phone/new")
	if !ok {
		return
	}
	ctx := r.Context()
	old, err := s.store.PhoneOf(ctx, *f.UserID)
	if err != nil || old == nil {
		s.stepFailed(w, r, f, errors.Join(err, errors.New("phone change: user has no phone")))
		return
	}
	render := func(msg ui.MsgID) {
		s.opt.UI.Render(w, http.StatusBadRequest, ui.PhonePage{Common: s.common(r, f), Action: stepURL("/account/phone/new", f.ID),
			Phone: r.PostFormValue("phone"), Error: msg})
	}
	number, err := s.opt.MFA.Phones.Normalise(r.PostFormValue("phone"))
	if err != nil {
		render(messageFor(err))
		return
	}
	if number == old.Number {
		render(ui.MsgPhoneSame)
		return
	}
	c, err := s.opt.MFA.Start(ctx, mfa.StartRequest{FlowID: f.ID, UserID: *f.UserID, Phone: number, Locale: s.lang(r, f), ClientIP: s.clientIP(r)})
	var limited *mfa.RateLimitError
	if errors.As(err, &limited) {
		s.rateLimitedPage(w, r, f, limited)
		return
	}
	if c == nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if aerr := s.store.AdvanceFlow(ctx, f.ID, store.FlowMFAOK, store.FlowNewPhone, map[string]any{"challenge_id": c.ID}); aerr != nil {
		s.stepFailed(w, r, f, aerr)
		return
	}
	target := stepURL("/account/phone/verify", f.ID) + "&sent=1"
	if err != nil {
		target = stepURL("/account/phone/verify", f.ID) + "&sent=failed"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) handleNewPhonePINPage(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/account/phone/verify")
	if !ok {
		return
	}
	s.showPIN(w, r, f)
}

func (s *Server) handleNewPhonePINSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/account/phone/verify")
	if !ok {
		return
	}
	ctx := r.Context()
	c, err := s.opt.MFA.Verify(ctx, *f.ChallengeID, r.PostFormValue("code"))
	if err == nil && (c.FlowID != f.ID || c.UserID != *f.UserID) {
		err = mfa.ErrNotFound
	}
	if err != nil {
		s.pinRejected(w, r, f, err)
		return
	}
	old, err := s.store.PhoneOf(ctx, *f.UserID)
	if err != nil || old == nil {
		s.stepFailed(w, r, f, errors.Join(err, errors.New("phone change: user has no phone")))
		return
	}
	if err := s.store.AdvanceFlow(ctx, f.ID, store.FlowNewPhone, store.FlowDone, nil); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	if err := s.store.ReplacePhone(ctx, *f.UserID, old.Number, c.Phone); err != nil {
		s.stepFailed(w, r, f, err)
		return
	}
	lang := s.lang(r, f)
	s.log.InfoContext(ctx, "phone changed", "flow_id", f.ID)
	s.audit(r, store.AuditEvent{Event: "phone.changed", Outcome: "ok", UserID: *f.UserID, FlowID: f.ID,
		Detail: mfa.Masked(old.Number) + " -> " + mfa.Masked(c.Phone)})
	s.stats.add("phone_changed")
	// The old number learns of the change: if it was not its owner, they
	// know at once.
	s.opt.MFA.Notify(ctx, "phone-changed:"+f.ID, old.Number, mfa.PhoneChanged(s.productName(), lang, mfa.Masked(c.Phone)), lang)
	s.opt.UI.Render(w, http.StatusOK, ui.NoticePage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)},
		Msg: ui.MsgPhoneChanged, Arg: mfa.Masked(c.Phone)})
}

func (s *Server) handleNewPhoneResend(w http.ResponseWriter, r *http.Request) {
	f, ok := s.at(w, r, "/account/phone/verify")
	if !ok {
		return
	}
	s.resend(w, r, f, stepURL("/account/phone/verify", f.ID))
}

func (s *Server) productName() string {
	if s.opt.ProductName != "" {
		return s.opt.ProductName
	}
	return "IDP"
}
