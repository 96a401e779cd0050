package idp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/dpop"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/ui"
)

// Scopes this provider knows.
var supportedScopes = []string{"openid", "profile", "phone", "offline_access"}

// buildDiscovery makes the OpenID Connect Discovery 1.0 document once:
// every value advertised is served, and nothing served is missing.
func (s *Server) buildDiscovery() ([]byte, error) {
	doc := map[string]any{
		"issuer":                                                   s.opt.Issuer,
		"authorization_endpoint":                                   s.url("/oauth2/auth"),
		"token_endpoint":                                           s.url("/oauth2/token"),
		"userinfo_endpoint":                                        s.url("/userinfo"),
		"jwks_uri":                                                 s.url("/.well-known/jwks.json"),
		"introspection_endpoint":                                   s.url("/oauth2/introspect"),
		"revocation_endpoint":                                      s.url("/oauth2/revoke"),
		"pushed_authorization_request_endpoint":                    s.url("/oauth2/par"),
		"require_pushed_authorization_requests":                    false,
		"end_session_endpoint":                                     s.url("/oauth2/logout"),
		"backchannel_logout_supported":                             true,
		"backchannel_logout_session_supported":                     true,
		"frontchannel_logout_supported":                            true,
		"frontchannel_logout_session_supported":                    true,
		"scopes_supported":                                         supportedScopes,
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{"query", "form_post"},
		"prompt_values_supported":                                  []string{"none", "login", "consent"},
		"acr_values_supported":                                     acrValuesSupported(),
		"display_values_supported":                                 []string{"page"},
		"grant_types_supported":                                    []string{"authorization_code", "refresh_token", "client_credentials", DeviceGrantType, TokenExchangeGrantType},
		"device_authorization_endpoint":                            s.url("/oauth2/device/auth"),
		"subject_types_supported":                                  []string{"public"},
		"id_token_signing_alg_values_supported":                    []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported":                    []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported":         []string{"RS256", "ES256"},
		"introspection_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"introspection_endpoint_auth_signing_alg_values_supported": []string{"RS256", "ES256"},
		"revocation_endpoint_auth_methods_supported":               []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"revocation_endpoint_auth_signing_alg_values_supported":    []string{"RS256", "ES256"},
		"code_challenge_methods_supported":                         []string{"S256"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr",
			"preferred_username", "locale", "updated_at", "phone_number", "phone_number_verified", "sid"},
		"ui_locales_supported":                           []string{"en", "ja"},
		"claims_parameter_supported":                     true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"require_request_uri_registration":               true,
		"authorization_response_iss_parameter_supported": true,
		"dpop_signing_alg_values_supported":              dpop.Algs,
	}
	if s.opt.Registration != nil {
		doc["registration_endpoint"] = s.url(RegistrationPath)
	}
	return json.Marshal(doc)
}

// RegistrationPath is where clients register themselves (RFC 7591); each
// one's registration is managed under it, at RegistrationPath/{client_id}
// (RFC 7592).
const RegistrationPath = "/oauth2/register"

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(s.discovery)
}

// handleJWKS serves the public keys from memory. Caches may keep them a
// few minutes: a new key is published before it signs anything only after
// a rotation, and RPs refetch on an unknown kid.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := s.opt.Keys.JWKS()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if etag != "" {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Write(body)
}

// newSession is the fosite session every grant starts from.
func newSession() *session {
	return &session{DefaultSession: &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}}
}

