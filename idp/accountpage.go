package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// The account page (/account) is where people see and change their own
// account: password, phone, recovery codes, sign-in sessions, recent
// sign-ins. It is behind a full sign-in, a session made by a password and
// a second factor; without one, /account begins a flow of its own
// (purpose account) through the same table as a login:
//
//	new -> awaiting_pin -> mfa_ok -> done, then back to /account
//	(password)   (PIN, or a recovery code)
//
// Every change needs that sign-in to be fresh (accountFresh): a browser
// left signed in cannot be used to change the account without the
// password and a second factor again.

// accountFresh is how recent a full sign-in must be to change the account.
const accountFresh = 10 * time.Minute

// accountUser is the signed-in user of an account page request.
type accountUser struct {
	sess *store.Session
	user *store.User
}

// fresh reports whether the session's sign-in is recent enough for a
// change.
func (s *Server) fresh(sess *store.Session) bool {
	now := s.now()
	return now.Sub(sess.AuthTime) <= accountFresh && now.Sub(sess.MFATime) <= accountFresh
}

// accountSession returns the browser's full sign-in; without one it sends
// the browser to sign in and returns false. A session whose second factor
// a trusted browser spared is no full sign-in.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*accountUser, bool) {
	sess := s.currentSession(r)
	if sess == nil || !strings.Contains(" "+sess.AMR+" ", " mfa ") {
		http.Redirect(w, r, "/account/signin", http.StatusSeeOther)
		return nil, false
	}
	user, err := s.store.UserByID(r.Context(), sess.UserID)
	if err != nil {
		s.fail(w, r, nil, err)
		return nil, false
	}
	return &accountUser{sess: sess, user: user}, true
}

// accountChange is accountSession for a change posted from the account
// pages: its form parsed, its CSRF token bound to the session checked,
// and the sign-in fresh, or the browser is sent to sign in again.
func (s *Server) accountChange(w http.ResponseWriter, r *http.Request) (*accountUser, bool) {
	if !s.parseForm(w, r) {
		return nil, false
	}
	au, ok := s.accountSession(w, r)
	if !ok {
		return nil, false
	}
	if !s.csrfValid(r.PostFormValue("csrf_token"), "account", au.sess.ID, s.currentBrowser(r)) {
		s.errorPage(w, r, http.StatusForbidden, ui.MsgCSRF, ui.Action{Label: ui.ActionAccount, URL: "/account"})
		return nil, false
	}
	if !s.fresh(au.sess) {
		http.Redirect(w, r, "/account/signin", http.StatusSeeOther)
		return nil, false
	}
	return au, true
}

func (s *Server) accountCSRF(r *http.Request, sess *store.Session) string {
	return s.csrfFor("account", sess.ID, s.currentBrowser(r))
}

func (s *Server) accountCommon(r *http.Request, sess *store.Session) ui.Common {
	lang := s.langFor(r, "")
	return ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r), CSRFToken: s.accountCSRF(r, sess)}
}

// handleAccountSignIn begins a full sign-in to the account page in this
// browser, whatever session it has.
func (s *Server) handleAccountSignIn(w http.ResponseWriter, r *http.Request) {
	browser := s.browserID(w, r)
	now := s.store.Now()
	f := &store.Flow{Purpose: store.PurposeAccount, BrowserHash: hashBrowser(browser), RequestedAt: now, ExpiresAt: now.Add(s.opt.LoginFlowTTL)}
	if err := s.store.CreateFlow(r.Context(), f); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, stepURL(pageOf[f.State], f.ID), http.StatusSeeOther)
}

// accountActivity are the events the account page lists as recent
// activity, with their words.
var accountActivity = map[string]ui.MsgID{
	"login.completed/ok":       ui.MsgActivitySignedIn,
	"device.approved/ok":       ui.MsgActivityDeviceApproved,
	"login.password/failed":    ui.MsgActivityWrongPassword,
	"login.password/throttled": ui.MsgActivityThrottled,
	"recovery_code.used/ok":    ui.MsgActivityRecoveryCode,
	"password.changed/ok":      ui.MsgActivityPasswordChanged,
	"password.reset/ok":        ui.MsgActivityPasswordReset,
	"phone.changed/ok":         ui.MsgActivityPhoneChanged,
	"recovery_codes.made/ok":   ui.MsgActivityRecoveryCodes,
	"totp.added/ok":            ui.MsgActivityTOTPAdded,
	"totp.removed/ok":          ui.MsgActivityTOTPRemoved,
	"passkey.added/ok":         ui.MsgActivityPasskeyAdded,
	"passkey.removed/ok":       ui.MsgActivityPasskeyRemoved,
}

