package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/store"
)

// Registration serves dynamic client registration (RFC 7591) and the
// management of each registration by its client (RFC 7592) on the public
// listener. Registering needs the operator's initial access token
// (IDP_REGISTRATION_TOKEN); each client then holds its own registration
// access token. The rules a client must meet are the operator's
// (CheckClient): a client registers nothing an operator could not.
type Registration struct {
	Service *Service
	// Token is the initial access token; Mount refuses an empty one.
	Token  string
	Logger *slog.Logger
}

// maxRegistrationBody caps a registration request: metadata with a key
// set fits in a few kilobytes.
const maxRegistrationBody = 64 << 10

// registeredBy names the actor of audit events from this endpoint.
const registeredBy = "the client (dynamic registration)"

// Mount adds the registration routes to mux (see idp.Options.Registration).
func (rg *Registration) Mount(mux *http.ServeMux) {
	if rg.Token == "" {
		panic("admin: registration mounted without an initial access token")
	}
	mux.HandleFunc("POST "+idp.RegistrationPath, rg.register)
	mux.HandleFunc("GET "+idp.RegistrationPath+"/{client_id}", rg.manage)
	mux.HandleFunc("PUT "+idp.RegistrationPath+"/{client_id}", rg.manage)
	mux.HandleFunc("DELETE "+idp.RegistrationPath+"/{client_id}", rg.manage)
}

// metadata is client metadata as RFC 7591 section 2 names it. Fields we
// do not know are ignored, as section 2 asks.
type metadata struct {
	ClientID                string          `json:"client_id,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	ClientName              string          `json:"client_name,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI    string          `json:"backchannel_logout_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
}

// regError is an RFC 7591 section 3.2.2 error.
type regError struct{ code, desc string }

func (e *regError) Error() string { return e.code + ": " + e.desc }

func badMetadata(format string, args ...any) *regError {
	return &regError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

// regNames spells fields as RFC 7591 does, in the messages of CheckClient.
func regNames(field string) string {
	switch field {
	case "name":
		return "client_name"
	case "scopes":
		return "scope"
	case "public":
		return "public (token_endpoint_auth_method none)"
	}
	return field
}

// registrable are the grant types a client may register for itself.
var registrable = KnownGrantTypes

// client turns metadata into a client to register, with RFC 7591's
// defaults, or says what is wrong.
func (m *metadata) client() (store.NewClient, *regError) {
	if m.JWKSURI != "" {
		return store.NewClient{}, badMetadata("jwks_uri is not supported; send the public keys as jwks")
	}
	grants := m.GrantTypes
	if len(grants) == 0 {
		grants = []string{"authorization_code"}
	}
	for _, g := range grants {
		if !slices.Contains(registrable, g) {
			return store.NewClient{}, badMetadata("grant type %q is not supported; use %s", g, strings.Join(registrable, ", "))
		}
	}
	code := slices.Contains(grants, "authorization_code")
	responses := m.ResponseTypes
	if len(responses) == 0 && code {
		responses = []string{"code"}
	}
	for _, r := range responses {
		if r != "code" {
			return store.NewClient{}, badMetadata("response type %q is not supported; only code", r)
		}
	}
	if code != slices.Contains(responses, "code") {
		return store.NewClient{}, badMetadata("response_types code and grant_types authorization_code go together (RFC 7591 section 2.1)")
	}
	method := m.TokenEndpointAuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	switch method {
	case "none", "client_secret_basic", "client_secret_post", "private_key_jwt":
	default:
		return store.NewClient{}, badMetadata("token_endpoint_auth_method %q is not supported; use none, client_secret_basic, client_secret_post or private_key_jwt", method)
	}
	public := method == "none"
	if code && len(m.RedirectURIs) == 0 {
		return store.NewClient{}, &regError{"invalid_redirect_uri", "redirect_uris is required for the authorization_code grant"}
	}
	for _, u := range m.RedirectURIs {
		if msg := registrableRedirect(u, public); msg != "" {
			return store.NewClient{}, &regError{"invalid_redirect_uri", msg}
		}
	}
	if len(m.JWKS) > 0 && method != "private_key_jwt" {
		return store.NewClient{}, badMetadata("jwks is only for token_endpoint_auth_method private_key_jwt")
	}
	scopes := strings.Fields(m.Scope)
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "phone"}
		if slices.Contains(grants, "refresh_token") {
			scopes = append(scopes, "offline_access")
		}
	}
	nc := store.NewClient{
		Name: m.ClientName, Public: public, RedirectURIs: m.RedirectURIs, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
		GrantTypes: grants, ResponseTypes: responses, Scopes: scopes, TokenEndpointAuthMethod: method,
		LogoURI: m.LogoURI, BackchannelLogoutURI: m.BackchannelLogoutURI, JWKS: string(m.JWKS),
	}
	if nc.BackchannelLogoutURI != "" {
		nc.BackchannelLogoutSessionRequired = true // we always send sid
	}
	return nc, nil
}

