package idp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/store"
)

// ACRPasswordSMS is the authentication context class of a password and
// an SMS PIN (see acr.go for the others). An RP that lists it in
// acr_values gets a fresh PIN even when the browser's last one is
// remembered.
const ACRPasswordSMS = "urn:idp:acr:pwd+sms"

func (s *Server) sessionCookieName() string {
	if s.secure {
		return "__Host-idp_session"
	}
	return "idp_session"
}

// currentSession returns the browser's live sign-in session, or nil.
func (s *Server) currentSession(r *http.Request) *store.Session {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	sess, err := s.store.SessionByToken(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.WarnContext(r.Context(), "read session", "err", err)
		}
		return nil
	}
	return sess
}

// startSession makes a new session for a completed login, in the step's
// transaction, replacing any the browser had: a new id and cookie at
// every login, so a session id an attacker planted or saw before is worth
// nothing after it. The cookie is set once the step has committed.
func (s *Server) startSession(ctx context.Context, r *http.Request, userID string, authTime time.Time, amr []string) (*store.Session, *http.Cookie, error) {
	if old := s.currentSession(r); old != nil {
		if _, err := s.store.RevokeSession(ctx, old.ID); err != nil {
			return nil, nil, err
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	sess := &store.Session{
		UserID: userID, AMR: strings.Join(amr, " "), AuthTime: authTime, MFATime: authTime,
		ExpiresAt: authTime.Add(s.opt.SessionTTL), UserAgent: truncate(r.UserAgent(), 256), IP: s.clientIP(r).String(),
	}
	if err := s.store.CreateSession(ctx, sess, token); err != nil {
		return nil, nil, err
	}
	return sess, &http.Cookie{
		Name: s.sessionCookieName(), Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}, nil
}

// signIn records a second factor (proving amr) on the flow's session, in
// the step's transaction: the same session with a fresh factor time when
// the flow reused one, else a new session whose cookie the step sets. It
// returns the session's id.
func (s *Server) signIn(ctx context.Context, r *http.Request, st *step, now time.Time, amr []string) (string, error) {
	lf := st.lf
	if lf.SessionID != nil {
		return *lf.SessionID, s.store.TouchSession(ctx, *lf.SessionID, now, strings.Join(amr, " "))
	}
	sess, cookie, err := s.startSession(ctx, r, *lf.UserID, now, amr)
	if err != nil {
		return "", err
	}
	st.cookies = append(st.cookies, cookie)
	return sess.ID, nil
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// mfaRemembered reports whether the session's last PIN still counts.
func (s *Server) mfaRemembered(sess *store.Session) bool {
	return s.opt.MFARemember > 0 && s.now().Sub(sess.MFATime) <= s.opt.MFARemember
}

// reuse decides what an existing session spares an authorize request
// (OIDC Core 3.1.2.1): nothing under prompt=login, when max_age has passed
// since the password, or when id_token_hint names another user.
func (s *Server) reuse(ctx context.Context, req authRequest, sess *store.Session) bool {
	if sess == nil || req.prompts("login") {
		return false
	}
	if req.MaxAge >= 0 && s.now().Sub(sess.AuthTime) > req.MaxAge {
		return false
	}
	if req.IDTokenHint != "" {
		if sub, _, ok := s.hintSubject(ctx, req.IDTokenHint); !ok || sub != sess.UserID {
			return false
		}
	}
	return true
}

// hintSubject reads an id_token_hint we issued: its signature must verify
// with one of our keys; expiry does not matter (OIDC Core 3.1.2.1).
func (s *Server) hintSubject(ctx context.Context, raw string) (sub, sid string, ok bool) {
	h, ok := s.readHint(ctx, raw)
	return h.sub, h.sid, ok
}

// idTokenHint is what an id_token_hint says.
type idTokenHint struct {
	sub, sid string
	aud      []string
}

// readHint reads an id_token_hint (OIDC Core 3.1.2.1, RP-Initiated Logout
// 2): an ID token we issued, its signature verified with one of our keys,
// its expiry not minded. Our keys sign JWT access tokens too; one of
// those, which a resource server holds, is no hint.
func (s *Server) readHint(ctx context.Context, raw string) (idTokenHint, bool) {
	tok, err := s.signer.Decode(ctx, raw)
	if tok == nil || (err != nil && !isExpiredOnly(err)) {
		return idTokenHint{}, false
	}
	if typ, _ := tok.Header["typ"].(string); strings.EqualFold(strings.TrimPrefix(typ, "application/"), jwtTyp) {
		return idTokenHint{}, false
	}
	if iss, _ := tok.Claims["iss"].(string); iss != s.opt.Issuer {
		return idTokenHint{}, false
	}
	var h idTokenHint
	h.sub, _ = tok.Claims["sub"].(string)
	h.sid, _ = tok.Claims["sid"].(string)
	h.aud = audience(tok.Claims["aud"])
	return h, h.sub != ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// isExpiredOnly reports a token whose one fault is its age.
func isExpiredOnly(err error) bool {
	var ve *jwt.ValidationError
	return errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired
}
