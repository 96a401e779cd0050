package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"
	"gorm.io/gorm"
)

// fosite's compose factories type-assert the store without checking, so a
// missing method would panic at start; these make it a compile error.
var (
	_ fosite.Storage                     = (*Store)(nil)
	_ fosite.ClientManager               = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ storage.Transactional              = (*Store)(nil)
)

const (
	tableCodes   = "oauth_authorize_codes"
	tableAccess  = "oauth_access_tokens"
	tableRefresh = "oauth_refresh_tokens"
	tablePKCE    = "oauth_pkce"
	tableOIDC    = "oauth_oidc"
)

// TokenRow is one stored fosite request; every token table has this
// shape (the refresh table adds the signature of its access token).
type TokenRow struct {
	Signature       string `gorm:"primaryKey"`
	RequestID       string
	RequestedAt     time.Time
	ClientID        string
	Subject         string
	Scopes          string
	GrantedScopes   string
	Audience        string
	GrantedAudience string
	FormData        string
	SessionData     string
	Active          bool
	ExpiresAt       time.Time
	Sid             string // the sign-in session the token belongs to, if any
}

type refreshRow struct {
	TokenRow        `gorm:"embedded"`
	AccessSignature string
}

func (s *Store) toRow(sig string, r fosite.Requester, kind fosite.TokenType, ttl time.Duration) (TokenRow, error) {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return TokenRow{}, fmt.Errorf("store: encode session: %w", err)
	}
	exp := time.Time{}
	subject, sid := "", ""
	if se := r.GetSession(); se != nil {
		exp = se.GetExpiresAt(kind)
		subject = se.GetSubject()
	}
	sid = sidOf(r)
	if exp.IsZero() {
		exp = s.Now().Add(ttl)
	}
	return TokenRow{
		Signature:       hashKey(sig),
		RequestID:       r.GetID(),
		RequestedAt:     r.GetRequestedAt().UTC(),
		ClientID:        r.GetClient().GetID(),
		Subject:         subject,
		Scopes:          strings.Join(r.GetRequestedScopes(), " "),
		GrantedScopes:   strings.Join(r.GetGrantedScopes(), " "),
		Audience:        strings.Join(r.GetRequestedAudience(), " "),
		GrantedAudience: strings.Join(r.GetGrantedAudience(), " "),
		FormData:        r.GetRequestForm().Encode(),
		SessionData:     string(sess),
		Active:          true,
		ExpiresAt:       exp.UTC(),
		Sid:             sid,
	}, nil
}

// toRequest rebuilds a request, decoding the session into the one fosite
// supplied (it knows the concrete type) and reloading the client.
func (s *Store) toRequest(ctx context.Context, row TokenRow, session fosite.Session) (*fosite.Request, error) {
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	if session != nil {
		if err := json.Unmarshal([]byte(row.SessionData), session); err != nil {
			return nil, fmt.Errorf("store: decode session: %w", err)
		}
	}
	form, err := url.ParseQuery(row.FormData)
	if err != nil {
		return nil, fmt.Errorf("store: decode form: %w", err)
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt,
		Client:            client,
		RequestedScope:    fields(row.Scopes),
		GrantedScope:      fields(row.GrantedScopes),
		RequestedAudience: fields(row.Audience),
		GrantedAudience:   fields(row.GrantedAudience),
		Form:              form,
		Session:           session,
	}, nil
}