// handleAuthorize validates an authorize request (RFC 6749 section 4.1.1,
// OIDC Core 3.1.2.1), stores it as a login flow bound to this browser, and
// sends the browser to the sign-in page. A live sign-in session may spare
// the password, and the PIN while it is remembered (OIDC Core 3.1.2.3):
// the flow, born new like every other, makes the session's move at once,
// and a login that needs nothing more (prompt=none, silent SSO) is
// answered here.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.refuseRequestObject(w, r) {
		return
	}
	dropUnknownScopes(r)
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if err := checkPKCE(ar); err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if err := requirePAR(r, ar); err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if !authRequestOf(ar.GetRequestForm()).meetable() {
		// A class of ours this provider does not have: no sign-in gives it.
		s.authorizeError(w, r, ar, errUnmetACR.WithHint("None of the authentication context classes required is offered (see acr_values_supported)."))
		return
	}
	client, _ := ar.GetClient().(*store.Client)
	if client != nil {
		ctx = store.WithClient(ctx, client)
		r = r.WithContext(ctx)
	}
	// The flow keeps the parameters themselves: a pushed request's
	// request_uri is spent (used once), and issue re-checks the rest.
	query := ar.GetRequestForm()
	query.Del("request_uri")
	browser := s.browserID(w, r)
	now := s.store.Now()
	lf := newLoginFlow(&store.Flow{
		ClientID:     ar.GetClient().GetID(),
		RequestQuery: query.Encode(),
		BrowserHash:  hashBrowser(browser),
		RequestedAt:  ar.GetRequestedAt().UTC(),
		ExpiresAt:    now.Add(s.opt.LoginFlowTTL),
	})
	lf.client = client
	sess := s.currentSession(r)
	reuse := s.reuse(ctx, lf.req, sess)
	// A remembered second factor spares the PIN only when what it proved
	// meets the class the RP requires; else the PIN is a step up.
	remembered := reuse && s.mfaRemembered(sess) && !lf.req.asksACR(ACRPasswordSMS) && lf.req.acceptsAMR(strings.Fields(sess.AMR))
	if lf.req.prompts("none") {
		// No page may be shown (OIDC Core 3.1.2.6).
		if !remembered {
			s.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrLoginRequired.WithHint("The user must sign in."))
			return
		}
		uid := sess.UserID
		lf.UserID = &uid
		need, err := s.consentNeeded(ctx, lf)
		lf.UserID = nil
		if err != nil {
			s.oauth.WriteAuthorizeError(ctx, w, ar, unavailable(err))
			return
		}
		if need {
			s.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrConsentRequired.WithHint("The user must consent."))
			return
		}
	}
	st := &step{lf: lf, ar: ar}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateFlow(ctx, lf.Flow); err != nil {
			return err
		}
		switch {
		case remembered:
			if err := s.store.TouchSession(ctx, sess.ID, time.Time{}, ""); err != nil {
				return err
			}
			at := sess.MFATime
			if err := s.store.Move(ctx, lf.Flow, store.MoveSessionMFA, map[string]any{
				"user_id": sess.UserID, "session_id": sess.ID, "amr": sess.AMR, "auth_time": &at,
			}); err != nil {
				return err
			}
			return s.auto(ctx, r, st)
		case reuse && slices.Contains(strings.Fields(sess.AMR), "pwd"):
			// The session spares the password; the PIN is asked again,
			// unless the user trusted this browser. A passwordless
			// session proved no password, so it spares none: its user
			// signs in afresh (the sign-in page) once its factors lapse.
			if trusted, err := s.trustedFor(ctx, r, lf, sess.UserID); err != nil {
				return err
			} else if trusted {
				if err := s.skipSecondFactor(ctx, r, st, store.MoveSessionTrusted, sess.AuthTime,
					map[string]any{"user_id": sess.UserID, "session_id": sess.ID}); err != nil {
					return err
				}
				return s.auto(ctx, r, st)
			}
			user, err := s.store.UserByID(ctx, sess.UserID)
			if err != nil {
				return err
			}
			return s.secondFactor(ctx, r, st, user, sessionMoves, map[string]any{
				"user_id": sess.UserID, "session_id": sess.ID, "amr": "pwd",
			})
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "create login flow", "client_id", lf.ClientID, "err", err)
		s.oauth.WriteAuthorizeError(ctx, w, ar, unavailable(err))
		return
	}
	s.stats.add("authorize_accepted")
	s.stats.add("login_started")
	if st.send != nil {
		s.deliver(r, lf, st.send)
	}
	s.respond(w, r, st)
}

