package admin

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/idp/store"
)

// Prefix is where the admin API lives on the admin listener.
const Prefix = "/admin/v1"

// MaxBody is the largest request body the API reads: its requests are
// small, and a bigger one is refused before it is read.
const MaxBody = 64 << 10

//go:embed openapi.json
var openapiFS embed.FS

// OpenAPI is the API's OpenAPI 3.1 document.
func OpenAPI() []byte {
	b, _ := openapiFS.ReadFile("openapi.json")
	return b
}

// API is the admin HTTP API: JSON over HTTP under /admin/v1, behind a
// bearer token, calling the Service.
type API struct {
	svc      *Service
	token    string
	log      *slog.Logger
	mux      *http.ServeMux
	patterns []string
}

// By names the API's actions in the audit log.
const By = "admin API"

// NewAPI builds the API. With an empty token it answers 401 to
// everything: no token, no API.
func NewAPI(svc *Service, token string, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{svc: svc, token: token, log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path+" (see "+Prefix+"/openapi.json)")
	})
	a.routes()
	return a
}

// Handle adds a route; pattern is "METHOD /path" under the prefix.
func (a *API) Handle(pattern string, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	full := method + " " + Prefix + path
	a.patterns = append(a.patterns, full)
	a.mux.Handle(full, h)
}

// Patterns lists the API's routes ("GET /admin/v1/users", ...).
func (a *API) Patterns() []string { return slices.Clone(a.patterns) }

// ServeHTTP checks the token, then serves the route.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="idp-admin"`)
		WriteError(w, http.StatusUnauthorized, "unauthorized", "the admin API needs the bearer token IDP_ADMIN_TOKEN")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	a.mux.ServeHTTP(w, r)
}

// WriteError writes a JSON error in the shape of OAuth 2.0's.
func WriteError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail answers an error of the service with its 4xx, or 503/500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ie *InputError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ie):
		WriteError(w, http.StatusBadRequest, "invalid_request", ie.Msg)
	case errors.As(err, &tooBig):
		WriteError(w, http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBody))
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, http.StatusNotFound, "not_found", firstPart(err))
	case errors.Is(err, store.ErrConflict):
		WriteError(w, http.StatusConflict, "conflict", firstPart(err))
	case errors.Is(err, store.ErrBadInput):
		WriteError(w, http.StatusBadRequest, "invalid_request", "a value cannot be stored (not text, or too long)")
	case errors.Is(err, store.ErrUnavailable):
		a.log.WarnContext(r.Context(), "admin API: database unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the database cannot be reached; try again shortly")
	default:
		a.log.ErrorContext(r.Context(), "admin API", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, http.StatusInternalServerError, "server_error", "the request failed; see the server log")
	}
}

// firstPart is what an error says before the store's wrapping: "no user
// \"x\"", "client id \"y\" is taken".
func firstPart(err error) string {
	msg, _, _ := strings.Cut(err.Error(), ": store:")
	return msg
}

// decode reads a JSON body into v: one object, no unknown fields.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return invalid("the body must be JSON (Content-Type: application/json)")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return invalid("the body is empty; send a JSON object")
		}
		return invalid("the body is not the JSON this route takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("the body holds more than one JSON value")
	}
	return nil
}

// DecodeOptional is decode for a body that may be empty.
func DecodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Transfer-Encoding") == "" {
		return nil
	}
	return decode(r, v)
}

// Route adds a route whose errors are answered as the API's are: an
// InputError 400, not found 404, and so on.
func (a *API) Route(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
	a.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			a.fail(w, r, err)
		}
	}))
}

