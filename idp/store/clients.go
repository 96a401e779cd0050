package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Client is a registered relying party, as fosite sees it plus what our
// pages need.
type Client struct {
	*fosite.DefaultOpenIDConnectClient
	Name                   string
	FirstParty             bool // skips the consent page
	PostLogoutRedirectURIs []string
	RequirePAR             bool   // authorize requests must come through PAR (RFC 9126)
	LogoURI                string // shown on the consent page
	IDTokenAlg             string // RS256 or ES256; "" means the provider's default
	// ResourceServerFor lists the clients whose tokens this one may
	// introspect ("*": every client's); its own it always may.
	ResourceServerFor []string
	// TokenExchangeAudiences are the audiences (client ids or resource
	// server URIs) the client may ask tokens for by token exchange (RFC
	// 8693); the grant type turns the exchange on.
	TokenExchangeAudiences []string
	// Logout channels (OpenID Connect Back-Channel and Front-Channel
	// Logout 1.0): where the client is told that a session ended.
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// AccessTokenFormat is "jwt" for RFC 9068 access tokens, else opaque;
	// AccessTokenLifespan, if not zero, replaces the provider's lifetime
	// of this client's access tokens.
	AccessTokenFormat   string
	AccessTokenLifespan time.Duration
	// DPoPBound makes every access token of this client bound to a DPoP
	// key (RFC 9449 section 5.2): a token request without a proof fails.
	DPoPBound bool
	// Registered says the client registered itself (RFC 7591) and may
	// manage its registration with its registration access token.
	Registered bool
	CreatedAt  time.Time
	regHash    string
}

type clientRow struct {
	ID                      string `gorm:"primaryKey"`
	Name                    string
	SecretHash              string
	Public                  bool
	FirstParty              bool
	RedirectURIs            string `gorm:"column:redirect_uris"`
	PostLogoutRedirectURIs  string `gorm:"column:post_logout_redirect_uris"`
	GrantTypes              string
	ResponseTypes           string
	Scopes                  string
	TokenEndpointAuthMethod string
	RequirePAR              bool   `gorm:"column:require_par"`
	JWKS                    string `gorm:"column:jwks"`
	IDTokenAlg              string `gorm:"column:id_token_signed_response_alg"`
	LogoURI                 string `gorm:"column:logo_uri"`
	ResourceServerFor       string `gorm:"column:resource_server_for"`
	TokenExchangeAudiences  string `gorm:"column:token_exchange_audiences"`
	BackchannelLogoutURI    string `gorm:"column:backchannel_logout_uri"`
	BackchannelSessionReq   bool   `gorm:"column:backchannel_logout_session_required"`
	FrontchannelLogoutURI   string `gorm:"column:frontchannel_logout_uri"`
	FrontchannelSessionReq  bool   `gorm:"column:frontchannel_logout_session_required"`
	AccessTokenFormat       string `gorm:"column:access_token_format"`
	AccessTokenLifespanSecs int    `gorm:"column:access_token_lifespan_seconds"`
	DPoPBound               bool   `gorm:"column:dpop_bound_access_tokens"`
	RegistrationTokenHash   string `gorm:"column:registration_token_hash"`
	CreatedAt               time.Time
}

func (clientRow) TableName() string { return "clients" }

// NewClient describes a client to register.
type NewClient struct {
	ID                      string
	Name                    string
	Secret                  string // plain; stored hashed; empty for public clients
	Public                  bool
	FirstParty              bool
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	TokenEndpointAuthMethod string
	RequirePAR              bool
	// JWKS is the client's public key set (JSON) for private_key_jwt.
	JWKS       string
	IDTokenAlg string
	LogoURI    string
	// ResourceServerFor and the logout channels: see Client.
	ResourceServerFor                 []string
	TokenExchangeAudiences            []string
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	AccessTokenFormat                 string // "jwt" or "opaque" (the default)
	AccessTokenLifespan               time.Duration
	DPoPBound                         bool // see Client
	// RegistrationToken (plain; stored hashed) is set for a client that
	// registered itself (RFC 7591): it manages its registration with it.
	RegistrationToken string
}

