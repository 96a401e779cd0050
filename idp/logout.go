package idp

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/ui"
)

// logoutRequest is an RP-initiated logout request (OpenID Connect
// RP-Initiated Logout 1.0, section 2), checked.
type logoutRequest struct {
	client      *store.Client // from id_token_hint's aud or client_id; nil if neither
	redirect    string        // a registered post_logout_redirect_uri, or ""
	state       string
	hintSub     string // subject of a valid id_token_hint
	hintSID     string
	uiLocales   string
	hintPresent bool
	ended       []string // the sessions this request ended
}

// handleLogout is the end_session_endpoint (OpenID Connect RP-Initiated
// Logout 1.0). A valid id_token_hint, signed by us (expired or not, section
// 2), is the RP's proof: the session it names ends at once, with or without
// the browser's cookie (an RP may call from its server), and the browser
// may go back to the RP's registered post_logout_redirect_uri. Without
// that proof the browser's own session is ended only when its user
// confirms on our page, and the redirect is made only then; anyone else
// sees the signed-out page, so a link elsewhere can neither sign people
// out nor use us as a redirector.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	lr, ok := s.parseLogout(w, r)
	if !ok {
		return
	}
	sess := s.currentSession(r)
	switch {
	case sess != nil && lr.hintSub != "" && lr.hintSub == sess.UserID && (lr.hintSID == "" || lr.hintSID == sess.ID):
		s.endSession(w, r, lr, sess)
		s.loggedOut(w, r, lr, true)
	case sess != nil:
		// The browser's session is not the one the hint named, or there is
		// no valid hint: the hint's session ends, the browser's user decides
		// about theirs.
		if lr.hintSub != "" && lr.hintSID != "" {
			s.endSessionByHint(r, lr)
		}
		s.confirmLogout(w, r, lr, sess)
	default:
		if lr.hintSub != "" && lr.hintSID != "" {
			s.endSessionByHint(r, lr)
		}
		s.loggedOut(w, r, lr, lr.hintSub != "")
	}
}

// endSessionByHint ends the session a valid id_token_hint names, if it
// is still live and belongs to the hint's subject.
func (s *Server) endSessionByHint(r *http.Request, lr *logoutRequest) {
	ctx := r.Context()
	sess, err := s.store.Session(ctx, lr.hintSID)
	if err != nil || sess.UserID != lr.hintSub || sess.RevokedAt != nil {
		return
	}
	ended, err := s.store.RevokeSession(ctx, sess.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "end session named by id_token_hint", "sid", sess.ID, "err", err)
		return
	}
	if ended {
		lr.ended = append(lr.ended, sess.ID)
		s.logouts.Kick()
		s.stats.add("logout")
		s.audit(r, store.AuditEvent{Event: "session.ended", Outcome: "ok", UserID: sess.UserID, ClientID: lr.clientID(), Detail: "logout by id_token_hint"})
		s.log.InfoContext(ctx, "signed out by id_token_hint", "sid", sess.ID)
	}
}

func (lr *logoutRequest) clientID() string {
	if lr.client == nil {
		return ""
	}
	return lr.client.GetID()
}

// parseLogout reads and checks the request parameters; on a bad request it
// answers with the error page (a redirect to an unchecked URI is never
// made) and returns false.
func (s *Server) parseLogout(w http.ResponseWriter, r *http.Request) (*logoutRequest, bool) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest)
		return nil, false
	}
	lr := &logoutRequest{state: r.Form.Get("state"), uiLocales: r.Form.Get("ui_locales")}
	clientID := r.Form.Get("client_id")
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		lr.hintPresent = true
		if h, ok := s.readHint(ctx, hint); ok {
			lr.hintSub, lr.hintSID = h.sub, h.sid
			if clientID != "" && !slices.Contains(h.aud, clientID) {
				s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest)
				return nil, false
			}
			if clientID == "" && len(h.aud) > 0 {
				clientID = h.aud[0]
			}
		}
		if lr.hintSub == "" {
			// A hint we did not issue, or forged: never trusted, and the
			// redirect it would vouch for is not made.
			s.log.InfoContext(ctx, "logout: id_token_hint not valid")
		}
	}
	if clientID != "" {
		c, err := s.store.Client(ctx, clientID)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, ui.MsgUnknownClient)
			return nil, false
		}
		lr.client = c
	}
	if u := r.Form.Get("post_logout_redirect_uri"); u != "" {
		if lr.client == nil || !slices.Contains(lr.client.PostLogoutRedirectURIs, u) {
			s.log.InfoContext(ctx, "logout: post_logout_redirect_uri not registered", "client_id", clientID)
			s.errorPage(w, r, http.StatusBadRequest, ui.MsgBadRedirectURI)
			return nil, false
		}
		lr.redirect = u
	}
	return lr, true
}

