package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
)

// accessTokenStrategy issues each client's access tokens in the format it
// is registered for: fosite's opaque HMAC tokens, or JWTs (RFC 9068) that
// a resource server validates locally against our JWKS. Codes and refresh
// tokens stay opaque.
//
// The trade of a JWT: a resource server that validates it locally accepts
// it until it expires, revoked or not, so such clients should have short
// access token lifetimes. Here, at introspection and userinfo, revocation
// and logout end it at once: a JWT issued to a user keeps its row as an
// opaque token does, and a client_credentials JWT, never stored, is
// checked against the list of revoked ones.
type accessTokenStrategy struct {
	oauth2.CoreStrategy // the opaque strategy
	keys                *keys.Manager
	issuer              string
	defaultAlg          string // ES256: a signature costs ~25 µs; RS256 ~1 ms
}

// jwtTyp is the media type of RFC 9068 section 2.1.
const jwtTyp = "at+jwt"

// isJWT tells a JWT (three segments) from an opaque token (two).
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// AccessTokenSignature is what a token's row is keyed by: the signature
// segment for a JWT.
func (s *accessTokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return token[strings.LastIndexByte(token, '.')+1:]
	}
	return s.CoreStrategy.AccessTokenSignature(ctx, token)
}

// GenerateAccessToken makes a JWT for a client registered for them (RFC
// 9068 section 2.2), else an opaque token.
func (s *accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	c, ok := r.GetClient().(*store.Client)
	if !ok || c.AccessTokenFormat != store.AccessTokenJWT {
		return s.CoreStrategy.GenerateAccessToken(ctx, r)
	}
	now := time.Now().UTC()
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(time.Hour)
	}
	aud := []string(r.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{c.GetID()}
	}
	claims := map[string]any{
		"iss": s.issuer, "sub": r.GetSession().GetSubject(), "aud": aud, "client_id": c.GetID(),
		"iat": now.Unix(), "exp": exp.Unix(), "jti": store.NewID(), "scope": strings.Join(r.GetGrantedScopes(), " "),
	}
	if jkt := boundKey(r.GetSession()); jkt != "" {
		claims["cnf"] = map[string]string{"jkt": jkt} // RFC 9449 section 6.1
	}
	if os, ok := r.GetSession().(openid.Session); ok && os.IDTokenClaims() != nil {
		idc := os.IDTokenClaims()
		if sid, _ := idc.Extra["sid"].(string); sid != "" {
			claims["sid"] = sid
		}
		if act := idc.Extra["act"]; act != nil {
			claims["act"] = act // a token exchanged by delegation (RFC 8693 section 4.1)
		}
		if !idc.AuthTime.IsZero() {
			claims["auth_time"] = idc.AuthTime.Unix()
		}
		if idc.AuthenticationContextClassReference != "" {
			claims["acr"] = idc.AuthenticationContextClassReference
		}
		if len(idc.AuthenticationMethodsReferences) > 0 {
			claims["amr"] = idc.AuthenticationMethodsReferences
		}
	}
	alg := s.defaultAlg
	if c.IDTokenAlg != "" {
		alg = c.IDTokenAlg
	}
	k, err := s.keys.Active(alg)
	if err != nil {
		return "", "", fmt.Errorf("sign access token: %w", err)
	}
	token, sig, err := signCompact(k, jwtTyp, claims)
	if err != nil {
		return "", "", fmt.Errorf("sign access token: %w", err)
	}
	return token, sig, nil
}

// ValidateAccessToken checks a JWT's signature, type, issuer and expiry,
// or an opaque token's HMAC.
func (s *accessTokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		_, err := s.verify(ctx, token)
		return err
	}
	return s.CoreStrategy.ValidateAccessToken(ctx, r, token)
}

// verify returns the claims of a JWT access token we issued and that has
// not expired. An ID token (signed by the same keys) is refused by its
// type: it is no access token.
func (s *accessTokenStrategy) verify(_ context.Context, token string) (map[string]any, error) {
	header, claims, err := verifyCompact(s.keys, token)
	if err != nil {
		return nil, fosite.ErrInactiveToken.WithHint("The access token is not valid.").WithWrap(err)
	}
	if typ, _ := header["typ"].(string); !strings.EqualFold(strings.TrimPrefix(typ, "application/"), jwtTyp) {
		return nil, fosite.ErrInactiveToken.WithHint("The token is not an access token.")
	}
	if iss, _ := claims["iss"].(string); iss != s.issuer {
		return nil, fosite.ErrInactiveToken.WithHint("The access token was issued by someone else.")
	}
	if exp := claimNumber(claims["exp"]); exp == 0 || time.Now().Unix() >= int64(exp) {
		return nil, fosite.ErrInactiveToken.WithHint("The access token has expired.")
	}
	return claims, nil
}

