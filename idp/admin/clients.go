package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/store"
)

// What a client may be registered with.
var (
	KnownScopes     = []string{"openid", "profile", "phone", "offline_access"}
	KnownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", idp.DeviceGrantType, idp.TokenExchangeGrantType}
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
)

// Names say how a caller spells each field of a client in its messages:
// the CLI by its flags, the API by its JSON names.
type Names func(field string) string

// JSONNames spells fields as the admin API does.
func JSONNames(field string) string { return field }

// CheckClient lists what is wrong with a client to register (or a
// client as an update would leave it), in words an operator can act on.
func CheckClient(c store.NewClient, name Names) []string {
	var problems []string
	if !clientIDPattern.MatchString(c.ID) {
		problems = append(problems, name("id")+" is required: 1-128 letters, digits and . _ ~ -")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(KnownGrantTypes, g) {
			problems = append(problems, fmt.Sprintf("%s %q is not one of %s", name("grant_types"), g, strings.Join(KnownGrantTypes, ", ")))
		}
	}
	if len(c.GrantTypes) == 0 {
		problems = append(problems, name("grant_types")+" needs at least one grant type")
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		problems = append(problems, name("redirect_uris")+" is required for the authorization_code grant")
	}
	if c.AccessTokenFormat != "" && c.AccessTokenFormat != store.AccessTokenOpaque && c.AccessTokenFormat != store.AccessTokenJWT {
		problems = append(problems, name("access_token_format")+" must be opaque or jwt")
	}
	if c.AccessTokenLifespan < 0 || (c.AccessTokenLifespan > 0 && c.AccessTokenLifespan < time.Minute) {
		problems = append(problems, name("access_token_lifespan")+" must be at least 1m")
	}
	for _, u := range []string{c.BackchannelLogoutURI, c.FrontchannelLogoutURI} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") {
			problems = append(problems, fmt.Sprintf("logout URI %q must be an http(s) URL", u))
		} else if msg := CheckRedirectURI(u); msg != "" {
			problems = append(problems, msg)
		}
	}
	for _, u := range slices.Concat(c.RedirectURIs, c.PostLogoutRedirectURIs) {
		if msg := CheckRedirectURI(u); msg != "" {
			problems = append(problems, msg)
		}
	}
	for _, s := range c.Scopes {
		if !slices.Contains(KnownScopes, s) {
			problems = append(problems, fmt.Sprintf("%s %q is not one of %s", name("scopes"), s, strings.Join(KnownScopes, ", ")))
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		problems = append(problems, "a "+name("public")+" client cannot use client_credentials")
	}
	if c.Public && len(c.ResourceServerFor) > 0 {
		problems = append(problems, "a "+name("public")+" client cannot introspect tokens, so it cannot be a "+name("resource_server_for"))
	}
	if c.Public && slices.Contains(c.GrantTypes, idp.TokenExchangeGrantType) {
		problems = append(problems, "a "+name("public")+" client cannot use token exchange")
	}
	for _, a := range c.TokenExchangeAudiences {
		if a == "" || strings.ContainsAny(a, " \t\n") || len(a) > 512 {
			problems = append(problems, fmt.Sprintf("%s %q must be a client id or a resource server URI, without spaces", name("token_exchange_audiences"), a))
		}
	}
	for _, r := range c.ResourceServerFor {
		if r != "*" && !clientIDPattern.MatchString(r) {
			problems = append(problems, fmt.Sprintf("%s %q is not a client id (or *)", name("resource_server_for"), r))
		}
	}
	switch c.TokenEndpointAuthMethod {
	case "", "none", "client_secret_basic", "client_secret_post":
	case "private_key_jwt":
		if c.JWKS == "" && !c.Public {
			problems = append(problems, "private_key_jwt needs "+name("jwks")+" with the client's public keys")
		}
	default:
		problems = append(problems, name("token_endpoint_auth_method")+" must be client_secret_basic, client_secret_post or private_key_jwt")
	}
	if c.LogoURI != "" {
		if u, err := url.Parse(c.LogoURI); err != nil || u.Scheme != "https" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("%s %q must be an https URL", name("logo_uri"), c.LogoURI))
		}
	}
	if c.IDTokenAlg != "" && c.IDTokenAlg != "RS256" && c.IDTokenAlg != "ES256" {
		problems = append(problems, name("id_token_signed_response_alg")+" must be RS256 or ES256")
	}
	if len(c.Name) > 200 {
		problems = append(problems, name("name")+" is at most 200 bytes")
	}
	return problems
}

