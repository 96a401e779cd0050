package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
)

// The browser cookie ties a login flow to the browser that began it: a
// flow id alone, copied into another browser, cannot be completed.
func (s *Server) browserCookieName() string {
	if s.secure {
		// __Host-: Secure, path /, no Domain; a sibling subdomain cannot
		// plant it (RFC 6265bis section 4.1.3.2).
		return "__Host-idp_browser"
	}
	return "idp_browser"
}

// browserID returns this browser's id, setting the cookie when absent.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.browserCookieName()); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	id := newBrowserID()
	http.SetCookie(w, s.browserCookie(id))
	return id
}

// newBrowserID makes a fresh browser id. A new one is given after the
// password, so an id seen or planted before the login (session fixation)
// is worth nothing after it.
func newBrowserID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserCookie is the cookie that carries a browser id.
func (s *Server) browserCookie(id string) *http.Cookie {
	return &http.Cookie{
		Name:     s.browserCookieName(),
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// currentBrowser returns the browser id the request carries, or "".
func (s *Server) currentBrowser(r *http.Request) string {
	c, err := r.Cookie(s.browserCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

func hashBrowser(id string) string {
	sum := sha256.Sum256([]byte("browser\x00" + id))
	return hex.EncodeToString(sum[:])
}

// csrfToken binds a form to one flow in one browser; it needs no storage.
func (s *Server) csrfToken(flowID, browser string) string { return s.csrfFor(flowID, browser) }

// csrfOK checks a form's token, also under the keys of old secrets (see
// csrfValid).
func (s *Server) csrfOK(r *http.Request, flowID string) bool {
	return s.csrfValid(r.PostFormValue("csrf_token"), flowID, s.currentBrowser(r))
}

// stepURL is the page of a login step for a flow.
func stepURL(path, flowID string) string {
	return path + "?flow=" + url.QueryEscape(flowID)
}