// registrableRedirect applies RFC 7591 section 5 and RFC 8252 to a
// redirect URI a client registers for itself: https, or http on the
// loopback; a native (public) app may also use a private-use scheme in
// reverse domain form (RFC 8252 section 7.1). Never a fragment.
func registrableRedirect(raw string, public bool) string {
	if msg := CheckRedirectURI(raw); msg != "" {
		return msg
	}
	u, _ := url.Parse(raw)
	switch {
	case u.Scheme == "https" || u.Scheme == "http":
		return ""
	case public && strings.Contains(u.Scheme, "."):
		return ""
	}
	return fmt.Sprintf("redirect URI %q must use https, http on the loopback, or (for a native app with token_endpoint_auth_method none) a private-use scheme such as com.example.app", raw)
}

// registered is a client information response (RFC 7591 section 3.2.1,
// RFC 7592 section 3).
type registered struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationToken     string `json:"registration_access_token"`
	RegistrationClientURI string `json:"registration_client_uri"`
	metadata
}

func (rg *Registration) response(c *store.Client, secret, token string) registered {
	r := registered{
		ClientID: c.GetID(), ClientSecret: secret, ClientIDIssuedAt: c.CreatedAt.Unix(), RegistrationToken: token,
		RegistrationClientURI: strings.TrimSuffix(rg.Service.Issuer, "/") + idp.RegistrationPath + "/" + url.PathEscape(c.GetID()),
		metadata: metadata{
			RedirectURIs: nonNil(c.RedirectURIs), GrantTypes: nonNil(c.GrantTypes), ResponseTypes: nonNil(c.ResponseTypes),
			ClientName: c.Name, LogoURI: c.LogoURI, Scope: strings.Join(c.Scopes, " "), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
			PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), BackchannelLogoutURI: c.BackchannelLogoutURI,
		},
	}
	if !c.Public && c.TokenEndpointAuthMethod != "private_key_jwt" {
		never := int64(0) // our secrets do not expire
		r.ClientSecretExpiresAt = &never
	}
	if c.JSONWebKeys != nil {
		r.JWKS, _ = json.Marshal(c.JSONWebKeys)
	}
	return r
}

func regFail(w http.ResponseWriter, status int, e *regError) {
	w.Header().Set("Cache-Control", "no-store")
	WriteError(w, status, e.code, e.desc)
}

func unauthorized(w http.ResponseWriter, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	regFail(w, http.StatusUnauthorized, &regError{"invalid_token", desc})
}

func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// readMetadata reads a request's JSON metadata, at most
// maxRegistrationBody bytes.
func readMetadata(w http.ResponseWriter, r *http.Request) (*metadata, bool) {
	var m metadata
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistrationBody)).Decode(&m)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		regFail(w, http.StatusRequestEntityTooLarge, badMetadata("the metadata is over %d bytes", maxRegistrationBody))
		return nil, false
	case err != nil:
		regFail(w, http.StatusBadRequest, badMetadata("the body must be a JSON object of client metadata: %v", err))
		return nil, false
	}
	return &m, true
}

