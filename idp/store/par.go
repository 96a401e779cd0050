package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
)

var _ fosite.PARStorage = (*Store)(nil)

type parRow struct {
	RequestURIHash string `gorm:"primaryKey"`
	ClientID       string
	FormData       string
	RequestedAt    time.Time
	ExpiresAt      time.Time
}

func (parRow) TableName() string { return "oauth_par" }

// CreatePARSession stores a pushed authorization request (RFC 9126)
// under its request_uri: the parameters as pushed, already checked.
func (s *Store) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	exp := s.Now().Add(time.Minute)
	if se := r.GetSession(); se != nil && !se.GetExpiresAt(fosite.PushedAuthorizeRequestContext).IsZero() {
		exp = se.GetExpiresAt(fosite.PushedAuthorizeRequestContext).UTC()
	}
	row := parRow{RequestURIHash: hashKey(requestURI), ClientID: r.GetClient().GetID(), FormData: r.GetRequestForm().Encode(),
		RequestedAt: r.GetRequestedAt().UTC(), ExpiresAt: exp}
	if err := s.conn(ctx).Create(&row).Error; err != nil {
		return conflict("create PAR session", err)
	}
	return nil
}

// GetPARSession returns a live pushed request, rebuilt as fosite checked it.
func (s *Store) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	var row parRow
	err := s.conn(ctx).Where("request_uri_hash = ? AND expires_at > ?", hashKey(requestURI), s.Now()).Take(&row).Error
	if err != nil {
		return nil, notFound("PAR session", err)
	}
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(row.FormData)
	if err != nil {
		return nil, fmt.Errorf("store: PAR form: %w", err)
	}
	ar := fosite.NewAuthorizeRequest()
	ar.Client = client
	ar.Form = form
	ar.RequestedAt = row.RequestedAt
	ar.State = form.Get("state")
	ar.ResponseTypes = fosite.RemoveEmpty(strings.Split(form.Get("response_type"), " "))
	ar.RequestedScope = fosite.RemoveEmpty(strings.Split(form.Get("scope"), " "))
	ar.RequestedAudience = fosite.GetAudiences(form)
	if ar.RedirectURI, err = url.Parse(form.Get("redirect_uri")); err != nil {
		return nil, fmt.Errorf("store: PAR redirect_uri: %w", err)
	}
	ar.ResponseMode = fosite.ResponseModeType(form.Get("response_mode"))
	if ar.ResponseMode == "" {
		ar.ResponseMode = fosite.ResponseModeDefault
	}
	ar.SetDefaultResponseMode(fosite.ResponseModeQuery)
	return ar, nil
}

// DeletePARSession removes a pushed request: each is used once.
// The delete is conditional: of two requests racing on one request_uri,
// one finds it gone and fails.
func (s *Store) DeletePARSession(ctx context.Context, requestURI string) error {
	res := s.conn(ctx).Where("request_uri_hash = ?", hashKey(requestURI)).Delete(&parRow{})
	if res.Error != nil {
		return fmt.Errorf("store: delete PAR session: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: PAR session already used: %w", fosite.ErrNotFound)
	}
	return nil
}
