package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

//go:embed templates/*.html static/demo.css
var files embed.FS

// scopes are the scopes the demo asks for: an ID token, the profile and
// phone claims, and a refresh token.
var scopes = []string{oidc.ScopeOpenID, "profile", "phone", oidc.ScopeOfflineAccess}

const (
	// loginCookie carries one sign-in's state, nonce and PKCE verifier from
	// /demo/login to /demo/callback.
	loginCookie = "demo_login"
	// loginTTL bounds a sign-in: long enough to read an SMS, short enough
	// that a forgotten tab's secrets do not linger.
	loginTTL = 10 * time.Minute
	// maxDescription clamps the provider's error_description on the page.
	maxDescription = 300
)

// Options configures [New].
type Options struct {
	// Issuer is the provider's issuer URL, e.g. http://localhost:8080,
	// exactly as its discovery document states it. The demo's redirect
	// URI is Issuer+"/demo/callback".
	Issuer string
	// ClientID is a public client (token_endpoint_auth_method "none")
	// registered with the redirect URI Issuer+"/demo/callback", the
	// authorization_code and refresh_token grants, and the scopes
	// "openid profile phone offline_access".
	ClientID string
	// HTTPClient makes the demo's calls to the provider (discovery, JWKS,
	// token, userinfo). Nil means a client with a 10-second timeout.
	HTTPClient *http.Client
	// Logger receives the details of failures, which pages never show.
	// Nil discards them.
	Logger *slog.Logger
}

// Handler is the demo relying party. Make one with [New] and register its
// routes with [Handler.Mount]. It is safe for concurrent use.
type Handler struct {
	issuer      string
	clientID    string
	redirectURL string
	base        string // the demo's URL path as the browser sees it: the issuer's path + "/demo"
	host        string // the issuer's host, to warn when the page is opened at another
	secure      bool   // the issuer is https, so the cookie is Secure
	client      *http.Client
	log         *slog.Logger
	pages       *template.Template
	css         []byte
	now         func() time.Time

	mu sync.Mutex
	rp *relyingParty // nil until the first successful discovery
}

// relyingParty is what the demo learns from the provider's discovery
// document.
type relyingParty struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth2   oauth2.Config
}

// New returns a demo relying party for opts. It checks opts and parses the
// pages, and contacts nobody: the provider is usually the calling process,
// not yet listening, so discovery waits for the first request.
func New(opts Options) (*Handler, error) {
	var errs []error
	u, err := url.Parse(opts.Issuer)
	switch {
	case opts.Issuer == "":
		errs = append(errs, errors.New("demo: Issuer is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("demo: Issuer: %w", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("demo: Issuer %q is not an absolute http(s) URL", opts.Issuer))
	case u.RawQuery != "" || u.Fragment != "":
		// OpenID Connect Discovery 1.0 §3: no query or fragment.
		errs = append(errs, fmt.Errorf("demo: Issuer %q has a query or fragment", opts.Issuer))
	}
	if opts.ClientID == "" {
		errs = append(errs, errors.New("demo: ClientID is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	pages, err := template.New("").Option("missingkey=error").ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse pages: %w", err)
	}
	for _, name := range []string{"index.html", "result.html", "error.html"} {
		if pages.Lookup(name) == nil {
			return nil, fmt.Errorf("demo: page %s is missing", name)
		}
	}
	css, err := files.ReadFile("static/demo.css")
	if err != nil {
		return nil, fmt.Errorf("demo: stylesheet: %w", err)
	}

	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root := strings.TrimSuffix(opts.Issuer, "/")
	return &Handler{
		issuer:      opts.Issuer,
		clientID:    opts.ClientID,
		redirectURL: root + "/demo/callback",
		base:        strings.TrimSuffix(u.EscapedPath(), "/") + "/demo",
		host:        u.Host,
		secure:      u.Scheme == "https",
		client:      client,
		log:         log,
		pages:       pages,
		css:         css,
		now:         time.Now,
	}, nil
}

// Mount registers the demo's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo", h.handleIndex)
	mux.HandleFunc("GET /demo/login", h.handleLogin)
	mux.HandleFunc("GET /demo/callback", h.handleCallback)
	mux.HandleFunc("GET /demo/static/demo.css", h.handleCSS)
}

// relyingParty discovers the provider on first use and keeps the result.
// A failure is not kept, so the next request tries again.
func (h *Handler) relyingParty(ctx context.Context) (*relyingParty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rp != nil {
		return h.rp, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, h.client), h.issuer)
	if err != nil {
		return nil, fmt.Errorf("demo: discovery: %w", err)
	}
	ep := p.Endpoint()
	// A public client has no secret: client_id goes in the form body
	// (RFC 6749 §2.3, token_endpoint_auth_method "none").
	ep.AuthStyle = oauth2.AuthStyleInParams
	h.rp = &relyingParty{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: h.clientID}),
		oauth2: oauth2.Config{
			ClientID:    h.clientID,
			Endpoint:    ep,
			RedirectURL: h.redirectURL,
			Scopes:      scopes,
		},
	}
	return h.rp, nil
}

