package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// The hosted login is one dispatcher over the stored flow. A handler
// loads the flow at its page (at), parses its form, and makes its one
// move inside step; the dispatcher then makes the moves that need nothing
// from the user (auto), commits once, delivers a code reserved in the
// step, and answers by the state the flow is in (respond): a redirect to
// the page of that state, the page again with what went wrong, or the
// authorize response.

// pageOf is the page that serves each state.
var pageOf = map[store.FlowState]string{
	store.FlowNew:               "/login",
	store.FlowAwaitingPhone:     "/login/phone",
	store.FlowAwaitingPIN:       "/login/pin",
	store.FlowSendRefused:       "/login/wait",
	store.FlowAwaitingTOTP:      "/login/totp",
	store.FlowAwaitingPasskey:   "/login/passkey",
	store.FlowAwaitingRecovery:  "/login/recovery",
	store.FlowRecoveryUsed:      "/login/recovery/used",
	store.FlowAwaitingResetCode: "/login/forgot",
	store.FlowAwaitingPassword:  "/login/password",
	store.FlowMFAOK:             "/login/consent",
	store.FlowAwaitingNewPhone:  "/account/phone/new",
	store.FlowAwaitingNewPIN:    "/account/phone/verify",
}

// loginFlow is a stored flow with its authorize request read once and
// its client loaded at most once per request.
type loginFlow struct {
	*store.Flow
	req    authRequest
	client *store.Client
}

func newLoginFlow(f *store.Flow) *loginFlow {
	return &loginFlow{Flow: f, req: parseAuthRequest(f.RequestQuery)}
}

// clientOf loads the flow's client once, and returns a context in which
// fosite finds it without another lookup.
func (s *Server) clientOf(ctx context.Context, lf *loginFlow) (context.Context, *store.Client, error) {
	if lf.client == nil {
		c, err := s.store.Client(ctx, lf.ClientID)
		if err != nil {
			return ctx, nil, err
		}
		lf.client = c
	}
	return store.WithClient(ctx, lf.client), lf.client, nil
}

// anyState is the state of the moves every page offers (restart,
// cancel): at then takes a flow in any state, and the table decides.
const anyState store.FlowState = ""

// at loads the flow of a page serving state: named by ?flow=, begun by
// this browser, its form parsed with its CSRF token checked on a post,
// and in that state. A flow elsewhere is sent to its own page; on any
// failure at has answered and returns false.
func (s *Server) at(w http.ResponseWriter, r *http.Request, state store.FlowState) (*loginFlow, bool) {
	id := r.URL.Query().Get("flow")
	if !store.ValidID(id) {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgFlowNotFound)
		return nil, false
	}
	if r.Method == http.MethodPost && !s.parseForm(w, r) {
		return nil, false
	}
	f, err := s.store.Flow(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.flowGone(w, r, id)
			return nil, false
		}
		s.fail(w, r, nil, err)
		return nil, false
	}
	browser := s.currentBrowser(r)
	if browser == "" || hashBrowser(browser) != f.BrowserHash {
		s.log.WarnContext(r.Context(), "login flow used from another browser", "flow_id", id)
		s.errorPage(w, r, http.StatusForbidden, ui.MsgFlowNotFound)
		return nil, false
	}
	lf := newLoginFlow(f)
	if r.Method == http.MethodPost && !s.csrfOK(r, f.ID) {
		s.log.WarnContext(r.Context(), "bad CSRF token", "flow_id", f.ID)
		s.errorPage(w, r, http.StatusForbidden, ui.MsgCSRF, s.restartActions(r, lf)...)
		return nil, false
	}
	if state != anyState && f.State != state {
		s.redirectToPage(w, r, lf)
		return nil, false
	}
	return lf, true
}

// parseForm reads a posted form: a body over the cap is 413, anything
// else malformed 400.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm()
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.errorPage(w, r, http.StatusRequestEntityTooLarge, ui.MsgRequestTooLarge)
		return false
	}
	s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest)
	return false
}