// dropUnknownScopes removes from the request the scopes this provider
// does not know (OIDC Core 3.1.2.1: they SHOULD be ignored), so an RP
// library that asks for email by default still works. Known scopes the
// client may not use are left for fosite to refuse.
func dropUnknownScopes(r *http.Request) {
	if r.ParseForm() != nil || !r.Form.Has("scope") {
		return
	}
	var kept []string
	for _, sc := range strings.Fields(r.Form.Get("scope")) {
		if slices.Contains(supportedScopes, sc) {
			kept = append(kept, sc)
		}
	}
	r.Form.Set("scope", strings.Join(kept, " "))
}

// requestObjectError refuses the request and request_uri parameters (OIDC
// Core 6): this provider takes no request objects, pushed requests (PAR)
// aside. Both the authorize and the PAR endpoint apply it, before fosite,
// which would otherwise process unsigned objects for clients with keys.
func requestObjectError(r *http.Request) error {
	switch {
	case r.Form.Get("request") != "":
		return fosite.ErrRequestNotSupported
	case r.Form.Get("request_uri") != "" && !fromPAR(r):
		return fosite.ErrRequestURINotSupported
	}
	return nil
}

// refuseRequestObject answers an authorize request carrying a request
// object: with the error sent back to the RP (OIDC Core 6.4) when its
// client and redirect URI check out, else with our error page. It reports
// whether it answered.
func (s *Server) refuseRequestObject(w http.ResponseWriter, r *http.Request) bool {
	if r.ParseForm() != nil {
		return false // fosite reports the malformed request
	}
	refusal := requestObjectError(r)
	if refusal == nil {
		return false
	}
	client, err := s.store.Client(r.Context(), r.Form.Get("client_id"))
	redirect := r.Form.Get("redirect_uri")
	u, perr := url.Parse(redirect)
	if err != nil || redirect == "" || perr != nil || !slices.Contains(client.GetRedirectURIs(), redirect) {
		s.errorPage(w, r, http.StatusBadRequest, ui.MsgInvalidRequest)
		return true
	}
	// Answered through the provider's writer, so the RP gets it in the
	// response mode it asked for, with iss (RFC 9207).
	ar := fosite.NewAuthorizeRequest()
	ar.Client, ar.RedirectURI, ar.State = client, u, r.Form.Get("state")
	if r.Form.Get("response_mode") == string(fosite.ResponseModeFormPost) {
		ar.ResponseMode = fosite.ResponseModeFormPost
	}
	s.oauth.WriteAuthorizeError(r.Context(), w, ar,
		fosite.ErrorToRFC6749Error(refusal).WithHint("Request objects are not supported; send the parameters themselves, or push them (PAR)."))
	return true
}

// checkPKCE applies our PKCE rules (RFC 7636, OAuth 2.0 Security BCP
// 2.1.1) before any page is shown, rather than after the user has typed a
// password and a PIN: S256 only, and a challenge is required from public
// clients.
func checkPKCE(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method was given without code_challenge.")
	case challenge == "" && ar.GetClient().IsPublic():
		return fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256; plain is not accepted.")
	case challenge != "" && (len(challenge) < 43 || len(challenge) > 128):
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be a base64url SHA-256 of the verifier (43 characters).")
	}
	return nil
}

