package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
)

// Token exchange (RFC 8693), for service-to-service delegation. fosite
// v0.49 has no handler for it, so it is ours, composed into fosite's
// token endpoint beside the device grant. It is off unless a client is
// registered for the grant type, and only a confidential client may use
// it: it trades an access token we issued (the subject token, opaque or
// JWT) for a new access token of the same user, for an audience the
// client is registered for, with at most the subject token's scopes and
// at most its remaining life. With an actor token the new token says who
// acts for the user (the act claim, section 4.1). No refresh token.

// TokenExchangeGrantType is the grant type of RFC 8693 section 2.1.
const TokenExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// AccessTokenType is the only token type exchanged and issued here (RFC
// 8693 section 3).
const AccessTokenType = "urn:ietf:params:oauth:token-type:access_token"

// errInvalidTarget is RFC 8693 section 2.2.2: an audience or resource the
// client may not have tokens for.
var errInvalidTarget = &fosite.RFC6749Error{ErrorField: "invalid_target", CodeField: http.StatusBadRequest,
	DescriptionField: "The requested audience or resource is not one this client may have tokens for."}

// tokenExchange is the token endpoint's handler of the grant.
type tokenExchange struct {
	s *Server
}

var _ fosite.TokenEndpointHandler = (*tokenExchange)(nil)

func (h *tokenExchange) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (h *tokenExchange) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(TokenExchangeGrantType)
}

// HandleTokenEndpointRequest checks the request and makes the new
// token's session, scopes and audience.
func (h *tokenExchange) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	c, ok := ar.GetClient().(*store.Client)
	switch {
	case !ok || !c.GetGrantTypes().Has(TokenExchangeGrantType):
		return fosite.ErrUnauthorizedClient.WithHint("The client is not registered for token exchange.")
	case c.IsPublic():
		// A public client proves nothing of itself: it cannot be trusted
		// to act for a user elsewhere.
		return fosite.ErrUnauthorizedClient.WithHint("Only confidential clients may exchange tokens.")
	}
	form := ar.GetRequestForm()
	if form.Get("subject_token") == "" {
		return fosite.ErrInvalidRequest.WithHint("The subject_token parameter is required.")
	}
	if form.Get("subject_token_type") != AccessTokenType {
		return fosite.ErrInvalidRequest.WithHintf("subject_token_type must be %s.", AccessTokenType)
	}
	if t := form.Get("requested_token_type"); t != "" && t != AccessTokenType {
		return fosite.ErrInvalidRequest.WithHintf("Only access tokens are issued: requested_token_type must be %s.", AccessTokenType)
	}
	if (form.Get("actor_token") == "") != (form.Get("actor_token_type") == "") {
		return fosite.ErrInvalidRequest.WithHint("actor_token and actor_token_type go together.")
	}
	if t := form.Get("actor_token_type"); t != "" && t != AccessTokenType {
		return fosite.ErrInvalidRequest.WithHintf("actor_token_type must be %s.", AccessTokenType)
	}
	subject, err := h.accessToken(ctx, form.Get("subject_token"), "subject")
	if err != nil {
		return err
	}
	// The client must be one the subject token was meant for: the client
	// it was issued to, a resource server registered for that client, or
	// an audience of it. A token that merely leaked is not re-targeted.
	owner := subject.GetClient().GetID()
	if !mayIntrospect(c, owner) && !subject.GetGrantedAudience().Has(c.GetID()) {
		return fosite.ErrInvalidGrant.WithHint("The subject token was not issued to or for this client.")
	}
	sub := oidcSession(subject.GetSession())
	if sub == nil || sub.Claims == nil {
		return fosite.ErrInvalidGrant.WithHint("The subject token is not valid.")
	}

	// Scopes: a subset of the subject token's (never wider), and of the
	// client's. Absent, the subject token's that the client may have.
	// No refresh token is issued, so offline_access is never granted.
	var scopes []string
	keep := func(sc string) {
		if sc != "offline_access" && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if asked := ar.GetRequestedScopes(); len(asked) > 0 {
		for _, sc := range asked {
			switch {
			case !subject.GetGrantedScopes().Has(sc):
				return fosite.ErrInvalidScope.WithHintf("The subject token was not granted scope %q: an exchange never widens scope.", sc)
			case !fosite.ExactScopeStrategy(c.GetScopes(), sc):
				return fosite.ErrInvalidScope.WithHintf("The client may not ask for scope %q.", sc)
			}
			keep(sc)
		}
	} else {
		for _, sc := range subject.GetGrantedScopes() {
			if fosite.ExactScopeStrategy(c.GetScopes(), sc) {
				keep(sc)
			}
		}
	}

	// Audience: each one asked (audience or resource, section 2.1) must
	// be registered for the client; none asked, the client itself.
	aud := slices.Concat(ar.GetRequestedAudience(), form["resource"])
	for _, a := range aud {
		if !slices.Contains(c.TokenExchangeAudiences, a) {
			return errInvalidTarget.WithHintf("The client may not have tokens for %q.", a)
		}
	}
	if len(aud) == 0 {
		aud = []string{c.GetID()}
	}
	aud = slices.Compact(slices.Sorted(slices.Values(aud)))

	// The new token is the user's as the subject token was: same
	// subject, same sign-in session (sid), so ending the session or
	// disabling the user ends it too.
	sess := newSession()
	sess.Subject, sess.Username = sub.Subject, sub.Username
	sess.Claims.Subject = sub.Claims.Subject
	if sess.Claims.Subject == "" {
		sess.Claims.Subject = sub.Subject
	}
	sess.Claims.AuthTime = sub.Claims.AuthTime
	sess.Claims.AuthenticationMethodsReferences = sub.Claims.AuthenticationMethodsReferences
	sess.Claims.AuthenticationContextClassReference = sub.Claims.AuthenticationContextClassReference
	sess.Claims.Extra = map[string]any{}
	if sid, _ := sub.Claims.Extra["sid"].(string); sid != "" {
		sess.Claims.Extra["sid"] = sid
	}
	if actor := form.Get("actor_token"); actor != "" {
		act, err := h.actor(ctx, c, actor)
		if err != nil {
			return err
		}
		if prior, ok := sub.Claims.Extra["act"]; ok {
			act["act"] = prior // the chain of delegation (RFC 8693 section 4.1)
		}
		sess.Claims.Extra["act"] = act
	} else if prior, ok := sub.Claims.Extra["act"]; ok {
		sess.Claims.Extra["act"] = prior // still acting for the same party
	}

	// Never longer than the subject token lives.
	now := time.Now().UTC()
	cfg := h.s.fosite.Config
	exp := now.Add(fosite.GetEffectiveLifespan(c, fosite.GrantType(TokenExchangeGrantType), fosite.AccessToken, cfg.GetAccessTokenLifespan(ctx)))
	if se := sub.GetExpiresAt(fosite.AccessToken); !se.IsZero() && se.Before(exp) {
		exp = se
	}
	if !exp.After(now) {
		return fosite.ErrInvalidGrant.WithHint("The subject token has expired.")
	}
	sess.SetExpiresAt(fosite.AccessToken, exp.Truncate(time.Second))
	ar.SetSession(sess)
	ar.SetRequestedScopes(scopes)
	for _, sc := range scopes {
		ar.GrantScope(sc)
	}
	ar.SetRequestedAudience(aud)
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	return nil
}