// CreateClient registers a client. The secret is kept only as a hash.
func (s *Store) CreateClient(ctx context.Context, c NewClient) error {
	if c.ID == "" {
		return errors.New("store: client needs an id")
	}
	if len(c.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		return errors.New("store: a client of the authorization_code grant needs a redirect URI")
	}
	keyAuth := c.TokenEndpointAuthMethod == "private_key_jwt"
	if c.Public && c.Secret != "" || !c.Public && !keyAuth && c.Secret == "" {
		return errors.New("store: a public client has no secret; a confidential one needs one (or private_key_jwt)")
	}
	if keyAuth {
		if _, err := parseJWKS(c.JWKS); err != nil {
			return fmt.Errorf("store: client %s: %w", c.ID, err)
		}
	}
	format := c.AccessTokenFormat
	switch format {
	case "":
		format = AccessTokenOpaque
	case AccessTokenOpaque, AccessTokenJWT:
	default:
		return fmt.Errorf("store: client %s: access token format %q is not jwt or opaque", c.ID, format)
	}
	enc := func(v []string) string {
		if v == nil {
			v = []string{}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	hash := ""
	if c.Secret != "" {
		h, err := ClientSecretHasher{}.Hash(ctx, []byte(c.Secret))
		if err != nil {
			return err
		}
		hash = string(h)
	}
	regHash := ""
	if c.RegistrationToken != "" {
		h, _ := ClientSecretHasher{}.Hash(ctx, []byte(c.RegistrationToken))
		regHash = string(h)
	}
	row := clientRow{
		RegistrationTokenHash: regHash,
		ID:                    c.ID, Name: c.Name, SecretHash: hash, Public: c.Public, FirstParty: c.FirstParty,
		RedirectURIs: enc(c.RedirectURIs), PostLogoutRedirectURIs: enc(c.PostLogoutRedirectURIs),
		GrantTypes: enc(c.GrantTypes), ResponseTypes: enc(c.ResponseTypes), Scopes: strings.Join(c.Scopes, " "),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, RequirePAR: c.RequirePAR, JWKS: c.JWKS, IDTokenAlg: c.IDTokenAlg, LogoURI: c.LogoURI,
		ResourceServerFor: enc(c.ResourceServerFor), TokenExchangeAudiences: enc(c.TokenExchangeAudiences),
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelSessionReq: c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelSessionReq: c.FrontchannelLogoutSessionRequired,
		AccessTokenFormat: format, AccessTokenLifespanSecs: int(c.AccessTokenLifespan / time.Second),
		DPoPBound: c.DPoPBound, CreatedAt: s.Now(),
	}
	if err := s.conn(ctx).Create(&row).Error; err != nil {
		return conflict("create client "+c.ID, err)
	}
	return nil
}

// GetClient implements fosite.ClientManager.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.Client(ctx, id)
	if err != nil {
		return nil, err // not a nil *Client in a non-nil fosite.Client
	}
	return c, nil
}

type clientKey struct{}

// clientMemo holds the clients one request has loaded.
type clientMemo struct {
	mu sync.Mutex
	m  map[string]*Client
}

// WithClientMemo returns a context that remembers the clients loaded in
// it: a request loads its client once, however many parts of it (ours
// and fosite's, authenticating the client and then reading each stored
// token of it) look it up.
func WithClientMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(clientKey{}).(*clientMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, clientKey{}, &clientMemo{m: map[string]*Client{}})
}

// WithClient returns a context in which looking up c's id returns c
// without asking the database again.
func WithClient(ctx context.Context, c *Client) context.Context {
	ctx = WithClientMemo(ctx)
	memo := ctx.Value(clientKey{}).(*clientMemo)
	memo.mu.Lock()
	memo.m[c.GetID()] = c
	memo.mu.Unlock()
	return ctx
}

// Client loads a client by id.
func (s *Store) Client(ctx context.Context, id string) (*Client, error) {
	memo, _ := ctx.Value(clientKey{}).(*clientMemo)
	if memo != nil {
		memo.mu.Lock()
		c, ok := memo.m[id]
		memo.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	c, err := s.cachedClient(ctx, id)
	if err == nil && memo != nil {
		memo.mu.Lock()
		memo.m[id] = c
		memo.mu.Unlock()
	}
	return c, err
}

// cachedClient loads a client through the instance's cache.
func (s *Store) cachedClient(ctx context.Context, id string) (*Client, error) {
	if s.ClientCacheTTL > 0 {
		if v, ok := s.clients.Load(id); ok && time.Now().Before(v.(cachedClient).until) {
			return v.(cachedClient).c, nil
		}
	}
	c, err := s.loadClient(ctx, id)
	if err == nil && s.ClientCacheTTL > 0 {
		s.clients.Store(id, cachedClient{c: c, until: time.Now().Add(s.ClientCacheTTL)})
	}
	return c, err
}

func (s *Store) loadClient(ctx context.Context, id string) (*Client, error) {
	var row clientRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, notFound("client "+id, err)
	}
	return clientOf(row)
}