// CheckRedirectURI applies RFC 6749 section 3.1.2 and OAuth 2.0 Security
// BCP rules: absolute, no fragment, https unless on the loopback (or a
// private-use scheme for native apps).
func CheckRedirectURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		return fmt.Sprintf("redirect URI %q is not an absolute URI", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("redirect URI %q must not have a fragment", raw)
	case u.Scheme == "http":
		h := u.Hostname()
		if h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return fmt.Sprintf("redirect URI %q must use https (http only for localhost)", raw)
		}
	case u.Scheme == "https":
		if u.Host == "" {
			return fmt.Sprintf("redirect URI %q has no host", raw)
		}
	case u.Scheme == "javascript" || u.Scheme == "data" || u.Scheme == "file":
		return fmt.Sprintf("redirect URI %q uses a forbidden scheme", raw)
	}
	return ""
}

// CreateClient registers a client (checked with CheckClient) and returns
// its secret, shown this once ("" for a public or private_key_jwt one).
func (s *Service) CreateClient(ctx context.Context, nc store.NewClient, name Names, by string) (string, error) {
	return s.createClient(ctx, nc, name, "client.created", by)
}

// createClient registers a client and records event.
func (s *Service) createClient(ctx context.Context, nc store.NewClient, name Names, event, by string) (string, error) {
	if len(nc.GrantTypes) == 0 {
		nc.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if nc.TokenEndpointAuthMethod == "" {
		nc.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if p := CheckClient(nc, name); len(p) > 0 {
		return "", &InputError{strings.Join(p, "\n")}
	}
	if slices.Contains(nc.GrantTypes, "authorization_code") {
		nc.ResponseTypes = []string{"code"}
	}
	nc.Secret = ""
	if nc.Public {
		nc.TokenEndpointAuthMethod = "none"
	} else if nc.TokenEndpointAuthMethod != "private_key_jwt" {
		nc.Secret = newSecret()
	}
	if err := s.Store.CreateClient(ctx, nc); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", fmt.Errorf("client id %q is taken: %w", nc.ID, store.ErrConflict)
		}
		if strings.Contains(err.Error(), "JWKS") {
			return "", invalid("%s: %v", name("jwks"), err)
		}
		return "", err
	}
	return nc.Secret, s.audit(ctx, event, nil, nc.ID, by, "")
}

// newSecret is 256 random bits: safe to store as a fast hash (see
// store.ClientSecretHasher).
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Client is a client as an operator sees it; never its secret.
type Client struct {
	ID                      string    `json:"client_id"`
	Name                    string    `json:"name"`
	Public                  bool      `json:"public"`
	FirstParty              bool      `json:"first_party"`
	RedirectURIs            []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string  `json:"post_logout_redirect_uris"`
	GrantTypes              []string  `json:"grant_types"`
	Scopes                  []string  `json:"scopes"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method"`
	RequirePAR              bool      `json:"require_par"`
	LogoURI                 string    `json:"logo_uri,omitempty"`
	IDTokenAlg              string    `json:"id_token_signed_response_alg,omitempty"`
	ResourceServerFor       []string  `json:"resource_server_for"`
	TokenExchangeAudiences  []string  `json:"token_exchange_audiences"`
	BackchannelLogoutURI    string    `json:"backchannel_logout_uri,omitempty"`
	FrontchannelLogoutURI   string    `json:"frontchannel_logout_uri,omitempty"`
	AccessTokenFormat       string    `json:"access_token_format"`
	AccessTokenLifespan     string    `json:"access_token_lifespan,omitempty"`
	DPoPBoundAccessTokens   bool      `json:"dpop_bound_access_tokens"`
	Registered              bool      `json:"registered"` // by itself (RFC 7591)
	CreatedAt               time.Time `json:"created_at"`
}

func clientOf(c *store.Client) Client {
	v := Client{
		ID: c.GetID(), Name: c.Name, Public: c.Public, FirstParty: c.FirstParty,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RequirePAR: c.RequirePAR, LogoURI: c.LogoURI, IDTokenAlg: c.IDTokenAlg, ResourceServerFor: nonNil(c.ResourceServerFor),
		TokenExchangeAudiences: nonNil(c.TokenExchangeAudiences),
		BackchannelLogoutURI:   c.BackchannelLogoutURI, FrontchannelLogoutURI: c.FrontchannelLogoutURI,
		AccessTokenFormat: c.AccessTokenFormat, DPoPBoundAccessTokens: c.DPoPBound, Registered: c.Registered, CreatedAt: c.CreatedAt,
	}
	if c.AccessTokenLifespan > 0 {
		v.AccessTokenLifespan = c.AccessTokenLifespan.String()
	}
	return v
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// ListClients lists every client.
func (s *Service) ListClients(ctx context.Context) ([]Client, error) {
	list, err := s.Store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(list))
	for _, c := range list {
		out = append(out, clientOf(c))
	}
	return out, nil
}

func (s *Service) findClient(ctx context.Context, id string) (*store.Client, error) {
	if !clientIDPattern.MatchString(id) {
		return nil, fmt.Errorf("no client %q: %w", id, store.ErrNotFound)
	}
	// Straight from the database: an operator sees the client as it is,
	// not as this instance's cache last saw it.
	c, err := s.Store.FreshClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no client %q: %w", id, store.ErrNotFound)
	}
	return c, err
}