func (a *API) routes() {
	a.Handle("GET /openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI())
	}))
	named := func(r *http.Request) string { return r.PathValue("user") }

	a.Route("GET /users", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		limit := 0
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return invalid("limit must be a number from 1 to %d", MaxPage)
			}
			limit = n
		}
		list, next, err := a.svc.ListUsers(r.Context(), q.Get("q"), q.Get("after"), limit)
		if err != nil {
			return err
		}
		out := map[string]any{"users": list}
		if next != "" {
			out["next_after"] = next
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
	a.Route("POST /users", func(w http.ResponseWriter, r *http.Request) error {
		var n NewUser
		if err := decode(r, &n); err != nil {
			return err
		}
		c, err := a.svc.CreateUser(r.Context(), n, By)
		if err != nil {
			return err
		}
		w.Header().Set("Location", Prefix+"/users/"+c.ID)
		writeJSON(w, http.StatusCreated, c)
		return nil
	})
	a.Route("GET /users/{user}", func(w http.ResponseWriter, r *http.Request) error {
		u, err := a.svc.ShowUser(r.Context(), named(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
	a.Route("PATCH /users/{user}", func(w http.ResponseWriter, r *http.Request) error {
		var ch UserChange
		if err := decode(r, &ch); err != nil {
			return err
		}
		if ch.Locale == nil {
			return invalid("nothing to change: give locale")
		}
		u, err := a.svc.UpdateUser(r.Context(), named(r), ch, By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
	a.Route("DELETE /users/{user}", func(w http.ResponseWriter, r *http.Request) error {
		u, err := a.svc.Delete(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "id": u.ID, "username": u.Username})
		return nil
	})
	a.Route("POST /users/{user}/disable", func(w http.ResponseWriter, r *http.Request) error {
		u, n, err := a.svc.Disable(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": u, "sessions_ended": n})
		return nil
	})
	a.Route("POST /users/{user}/enable", func(w http.ResponseWriter, r *http.Request) error {
		u, err := a.svc.Enable(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
	a.Route("PUT /users/{user}/phone", func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Number   string `json:"number"`
			Verified bool   `json:"verified"`
		}
		if err := decode(r, &body); err != nil {
			return err
		}
		u, err := a.svc.SetPhone(r.Context(), named(r), body.Number, body.Verified, By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
	a.Route("DELETE /users/{user}/phone", func(w http.ResponseWriter, r *http.Request) error {
		out, err := a.svc.ClearPhone(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
	// The links an operator hands to a user: a reset link, an invitation.
	link := func(issue func(ctx context.Context, user string, ttl time.Duration, by string) (*store.User, string, time.Time, error), field string) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			var body struct {
				ValidFor string `json:"valid_for"`
			}
			if err := DecodeOptional(r, &body); err != nil {
				return err
			}
			ttl, err := parseTTL(body.ValidFor)
			if err != nil {
				return err
			}
			u, to, until, err := issue(r.Context(), named(r), ttl, By)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, map[string]any{"username": u.Username, field: to, "expires_at": until})
			return nil
		}
	}
	a.Route("POST /users/{user}/reset-link", link(a.svc.ResetLink, "reset_url"))
	a.Route("POST /users/{user}/invitation", link(a.svc.Invite, "invitation_url"))
	a.Route("GET /users/{user}/sessions", func(w http.ResponseWriter, r *http.Request) error {
		list, err := a.svc.Sessions(r.Context(), named(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
		return nil
	})
	a.Route("DELETE /users/{user}/sessions", func(w http.ResponseWriter, r *http.Request) error {
		n, err := a.svc.EndSessions(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
		return nil
	})
	a.Route("DELETE /users/{user}/factors/{factor}", func(w http.ResponseWriter, r *http.Request) error {
		n, err := a.svc.RemoveFactor(r.Context(), named(r), r.PathValue("factor"), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"factor": r.PathValue("factor"), "removed": n})
		return nil
	})
	a.Route("POST /users/{user}/unlock", func(w http.ResponseWriter, r *http.Request) error {
		u, was, err := a.svc.Unlock(r.Context(), named(r), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"username": u.Username, "was_throttled": was})
		return nil
	})

	a.Route("GET /clients", func(w http.ResponseWriter, r *http.Request) error {
		list, err := a.svc.ListClients(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"clients": list})
		return nil
	})
	a.Route("POST /clients", func(w http.ResponseWriter, r *http.Request) error {
		var in clientInput
		if err := decode(r, &in); err != nil {
			return err
		}
		nc, err := in.newClient()
		if err != nil {
			return err
		}
		secret, err := a.svc.CreateClient(r.Context(), nc, JSONNames, By)
		if err != nil {
			return err
		}
		c, err := a.svc.ShowClient(r.Context(), nc.ID)
		if err != nil {
			return err
		}
		out := map[string]any{"client": c}
		if secret != "" {
			out["client_secret"] = secret
		}
		w.Header().Set("Location", Prefix+"/clients/"+nc.ID)
		writeJSON(w, http.StatusCreated, out)
		return nil
	})
	a.Route("GET /clients/{id}", func(w http.ResponseWriter, r *http.Request) error {
		c, err := a.svc.ShowClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
	a.Route("PATCH /clients/{id}", func(w http.ResponseWriter, r *http.Request) error {
		var ch ClientChange
		if err := decode(r, &ch); err != nil {
			return err
		}
		c, err := a.svc.UpdateClient(r.Context(), r.PathValue("id"), ch, JSONNames, By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
	a.Route("POST /clients/{id}/rotate-secret", func(w http.ResponseWriter, r *http.Request) error {
		secret, err := a.svc.RotateSecret(r.Context(), r.PathValue("id"), By)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]string{"client_id": r.PathValue("id"), "client_secret": secret})
		return nil
	})
	a.Route("DELETE /clients/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if err := a.svc.DeleteClient(r.Context(), r.PathValue("id"), By); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"client_id": r.PathValue("id"), "deleted": true})
		return nil
	})

	a.Route("GET /keys", func(w http.ResponseWriter, r *http.Request) error {
		list, err := a.svc.Keys(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"keys": list})
		return nil
	})
	a.Route("GET /audit", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		aq := AuditQuery{User: q.Get("user"), Event: q.Get("event"), Outcome: q.Get("outcome")}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return invalid("limit must be a number from 1 to %d", MaxAuditEvents)
			}
			aq.Limit = n
		}
		if v := q.Get("since"); v != "" {
			t, err := ParseSince(v, a.svc.Store.Now())
			if err != nil {
				return err
			}
			aq.Since = t
		}
		events, err := a.svc.Audit(r.Context(), aq)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": events})
		return nil
	})
}

// ParseSince reads a point in time given as a length of time before now
// (90m, 24h, 7d) or as an RFC 3339 time.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3660 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, invalid("since %q is neither a length of time (90m, 24h, 7d) nor an RFC 3339 time", v)
}

// parseTTL reads an optional link lifetime (30m, 48h, 7d).
func parseTTL(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 90 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalid("valid_for %q is not a length of time such as 30m, 48h or 7d", v)
	}
	return d, nil
}

// clientInput is the body of POST /clients.
type clientInput struct {
	ID                                string          `json:"id"`
	Name                              string          `json:"name"`
	Public                            bool            `json:"public"`
	FirstParty                        bool            `json:"first_party"`
	RedirectURIs                      []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs            []string        `json:"post_logout_redirect_uris"`
	GrantTypes                        []string        `json:"grant_types"`
	Scopes                            []string        `json:"scopes"`
	TokenEndpointAuthMethod           string          `json:"token_endpoint_auth_method"`
	JWKS                              json.RawMessage `json:"jwks"`
	RequirePAR                        bool            `json:"require_par"`
	LogoURI                           string          `json:"logo_uri"`
	IDTokenAlg                        string          `json:"id_token_signed_response_alg"`
	ResourceServerFor                 []string        `json:"resource_server_for"`
	TokenExchangeAudiences            []string        `json:"token_exchange_audiences"`
	BackchannelLogoutURI              string          `json:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired  bool            `json:"backchannel_logout_session_required"`
	FrontchannelLogoutURI             string          `json:"frontchannel_logout_uri"`
	FrontchannelLogoutSessionRequired bool            `json:"frontchannel_logout_session_required"`
	AccessTokenFormat                 string          `json:"access_token_format"`
	AccessTokenLifespan               string          `json:"access_token_lifespan"`
	DPoPBoundAccessTokens             bool            `json:"dpop_bound_access_tokens"`
}

func (in clientInput) newClient() (store.NewClient, error) {
	nc := store.NewClient{
		ID: in.ID, Name: in.Name, Public: in.Public, FirstParty: in.FirstParty,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes, Scopes: in.Scopes,
		TokenEndpointAuthMethod: in.TokenEndpointAuthMethod, RequirePAR: in.RequirePAR, LogoURI: in.LogoURI, IDTokenAlg: in.IDTokenAlg,
		ResourceServerFor: in.ResourceServerFor, TokenExchangeAudiences: in.TokenExchangeAudiences, BackchannelLogoutURI: in.BackchannelLogoutURI, BackchannelLogoutSessionRequired: in.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: in.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: in.FrontchannelLogoutSessionRequired,
		AccessTokenFormat: in.AccessTokenFormat, DPoPBound: in.DPoPBoundAccessTokens,
	}
	if nc.Scopes == nil {
		nc.Scopes = slices.Clone(KnownScopes)
	}
	if len(in.JWKS) > 0 && string(in.JWKS) != "null" {
		nc.JWKS = string(in.JWKS)
	}
	if in.AccessTokenLifespan != "" {
		d, err := time.ParseDuration(in.AccessTokenLifespan)
		if err != nil {
			return nc, invalid("access_token_lifespan %q is not a length of time such as 5m", in.AccessTokenLifespan)
		}
		nc.AccessTokenLifespan = d
	}
	return nc, nil
}