// toRequester is toRequest for the getters that return it as is: on an
// error it returns a nil interface, not a nil *fosite.Request inside one
// (which would compare non-nil).
func (s *Store) toRequester(ctx context.Context, row TokenRow, session fosite.Session) (fosite.Requester, error) {
	req, err := s.toRequest(ctx, row, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func fields(s string) fosite.Arguments {
	f := strings.Fields(s)
	if f == nil {
		return fosite.Arguments{}
	}
	return f
}

func (s *Store) create(ctx context.Context, table, sig string, r fosite.Requester, kind fosite.TokenType, ttl time.Duration) error {
	row, err := s.toRow(sig, r, kind, ttl)
	if err != nil {
		return err
	}
	if err := s.single(ctx).Table(table).Create(&row).Error; err != nil {
		return conflict("create "+table, err)
	}
	return nil
}

func (s *Store) get(ctx context.Context, table, sig string) (TokenRow, error) {
	var row TokenRow
	err := s.conn(ctx).Table(table).Where("signature = ?", hashKey(sig)).Take(&row).Error
	if err != nil {
		return row, notFound("get "+table, err)
	}
	return row, nil
}

func (s *Store) delete(ctx context.Context, table, sig string) error {
	return s.conn(ctx).Table(table).Where("signature = ?", hashKey(sig)).Delete(&TokenRow{}).Error
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A
// code issued in a sign-in session also records its client as one of the
// session's, to be told when the session ends (Back-Channel Logout 1.0).
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	if sid := sidOf(r); sid != "" {
		// First: a client recorded for a code
		// that then failed to be stored is told of a logout it need not
		// hear; never the reverse.
		if err := s.recordSessionClient(ctx, sid, r.GetClient().GetID()); err != nil {
			return err
		}
	}
	return s.create(ctx, tableCodes, code, r, fosite.AuthorizeCode, s.AuthCodeTTL)
}

// sidOf is the sign-in session a request's tokens belong to, if any.
func sidOf(r fosite.Requester) string {
	switch ds := r.GetSession().(type) {
	case *openid.DefaultSession:
		if ds == nil || ds.Claims == nil {
			return ""
		}
	case nil:
		return ""
	}
	// The provider's own session type wraps OpenID Connect's.
	if ds, ok := r.GetSession().(openid.Session); ok {
		if c := ds.IDTokenClaims(); c != nil {
			sid, _ := c.Extra["sid"].(string)
			return sid
		}
	}
	return ""
}

// codeMemo holds the authorization code rows one request read (see
// WithCodeMemo), by code.
type codeMemo map[string]TokenRow

type codeMemoKey struct{}

// WithCodeMemo lets one code exchange read its authorization code's row
// once: fosite reads it when it checks the grant and again when it
// answers. The memo follows the request's own invalidation of the code;
// the conditional update still decides a race with another request.
func WithCodeMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, codeMemoKey{}, codeMemo{})
}

// GetAuthorizeCodeSession returns the request of a code. A used code
// returns the request together with fosite.ErrInvalidatedAuthorizeCode,
// so fosite can revoke the tokens it issued (RFC 6749 section 4.1.2).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	memo, _ := ctx.Value(codeMemoKey{}).(codeMemo)
	row, ok := memo[code]
	if !ok {
		var err error
		if row, err = s.get(ctx, tableCodes, code); err != nil {
			return nil, err
		}
		if memo != nil {
			memo[code] = row
		}
	}
	req, err := s.toRequest(ctx, row, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code used. It is a conditional
// update: of two exchanges racing on one code, only one finds it active.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	res := s.conn(ctx).Table(tableCodes).Where("signature = ? AND active = ?", hashKey(code), true).Update("active", false)
	if res.Error != nil {
		return fmt.Errorf("store: invalidate code: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: invalidate code: %w", fosite.ErrInvalidatedAuthorizeCode)
	}
	if memo, _ := ctx.Value(codeMemoKey{}).(codeMemo); memo != nil {
		if row, ok := memo[code]; ok {
			row.Active = false
			memo[code] = row
		}
	}
	return nil
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage. A
// stateless JWT access token (see StatelessAccessToken) is not stored.
func (s *Store) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	if StatelessAccessToken(r) {
		return nil
	}
	return s.create(ctx, tableAccess, sig, r, fosite.AccessToken, s.AccessTokenTTL)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.get(ctx, tableAccess, sig)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return nil, fmt.Errorf("store: access token: %w", fosite.ErrInactiveToken)
	}
	return s.toRequester(ctx, row, session)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.delete(ctx, tableAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, r fosite.Requester) error {
	row, err := s.toRow(sig, r, fosite.RefreshToken, s.RefreshTokenTTL)
	if err != nil {
		return err
	}
	rr := refreshRow{TokenRow: row, AccessSignature: hashKey(accessSig)}
	if err := s.single(ctx).Table(tableRefresh).Create(&rr).Error; err != nil {
		return conflict("create refresh token", err)
	}
	return nil
}

