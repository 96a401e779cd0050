package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// --- consent and the authorize response --------------------------------------

// handleConsentPage shows what the RP asks for. It never answers the RP:
// no page's GET issues a code.
func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowMFAOK)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.render(w, r, lf, http.StatusOK, "", nil)
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int) {
	if lf.Purpose != store.PurposeLogin && lf.Purpose != store.PurposeDevice {
		s.flowFinished(w, r, lf)
		return
	}
	_, client, err := s.clientOf(r.Context(), lf)
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	user, err := s.store.UserByID(r.Context(), deref(lf.UserID))
	if err != nil {
		s.fail(w, r, lf, err)
		return
	}
	s.opt.UI.Render(w, status, ui.ConsentPage{
		Common: s.commonToRP(r, lf), Action: stepURL("/login/consent", lf.ID),
		ClientName: client.Name, ClientID: client.GetID(), LogoURL: client.LogoURI, Scopes: lf.req.Scopes, Username: user.Username,
		Device: lf.Purpose == store.PurposeDevice,
	})
}

func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, store.FlowMFAOK)
	if !ok {
		return
	}
	allow := r.PostFormValue("consent") == "allow"
	if lf.Purpose == store.PurposeDevice {
		// Asked every time, and not remembered: each device is its own.
		s.run(w, r, lf, func(ctx context.Context, st *step) error { return s.answerDevice(ctx, r, lf, allow) })
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		if allow {
			if err := s.store.GrantConsent(ctx, *lf.UserID, lf.ClientID, lf.req.Scopes); err != nil {
				return err
			}
		}
		var err error
		st.issued, err = s.issue(ctx, r, lf, nil, allow)
		return err
	})
}

// consentNeeded reports whether the user must be asked before the client
// gets the scopes of the flow: not for a first-party client, nor when an
// earlier grant covers them, unless the RP asked with prompt=consent.
func (s *Server) consentNeeded(ctx context.Context, lf *loginFlow) (bool, error) {
	if lf.req.prompts("consent") {
		return true, nil
	}
	_, client, err := s.clientOf(ctx, lf)
	if err != nil {
		return false, err
	}
	if client.FirstParty {
		return false, nil
	}
	granted, err := s.store.ConsentedScopes(ctx, *lf.UserID, lf.ClientID)
	if err != nil {
		return false, err
	}
	return !covers(granted, lf.req.Scopes), nil
}

// issue answers the RP's authorize request, in the step's transaction. It
// is the only place that issues an authorization code, and only for a
// flow it moves from mfa_ok (password and PIN both checked) to done, so a
// flow yields at most one response and never one without the PIN. ar is
// the request fosite just validated, or nil to rebuild it from the flow.
func (s *Server) issue(ctx context.Context, r *http.Request, lf *loginFlow, ar fosite.AuthorizeRequester, allow bool) (*issued, error) {
	if lf.Purpose != store.PurposeLogin {
		return nil, errors.New("issue: not a login flow")
	}
	if err := s.store.Move(ctx, lf.Flow, store.MoveFinish, nil); err != nil {
		return nil, err
	}
	ctx, _, err := s.clientOf(ctx, lf)
	if err != nil {
		return nil, err
	}
	if ar == nil {
		var err error
		if ar, err = s.rebuildAuthorize(ctx, r, lf); err != nil {
			if ar == nil || !ar.IsRedirectURIValid() {
				return nil, err
			}
			return &issued{ar: ar, err: err}, nil // the RP learns its request no longer holds
		}
	}
	if !allow {
		if err := s.auditIn(ctx, r, store.AuditEvent{Event: "consent", Outcome: "denied", UserID: deref(lf.UserID), ClientID: lf.ClientID, FlowID: lf.ID}); err != nil {
			return nil, err
		}
		return &issued{ar: ar, err: fosite.ErrAccessDenied.WithHint("The user declined the request.")}, nil
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	user, err := s.store.UserByID(ctx, *lf.UserID)
	if err != nil {
		return nil, err
	}
	if user.Disabled() {
		// Disabled while this login was under way: nothing is issued.
		return &issued{ar: ar, err: fosite.ErrAccessDenied.WithHint("The account is disabled.")}, nil
	}
	acr, ok := lf.req.acrFor(strings.Fields(lf.AMR))
	if !ok {
		// What was done is not what the RP requires: no token says a
		// lower class than it asked for.
		if err := s.auditIn(ctx, r, store.AuditEvent{Event: "login.completed", Outcome: "unmet_acr", UserID: user.ID, Username: user.Username,
			ClientID: lf.ClientID, FlowID: lf.ID, Detail: "amr=" + lf.AMR}); err != nil {
			return nil, err
		}
		return &issued{ar: ar, err: errUnmetACR.WithHint("The sign-in did not meet the authentication context class required.")}, nil
	}
	session := s.sessionFor(lf, user, acr)
	if err := s.addRequestedClaims(ctx, r, lf, ar, user, session); err != nil {
		return nil, err
	}
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "login completed", "flow_id", lf.ID, "client_id", lf.ClientID)
	if err := s.auditIn(ctx, r, store.AuditEvent{Event: "login.completed", Outcome: "ok", UserID: user.ID, Username: user.Username,
		ClientID: lf.ClientID, FlowID: lf.ID, Detail: "amr=" + lf.AMR}); err != nil {
		return nil, err
	}
	s.stats.add("login_completed")
	return &issued{ar: ar, resp: resp}, nil
}

