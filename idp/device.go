package idp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// The device authorization grant (RFC 8628), for TVs and command-line
// tools. fosite v0.49 has none, so it is ours:
//
//   - POST /oauth2/device/auth: a client registered for the grant gets a
//     device code (kept) and a user code (shown), stored as hashes.
//   - /device: the user types the user code; the try is counted against
//     the network before the lookup. A right code begins a login flow of
//     purpose device: the usual password and PIN, then a consent that is
//     always asked (a code typed from someone else's message is how this
//     grant is phished, RFC 8628 section 5.4), then "return to your device".
//   - POST /oauth2/token with grant_type device_code: authorization_pending,
//     slow_down, access_denied, expired_token, or tokens once, in one
//     transaction with the device code spent.

// DeviceGrantType is the grant type of RFC 8628 section 3.4.
const DeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// userCodeAlphabet has no vowels (no words spelled by chance) and none of
// the letters people confuse (RFC 8628 section 6.1): 20 letters, 8 of
// them make 20^8 (about 2^34.6) codes.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLength = 8

// newUserCode draws a user code uniformly from the alphabet.
func newUserCode() string {
	out := make([]byte, 0, userCodeLength)
	var b [1]byte
	for len(out) < userCodeLength {
		rand.Read(b[:])
		if b[0] >= 240 { // 240 = 12*20: above it the letters would not be equally likely
			continue
		}
		out = append(out, userCodeAlphabet[int(b[0])%len(userCodeAlphabet)])
	}
	return string(out)
}

// displayUserCode shows a code as XXXX-XXXX.
func displayUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// normalizeUserCode reads a code as people type it: any case, full-width
// letters (a Japanese input method), dashes and spaces anywhere. It
// reports false for anything that cannot be a code.
func normalizeUserCode(typed string) (string, bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range norm.NFKC.String(strings.ToUpper(typed)) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}

// userCodeHashes are the keyed hashes of a code under the current secret
// and each old one: a code is too short for a plain hash to hide it.
func (s *Server) userCodeHashes(code string) []string {
	var out []string
	for _, key := range append([][]byte{s.userCodeKey}, s.userCodeOld...) {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(code))
		out = append(out, hex.EncodeToString(m.Sum(nil)))
	}
	return out
}

// hashDeviceCode keys a device code's row: 256 random bits need no key.
func hashDeviceCode(code string) string {
	sum := sha256.Sum256([]byte("device_code\x00" + code))
	return hex.EncodeToString(sum[:])
}