// handleAccount shows the account page.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	s.rememberLang(w, r)
	page := ui.AccountPage{Common: s.accountCommon(r, au.sess), Username: au.user.Username, Fresh: s.fresh(au.sess),
		ConfirmURL: "/account/signin", PhoneChangeURL: "/account/phone", PasswordURL: "/account/password",
		RecoveryAction: "/account/recovery-codes", SessionRevokeAction: "/account/sessions/revoke", SignOutURL: "/oauth2/logout",
		Trusting: s.opt.TrustedDeviceTTL > 0, DeviceForgetAction: "/account/devices/forget",
		TOTPAddAction: "/account/totp/new", TOTPRemoveAction: "/account/totp/remove",
		PasskeyRenameAction: "/account/passkeys/rename", PasskeyRemoveAction: "/account/passkeys/remove"}
	if s.webauthn != nil {
		page.PasskeyAddAction, page.PasskeyOptionsURL = "/account/passkeys", "/account/passkeys/options"
	}
	switch n := r.URL.Query().Get("notice"); ui.MsgID(n) {
	case ui.MsgPasswordChanged, ui.MsgSessionEnded, ui.MsgDeviceForgotten, ui.MsgTOTPAdded, ui.MsgTOTPRemoved,
		ui.MsgPasskeyAdded, ui.MsgPasskeyRemoved, ui.MsgPasskeyRenamed:
		page.Notice = ui.MsgID(n)
	}
	phone, err := s.store.PhoneOf(ctx, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if phone != nil {
		page.Phone = mfa.Masked(phone.Number)
	}
	if t, err := s.store.TOTPOf(ctx, au.user.ID); err == nil && t.Confirmed() {
		page.TOTPAdded, page.TOTPLastUsed = when(*t.ConfirmedAt), when(*t.ConfirmedAt)
		if t.LastUsedAt != nil {
			page.TOTPLastUsed = when(*t.LastUsedAt)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, nil, err)
		return
	}
	passkeys, err := s.store.PasskeysOf(ctx, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	for _, p := range passkeys {
		ap := ui.AccountPasskey{ID: p.CredentialID, Name: p.Name, Added: when(p.CreatedAt), Synced: p.BackupState}
		if p.LastUsedAt != nil {
			ap.LastUsed = when(*p.LastUsedAt)
		}
		page.Passkeys = append(page.Passkeys, ap)
	}
	left, made, err := s.store.RecoveryCodesLeft(ctx, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	page.RecoveryLeft = left
	if !made.IsZero() {
		page.RecoveryMade = when(made)
	}
	sessions, err := s.store.UserSessions(ctx, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	for _, x := range sessions {
		page.Sessions = append(page.Sessions, ui.AccountSession{ID: x.ID, Agent: describeAgent(x.UserAgent), IP: x.IP,
			Created: when(x.CreatedAt), LastSeen: when(x.LastSeenAt), Current: x.ID == au.sess.ID})
	}
	devices, err := s.store.UserTrustedDevices(ctx, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	token := s.deviceToken(r)
	for _, d := range devices {
		page.Devices = append(page.Devices, ui.AccountDevice{ID: d.ID, Agent: describeAgent(d.UserAgent), IP: d.IP, Created: when(d.CreatedAt),
			LastUsed: when(d.LastUsedAt), Until: when(d.ExpiresAt), Current: d.Holds(token)})
	}
	events, err := s.store.AuditEvents(ctx, store.AuditFilter{UserID: au.user.ID, Since: s.now().Add(-30 * 24 * time.Hour), Limit: 200})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	for _, ev := range events {
		what, ok := accountActivity[ev.Event+"/"+ev.Outcome]
		if !ok {
			continue
		}
		a := ui.AccountActivity{When: when(ev.At), What: what, IP: ev.IP, Agent: describeAgent(ev.UserAgent), Warning: ev.Outcome != "ok"}
		if ev.ClientID != "" {
			a.App = ev.ClientID
			if c, err := s.store.Client(ctx, ev.ClientID); err == nil && c.Name != "" {
				a.App = c.Name
			}
		}
		page.Activity = append(page.Activity, a)
		if len(page.Activity) == 10 {
			break
		}
	}
	s.opt.UI.Render(w, http.StatusOK, page)
}

// when shows a time on the account page, in the server's zone.
func when(t time.Time) string { return t.Local().Format("2006-01-02 15:04 MST") }

// describeAgent names a browser and system from a User-Agent header, in
// the few words people recognise ("Chrome, Windows"); an agent it does
// not know is shown shortened.
func describeAgent(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + ", " + system
	case browser != "" || system != "":
		return browser + system
	}
	return truncate(ua, 40)
}

// --- recovery codes ----------------------------------------------------------

// handleRecoveryCodesMake makes a new set of recovery codes, voiding the
// old, and shows them this once.
func (s *Server) handleRecoveryCodesMake(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	codes, err := NewRecoveryCodes(ctx, s.store, s.opt.Passwords, au.user.ID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.audit(r, store.AuditEvent{Event: "recovery_codes.made", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username,
		Detail: strconv.Itoa(len(codes)) + " codes; the old set void"})
	s.opt.UI.Render(w, http.StatusOK, ui.RecoveryCodesPage{Common: s.accountCommon(r, au.sess), Codes: codes, AccountURL: "/account"})
}

// --- sessions --------------------------------------------------------------------

// handleSessionRevoke ends one of the user's sessions (this browser's
// too, which then signs in again).
func (s *Server) handleSessionRevoke(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostFormValue("session")
	sess, err := s.store.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != au.user.ID) {
		// Another user's session is not this page's to end.
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound, ui.Action{Label: ui.ActionAccount, URL: "/account"})
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if _, err := s.store.RevokeSession(ctx, id); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.audit(r, store.AuditEvent{Event: "session.ended", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username,
		Detail: "by the user on the account page"})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgSessionEnded)), http.StatusSeeOther)
}