// rebuildAuthorize makes the authorize request again from what the flow
// stored: fosite checks it again (the client may have changed since), and
// it keeps the time the RP asked, which prompt and max_age are judged
// against.
func (s *Server) rebuildAuthorize(ctx context.Context, r *http.Request, lf *loginFlow) (fosite.AuthorizeRequester, error) {
	orig := r.Clone(ctx)
	orig.Method = http.MethodGet
	orig.URL = &url.URL{Path: "/oauth2/auth", RawQuery: lf.RequestQuery}
	orig.Form, orig.PostForm, orig.Body, orig.ContentLength = nil, nil, http.NoBody, 0
	orig.Header = r.Header.Clone()
	orig.Header.Del("Content-Type")
	ar, err := s.oauth.NewAuthorizeRequest(ctx, orig)
	if err != nil {
		return ar, err
	}
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = lf.RequestedAt
	}
	return ar, nil
}

// sessionFor is the fosite session of a completed login: the ID token
// claims the RP can check (OIDC Core 2, RFC 8176).
func (s *Server) sessionFor(lf *loginFlow, u *store.User, acr string) *openid.DefaultSession {
	authTime := time.Time{}
	if lf.AuthTime != nil {
		authTime = lf.AuthTime.Truncate(time.Second)
	}
	extra := map[string]any{}
	if lf.SessionID != nil {
		extra["sid"] = *lf.SessionID // ties the tokens to the session, for logout
	}
	return &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{
			Subject:                         u.ID,
			AuthTime:                        authTime,
			RequestedAt:                     lf.RequestedAt.Truncate(time.Second),
			AuthenticationMethodsReferences: strings.Fields(lf.AMR),
			// What was done, in the class the RP asked for (acrFor).
			AuthenticationContextClassReference: acr,
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
func (s *Server) addRequestedClaims(ctx context.Context, r *http.Request, lf *loginFlow, ar fosite.AuthorizeRequester, u *store.User, sess *openid.DefaultSession) error {
	if lf.req.Claims == "" {
		return nil
	}
	var req struct {
		IDToken map[string]json.RawMessage `json:"id_token"`
	}
	if json.Unmarshal([]byte(lf.req.Claims), &req) != nil || len(req.IDToken) == 0 {
		return nil // malformed or nothing for the ID token: ignored, as OIDC Core 5.5 allows
	}
	available, err := s.userClaims(r.WithContext(ctx), u, ar.GetGrantedScopes())
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

// --- the ways out -------------------------------------------------------------

// handleRestart takes a flow back to the password, forgetting who typed
// it: the way on from a code that cannot be had.
func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, anyState)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		return s.store.Move(ctx, lf.Flow, store.MoveRestart, nil)
	})
}

// handleCancel ends a flow at the user's wish: the RP is told
// access_denied (RFC 6749 4.1.2.1), a phone change is left undone.
func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	lf, ok := s.at(w, r, anyState)
	if !ok {
		return
	}
	s.run(w, r, lf, func(ctx context.Context, st *step) error {
		if err := s.store.Move(ctx, lf.Flow, store.MoveCancel, nil); err != nil {
			return err
		}
		s.stats.add("login_abandoned")
		if lf.Purpose != store.PurposeLogin {
			return nil
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
			err = fosite.ErrAccessDenied.WithHint("The user cancelled the sign-in.")
		}
		st.issued = &issued{ar: ar, err: err}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "login.cancelled", Outcome: "ok", UserID: deref(lf.UserID), ClientID: lf.ClientID, FlowID: lf.ID})
	})
}

// doneNotice answers a step that finished a flow without an RP to
// return to (a phone change or an enrolment, done or cancelled).
func (s *Server) doneNotice(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	switch {
	case lf.Purpose == store.PurposeLogin:
		s.flowFinished(w, r, lf)
		return
	case lf.Purpose == store.PurposeDevice:
		s.deviceDone(w, r, lf)
		return
	case lf.Made(store.MoveOpenAccount):
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	lang := s.langFor(r, "")
	msg, arg := ui.MsgPhoneUnchanged, ""
	number := func() string {
		if c, err := s.opt.MFA.Get(r.Context(), deref(lf.ChallengeID)); err == nil {
			return mfa.Masked(c.Phone)
		}
		return ""
	}
	switch {
	case lf.Made(store.MoveNewPhonePIN):
		msg, arg = ui.MsgPhoneChanged, number()
	case lf.Made(store.MoveEnrolPIN):
		msg, arg = ui.MsgPhoneEnrolled, number()
	case lf.Purpose == store.PurposeEnrol:
		msg = ui.MsgPhoneNotEnrolled
	case lf.Made(store.MoveNewPassword):
		msg = ui.MsgPasswordReset
	case lf.Purpose == store.PurposeReset:
		msg = ui.MsgPasswordUnchanged
	case lf.Purpose == store.PurposeAccount:
		msg = ui.MsgAccountSignInCancelled
	}
	page := ui.NoticePage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)}, Msg: msg, Arg: arg}
	if lf.Purpose == store.PurposePhoneChange || lf.Purpose == store.PurposeAccount {
		page.Actions = []ui.Action{{Label: ui.ActionAccount, URL: "/account"}}
	}
	s.opt.UI.Render(w, http.StatusOK, page)
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