// GetRefreshTokenSession returns the request of a refresh token. A token
// rotated out or revoked returns the request with fosite.ErrInactiveToken:
// fosite then treats its use as reuse and revokes the whole chain
// (RFC 6819 section 5.2.2.3).
func (s *Store) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.get(ctx, tableRefresh, sig)
	if err != nil {
		return nil, err
	}
	req, err := s.toRequest(ctx, row, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, fmt.Errorf("store: refresh token: %w", fosite.ErrInactiveToken)
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.delete(ctx, tableRefresh, sig)
}

// RotateRefreshToken retires a refresh token that is being exchanged, and
// the access tokens of its request. The retirement is conditional: two
// refreshes racing on one token cannot both succeed; the loser gets
// fosite.ErrSerializationFailure.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	res := s.conn(ctx).Table(tableRefresh).Where("signature = ? AND active = ?", hashKey(sig), true).Update("active", false)
	if res.Error != nil {
		return fmt.Errorf("store: rotate refresh token: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: rotate refresh token: %w", fosite.ErrSerializationFailure)
	}
	if err := s.conn(ctx).Table(tableAccess).Where("request_id = ?", requestID).Delete(&TokenRow{}).Error; err != nil {
		return fmt.Errorf("store: rotate refresh token: revoke access tokens: %w", err)
	}
	return nil
}

// RevokeRefreshToken deactivates every refresh token of a request
// (RFC 7009). Rows stay, inactive, so a later use is seen as reuse.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Table(tableRefresh).Where("request_id = ?", requestID).Update("active", false).Error
}

// RevokeAccessToken deletes every access token of a request (RFC 7009).
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Table(tableAccess).Where("request_id = ?", requestID).Delete(&TokenRow{}).Error
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, tablePKCE, sig, r, fosite.AuthorizeCode, s.AuthCodeTTL)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.get(ctx, tablePKCE, sig)
	if err != nil {
		return nil, err
	}
	return s.toRequester(ctx, row, session)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.delete(ctx, tablePKCE, sig)
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, tableOIDC, code, r, fosite.AuthorizeCode, s.AuthCodeTTL)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	row, err := s.get(ctx, tableOIDC, code)
	if err != nil {
		return nil, err
	}
	return s.toRequester(ctx, row, r.GetSession())
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.delete(ctx, tableOIDC, code)
}

type jtiRow struct {
	JTI       string `gorm:"column:jti;primaryKey"`
	ExpiresAt time.Time
}

func (jtiRow) TableName() string { return "oauth_jti" }

// ClientAssertionJWTValid reports fosite.ErrJTIKnown for an assertion id
// already used and not yet expired (RFC 7523 section 3, replay).
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var row jtiRow
	err := s.conn(ctx).Where("jti = ?", hashKey(jti)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("store: jti: %w", err)
	case row.ExpiresAt.After(s.Now()):
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT records an assertion id until it expires.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	now := s.Now() // UTC: on SQLite times are text, and only UTC text sorts as time
	if err := s.conn(ctx).Where("expires_at < ?", now).Delete(&jtiRow{}).Error; err != nil {
		return fmt.Errorf("store: jti cleanup: %w", err)
	}
	if err := s.conn(ctx).Create(&jtiRow{JTI: hashKey(jti), ExpiresAt: exp.UTC()}).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fosite.ErrJTIKnown
		}
		return fmt.Errorf("store: jti: %w", err)
	}
	return nil
}

// DeleteExpired removes tokens, codes, flows, user links and trusted
// browsers past their expiry and
// returns how many rows went. Inactive refresh tokens are kept until they
// expire so reuse stays detectable.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := s.Now() // UTC: on SQLite times are text, and only UTC text sorts as time
	var total int64
	for _, t := range []string{tableCodes, tableAccess, tableRefresh, tablePKCE, tableOIDC, "login_flows", "oauth_jti", "dpop_proofs", "sessions", "oauth_par", "logout_deliveries", "revoked_access_tokens",
		"user_links", "trusted_devices", "webauthn_ceremonies"} {
		res := s.conn(ctx).Table(t).Where("expires_at < ?", now).Delete(&TokenRow{})
		if res.Error != nil {
			return total, fmt.Errorf("store: delete expired %s: %w", t, res.Error)
		}
		total += res.RowsAffected
	}
	n, err := s.deleteExpiredDeviceRequests(ctx, now)
	return total + n, err
}