// userCodeRule limits the user codes tried from one network: a wrong code
// stays counted, a right one is taken back. After 20 wrong codes each try
// waits, doubling from 30 s to 15 minutes, so a network guesses about 100
// codes a day against 20^8.
var userCodeRule = store.ThrottleRule{Free: 20, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// userCodeThrottleKey is the throttle key of user codes typed from a
// client network.
func userCodeThrottleKey(ip netip.Addr) string {
	sum := sha256.Sum256([]byte("user_code\x00" + mfa.Network(ip)))
	return "ucode:" + hex.EncodeToString(sum[:16])
}

// deviceLimits are the device code's lifetime and polling interval.
func (s *Server) deviceLimits() (ttl time.Duration, interval int) {
	ttl, interval = s.opt.DeviceCodeTTL, int(s.opt.DevicePollInterval/time.Second)
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if interval <= 0 {
		interval = 5
	}
	return ttl, interval
}

// handleDeviceAuthorization is the device authorization endpoint (RFC
// 8628 section 3.1): the client authenticates as at the token endpoint
// (a public client names itself with client_id), and must be registered
// for the grant.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil || len(r.PostForm) == 0 {
		writeEndpointError(w, r, fosite.ErrInvalidRequest.WithHint("Send the parameters as a form body."))
		return
	}
	client, err := s.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(unavailable(err))
		s.log.Log(ctx, slogLevelFor(rfc.CodeField), "device authorization refused", "error", rfc.ErrorField, "debug", rfc.DebugField)
		writeEndpointError(w, r, err)
		return
	}
	if !client.GetGrantTypes().Has(DeviceGrantType) {
		writeEndpointError(w, r, fosite.ErrUnauthorizedClient.WithHint("The client is not registered for the device authorization grant."))
		return
	}
	// Unknown scopes are ignored, as at the authorize endpoint; known
	// ones the client may not use are refused.
	var scopes []string
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if !slices.Contains(supportedScopes, sc) || slices.Contains(scopes, sc) {
			continue
		}
		if !fosite.ExactScopeStrategy(client.GetScopes(), sc) {
			writeEndpointError(w, r, fosite.ErrInvalidScope.WithHintf("The client may not ask for scope %q.", sc))
			return
		}
		scopes = append(scopes, sc)
	}
	ttl, interval := s.deviceLimits()
	b := make([]byte, 32)
	rand.Read(b)
	deviceCode := base64.RawURLEncoding.EncodeToString(b)
	var userCode string
	for try := 0; ; try++ {
		userCode = newUserCode()
		err = s.store.CreateDeviceRequest(ctx, &store.DeviceRequest{DeviceCodeHash: hashDeviceCode(deviceCode),
			UserCodeHash: s.userCodeHashes(userCode)[0], ClientID: client.GetID(), Scopes: strings.Join(scopes, " "),
			PollInterval: interval, ExpiresAt: s.store.Now().Add(ttl)})
		if !errors.Is(err, store.ErrConflict) || try == 4 {
			break // a taken user code is drawn again
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "store device request", "client_id", client.GetID(), "err", err)
		writeEndpointError(w, r, unavailable(err))
		return
	}
	s.stats.add("device_authorization")
	shown := displayUserCode(userCode)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"device_code":               deviceCode,
		"user_code":                 shown,
		"verification_uri":          s.url("/device"),
		"verification_uri_complete": s.url("/device?" + url.Values{"user_code": {shown}}.Encode()),
		"expires_in":                int(ttl / time.Second),
		"interval":                  interval,
	})
}

// --- the page where the code is typed ----------------------------------------

// deviceCSRF binds the /device form to the browser.
func (s *Server) deviceCSRF(browser string) string { return s.csrfFor("device", browser) }

// handleDevicePage shows the form, prefilled from verification_uri_complete:
// never submitted for the user, who must see and confirm the code.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	browser := s.browserID(w, r)
	s.rememberLang(w, r)
	code := r.URL.Query().Get("user_code")
	if c, ok := normalizeUserCode(code); ok {
		code = displayUserCode(c)
	} else {
		code = ""
	}
	s.renderDevice(w, r, browser, http.StatusOK, "", code, 0)
}

// renderDevice shows the form with msg above it; wait is the minutes a
// throttled network waits.
func (s *Server) renderDevice(w http.ResponseWriter, r *http.Request, browser string, status int, msg ui.MsgID, code string, wait int) {
	lang := s.langFor(r, "")
	common := ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r), CSRFToken: s.deviceCSRF(browser), WaitMinutes: wait}
	s.opt.UI.Render(w, status, ui.DevicePage{Common: common, Action: "/device", UserCode: code, Error: msg})
}