// ShowClient returns one client.
func (s *Service) ShowClient(ctx context.Context, id string) (*Client, error) {
	c, err := s.findClient(ctx, id)
	if err != nil {
		return nil, err
	}
	v := clientOf(c)
	return &v, nil
}

// ClientChange is what an operator may change of a client; nil fields
// stay as they are.
type ClientChange struct {
	Name                   *string   `json:"name"`
	LogoURI                *string   `json:"logo_uri"`
	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	Scopes                 *[]string `json:"scopes"`
	GrantTypes             *[]string `json:"grant_types"`
	TokenExchangeAudiences *[]string `json:"token_exchange_audiences"`
	// BackchannelLogoutURI is changed by a client's own registration
	// (RFC 7592), not through the operator's API.
	BackchannelLogoutURI *string `json:"-"`
}

// UpdateClient changes a client. The client as the change would leave it
// is checked as a new one would be.
func (s *Service) UpdateClient(ctx context.Context, id string, ch ClientChange, name Names, by string) (*Client, error) {
	c, err := s.findClient(ctx, id)
	if err != nil {
		return nil, err
	}
	after := store.NewClient{
		ID: c.GetID(), Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, LogoURI: c.LogoURI,
		IDTokenAlg: c.IDTokenAlg, ResourceServerFor: c.ResourceServerFor, TokenExchangeAudiences: c.TokenExchangeAudiences, BackchannelLogoutURI: c.BackchannelLogoutURI,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, AccessTokenFormat: c.AccessTokenFormat, AccessTokenLifespan: c.AccessTokenLifespan,
		DPoPBound: c.DPoPBound,
		JWKS:      "-", // registered already; not checked again
	}
	var changed []string
	if ch.Name != nil {
		after.Name, changed = *ch.Name, append(changed, "name")
	}
	if ch.LogoURI != nil {
		after.LogoURI, changed = *ch.LogoURI, append(changed, "logo_uri")
	}
	if ch.RedirectURIs != nil {
		after.RedirectURIs, changed = *ch.RedirectURIs, append(changed, "redirect_uris")
	}
	if ch.PostLogoutRedirectURIs != nil {
		after.PostLogoutRedirectURIs, changed = *ch.PostLogoutRedirectURIs, append(changed, "post_logout_redirect_uris")
	}
	if ch.Scopes != nil {
		after.Scopes, changed = *ch.Scopes, append(changed, "scopes")
	}
	if ch.GrantTypes != nil {
		after.GrantTypes, changed = *ch.GrantTypes, append(changed, "grant_types")
	}
	if ch.TokenExchangeAudiences != nil {
		after.TokenExchangeAudiences, changed = *ch.TokenExchangeAudiences, append(changed, "token_exchange_audiences")
	}
	if ch.BackchannelLogoutURI != nil {
		after.BackchannelLogoutURI, changed = *ch.BackchannelLogoutURI, append(changed, "backchannel_logout_uri")
	}
	if len(changed) == 0 {
		return nil, invalid("nothing to change: give at least one of name, logo_uri, redirect_uris, post_logout_redirect_uris, scopes, grant_types, token_exchange_audiences")
	}
	if p := CheckClient(after, name); len(p) > 0 {
		return nil, &InputError{strings.Join(p, "\n")}
	}
	err = s.Store.UpdateClient(ctx, id, store.ClientChange{Name: ch.Name, LogoURI: ch.LogoURI, RedirectURIs: ch.RedirectURIs,
		PostLogoutRedirectURIs: ch.PostLogoutRedirectURIs, Scopes: ch.Scopes, GrantTypes: ch.GrantTypes,
		TokenExchangeAudiences: ch.TokenExchangeAudiences,
		BackchannelLogoutURI:   ch.BackchannelLogoutURI})
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, "client.updated", nil, id, by, strings.Join(changed, " ")); err != nil {
		return nil, err
	}
	return s.ShowClient(ctx, id)
}

// RotateSecret gives a confidential client a new secret, shown this
// once; the old one stops working.
func (s *Service) RotateSecret(ctx context.Context, id, by string) (string, error) {
	c, err := s.findClient(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public || c.TokenEndpointAuthMethod == "private_key_jwt" {
		return "", invalid("client %q has no secret (it is public or uses private_key_jwt)", id)
	}
	secret := newSecret()
	if err := s.Store.SetClientSecret(ctx, id, secret); err != nil {
		return "", err
	}
	return secret, s.audit(ctx, "client.secret_rotated", nil, id, by, "")
}

// DeleteClient removes a client, its consents and its tokens.
func (s *Service) DeleteClient(ctx context.Context, id, by string) error {
	if _, err := s.findClient(ctx, id); err != nil {
		return err
	}
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	return s.audit(ctx, "client.deleted", nil, id, by, "")
}