// jwtAccessStore is what JWT introspection needs of the store.
type jwtAccessStore interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
	GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error)
	AccessTokenJTIRevoked(ctx context.Context, jti string) (bool, error)
	RevokeAccessTokenJTI(ctx context.Context, jti string, exp time.Time) error
}

// jwtAccessIntrospector answers for JWT access tokens at introspection
// and userinfo (fosite's TokenIntrospector), handing opaque tokens to
// fosite's own validator.
type jwtAccessIntrospector struct {
	next     fosite.TokenIntrospector
	strategy *accessTokenStrategy
	store    jwtAccessStore
}

// IntrospectToken implements fosite.TokenIntrospector.
func (i *jwtAccessIntrospector) IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	if !isJWT(token) {
		return i.next.IntrospectToken(ctx, token, use, ar, scopes)
	}
	claims, err := i.strategy.verify(ctx, token)
	if err != nil {
		return "", err
	}
	clientID, _ := claims["client_id"].(string)
	sub, _ := claims["sub"].(string)
	sid, _ := claims["sid"].(string)
	jti, _ := claims["jti"].(string)
	if sub == clientID && sid == "" {
		// A client_credentials token: never stored, so checked against
		// the revocation list.
		revoked, err := i.store.AccessTokenJTIRevoked(ctx, jti)
		if err != nil {
			return "", err
		}
		if revoked {
			return "", fosite.ErrInactiveToken.WithHint("The access token was revoked.")
		}
		client, err := i.store.GetClient(ctx, clientID)
		if err != nil {
			return "", err
		}
		req, ok := ar.(*fosite.AccessRequest)
		if !ok {
			return "", errors.New("jwt introspection: unexpected request type")
		}
		req.ID, req.Client = jti, client
		req.RequestedAt = time.Unix(int64(claimNumber(claims["iat"])), 0).UTC()
		for _, sc := range strings.Fields(fmt.Sprint(claims["scope"])) {
			req.AppendRequestedScope(sc)
			req.GrantScope(sc)
		}
		if ss, ok := req.GetSession().(interface{ SetSubject(string) }); ok {
			ss.SetSubject(sub)
		}
		req.GetSession().SetExpiresAt(fosite.AccessToken, time.Unix(int64(claimNumber(claims["exp"])), 0).UTC())
		if cnf, ok := claims["cnf"].(map[string]any); ok {
			jkt, _ := cnf["jkt"].(string)
			bindKey(req.GetSession(), jkt)
		}
	} else {
		// A user's token keeps its row: revocation and logout delete it.
		or, err := i.store.GetAccessTokenSession(ctx, i.strategy.AccessTokenSignature(ctx, token), ar.GetSession())
		if err != nil {
			return "", err
		}
		ar.Merge(or)
	}
	for _, sc := range scopes {
		if !ar.GetGrantedScopes().Has(sc) {
			return "", fosite.ErrInvalidScope.WithHintf("The access token was not granted %q.", sc)
		}
	}
	return fosite.AccessToken, nil
}

func claimNumber(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return 0
}

// jwtAccessRevoker is the revocation (RFC 7009) of JWT access tokens: a
// stateless one goes on the revocation list until it expires; a user's,
// which has its row, is left to fosite's handler, which deletes the row.
type jwtAccessRevoker struct {
	strategy *accessTokenStrategy
	store    jwtAccessStore
}

// RevokeToken implements fosite.RevocationHandler.
func (v *jwtAccessRevoker) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	if !isJWT(token) {
		return fosite.ErrUnknownRequest
	}
	claims, err := v.strategy.verify(ctx, token)
	if err != nil {
		return fosite.ErrUnknownRequest // not ours, or expired: nothing to revoke
	}
	clientID, _ := claims["client_id"].(string)
	sub, _ := claims["sub"].(string)
	sid, _ := claims["sid"].(string)
	if clientID != client.GetID() {
		return fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client.")
	}
	if sub != clientID || sid != "" {
		return fosite.ErrUnknownRequest
	}
	jti, _ := claims["jti"].(string)
	return v.store.RevokeAccessTokenJTI(ctx, jti, time.Unix(int64(claimNumber(claims["exp"])), 0))
}