func audience(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// logoutCSRF binds the confirmation form to this browser and session.
func (s *Server) logoutCSRF(r *http.Request, sess *store.Session) string {
	return s.csrfFor("logout", s.currentBrowser(r), sess.ID)
}

func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest, sess *store.Session) {
	q := url.Values{}
	for k, v := range map[string]string{"post_logout_redirect_uri": lr.redirect, "state": lr.state, "ui_locales": lr.uiLocales} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if lr.client != nil {
		q.Set("client_id", lr.client.GetID())
	}
	s.browserID(w, r)
	lang := s.langFor(r, lr.uiLocales)
	page := ui.LogoutPage{
		Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r), CSRFToken: s.logoutCSRF(r, sess)},
		Action: "/oauth2/logout/confirm?" + q.Encode(),
	}
	if lr.client != nil {
		page.ClientName = lr.client.Name
	}
	if lr.redirect != "" {
		page.RedirectURIs = []string{lr.redirect}
	}
	s.opt.UI.Render(w, http.StatusOK, page)
}

// handleLogoutConfirm is the answer to the confirmation page.
func (s *Server) handleLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	lr, ok := s.parseLogout(w, r)
	if !ok {
		return
	}
	sess := s.currentSession(r)
	if sess == nil {
		// Signed out meanwhile (another tab); nothing was confirmed.
		s.loggedOut(w, r, lr, false)
		return
	}
	if !s.csrfValid(r.PostFormValue("csrf_token"), "logout", s.currentBrowser(r), sess.ID) {
		s.errorPage(w, r, http.StatusForbidden, ui.MsgCSRF)
		return
	}
	if r.PostFormValue("logout") != "yes" {
		if lr.redirect != "" {
			s.redirectAfterLogout(w, r, lr)
			return
		}
		lang := s.langFor(r, lr.uiLocales)
		s.opt.UI.Render(w, http.StatusOK, ui.NoticePage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang)}, Msg: ui.MsgStillSignedIn})
		return
	}
	s.endSession(w, r, lr, sess)
	s.loggedOut(w, r, lr, true) // the user confirmed
}

// endSession ends the browser's session and its tokens, and has its RPs
// told (Back-Channel Logout 1.0).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, lr *logoutRequest, sess *store.Session) {
	ended, err := s.store.RevokeSession(r.Context(), sess.ID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "end session", "err", err)
	}
	if ended {
		lr.ended = append(lr.ended, sess.ID)
		s.logouts.Kick()
	}
	s.clearSessionCookie(w)
	s.stats.add("logout")
	s.audit(r, store.AuditEvent{Event: "session.ended", Outcome: "ok", UserID: sess.UserID, Detail: "logout"})
	s.log.InfoContext(r.Context(), "signed out", "sid", sess.ID)
}

// loggedOut returns to the RP's registered post-logout URI when the
// redirect is vouched for (a valid id_token_hint of that client, or the
// user's own confirmation), else shows the signed-out page.
func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest, vouched bool) {
	frames := s.frontchannelURIs(r, lr.ended)
	if lr.redirect != "" && vouched && len(frames) == 0 {
		s.redirectAfterLogout(w, r, lr)
		return
	}
	lang := s.langFor(r, lr.uiLocales)
	page := ui.LoggedOutPage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)}, FrontchannelLogoutURIs: frames}
	if lr.redirect != "" && vouched {
		// The frames must load here first; the way on is a link.
		page.ContinueURI = postLogoutURL(lr)
	}
	s.opt.UI.Render(w, http.StatusOK, page)
}

// frontchannelURIs are the front-channel logout URIs (OpenID Connect
// Front-Channel Logout 1.0 section 2) of the clients of the sessions just
// ended, each with iss and sid (section 3), for the signed-out page.
func (s *Server) frontchannelURIs(r *http.Request, ended []string) []string {
	var out []string
	for _, sid := range ended {
		clients, err := s.store.SessionClients(r.Context(), sid)
		if err != nil {
			s.log.WarnContext(r.Context(), "front-channel logout: session clients", "sid", sid, "err", err)
			continue
		}
		for _, c := range clients {
			u, err := url.Parse(c.FrontchannelLogoutURI)
			if c.FrontchannelLogoutURI == "" || err != nil {
				continue
			}
			q := u.Query()
			q.Set("iss", s.opt.Issuer)
			q.Set("sid", sid)
			u.RawQuery = q.Encode()
			out = append(out, u.String())
		}
	}
	return out
}

func (s *Server) redirectAfterLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	http.Redirect(w, r, postLogoutURL(lr), http.StatusSeeOther)
}

// postLogoutURL is the registered post_logout_redirect_uri with state.
func postLogoutURL(lr *logoutRequest) string {
	u, _ := url.Parse(lr.redirect)
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state)
		u.RawQuery = q.Encode()
	}
	return u.String()
}