// loginState is one sign-in's secrets, kept in the browser between
// /demo/login and /demo/callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Lang     string `json:"l"`
	Started  int64  `json:"t"`
}

// handleIndex shows the start page.
func (h *Handler) handleIndex(w http.ResponseWriter, r *http.Request) {
	lang := pageLang(r, "")
	p := indexPage{
		common: h.common(lang, "index_title"),
		Issuer: h.issuer,
		Langs:  langLinks(),
	}
	if !strings.EqualFold(r.Host, h.host) {
		// The login cookie is set for the host the browser used here, but
		// the provider redirects to the issuer's host.
		p.HostWarning = true
		p.Host = r.Host
		p.IssuerDemo = strings.TrimSuffix(h.issuer, "/") + "/demo"
	}
	h.render(w, http.StatusOK, "index.html", p)
}

// handleLogin starts a sign-in: it keeps a fresh state, nonce and PKCE
// verifier in a cookie and redirects to the authorization endpoint
// (OpenID Connect Core 1.0 §3.1.2.1, RFC 7636 §4).
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	lang := pageLang(r, "")
	rp, err := h.relyingParty(r.Context())
	if err != nil {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_discovery"}, err)
		return
	}
	st := loginState{
		State:    rand.Text(), // binds the response to this browser (RFC 6749 §10.12)
		Nonce:    rand.Text(), // binds the ID token to this sign-in (OIDC Core §15.5.2)
		Verifier: oauth2.GenerateVerifier(),
		Lang:     lang,
		Started:  h.now().Unix(),
	}
	h.setLoginCookie(w, st)
	opts := []oauth2.AuthCodeOption{oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	if l := parseLang(r.URL.Query().Get("ui_locales")); l != "" {
		opts = append(opts, oauth2.SetAuthURLParam("ui_locales", l))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.oauth2.AuthCodeURL(st.State, opts...), http.StatusFound)
}

