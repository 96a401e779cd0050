package idp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
}

// handleLogout is the end_session_endpoint. With an id_token_hint of the
// browser's own session it signs out at once; otherwise it asks first, so
// a page elsewhere cannot sign people out by a link.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	lr, ok := s.parseLogout(w, r)
	if !ok {
		return
	}
	sess := s.currentSession(r)
	switch {
	case sess == nil:
		s.loggedOut(w, r, lr) // nothing to end
	case lr.hintSub != "" && lr.hintSub == sess.UserID && (lr.hintSID == "" || lr.hintSID == sess.ID):
		s.endSession(w, r, sess)
		s.loggedOut(w, r, lr)
	default:
		s.confirmLogout(w, r, lr, sess)
	}
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
		tok, err := s.signer.Decode(ctx, hint)
		if tok != nil && (err == nil || isExpiredOnly(err)) {
			if iss, _ := tok.Claims["iss"].(string); iss == s.opt.Issuer {
				lr.hintSub, _ = tok.Claims["sub"].(string)
				lr.hintSID, _ = tok.Claims["sid"].(string)
				aud := audience(tok.Claims["aud"])
				if clientID != "" && !slices.Contains(aud, clientID) {
					s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest)
					return nil, false
				}
				if clientID == "" && len(aud) > 0 {
					clientID = aud[0]
				}
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
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("logout\x00" + s.currentBrowser(r) + "\x00" + sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
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
		s.loggedOut(w, r, lr)
		return
	}
	if got := r.PostFormValue("csrf_token"); got == "" || !hmac.Equal([]byte(got), []byte(s.logoutCSRF(r, sess))) {
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
	s.endSession(w, r, sess)
	s.loggedOut(w, r, lr)
}

// endSession ends the browser's session and its tokens.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sess *store.Session) {
	if _, err := s.store.RevokeSession(r.Context(), sess.ID); err != nil {
		s.log.ErrorContext(r.Context(), "end session", "err", err)
	}
	s.clearSessionCookie(w)
	s.stats.add("logout")
	s.audit(r, store.AuditEvent{Event: "session.ended", Outcome: "ok", UserID: sess.UserID, Detail: "logout"})
	s.log.InfoContext(r.Context(), "signed out", "sid", sess.ID)
}

// loggedOut returns to the RP's registered post-logout URI, or shows the
// signed-out page.
func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	if lr.redirect != "" {
		s.redirectAfterLogout(w, r, lr)
		return
	}
	lang := s.langFor(r, lr.uiLocales)
	s.opt.UI.Render(w, http.StatusOK, ui.LoggedOutPage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)}})
}

func (s *Server) redirectAfterLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	u, _ := url.Parse(lr.redirect)
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