// authorizeError answers a bad authorize request. Where the redirect URI
// cannot be trusted (unknown client, unregistered URI) the browser gets
// our error page, never a redirect and never fosite's raw JSON (RFC 6749
// section 4.1.2.1).
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	ctx := r.Context()
	err = unavailable(err)
	rfc := fosite.ErrorToRFC6749Error(err)
	s.stats.add("authorize_refused")
	s.log.InfoContext(ctx, "authorize request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
	if ar != nil && ar.IsRedirectURIValid() {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	msg := ui.MsgInvalidRequest
	switch {
	case errors.Is(err, fosite.ErrInvalidClient):
		msg = ui.MsgUnknownClient
	case strings.Contains(strings.ToLower(rfc.HintField+rfc.DescriptionField), "redirect"):
		msg = ui.MsgBadRedirectURI
	case errors.Is(err, fosite.ErrTemporarilyUnavailable):
		msg = ui.MsgTemporarilyUnavailable
	case rfc.CodeField >= 500:
		msg = ui.MsgServerError
	}
	status := rfc.CodeField
	if status < 400 {
		status = http.StatusBadRequest
	}
	s.errorPage(w, r, status, msg)
}

// handleToken is the token endpoint (RFC 6749 section 3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	proof, err := s.checkProof(w, r, "/oauth2/token", "")
	if err != nil {
		s.accessError(w, r, fosite.NewAccessRequest(newSession()), err)
		return
	}
	ctx = withProof(ctx, proof)
	r = r.WithContext(ctx)
	if gt := r.PostFormValue("grant_type"); gt == "authorization_code" || gt == DeviceGrantType {
		s.exchangeCode(w, r)
		return
	} else if gt == TokenExchangeGrantType {
		s.exchangeToken(w, r)
		return
	}
	ar, err := s.oauth.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		s.accessError(w, r, ar, err)
		return
	}
	if err := bindTokens(ar, proof); err != nil {
		s.accessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A service acting for itself: it gets what it asked of the scopes
		// it is registered for (fosite checked that), and no ID token.
		for _, sc := range ar.GetRequestedScopes() {
			if sc != "openid" && sc != "offline_access" {
				ar.GrantScope(sc)
			}
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		if ss, ok := ar.GetSession().(interface{ SetSubject(string) }); ok {
			ss.SetSubject(ar.GetClient().GetID())
		}
	}
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		s.accessError(w, r, ar, err)
		return
	}
	resp.SetTokenType(tokenType(ar))
	s.stats.add("token_issued." + strings.Join(ar.GetGrantTypes(), "+"))
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *Server) accessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	err = unavailable(err)
	rfc := fosite.ErrorToRFC6749Error(err)
	s.stats.add("token_refused." + rfc.ErrorField)
	level := slogLevelFor(rfc.CodeField)
	if rfc.ErrorField == errAuthorizationPending.ErrorField || rfc.ErrorField == errSlowDown.ErrorField ||
		rfc.ErrorField == errUseDPoPNonce.ErrorField {
		level = slog.LevelDebug // a device polling, a DPoP client fetching our nonce: not news
	}
	s.log.Log(r.Context(), level, "token request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
	s.oauth.WriteAccessError(r.Context(), w, ar, err)
}

// handleIntrospect is RFC 7662 token introspection. Only a confidential
// client that authenticates, by any method discovery lists, may ask
// (RFC 7662 section 2.1); it learns about its own tokens, and about other
// clients' tokens only when it is registered as a resource server for
// them. Any other token is simply inactive to it (section 2.2), so the
// answer tells it nothing it may not know.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil || len(r.PostForm) == 0 {
		writeEndpointError(w, r, fosite.ErrInvalidRequest.WithHint("Send the token as a form body."))
		return
	}
	caller, err := s.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err == nil && caller.IsPublic() {
		err = fosite.ErrInvalidClient.WithHint("Public clients may not introspect tokens.")
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(unavailable(err))
		s.log.Log(ctx, slogLevelFor(rfc.CodeField), "introspection refused", "error", rfc.ErrorField, "debug", rfc.DebugField)
		writeEndpointError(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeEndpointError(w, r, fosite.ErrInvalidRequest.WithHint("The token parameter is required."))
		return
	}
	inactive := &fosite.IntrospectionResponse{Active: false}
	tu, ar, err := s.oauth.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), newSession())
	switch {
	case err != nil && errors.Is(unavailable(err), fosite.ErrTemporarilyUnavailable):
		writeEndpointError(w, r, err)
		return
	case err != nil:
		s.oauth.WriteIntrospectionResponse(ctx, w, inactive)
		return
	}
	c, _ := caller.(*store.Client)
	if !mayIntrospect(c, ar.GetClient().GetID()) {
		s.log.InfoContext(ctx, "introspection of another client's token", "client_id", caller.GetID(), "token_client_id", ar.GetClient().GetID())
		s.oauth.WriteIntrospectionResponse(ctx, w, inactive)
		return
	}
	if tu == fosite.RefreshToken && !ar.GetClient().IsPublic() {
		// The session names the key the access tokens were bound to; a
		// confidential client's refresh token is not bound (RFC 9449 5.0).
		bindKey(ar.GetSession(), "")
	}
	resp := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: tu}
	if tu == fosite.AccessToken {
		resp.AccessTokenType = tokenType(ar)
	}
	s.oauth.WriteIntrospectionResponse(ctx, w, resp)
}