// accessToken validates a subject or actor token: an access token we
// issued, active, not revoked, not expired. Anything else is invalid_grant
// (RFC 8693 section 2.2.2); a database that fails is not.
func (h *tokenExchange) accessToken(ctx context.Context, token, which string) (fosite.AccessRequester, error) {
	tu, ar, err := h.s.oauth.IntrospectToken(ctx, token, fosite.AccessToken, newSession())
	if err != nil {
		if errors.Is(unavailable(err), fosite.ErrTemporarilyUnavailable) {
			return nil, unavailable(err)
		}
		return nil, fosite.ErrInvalidGrant.WithHintf("The %s token is not an active access token issued here.", which).WithWrap(err)
	}
	if tu != fosite.AccessToken {
		return nil, fosite.ErrInvalidGrant.WithHintf("The %s token is not an access token.", which)
	}
	return ar, nil
}

// actor validates an actor token and returns the act claim it makes.
// The actor token must be the exchanging client's own: a client says who
// it is, never who someone else is.
func (h *tokenExchange) actor(ctx context.Context, c *store.Client, token string) (map[string]any, error) {
	ar, err := h.accessToken(ctx, token, "actor")
	if err != nil {
		return nil, err
	}
	if ar.GetClient().GetID() != c.GetID() {
		return nil, fosite.ErrInvalidGrant.WithHint("The actor token was not issued to this client.")
	}
	act := map[string]any{"sub": ar.GetSession().GetSubject(), "client_id": c.GetID()}
	return act, nil
}

// PopulateTokenEndpointResponse issues the access token (RFC 8693
// section 2.2.1): issued_token_type, Bearer, expires_in, scope; no
// refresh token.
func (h *tokenExchange) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest // fosite asks every handler
	}
	access, sig, err := h.s.access.GenerateAccessToken(ctx, ar)
	if err != nil {
		return err
	}
	if err := h.s.store.CreateAccessTokenSession(ctx, sig, ar.Sanitize(nil)); err != nil {
		return fmt.Errorf("token exchange: store the token: %w", err)
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("Bearer")
	resp.SetExpiresIn(time.Until(ar.GetSession().GetExpiresAt(fosite.AccessToken)).Round(time.Second))
	if len(ar.GetGrantedScopes()) > 0 {
		resp.SetScopes(ar.GetGrantedScopes())
	}
	resp.SetExtra("issued_token_type", AccessTokenType)
	return nil
}

// exchangeToken answers a token exchange and records it in the audit log,
// granted or refused.
func (s *Server) exchangeToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.oauth.NewAccessRequest(ctx, r, newSession())
	var resp fosite.AccessResponder
	if err == nil {
		resp, err = s.oauth.NewAccessResponse(ctx, ar)
	}
	ev := store.AuditEvent{Event: "token.exchange", Outcome: "ok"}
	if ar != nil && ar.GetClient() != nil {
		ev.ClientID = ar.GetClient().GetID()
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(unavailable(err))
		if ev.ClientID != "" {
			ev.Outcome, ev.Detail = "refused", rfc.ErrorField
			s.audit(r, ev)
		}
		s.accessError(w, r, ar, err)
		return
	}
	sess := oidcSession(ar.GetSession())
	detail := []string{"sub=" + sess.Subject, "aud=" + strings.Join(ar.GetGrantedAudience(), ","), "scope=" + strings.Join(ar.GetGrantedScopes(), ",")}
	if act, ok := sess.Claims.Extra["act"].(map[string]any); ok {
		detail = append(detail, fmt.Sprintf("act=%v", act["sub"]))
	}
	if sess.Username != "" {
		ev.UserID, ev.Username = sess.Subject, sess.Username
	}
	ev.Detail = strings.Join(detail, " ")
	s.audit(r, ev)
	s.stats.add("token_issued." + TokenExchangeGrantType)
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
}