// clientOf reads a stored client row.
func clientOf(row clientRow) (*Client, error) {
	id := row.ID
	var redirect, postLogout, grants, responses, resourceFor, exchangeAud []string
	for _, f := range []struct {
		src string
		dst *[]string
	}{{row.RedirectURIs, &redirect}, {row.PostLogoutRedirectURIs, &postLogout}, {row.GrantTypes, &grants}, {row.ResponseTypes, &responses},
		{row.ResourceServerFor, &resourceFor}, {row.TokenExchangeAudiences, &exchangeAud}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("store: client %s: %w", id, err)
		}
	}
	c := &Client{
		DefaultOpenIDConnectClient: &fosite.DefaultOpenIDConnectClient{
			DefaultClient: &fosite.DefaultClient{
				ID:            row.ID,
				Secret:        []byte(row.SecretHash),
				RedirectURIs:  redirect,
				GrantTypes:    grants,
				ResponseTypes: responses,
				Scopes:        strings.Fields(row.Scopes),
				Public:        row.Public,
				Audience:      []string{},
			},
			TokenEndpointAuthMethod: row.TokenEndpointAuthMethod,
		},
		Name:                   row.Name,
		FirstParty:             row.FirstParty,
		PostLogoutRedirectURIs: postLogout,
		RequirePAR:             row.RequirePAR,
		LogoURI:                row.LogoURI,
		IDTokenAlg:             row.IDTokenAlg,
		ResourceServerFor:      resourceFor,
		TokenExchangeAudiences: exchangeAud,
		BackchannelLogoutURI:   row.BackchannelLogoutURI, BackchannelLogoutSessionRequired: row.BackchannelSessionReq,
		FrontchannelLogoutURI: row.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: row.FrontchannelSessionReq,
		AccessTokenFormat: row.AccessTokenFormat, AccessTokenLifespan: time.Duration(row.AccessTokenLifespanSecs) * time.Second,
		DPoPBound: row.DPoPBound, CreatedAt: row.CreatedAt, Registered: row.RegistrationTokenHash != "", regHash: row.RegistrationTokenHash,
	}
	if row.JWKS != "" {
		set, err := parseJWKS(row.JWKS)
		if err != nil {
			return nil, fmt.Errorf("store: client %s: %w", id, err)
		}
		c.JSONWebKeys = set
		// RFC 7523 assertions: RS256 or ES256, as the keys allow.
		c.TokenEndpointAuthSigningAlgorithm = signingAlgOf(set)
	}
	return c, nil
}

// RegistrationTokenMatches reports whether token is the client's
// registration access token (compared in constant time); never for a
// client the operator made.
func (c *Client) RegistrationTokenMatches(ctx context.Context, token string) bool {
	return c.regHash != "" && token != "" && ClientSecretHasher{}.Compare(ctx, []byte(c.regHash), []byte(token)) == nil
}

// Access token formats.
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt" // RFC 9068
)

// GetEffectiveLifespan implements fosite.ClientWithCustomTokenLifespans:
// the client's own access token lifetime, where it has one.
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if tt == fosite.AccessToken && c.AccessTokenLifespan > 0 {
		return c.AccessTokenLifespan
	}
	return fallback
}

// GetResponseModes implements fosite.ResponseModeClient: query and
// form_post (OAuth 2.0 Form Post Response Mode); no fragment, since no
// flow we serve returns tokens in the front channel.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

// ClientSecretHasher hashes client secrets with SHA-256 and compares in
// constant time. Our secrets carry 256 random bits, so a slow hash adds
// nothing but cost: fosite's default bcrypt would hold every token
// request for ~180 ms. It implements fosite.Hasher.
type ClientSecretHasher struct{}

const secretHashPrefix = "sha256:"

// Hash implements fosite.Hasher.
func (ClientSecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return []byte(secretHashPrefix + hex.EncodeToString(sum[:])), nil
}

// Compare implements fosite.Hasher.
func (ClientSecretHasher) Compare(_ context.Context, hash, data []byte) error {
	want, ok := strings.CutPrefix(string(hash), secretHashPrefix)
	if !ok {
		return errors.New("client secret hash: unknown format")
	}
	wantSum, err := hex.DecodeString(want)
	if err != nil {
		return errors.New("client secret hash: malformed")
	}
	sum := sha256.Sum256(data)
	if !hmac.Equal(sum[:], wantSum) {
		return errors.New("client secret mismatch")
	}
	return nil
}

// parseJWKS reads a client's public keys. fosite checks client assertions
// with go-jose v3 keys, so this is the one place v3 is used.
func parseJWKS(raw string) (*josev3.JSONWebKeySet, error) {
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return nil, fmt.Errorf("client JWKS is not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("client JWKS has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, errors.New("client JWKS holds a private key; register public keys only")
		}
	}
	return &set, nil
}

func signingAlgOf(set *josev3.JSONWebKeySet) string {
	for _, k := range set.Keys {
		if k.Algorithm != "" {
			return k.Algorithm
		}
		switch k.Key.(type) {
		case *ecdsa.PublicKey:
			return "ES256"
		}
	}
	return "RS256"
}