// mayIntrospect reports whether caller may learn about a token of the
// client owner: its own, or one it is a registered resource server for.
func mayIntrospect(caller *store.Client, owner string) bool {
	if caller == nil {
		return false
	}
	return caller.GetID() == owner || slices.Contains(caller.ResourceServerFor, owner) || slices.Contains(caller.ResourceServerFor, "*")
}

// handleRevoke is RFC 7009 token revocation. Errors are RFC 6749 section
// 5.2 errors (RFC 7009 section 2.2.1): a failed client authentication is
// 401 invalid_client, another client's token unauthorized_client (section
// 2.1), a database that cannot be reached 503; an unknown token is
// revoked already, 200.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := unavailable(s.oauth.NewRevocationRequest(ctx, r))
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		s.log.Log(ctx, slogLevelFor(rfc.CodeField), "revocation", "error", rfc.ErrorField, "debug", rfc.DebugField)
		writeEndpointError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleUserinfo is OIDC Core 5.3: the claims of the token's user, by the
// scopes granted. The bearer token comes in the Authorization header
// (RFC 6750 section 2.1) or, on POST, as a form field (section 2.2).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, scheme := resourceToken(r)
	w.Header().Set("Cache-Control", "no-store")
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="userinfo"`)
		w.Header().Add("WWW-Authenticate", `DPoP realm="userinfo", algs="`+strings.Join(dpop.Algs, " ")+`"`)
		http.Error(w, `{"error":"invalid_request","error_description":"An access token is required."}`, http.StatusUnauthorized)
		return
	}
	_, ar, err := s.oauth.IntrospectToken(ctx, token, fosite.AccessToken, newSession())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="userinfo", error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid.")
		return
	}
	if !s.checkBinding(w, r, "/userinfo", "userinfo", token, scheme, ar) {
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="userinfo", error="insufficient_scope", scope="openid"`)
		writeJSONError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	sub := ar.GetSession().GetSubject()
	user, err := s.store.UserByID(ctx, sub)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="userinfo", error="invalid_token"`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The user of this token no longer exists.")
			return
		}
		s.log.ErrorContext(ctx, "userinfo: load user", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	claims, err := s.userClaims(r, user, ar.GetGrantedScopes())
	if err != nil {
		s.log.ErrorContext(ctx, "userinfo: load phone", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(claims)
}

// userClaims are the standard claims (OIDC Core 5.4) a user releases for
// the given scopes.
func (s *Server) userClaims(r *http.Request, u *store.User, scopes fosite.Arguments) (map[string]any, error) {
	claims := map[string]any{"sub": u.ID}
	if scopes.Has("profile") {
		claims["preferred_username"] = u.Username
		if u.Locale != "" {
			claims["locale"] = u.Locale
		}
		claims["updated_at"] = u.UpdatedAt.Unix()
	}
	if scopes.Has("phone") {
		p, err := s.store.PhoneOf(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		if p != nil {
			claims["phone_number"] = p.Number
			claims["phone_number_verified"] = p.Verified()
		}
	}
	return claims, nil
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// authTimeOf returns the flow's auth_time, or the zero time.
func authTimeOf(f *store.Flow) time.Time {
	if f.AuthTime == nil {
		return time.Time{}
	}
	return *f.AuthTime
}