// step is what one handler's move leaves for the dispatcher.
type step struct {
	lf *loginFlow
	// ar is the authorize request fosite validated in this request, if
	// any (the authorize endpoint's own); otherwise issue rebuilds it.
	ar fosite.AuthorizeRequester
	// send is a code reserved in the step, delivered after the commit:
	// no transaction waits on a provider.
	send *mfa.Pending
	// issued is the authorize response, written after the commit.
	issued *issued
	// refused is a refusal shown on the page the flow stays at, with
	// status; form keeps what the user typed.
	refused ui.MsgID
	status  int
	form    url.Values
	// cookies are set only once the step committed: a browser id or a
	// session that a rolled-back step made would point at nothing.
	cookies []*http.Cookie
	notice  ui.MsgID // shown on the next page
	// undo, when set, runs if the step's transaction fails: what the step
	// counted before it (a password try) is not the user's fault then.
	undo func(ctx context.Context)
}

// refuse ends a step without a move: the page shows msg with status.
func (st *step) refuse(msg ui.MsgID, status int) {
	st.refused, st.status = msg, status
}

// run performs one step of a flow: f makes the handler's move, auto the
// dispatcher's, in one transaction; then the reserved code goes out and
// respond answers by the state the flow is in.
func (s *Server) run(w http.ResponseWriter, r *http.Request, lf *loginFlow, f func(ctx context.Context, st *step) error) {
	st := &step{lf: lf}
	before := *lf.Flow
	err := s.store.InTx(r.Context(), func(ctx context.Context) error {
		if err := f(ctx, st); err != nil {
			return err
		}
		return s.auto(ctx, r, st)
	})
	if err != nil {
		*lf.Flow = before // nothing of the step stands
		if st.undo != nil {
			st.undo(r.Context())
		}
		s.fail(w, r, lf, err)
		return
	}
	for _, c := range st.cookies {
		http.SetCookie(w, c)
	}
	if st.send != nil {
		if err := s.deliver(r, lf, st.send); err != nil {
			st.notice = ui.MsgSMSUnavailable
		}
	}
	s.respond(w, r, st)
}

// auto makes the moves that need nothing from the user, in the step's
// transaction: a login whose PIN is done and whose consent is not needed
// is answered at once.
func (s *Server) auto(ctx context.Context, r *http.Request, st *step) error {
	lf := st.lf
	if lf.State == store.FlowMFAOK && lf.Purpose == store.PurposeAccount {
		// A sign-in to the account page asks nothing more.
		if err := s.store.Move(ctx, lf.Flow, store.MoveOpenAccount, nil); err != nil {
			return err
		}
		return s.auditIn(ctx, r, store.AuditEvent{Event: "login.completed", Outcome: "ok", UserID: deref(lf.UserID), FlowID: lf.ID,
			Detail: "account page, amr=" + lf.AMR})
	}
	if lf.State != store.FlowMFAOK || lf.Purpose != store.PurposeLogin || st.issued != nil {
		return nil
	}
	need, err := s.consentNeeded(ctx, lf)
	if err != nil || need {
		return err
	}
	st.issued, err = s.issue(ctx, r, lf, st.ar, true)
	return err
}