// handleDeviceSubmit takes a typed user code. The try is counted against
// the client's network before the code is looked up, so parallel guesses
// cannot pass the allowance; a right code takes its count back and
// begins the device's login flow in this browser.
func (s *Server) handleDeviceSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	ctx := r.Context()
	browser := s.currentBrowser(r)
	if browser == "" || !s.csrfValid(r.PostFormValue("csrf_token"), "device", browser) {
		s.log.WarnContext(ctx, "bad CSRF token on the device page")
		s.errorPage(w, r, http.StatusForbidden, ui.MsgCSRF, ui.Action{Label: ui.ActionTryAgain, URL: "/device"})
		return
	}
	typed := r.PostFormValue("user_code")
	if len(typed) > 64 || !printable(typed) {
		typed = ""
	}
	key := userCodeThrottleKey(s.clientIP(r))
	wait, err := s.store.ThrottleTry(ctx, store.ThrottleKey{Key: key, Rule: userCodeRule})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if wait > 0 {
		s.audit(r, store.AuditEvent{Event: "device.user_code", Outcome: "throttled"})
		retryAfter(w, wait)
		s.renderDevice(w, r, browser, http.StatusTooManyRequests, ui.MsgDeviceCodeThrottled, typed, waitMinutes(wait))
		return
	}
	code, ok := normalizeUserCode(typed)
	var req *store.DeviceRequest
	if ok {
		req, err = s.store.PendingDeviceRequest(ctx, s.userCodeHashes(code))
	}
	if !ok || errors.Is(err, store.ErrNotFound) {
		// The try stays counted.
		s.stats.add("device_code_failed")
		s.audit(r, store.AuditEvent{Event: "device.user_code", Outcome: "failed"})
		s.renderDevice(w, r, browser, http.StatusBadRequest, ui.MsgDeviceCodeInvalid, typed, 0)
		return
	}
	if err != nil {
		s.untry(ctx, key)
		s.fail(w, r, nil, err)
		return
	}
	now := s.store.Now()
	expires := now.Add(s.opt.LoginFlowTTL)
	if req.ExpiresAt.Before(expires) {
		expires = req.ExpiresAt // no sign-in outlives the code it is for
	}
	f := &store.Flow{Purpose: store.PurposeDevice, ClientID: req.ClientID, DeviceID: &req.ID, BrowserHash: hashBrowser(browser),
		RequestQuery: url.Values{"client_id": {req.ClientID}, "scope": {req.Scopes}}.Encode(),
		RequestedAt:  now, ExpiresAt: expires}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ThrottleSucceeded(ctx, nil, []string{key}); err != nil {
			return err
		}
		if err := s.store.CreateFlow(ctx, f); err != nil {
			return err
		}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "device.user_code", Outcome: "ok", ClientID: req.ClientID, FlowID: f.ID})
	})
	if err != nil {
		s.untry(ctx, key)
		s.fail(w, r, nil, err)
		return
	}
	s.stats.add("login_started")
	http.Redirect(w, r, stepURL(pageOf[f.State], f.ID), http.StatusSeeOther)
}

// answerDevice records the user's answer to the device, in the step's
// transaction, and ends the flow. A request answered meanwhile in
// another browser, or expired, ends the flow as cancelled: the page says
// the device was not connected.
func (s *Server) answerDevice(ctx context.Context, r *http.Request, lf *loginFlow, allow bool) error {
	if lf.DeviceID == nil || lf.UserID == nil {
		return errors.New("answer device: not a device flow with a user")
	}
	amr := strings.Fields(lf.AMR)
	err := s.store.DecideDeviceRequest(ctx, *lf.DeviceID, store.DeviceDecision{Approve: allow, UserID: *lf.UserID, FlowID: lf.ID,
		AMR: lf.AMR, ACR: acrOf(amr), AuthTime: authTimeOf(lf.Flow), Scopes: lf.req.Scopes})
	ev := store.AuditEvent{Event: "device.approved", Outcome: "ok", UserID: *lf.UserID, ClientID: lf.ClientID, FlowID: lf.ID, Detail: "amr=" + lf.AMR}
	move := store.MoveDeviceApprove
	if !allow {
		ev.Event, move = "device.denied", store.MoveDeviceDeny
	}
	if errors.Is(err, store.ErrDeviceDecided) {
		ev.Outcome = "gone"
		if err := s.auditIn(ctx, r, ev); err != nil {
			return err
		}
		return s.store.Move(ctx, lf.Flow, store.MoveCancel, nil)
	}
	if err != nil {
		return err
	}
	if err := s.store.Move(ctx, lf.Flow, move, nil); err != nil {
		return err
	}
	if allow {
		s.stats.add("login_completed")
	}
	return s.auditIn(ctx, r, ev)
}

