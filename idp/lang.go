package idp

import (
	"net/http"

	"github.com/smspin/idp/ui"
)

// langFor picks a page's language: an explicit choice on the language
// switch (remembered in a cookie), then the RP's ui_locales, then the
// browser's Accept-Language, then the operator's default.
func (s *Server) langFor(r *http.Request, uiLocales string) string {
	if l, ok := ui.ParseLang(r.URL.Query().Get("lang")); ok {
		return l
	}
	if c, err := r.Cookie("idp_lang"); err == nil {
		if l, ok := ui.ParseLang(c.Value); ok {
			return l
		}
	}
	return ui.MatchLang(uiLocales, r.Header.Get("Accept-Language"), s.opt.DefaultLocale)
}

// userLang is the language of what is sent to a user: their own when
// the operator set one, else the page's.
func (s *Server) userLang(r *http.Request, locale string) string {
	if l, ok := ui.ParseLang(locale); ok {
		return l
	}
	return s.langFor(r, "")
}

// rememberLang keeps a language chosen on the switch for later pages.
func (s *Server) rememberLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := ui.ParseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: "idp_lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
}