// handleCallback is the redirect URI: it checks the authorization response,
// exchanges the code, verifies the ID token, calls userinfo and shows what
// it learned.
func (h *Handler) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, ok := h.loginState(r)
	lang := pageLang(r, st.Lang)
	if !ok {
		h.fail(w, r, lang, failure{status: http.StatusBadRequest, reason: "err_no_login"}, errors.New("no valid login cookie"))
		return
	}
	// The state must be the one this browser sent, or the response may be
	// an attacker's (RFC 6749 §10.12). The cookie stays: the real response
	// may still come.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		h.fail(w, r, lang, failure{status: http.StatusBadRequest, reason: "err_state"}, errors.New("state mismatch"))
		return
	}
	h.clearLoginCookie(w) // single use: a reload cannot replay the code
	if iss := q.Get("iss"); iss != "" && iss != h.issuer {
		// RFC 9207 §2.4: a response naming another issuer is a mix-up.
		h.fail(w, r, lang, failure{status: http.StatusBadRequest, reason: "err_iss"}, fmt.Errorf("iss %q", iss))
		return
	}
	if code := q.Get("error"); code != "" {
		// RFC 6749 §4.1.2.1.
		f := failure{status: http.StatusBadRequest, reason: "err_authz", code: code, desc: q.Get("error_description")}
		h.fail(w, r, lang, f, fmt.Errorf("authorization error %q", code))
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, lang, failure{status: http.StatusBadRequest, reason: "err_no_code"}, errors.New("no code"))
		return
	}

	ctx := oidc.ClientContext(r.Context(), h.client)
	rp, err := h.relyingParty(ctx)
	if err != nil {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_discovery"}, err)
		return
	}
	tok, err := rp.oauth2.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		f := failure{status: http.StatusBadGateway, reason: "err_token"}
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
			f.code, f.desc = re.ErrorCode, re.ErrorDescription
		}
		h.fail(w, r, lang, f, err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_no_id_token"}, errors.New("no id_token"))
		return
	}
	idt, err := rp.verifier.Verify(ctx, rawID)
	if err != nil {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_id_token"}, err)
		return
	}
	// go-oidc leaves the nonce to the caller (OIDC Core §3.1.3.7 step 11).
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_nonce"}, errors.New("nonce mismatch"))
		return
	}
	if idt.AccessTokenHash != "" {
		// OIDC Core §3.2.2.9; optional in the code flow, checked when present.
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_at_hash"}, err)
			return
		}
	}
	info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_userinfo"}, err)
		return
	}
	// OIDC Core §5.3.4: the userinfo sub must be the ID token's.
	if info.Subject != idt.Subject {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_userinfo_sub"}, fmt.Errorf("userinfo sub %q, id token sub %q", info.Subject, idt.Subject))
		return
	}

	p, err := h.resultPage(lang, tok, rawID, idt, info)
	if err != nil {
		h.fail(w, r, lang, failure{status: http.StatusBadGateway, reason: "err_id_token"}, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "demo: signed in", slog.String("sub", idt.Subject))
	h.render(w, http.StatusOK, "result.html", p)
}

// handleCSS serves the stylesheet.
func (h *Handler) handleCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(h.css)
}

// setLoginCookie keeps st in the browser. HttpOnly keeps it from scripts;
// SameSite=Lax still sends it on the provider's top-level redirect back;
// the path keeps it to the demo's routes.
func (h *Handler) setLoginCookie(w http.ResponseWriter, st loginState) {
	b, _ := json.Marshal(st)
	http.SetCookie(w, &http.Cookie{
		Name:     loginCookie,
		Value:    base64.RawURLEncoding.EncodeToString(b),
		Path:     h.base,
		MaxAge:   int(loginTTL / time.Second),
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// clearLoginCookie deletes the login cookie.
func (h *Handler) clearLoginCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     loginCookie,
		Value:    "",
		Path:     h.base,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// loginState reads the login cookie. ok is false when it is missing,
// malformed or older than loginTTL; st.Lang may be set even then.
func (h *Handler) loginState(r *http.Request) (st loginState, ok bool) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return loginState{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return loginState{}, false
	}
	age := h.now().Sub(time.Unix(st.Started, 0))
	if st.State == "" || st.Nonce == "" || st.Verifier == "" || age < 0 || age > loginTTL {
		return loginState{Lang: st.Lang}, false
	}
	return st, true
}

// failure describes a sign-in that did not complete.
type failure struct {
	status int
	reason string // a message key, err_*
	code   string // the OAuth error code from the provider, if any
	desc   string // the provider's error_description, if any
}

// fail logs err and shows the error page for f. err's text stays in the
// log; the page shows only f.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang string, f failure, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "demo: sign-in failed",
		slog.String("reason", f.reason), slog.String("oauth_error", f.code), slog.Any("err", err))
	t := messages[lang]
	p := errorPage{
		common: h.common(lang, "error_title"),
		Reason: t[f.reason],
		Code:   f.code,
		Desc:   clamp(f.desc, maxDescription),
	}
	if f.code != "" {
		p.Explain = t["oauth_"+f.code]
	}
	h.render(w, f.status, "error.html", p)
}

// render writes the named page with status, or a plain 500 when the page
// fails to render: it renders into a buffer first, so nothing half-written
// reaches the browser.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("demo: render", slog.String("page", name), slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// The pages show personal data and the callback URL holds a code:
	// no caching, no referrer, no framing, nothing but our stylesheet.
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// clamp shortens s to at most n runes.
func clamp(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
