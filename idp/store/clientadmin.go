package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// ListClients returns every registered client, by id.
func (s *Store) ListClients(ctx context.Context) ([]*Client, error) {
	var rows []clientRow
	if err := s.conn(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list clients: %w", classify(err))
	}
	out := make([]*Client, 0, len(rows))
	for _, r := range rows {
		c, err := clientOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ClientChange lists what an operator changes in a client; nil fields
// stay as they are.
type ClientChange struct {
	Name                   *string
	LogoURI                *string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	Scopes                 *[]string
	GrantTypes             *[]string
	TokenExchangeAudiences *[]string
	BackchannelLogoutURI   *string
}

// UpdateClient applies a change to a client. This instance forgets its
// cached copy at once; other instances see the change when theirs
// expires (ClientCacheTTL).
func (s *Store) UpdateClient(ctx context.Context, id string, ch ClientChange) error {
	enc := func(v []string) string {
		if v == nil {
			v = []string{}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	upd := map[string]any{}
	if ch.Name != nil {
		upd["name"] = *ch.Name
	}
	if ch.LogoURI != nil {
		upd["logo_uri"] = *ch.LogoURI
	}
	if ch.RedirectURIs != nil {
		upd["redirect_uris"] = enc(*ch.RedirectURIs)
	}
	if ch.PostLogoutRedirectURIs != nil {
		upd["post_logout_redirect_uris"] = enc(*ch.PostLogoutRedirectURIs)
	}
	if ch.BackchannelLogoutURI != nil {
		upd["backchannel_logout_uri"] = *ch.BackchannelLogoutURI
	}
	if ch.Scopes != nil {
		upd["scopes"] = strings.Join(*ch.Scopes, " ")
	}
	if ch.GrantTypes != nil {
		upd["grant_types"] = enc(*ch.GrantTypes)
		rt := []string{}
		for _, g := range *ch.GrantTypes {
			if g == "authorization_code" {
				rt = []string{"code"}
			}
		}
		upd["response_types"] = enc(rt)
	}
	if ch.TokenExchangeAudiences != nil {
		upd["token_exchange_audiences"] = enc(*ch.TokenExchangeAudiences)
	}
	defer s.clients.Delete(id)
	if len(upd) == 0 {
		_, err := s.loadClient(ctx, id)
		return err
	}
	res := s.conn(ctx).Model(&clientRow{}).Where("id = ?", id).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("store: update client %s: %w", id, classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: update client %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetClientSecret replaces a confidential client's secret (kept as a
// hash); the old one stops working on this instance at once, on others
// within ClientCacheTTL.
func (s *Store) SetClientSecret(ctx context.Context, id, secret string) error {
	h, err := ClientSecretHasher{}.Hash(ctx, []byte(secret))
	if err != nil {
		return err
	}
	defer s.clients.Delete(id)
	res := s.conn(ctx).Model(&clientRow{}).Where("id = ? AND public = ? AND secret_hash <> ''", id, false).Update("secret_hash", string(h))
	if res.Error != nil {
		return fmt.Errorf("store: client secret %s: %w", id, classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: client secret %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteClient removes a client, its consents and every token issued to
// it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.Delete(id)
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		for _, t := range []string{tableAccess, tableRefresh, tableCodes, tablePKCE, tableOIDC} {
			if err := db.Table(t).Where("client_id = ?", id).Delete(&TokenRow{}).Error; err != nil {
				return err
			}
		}
		res := db.Where("id = ?", id).Delete(&clientRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete client %s: %w", id, classify(err))
	}
	return nil
}

// AllSigningKeys lists every stored signing key, newest first.
func (s *Store) AllSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var keys []SigningKey
	if err := s.conn(ctx).Order("created_at DESC").Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("store: signing keys: %w", classify(err))
	}
	return keys, nil
}

// SetRegistrationToken replaces the registration access token old of a
// client that registered itself with token (kept as a hash). The old one
// must still be the client's: of two uses of one token at once, only one
// rotates it (the other gets ErrNotFound).
func (s *Store) SetRegistrationToken(ctx context.Context, id, old, token string) error {
	oldHash, _ := ClientSecretHasher{}.Hash(ctx, []byte(old))
	h, err := ClientSecretHasher{}.Hash(ctx, []byte(token))
	if err != nil {
		return err
	}
	defer s.clients.Delete(id)
	res := s.conn(ctx).Model(&clientRow{}).Where("id = ? AND registration_token_hash = ?", id, string(oldHash)).Update("registration_token_hash", string(h))
	if res.Error != nil {
		return fmt.Errorf("store: registration token %s: %w", id, classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: registration token %s: %w", id, ErrNotFound)
	}
	return nil
}

// FreshClient loads a client from the database, past the cache: what an
// operator is shown.
func (s *Store) FreshClient(ctx context.Context, id string) (*Client, error) {
	return s.loadClient(ctx, id)
}
