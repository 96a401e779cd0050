package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// Invitations. A password alone must not bind a phone to an account: with
// it an attacker would enrol their own number and pass every later
// "second factor" with it. So a user without a number enrols one only
// through an invitation link the operator made (idp users create without
// --phone, idp users invite), in a flow of its own with no client:
//
//	new -> awaiting_phone -> awaiting_pin -> done
//	(password)  (the number)   (its PIN; the link used up)
//
// Each step checks the link is still live, so an invitation used, replaced
// or expired sends no SMS; the last step uses it up in the same
// transaction that enrols the number, so of two browsers racing with one
// link only one enrols.

// InvitationURL is the link an invitation token opens on issuer.
func InvitationURL(issuer, token string) string {
	return strings.TrimSuffix(issuer, "/") + "/invitation?" + url.Values{"token": {token}}.Encode()
}

// errLinkUsed: the flow's link was used up or replaced since it was opened.
var errLinkUsed = errors.New("the link was used, replaced or has expired")

// handleInvitation opens an invitation link: a live one begins an
// enrolment flow in this browser, at the password with the username
// filled in; any other says to ask for a new one.
func (s *Server) handleInvitation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	link, err := s.store.LinkByToken(ctx, store.LinkInvitation, r.URL.Query().Get("token"))
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, r, http.StatusGone, ui.MsgInvitationInvalid)
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	user, err := s.store.UserByID(ctx, link.UserID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.startLinkFlow(w, r, store.PurposeEnrol, link, url.Values{"login_hint": {user.Username}})
}

// startLinkFlow begins a flow of purpose opened with link, bound to this
// browser, and sends the browser to its first page.
func (s *Server) startLinkFlow(w http.ResponseWriter, r *http.Request, purpose string, link *store.UserLink, query url.Values) {
	browser := s.browserID(w, r)
	now := s.store.Now()
	f := &store.Flow{Purpose: purpose, BrowserHash: hashBrowser(browser), RequestedAt: now, ExpiresAt: now.Add(s.opt.LoginFlowTTL),
		LinkID: &link.ID, RequestQuery: query.Encode()}
	if err := s.store.CreateFlow(r.Context(), f); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, stepURL(pageOf[f.State], f.ID), http.StatusSeeOther)
}

// liveLink returns the link a flow was opened with while it is still
// unused; errLinkUsed otherwise.
func (s *Server) liveLink(ctx context.Context, lf *loginFlow) (*store.UserLink, error) {
	if lf.LinkID == nil {
		return nil, errLinkUsed
	}
	l, err := s.store.LiveLink(ctx, *lf.LinkID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.Join(errLinkUsed, err)
	}
	return l, err
}

// enrolPassword is the password step of an enrolment: the password must
// be the invited user's, the link still live, and the account without a
// number; then the flow asks for one.
func (s *Server) enrolPassword(ctx context.Context, r *http.Request, st *step, user *store.User, set map[string]any) error {
	lf := st.lf
	link, err := s.liveLink(ctx, lf)
	if errors.Is(err, errLinkUsed) {
		st.refuse(ui.MsgInvitationInvalid, http.StatusGone)
		return nil
	}
	if err != nil {
		return err
	}
	if link.UserID != user.ID {
		// Another account's password: it says no more than a wrong one.
		st.form = url.Values{"username": {user.Username}}
		st.refuse(ui.MsgInvalidCredentials, http.StatusUnauthorized)
		return nil
	}
	phone, err := s.store.PhoneOf(ctx, user.ID)
	if err != nil {
		return err
	}
	if phone != nil {
		st.refuse(ui.MsgAlreadyHasPhone, http.StatusConflict)
		return nil
	}
	return s.store.Move(ctx, lf.Flow, store.MovePasswordEnrol, set)
}

// enrolPIN completes an enrolment once the new number's code was right:
// the link is used up (or the step fails, when another browser used it
// first), the number enrolled as verified, and the browser signed in.
func (s *Server) enrolPIN(ctx context.Context, r *http.Request, st *step, c *mfa.Challenge) error {
	lf := st.lf
	used, err := s.store.UseLink(ctx, deref(lf.LinkID))
	if err != nil {
		return err
	}
	if !used {
		return errLinkUsed
	}
	confirmed, err := s.store.ConfirmPhone(ctx, *lf.UserID, c.Phone)
	if err != nil {
		return err
	}
	if err := s.auditIn(ctx, r, store.AuditEvent{Event: "phone." + string(confirmed), Outcome: "ok", UserID: *lf.UserID,
		FlowID: lf.ID, Detail: mfa.Masked(c.Phone) + " by invitation"}); err != nil {
		return err
	}
	now := s.store.Now()
	sid, err := s.signIn(ctx, r, st, now, amrPasswordSMS)
	if err != nil {
		return err
	}
	return s.store.Move(ctx, lf.Flow, store.MoveEnrolPIN, map[string]any{
		"amr": strings.Join(amrPasswordSMS, " "), "auth_time": now, "session_id": sid})
}