// deviceDone is the page that ends a device flow.
func (s *Server) deviceDone(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	lang := s.langFor(r, "")
	name := lf.ClientID
	if _, c, err := s.clientOf(r.Context(), lf); err == nil && c.Name != "" {
		name = c.Name
	}
	page := ui.NoticePage{Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)}, Msg: ui.MsgDeviceNotConnected}
	switch {
	case lf.Made(store.MoveDeviceApprove):
		page.Msg, page.Arg = ui.MsgDeviceApproved, name
	case lf.Made(store.MoveDeviceDeny):
		page.Msg, page.Arg = ui.MsgDeviceDenied, name
	default:
		page.Actions = []ui.Action{{Label: ui.ActionDeviceCode, URL: "/device"}}
	}
	s.opt.UI.Render(w, http.StatusOK, page)
}

// --- the token endpoint --------------------------------------------------------

// RFC 8628 section 3.5 errors.
var (
	errAuthorizationPending = &fosite.RFC6749Error{ErrorField: "authorization_pending", CodeField: http.StatusBadRequest,
		DescriptionField: "The user has not yet approved the device."}
	errSlowDown = &fosite.RFC6749Error{ErrorField: "slow_down", CodeField: http.StatusBadRequest,
		DescriptionField: "The device polls too often: wait 5 seconds longer between polls, from now on."}
	// fosite's access_denied is 403, for the authorize endpoint; at the
	// token endpoint every error but invalid_client is 400.
	errDeviceDenied = &fosite.RFC6749Error{ErrorField: "access_denied", CodeField: http.StatusBadRequest,
		DescriptionField: "The user refused the device."}
	errExpiredToken = &fosite.RFC6749Error{ErrorField: "expired_token", CodeField: http.StatusBadRequest,
		DescriptionField: "The device code has expired; start again with a new one."}
)

// deviceGrant is the token endpoint's handler of the device code grant
// (RFC 8628 section 3.4), composed into fosite beside its own.
type deviceGrant struct {
	s *Server
}

var _ fosite.TokenEndpointHandler = (*deviceGrant)(nil)

func (h *deviceGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (h *deviceGrant) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(DeviceGrantType)
}

// HandleTokenEndpointRequest counts the poll and answers by the state of
// the request; an approved one becomes the request's session.
func (h *deviceGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	st := h.s.store
	client := ar.GetClient()
	if !client.GetGrantTypes().Has(DeviceGrantType) {
		return fosite.ErrUnauthorizedClient.WithHint("The client is not registered for the device authorization grant.")
	}
	code := ar.GetRequestForm().Get("device_code")
	if code == "" {
		return fosite.ErrInvalidRequest.WithHint("The device_code parameter is required.")
	}
	p, err := st.PollDeviceRequest(ctx, hashDeviceCode(code))
	if errors.Is(err, store.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The device code is not known.")
	}
	if err != nil {
		return err
	}
	d := p.Request
	if d.ClientID != client.GetID() {
		// Another client's code: as if unknown.
		return fosite.ErrInvalidGrant.WithHint("The device code is not known.")
	}
	switch {
	case d.State == store.DeviceUsed:
		// A device code replayed: the tokens it gave may be in the wrong
		// hands, so they are revoked (as for a replayed code, RFC 6749
		// section 4.1.2).
		if d.RequestID != "" {
			if err := st.RevokeAccessToken(ctx, d.RequestID); err != nil {
				return err
			}
			if err := st.RevokeRefreshToken(ctx, d.RequestID); err != nil {
				return err
			}
		}
		h.s.log.WarnContext(ctx, "device code used again; its tokens are revoked", "client_id", d.ClientID)
		return fosite.ErrInvalidGrant.WithHint("The device code was used already.")
	case p.Expired:
		return errExpiredToken
	case d.State == store.DeviceDenied:
		return errDeviceDenied
	case d.State == store.DevicePending && p.TooFast:
		return errSlowDown
	case d.State == store.DevicePending:
		return errAuthorizationPending
	}
	user, err := st.UserByID(ctx, deref(d.UserID))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fosite.ErrInvalidGrant.WithHint("The user who approved the device no longer exists.")
		}
		return err
	}
	authTime := time.Time{}
	if d.AuthTime != nil {
		authTime = d.AuthTime.Truncate(time.Second)
	}
	// No sid: the device's tokens do not belong to the browser's session
	// the user approved it in, so signing out there leaves the TV alone.
	sess := newSession()
	sess.Subject, sess.Username = user.ID, user.Username
	sess.Claims.Subject = user.ID
	sess.Claims.AuthTime = authTime
	sess.Claims.RequestedAt = d.CreatedAt.Truncate(time.Second)
	sess.Claims.AuthenticationMethodsReferences = strings.Fields(d.AMR)
	sess.Claims.AuthenticationContextClassReference = d.ACR
	sess.Headers.Extra = map[string]any{}
	ar.SetSession(sess)
	ar.SetRequestedScopes(strings.Fields(d.Scopes))
	for _, sc := range strings.Fields(d.GrantedScopes) {
		ar.GrantScope(sc)
	}
	now := time.Now().UTC()
	cfg := h.s.fosite.Config
	sess.SetExpiresAt(fosite.AccessToken, now.Add(fosite.GetEffectiveLifespan(client, fosite.GrantType(DeviceGrantType), fosite.AccessToken,
		cfg.GetAccessTokenLifespan(ctx))).Round(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(fosite.GetEffectiveLifespan(client, fosite.GrantType(DeviceGrantType), fosite.RefreshToken,
		cfg.GetRefreshTokenLifespan(ctx))).Round(time.Second))
	return nil
}