// --- password change -------------------------------------------------------------

func (s *Server) handlePasswordChangePage(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	s.rememberLang(w, r)
	s.renderPasswordChange(w, r, au, http.StatusOK, "")
}

func (s *Server) renderPasswordChange(w http.ResponseWriter, r *http.Request, au *accountUser, status int, msg ui.MsgID) {
	page := ui.PasswordChangePage{Common: s.accountCommon(r, au.sess), Action: "/account/password", Username: au.user.Username,
		Error: msg, AccountURL: "/account", Fresh: s.fresh(au.sess), ConfirmURL: "/account/signin"}
	if msg == ui.MsgAccountLocked {
		page.WaitMinutes = waitMinutesOf(r.Form)
	}
	s.opt.UI.Render(w, status, page)
}

// handlePasswordChange changes the password of a fresh sign-in: the
// current password is checked (counted by the throttle first), the new
// one against the policy; the user's other sessions end, and the phone
// is told.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	acct, nets := AccountThrottleKey(au.user.Username), networkThrottleKey(s.clientIP(r))
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: acct, Rule: accountRule}, store.ThrottleKey{Key: nets, Rule: networkRule})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if wait > 0 {
		retryAfter(w, wait)
		r.Form.Set("wait_minutes", strconv.Itoa(waitMinutes(wait)))
		s.renderPasswordChange(w, r, au, http.StatusTooManyRequests, ui.MsgAccountLocked)
		return
	}
	current := r.PostFormValue("current_password")
	err = s.opt.Passwords.Verify(ctx, au.user.PasswordHash, current)
	if errors.Is(err, password.ErrMismatch) || (err == nil && current == "") {
		s.audit(r, store.AuditEvent{Event: "password.changed", Outcome: "failed", UserID: au.user.ID, Username: au.user.Username, Detail: "wrong current password"})
		s.renderPasswordChange(w, r, au, http.StatusUnauthorized, ui.MsgCurrentPasswordWrong)
		return
	}
	if err != nil {
		s.untry(ctx, acct, nets)
		s.fail(w, r, nil, err)
		return
	}
	hash, msg := s.newPasswordHash(ctx, r, au.user.Username)
	if msg != "" {
		s.store.ThrottleSucceeded(ctx, []string{acct}, []string{nets})
		s.renderPasswordChange(w, r, au, http.StatusBadRequest, msg)
		return
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ThrottleSucceeded(ctx, nil, []string{nets}); err != nil {
			return err
		}
		if err := s.setPassword(ctx, r, au.user, hash, "password.changed", "on the account page"); err != nil {
			return err
		}
		// Whoever else is signed in with the old password is not any more,
		// and no other browser skips the second factor.
		if _, err := s.store.ForgetTrustedDevices(ctx, au.user.ID, "", s.deviceToken(r)); err != nil {
			return err
		}
		sessions, err := s.store.UserSessions(ctx, au.user.ID)
		if err != nil {
			return err
		}
		for _, x := range sessions {
			if x.ID != au.sess.ID {
				if _, err := s.store.RevokeSession(ctx, x.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.untry(ctx, acct, nets)
		s.fail(w, r, nil, err)
		return
	}
	s.notify(r, au.user.ID, "password-changed:"+au.sess.ID+":"+strconv.FormatInt(s.now().Unix(), 10), func(lang string) string {
		return mfa.PasswordChanged(s.productName(), lang)
	})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgPasswordChanged)), http.StatusSeeOther)
}

// --- trusted browsers ---------------------------------------------------------

// handleDeviceForget forgets one of the user's trusted browsers: its next
// sign-in asks for the second factor again.
func (s *Server) handleDeviceForget(w http.ResponseWriter, r *http.Request) {
	au, ok := s.accountChange(w, r)
	if !ok {
		return
	}
	n, err := s.store.ForgetTrustedDevices(r.Context(), au.user.ID, r.PostFormValue("device"), "")
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if n == 0 || r.PostFormValue("device") == "" {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound, ui.Action{Label: ui.ActionAccount, URL: "/account"})
		return
	}
	s.audit(r, store.AuditEvent{Event: "trusted_device.forgotten", Outcome: "ok", UserID: au.user.ID, Username: au.user.Username,
		Detail: "on the account page"})
	http.Redirect(w, r, "/account?notice="+url.QueryEscape(string(ui.MsgDeviceForgotten)), http.StatusSeeOther)
}