// respond answers a committed step by where the flow now is.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, st *step) {
	lf := st.lf
	switch {
	case st.issued != nil:
		s.writeIssued(w, r, lf, st.issued)
	case st.refused != "":
		s.render(w, r, lf, st.status, st.refused, st.form)
	case lf.State == store.FlowDone:
		s.doneNotice(w, r, lf)
	default:
		target := stepURL(pageOf[lf.State], lf.ID)
		if st.notice != "" {
			target += "&notice=" + url.QueryEscape(string(st.notice))
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// redirectToPage sends the browser to the page of the flow's state.
func (s *Server) redirectToPage(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	page, ok := pageOf[lf.State]
	if !ok {
		s.flowFinished(w, r, lf)
		return
	}
	http.Redirect(w, r, stepURL(page, lf.ID), http.StatusSeeOther)
}

// render shows the page of the flow's state, with msg (if any) above its
// form: every page a flow can be at is drawn here.
func (s *Server) render(w http.ResponseWriter, r *http.Request, lf *loginFlow, status int, msg ui.MsgID, form url.Values) {
	if status == 0 {
		status = http.StatusOK
	}
	switch lf.State {
	case store.FlowNew:
		s.renderLogin(w, r, lf, status, msg, form)
	case store.FlowAwaitingPhone, store.FlowAwaitingNewPhone:
		s.renderPhone(w, r, lf, status, msg, form)
	case store.FlowAwaitingPIN, store.FlowAwaitingNewPIN:
		s.renderPIN(w, r, lf, status, msg, form)
	case store.FlowSendRefused:
		s.renderWait(w, r, lf, status, msg)
	case store.FlowAwaitingTOTP:
		s.renderTOTP(w, r, lf, status, msg, form)
	case store.FlowAwaitingPasskey:
		s.renderPasskey(w, r, lf, status, msg, form)
	case store.FlowAwaitingRecovery:
		s.renderRecovery(w, r, lf, status, msg, form)
	case store.FlowRecoveryUsed:
		s.renderRecoveryUsed(w, r, lf, status)
	case store.FlowAwaitingResetCode:
		s.renderForgot(w, r, lf, status, msg, form)
	case store.FlowAwaitingPassword:
		s.renderNewPassword(w, r, lf, status, msg)
	case store.FlowMFAOK:
		s.renderConsent(w, r, lf, status)
	default:
		s.flowFinished(w, r, lf)
	}
}

// fail answers an error of a step. A flow another request moved on is
// shown where it is now; everything else becomes the error page the error
// calls for, with a way forward.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, lf *loginFlow, err error) {
	ctx := r.Context()
	if lf != nil && errors.Is(err, store.ErrFlowMoved) {
		if cur, lerr := s.store.Flow(ctx, lf.ID); lerr == nil {
			s.redirectToPage(w, r, newLoginFlow(cur))
			return
		}
		s.flowGone(w, r, lf.ID)
		return
	}
	status, msg := statusOf(ctx, err)
	attrs := []any{"err", err, "status", status}
	if lf != nil {
		attrs = append(attrs, "flow_id", lf.ID, "state", string(lf.State))
	}
	if status >= 500 {
		s.log.ErrorContext(ctx, "login step failed", attrs...)
	} else {
		s.log.InfoContext(ctx, "login step refused", attrs...)
	}
	var actions []ui.Action
	if lf != nil {
		if page, ok := pageOf[lf.State]; ok {
			// Try the same page again (a database back from a blip), or leave.
			actions = append(actions, ui.Action{Label: ui.ActionTryAgain, URL: stepURL(page, lf.ID)})
		}
		actions = append(actions, s.restartActions(r, lf)...)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	s.errorPage(w, r, status, msg, actions...)
}

// flowGone answers a flow id that names no live flow (expired, or never
// there): the app that sent the user is the way back.
func (s *Server) flowGone(w http.ResponseWriter, r *http.Request, id string) {
	var actions []ui.Action
	if f, err := s.store.FlowAnyState(r.Context(), id); err == nil {
		actions = s.appActions(r.Context(), newLoginFlow(f))
	}
	s.errorPage(w, r, http.StatusNotFound, ui.MsgFlowExpired, actions...)
}

// flowFinished answers a page of a flow that is done.
func (s *Server) flowFinished(w http.ResponseWriter, r *http.Request, lf *loginFlow) {
	if lf.Purpose == store.PurposeDevice && lf.State == store.FlowDone {
		s.deviceDone(w, r, lf) // a reload of the last page says it again
		return
	}
	s.errorPage(w, r, http.StatusConflict, ui.MsgFlowNotFound, s.appActions(r.Context(), lf)...)
}

// restartActions are the ways out of a flow in progress: start again
// from the password, or go back to the app (which is told the user
// cancelled).
func (s *Server) restartActions(r *http.Request, lf *loginFlow) []ui.Action {
	if lf.State == store.FlowDone {
		return s.appActions(r.Context(), lf)
	}
	csrf := s.csrfToken(lf.ID, s.currentBrowser(r))
	var out []ui.Action
	if m, ok := store.LookupMove(store.MoveRestart, lf.State, lf.Purpose); ok && m.To == store.FlowNew {
		out = append(out, ui.Action{Label: ui.ActionStartAgain, URL: stepURL("/login/restart", lf.ID), Post: true, CSRFToken: csrf})
	}
	label := ui.ActionBackToApp
	if lf.Purpose != store.PurposeLogin {
		label = ui.ActionCancel // no app to go back to
	}
	return append(out, ui.Action{Label: label, URL: stepURL("/login/cancel", lf.ID), Post: true, CSRFToken: csrf,
		RedirectsTo: lf.req.RedirectURI})
}

// appActions link to the app of a flow that can no longer move: the
// origin of its redirect URI (the app's own front door).
func (s *Server) appActions(ctx context.Context, lf *loginFlow) []ui.Action {
	if lf.Purpose == store.PurposeDevice {
		return []ui.Action{{Label: ui.ActionDeviceCode, URL: "/device"}} // the device shows its code again, or a new one
	}
	if lf.Purpose != store.PurposeLogin {
		return nil
	}
	u, err := url.Parse(lf.req.RedirectURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil
	}
	_, c, err := s.clientOf(ctx, lf)
	if err != nil || !registered(c, lf.req.RedirectURI) {
		return nil
	}
	return []ui.Action{{Label: ui.ActionBackToApp, URL: u.Scheme + "://" + u.Host + "/"}}
}

func registered(c *store.Client, uri string) bool {
	for _, u := range c.GetRedirectURIs() {
		if u == uri {
			return true
		}
	}
	return false
}

// common is the part of every page of a flow.
func (s *Server) common(r *http.Request, lf *loginFlow) ui.Common {
	lang := s.langFor(r, lf.req.UILocales)
	return ui.Common{
		Lang:      lang,
		CSRFToken: s.csrfToken(lf.ID, s.currentBrowser(r)),
		LangLinks: ui.LangLinks(r, lang),
		RequestID: requestID(r),
	}
}

// commonToRP is common for a page whose form post can end in a redirect
// to the RP (any page of a login from the PIN on, and every page with
// "back to the app"): browsers apply CSP form-action to the redirects
// after a post, so the RP's origin must be allowed there.
func (s *Server) commonToRP(r *http.Request, lf *loginFlow) ui.Common {
	c := s.common(r, lf)
	if lf.Purpose == store.PurposeLogin && lf.req.RedirectURI != "" {
		c.RedirectURIs = []string{lf.req.RedirectURI}
	}
	return c
}

// waitMinutes rounds a wait up to whole minutes, never zero.
func waitMinutes(d time.Duration) int {
	return max(int((d+time.Minute-1)/time.Minute), 1)
}

// writeIssued writes an authorize response made in a committed step.
func (s *Server) writeIssued(w http.ResponseWriter, r *http.Request, lf *loginFlow, is *issued) {
	ctx := r.Context()
	if is.err != nil {
		s.oauth.WriteAuthorizeError(ctx, w, is.ar, is.err)
		return
	}
	s.oauth.WriteAuthorizeResponse(ctx, w, is.ar, is.resp)
}

// issued is an authorize response: a code, or an error for the RP.
type issued struct {
	ar   fosite.AuthorizeRequester
	resp fosite.AuthorizeResponder
	err  error
}