// PopulateTokenEndpointResponse spends the device code and issues the
// tokens, in the token request's transaction: an access token, a refresh
// token with offline_access (for a client of the refresh_token grant),
// an ID token with openid.
func (h *deviceGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest // fosite asks every handler
	}
	st := h.s.store
	// The request again: approved, so this poll counts nothing.
	p, err := st.PollDeviceRequest(ctx, hashDeviceCode(ar.GetRequestForm().Get("device_code")))
	if err != nil {
		return err
	}
	if err := st.RedeemDeviceRequest(ctx, p.Request.ID, ar.GetID()); errors.Is(err, store.ErrDeviceDecided) {
		return fosite.ErrInvalidGrant.WithHint("The device code was used already.")
	} else if err != nil {
		return err
	}
	client := ar.GetClient()
	cfg := h.s.fosite.Config
	access, accessSig, err := h.s.access.GenerateAccessToken(ctx, ar)
	if err != nil {
		return err
	}
	if err := st.CreateAccessTokenSession(ctx, accessSig, ar.Sanitize(nil)); err != nil {
		return err
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(ar.GetSession().GetExpiresAt(fosite.AccessToken)).Round(time.Second))
	resp.SetScopes(ar.GetGrantedScopes())
	if ar.GetGrantedScopes().HasOneOf(cfg.GetRefreshTokenScopes(ctx)...) && client.GetGrantTypes().Has("refresh_token") {
		refresh, refreshSig, err := h.s.access.GenerateRefreshToken(ctx, ar)
		if err != nil {
			return err
		}
		if err := st.CreateRefreshTokenSession(ctx, refreshSig, accessSig, ar.Sanitize(nil)); err != nil {
			return err
		}
		resp.SetExtra("refresh_token", refresh)
	}
	if ar.GetGrantedScopes().Has("openid") {
		ids := h.s.idTokens
		claims := ar.GetSession().(openid.Session).IDTokenClaims()
		claims.AccessTokenHash = ids.GetAccessTokenHash(ctx, ar, resp)
		lifespan := fosite.GetEffectiveLifespan(client, fosite.GrantType(DeviceGrantType), fosite.IDToken, cfg.GetIDTokenLifespan(ctx))
		if err := ids.IssueExplicitIDToken(ctx, lifespan, ar, resp); err != nil {
			return err
		}
	}
	return nil
}
