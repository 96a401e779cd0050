package idp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/smspin/idp/idp/store"
)

// Trusted browsers, when the operator offers them (IDP_TRUSTED_DEVICE_TTL):
// on the PIN page of a login the user may tick "don't ask for a code on
// this browser". The browser then holds a random cookie, kept only as a
// hash and bound to that user, and a later login there with the password
// skips the second factor (password_trusted, or session_trusted for a
// live session whose PIN is no longer remembered).
//
// Such a login proves the password alone, and says so: amr ["pwd"], acr
// urn:idp:acr:pwd. An RP that requires more (acr_values) gets the PIN
// asked as usual, and the account page, which needs a full sign-in, asks
// for it too. The cookie copied into another browser works there for the
// same user only; for anyone else it is nothing. Users list and forget
// their trusted browsers on the account page; a password reset forgets
// them all, a password change all but the browser that changed it.

// amrPassword is what a login on a trusted browser proves now.
var amrPassword = []string{"pwd"}

func (s *Server) deviceCookieName() string {
	if s.secure {
		return "__Host-idp_device"
	}
	return "idp_device"
}

// deviceToken is the trusted-browser cookie the request carries, or "".
func (s *Server) deviceToken(r *http.Request) string {
	if s.opt.TrustedDeviceTTL <= 0 {
		return ""
	}
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil || len(c.Value) < 32 || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

// trustedFor reports whether this browser is one user trusted, and so may
// skip the second factor for a login of an RP that takes a password
// alone. It records the use.
func (s *Server) trustedFor(ctx context.Context, r *http.Request, lf *loginFlow, userID string) (bool, error) {
	token := s.deviceToken(r)
	if token == "" || lf.Purpose != store.PurposeLogin || !lf.req.acceptsAMR(amrPassword) {
		return false, nil
	}
	_, err := s.store.UseTrustedDevice(ctx, token, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// skipSecondFactor makes move (password_trusted, session_trusted): the
// flow goes on to mfa_ok with the password alone, on the session of the
// flow or a new one, in the step's transaction.
func (s *Server) skipSecondFactor(ctx context.Context, r *http.Request, st *step, move store.MoveName, authTime time.Time, set map[string]any) error {
	lf := st.lf
	userID, _ := set["user_id"].(string)
	sid, _ := set["session_id"].(string)
	if sid == "" {
		sess, cookie, err := s.startSession(ctx, r, userID, authTime, amrPassword)
		if err != nil {
			return err
		}
		st.cookies = append(st.cookies, cookie)
		set["session_id"] = sess.ID
	}
	set["amr"], set["auth_time"] = "pwd", authTime
	if err := s.auditIn(ctx, r, store.AuditEvent{Event: "trusted_device.used", Outcome: "ok", UserID: userID, ClientID: lf.ClientID,
		FlowID: lf.ID}); err != nil {
		return err
	}
	return s.store.Move(ctx, lf.Flow, move, set)
}

// trustThisBrowser records the browser of a login whose PIN was right as
// trusted by its user, when the user asked, in the step's transaction;
// the cookie is set once the step commits.
func (s *Server) trustThisBrowser(ctx context.Context, r *http.Request, st *step, userID string) error {
	if s.opt.TrustedDeviceTTL <= 0 || st.lf.Purpose != store.PurposeLogin || r.PostFormValue("trust_device") != "yes" {
		return nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	d := &store.TrustedDevice{UserID: userID, ExpiresAt: s.store.Now().Add(s.opt.TrustedDeviceTTL),
		UserAgent: truncate(r.UserAgent(), 256), IP: s.clientIP(r).String()}
	if err := s.store.CreateTrustedDevice(ctx, d, token); err != nil {
		return err
	}
	st.cookies = append(st.cookies, &http.Cookie{Name: s.deviceCookieName(), Value: token, Path: "/", Expires: d.ExpiresAt,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return s.auditIn(ctx, r, store.AuditEvent{Event: "trusted_device.added", Outcome: "ok", UserID: userID, FlowID: st.lf.ID,
		Detail: "until " + d.ExpiresAt.Format(time.RFC3339)})
}