// register answers POST /oauth2/register (RFC 7591 section 3).
func (rg *Registration) register(w http.ResponseWriter, r *http.Request) {
	// Compared as hashes: equal lengths, constant time, whatever is sent.
	got, want := sha256.Sum256([]byte(bearer(r))), sha256.Sum256([]byte(rg.Token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		unauthorized(w, "registering a client needs the initial access token from the operator as a bearer token")
		return
	}
	m, ok := readMetadata(w, r)
	if !ok {
		return
	}
	nc, bad := m.client()
	if bad != nil {
		regFail(w, http.StatusBadRequest, bad)
		return
	}
	nc.ID = newClientID()
	nc.RegistrationToken = newSecret()
	ctx := r.Context()
	secret, err := rg.Service.createClient(ctx, nc, regNames, "client.registered", registeredBy)
	if err != nil {
		rg.serviceError(w, r, err)
		return
	}
	c, err := rg.Service.Store.FreshClient(ctx, nc.ID)
	if err != nil {
		rg.serviceError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, rg.response(c, secret, nc.RegistrationToken))
}

// manage answers GET, PUT and DELETE on a client's registration_client_uri
// (RFC 7592 section 2), with that client's registration access token.
func (rg *Registration) manage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, tok := r.PathValue("client_id"), bearer(r)
	var c *store.Client
	if tok != "" && clientIDPattern.MatchString(id) {
		// From the database, not the cache: a rotated or deleted
		// registration stops working on every instance at once.
		var err error
		c, err = rg.Service.Store.FreshClient(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			rg.serviceError(w, r, err)
			return
		}
	}
	// An unknown client, one the operator made (no registration token) or
	// another client's token all answer the same (RFC 7592 section 2.1).
	if c == nil || !c.RegistrationTokenMatches(ctx, tok) {
		unauthorized(w, "this needs the registration access token issued to this client")
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, rg.response(c, "", tok))
	case http.MethodDelete:
		if err := rg.Service.DeleteClient(ctx, id, registeredBy); err != nil {
			rg.serviceError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		rg.update(w, r, c, tok)
	}
}

// update replaces a client's metadata (RFC 7592 section 2.2): fields left
// out are cleared, or take their defaults. The authentication method and
// keys stay as registered (a client that needs others registers anew).
// The registration access token is rotated: the answer carries the new
// one and the old one stops working.
func (rg *Registration) update(w http.ResponseWriter, r *http.Request, c *store.Client, old string) {
	ctx := r.Context()
	m, ok := readMetadata(w, r)
	if !ok {
		return
	}
	if m.ClientID != c.GetID() {
		regFail(w, http.StatusBadRequest, badMetadata("client_id in the body must be this client's, %q", c.GetID()))
		return
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = c.TokenEndpointAuthMethod
	}
	if m.TokenEndpointAuthMethod != c.TokenEndpointAuthMethod {
		regFail(w, http.StatusBadRequest, badMetadata("token_endpoint_auth_method cannot change from %s; register a new client", c.TokenEndpointAuthMethod))
		return
	}
	if len(m.JWKS) > 0 && c.TokenEndpointAuthMethod == "private_key_jwt" {
		m.JWKS = nil // kept as registered
	}
	nc, bad := m.client()
	if bad != nil {
		regFail(w, http.StatusBadRequest, bad)
		return
	}
	post := nonNil(nc.PostLogoutRedirectURIs)
	ch := ClientChange{Name: &nc.Name, LogoURI: &nc.LogoURI, RedirectURIs: &nc.RedirectURIs, PostLogoutRedirectURIs: &post,
		Scopes: &nc.Scopes, GrantTypes: &nc.GrantTypes, BackchannelLogoutURI: &nc.BackchannelLogoutURI}
	// One transaction: the change and the new token land together, and
	// the old token is spent once (a second PUT with it at the same time
	// finds it gone and gets 401).
	tok := newSecret()
	err := rg.Service.Store.InTx(ctx, func(ctx context.Context) error {
		if err := rg.Service.Store.SetRegistrationToken(ctx, c.GetID(), old, tok); err != nil {
			return err
		}
		_, err := rg.Service.UpdateClient(ctx, c.GetID(), ch, regNames, registeredBy)
		return err
	})
	if err != nil {
		rg.serviceError(w, r, err)
		return
	}
	after, err := rg.Service.Store.FreshClient(ctx, c.GetID())
	if err != nil {
		rg.serviceError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, rg.response(after, "", tok))
}

// serviceError answers an error of the client service: what the rules
// refuse is the client's to fix (400), the rest is ours (503 when the
// database is away, else 500, logged).
func (rg *Registration) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	var in *InputError
	switch {
	case errors.As(err, &in):
		regFail(w, http.StatusBadRequest, badMetadata("%s", strings.ReplaceAll(in.Msg, "\n", "; ")))
	case errors.Is(err, store.ErrNotFound):
		unauthorized(w, "this needs the registration access token issued to this client")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		regFail(w, http.StatusServiceUnavailable, &regError{"temporarily_unavailable", "the service is unavailable; try again shortly"})
	default:
		if rg.Logger != nil {
			rg.Logger.Error("client registration", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		regFail(w, http.StatusInternalServerError, &regError{"server_error", "the registration could not be completed"})
	}
}

// newClientID is 128 random bits: nobody guesses another's id.
func newClientID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
