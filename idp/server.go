package idp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"

	"github.com/smspin/idp/idp/dpop"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/idp/totp"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/ui"
)

// Options are the server's dependencies and settings.
type Options struct {
	Issuer     string   // e.g. https://login.example.com
	Secret     []byte   // IDP_SECRET
	OldSecrets [][]byte // IDP_SECRET_OLD: still accepted for reading

	Store *store.Store
	Keys  *keys.Manager
	MFA   *mfa.Service
	// Receipts read the delivery reports providers push to
	// /sms/receipts/{provider}, by provider name.
	Receipts  map[string]sms.ReportReader
	Passwords *password.Hasher
	UI        *ui.Renderer
	Logger    *slog.Logger
	Now       func() time.Time

	AccessTokenTTL, RefreshTokenTTL, IDTokenTTL, AuthCodeTTL, LoginFlowTTL time.Duration
	// SessionTTL is how long a browser stays signed in (SSO); MFARemember
	// how long within it a PIN spares the next one (0: always ask).
	SessionTTL, MFARemember time.Duration
	// TrustedDeviceTTL, when not 0, lets a user trust a browser to spare
	// the second factor for that long (see trusted.go).
	TrustedDeviceTTL time.Duration
	// DeviceCodeTTL and DevicePollInterval are the device authorization
	// grant's code lifetime (default 10 minutes) and the least time a
	// device leaves between polls (default 5 s).
	DeviceCodeTTL, DevicePollInterval time.Duration
	SigningAlg                        string
	DefaultLocale                     string
	ProductName                       string // named in notices sent by SMS

	// DPoPNonce makes DPoP proofs carry a nonce of ours (RFC 9449 section
	// 8), at the token endpoint and userinfo.
	DPoPNonce bool
	// PasskeyPasswordless offers a sign-in with a passkey alone, its user
	// verified by the authenticator, beside the password (passwordless.go).
	PasskeyPasswordless bool

	// TrustedProxies may set X-Forwarded-For (see clientIP).
	TrustedProxies []netip.Prefix

	// Extra mounts more routes beside the provider's (the dev-mode demo).
	Extra func(*http.ServeMux)
	// Registration, when set (IDP_REGISTRATION_TOKEN), mounts dynamic
	// client registration (RFC 7591, 7592) under /oauth2/register, and
	// discovery lists it; unset, the path is not served at all.
	Registration func(*http.ServeMux)
}

// Server serves the provider's HTTP endpoints.
type Server struct {
	opt    Options
	oauth  fosite.OAuth2Provider
	fosite *fosite.Fosite // the same provider, for client authentication
	store  *store.Store
	log    *slog.Logger
	now    func() time.Time
	issuer *url.URL

	csrfKey   []byte
	csrfOld   [][]byte // from IDP_SECRET_OLD
	secure    bool     // cookies get Secure (issuer is https)
	discovery []byte   // the discovery document, built once
	signer    *keys.Signer
	stats     counters
	logouts   *LogoutNotifier
	totps     *totp.Sealer // seals the users' TOTP secrets

	// The device grant's: the keys of user code hashes (current, old),
	// and the token strategies it issues with.
	userCodeKey []byte
	userCodeOld [][]byte
	access      *accessTokenStrategy
	idTokens    *openid.IDTokenHandleHelper
	webauthn    *webauthn.WebAuthn
	nonces      dpop.Nonces // DPoP server nonces, when required
}

// New composes fosite with only the flows we serve: authorization code
// with PKCE, refresh tokens, client credentials, OpenID Connect (code
// flow), introspection and revocation, and our device authorization
// grant (RFC 8628) and token exchange (RFC 8693). Not implicit, not the password grant.
func New(opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SigningAlg == "" {
		opt.SigningAlg = keys.RS256
	}
	if opt.DefaultLocale == "" {
		opt.DefaultLocale = "en"
	}
	iss, err := url.Parse(opt.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("idp: bad issuer %q", opt.Issuer)
	}
	if len(opt.Secret) < 32 {
		return nil, fmt.Errorf("idp: secret must be at least 32 bytes")
	}
	cfg := &fosite.Config{
		IDTokenIssuer:                  opt.Issuer,
		AccessTokenIssuer:              opt.Issuer,
		TokenURL:                       opt.Issuer + "/oauth2/token",
		AccessTokenLifespan:            opt.AccessTokenTTL,
		RefreshTokenLifespan:           opt.RefreshTokenTTL,
		IDTokenLifespan:                opt.IDTokenTTL,
		AuthorizeCodeLifespan:          opt.AuthCodeTTL,
		GlobalSecret:                   keys.Derive(opt.Secret, keys.PurposeFosite),
		RotatedGlobalSecrets:           keys.DeriveAll(opt.OldSecrets, keys.PurposeFosite),
		ClientSecretsHasher:            store.ClientSecretHasher{},
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             []string{"offline_access"},
		MinParameterEntropy:            fosite.MinParameterEntropy,
		SendDebugMessagesToClients:     false,
		// RFC 9126: a pushed request lives a minute and is used once.
		PushedAuthorizeRequestURIPrefix: parPrefix,
		PushedAuthorizeContextLifespan:  time.Minute,
	}
	signer := &keys.Signer{Keys: opt.Keys, Alg: opt.SigningAlg}
	access := &accessTokenStrategy{
		CoreStrategy: oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg),
		keys:         opt.Keys, issuer: opt.Issuer, defaultAlg: keys.ES256,
	}
	idTokens := &idTokenStrategy{
		defaultAlg: opt.SigningAlg,
		byAlg: map[string]*openid.DefaultStrategy{
			keys.RS256: {Signer: &keys.Signer{Keys: opt.Keys, Alg: keys.RS256}, Config: cfg},
			keys.ES256: {Signer: &keys.Signer{Keys: opt.Keys, Alg: keys.ES256}, Config: cfg},
		},
	}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               access,
		OpenIDConnectTokenStrategy: idTokens,
		Signer:                     signer,
	}
	provider := compose.Compose(cfg, opt.Store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.PushedAuthorizeHandlerFactory,
	)
	f, ok := provider.(*fosite.Fosite)
	if !ok {
		return nil, fmt.Errorf("idp: fosite composed a %T", provider)
	}
	cfg.ClientAuthenticationStrategy = clientAuthentication(f)
	// JWT access tokens are checked by us first, opaque ones by fosite.
	for i, h := range cfg.TokenIntrospectionHandlers {
		cfg.TokenIntrospectionHandlers[i] = &jwtAccessIntrospector{next: h, strategy: access, store: opt.Store}
	}
	cfg.RevocationHandlers = append(fosite.RevocationHandlers{&jwtAccessRevoker{strategy: access, store: opt.Store}}, cfg.RevocationHandlers...)
	s := &Server{
		opt:     opt,
		oauth:   issuerProvider{OAuth2Provider: provider, issuer: opt.Issuer, f: f},
		fosite:  f,
		store:   opt.Store,
		log:     opt.Logger,
		now:     opt.Now,
		issuer:  iss,
		csrfKey: keys.Derive(opt.Secret, keys.PurposeCSRF),
		totps:   totp.NewSealer(append([][]byte{opt.Secret}, opt.OldSecrets...)...),
		csrfOld: keys.DeriveAll(opt.OldSecrets, keys.PurposeCSRF),
		secure:  iss.Scheme == "https",
		signer:  signer,

		userCodeKey: keys.Derive(opt.Secret, keys.PurposeUserCode),
		// Every instance sharing IDP_SECRET accepts the others' nonces.
		nonces:      dpop.Nonces{Key: keys.Derive(opt.Secret, keys.PurposeDPoPNonce), Step: time.Minute},
		userCodeOld: keys.DeriveAll(opt.OldSecrets, keys.PurposeUserCode),
		access:      access,
		idTokens:    &openid.IDTokenHandleHelper{IDTokenStrategy: idTokens},
	}
	cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, &deviceGrant{s: s}, &tokenExchange{s: s})
	if net.ParseIP(iss.Hostname()) != nil {
		// WebAuthn has no relying party on an IP address: browsers refuse it.
		s.log.Warn("passkeys are off: the issuer's host is an IP address, not a domain name", "issuer", opt.Issuer)
	} else if s.webauthn, err = newWebAuthn(iss, s.productName()); err != nil {
		return nil, err
	}
	s.logouts = NewLogoutNotifier(opt.Store, opt.Keys, opt.Issuer, opt.SigningAlg, opt.Logger)
	if s.opt.SessionTTL <= 0 {
		s.opt.SessionTTL = 24 * time.Hour
	}
	if s.discovery, err = s.buildDiscovery(); err != nil {
		return nil, err
	}
	return s, nil
}

// LogoutNotifier is the server's deliverer of back-channel logout tokens;
// the process runs it (Run) so that deliveries written by other instances
// or by the admin commands, and retries, go out.
func (s *Server) LogoutNotifier() *LogoutNotifier { return s.logouts }

// Handler returns the public HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	if s.opt.Extra != nil {
		s.opt.Extra(mux)
	}
	return s.recoverer(s.limitBody(mux))
}

// maxBody caps request bodies: no endpoint here takes more than a form.
const maxBody = 1 << 20

// limitBody answers 413 to a body over the cap: at once when its length is
// declared, and when a form is read otherwise (see parseForm).
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			w.Header().Set("Connection", "close")
			if (strings.HasPrefix(r.URL.Path, "/oauth2/") && !strings.HasPrefix(r.URL.Path, "/oauth2/logout")) || r.URL.Path == "/userinfo" {
				writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
				return
			}
			s.errorPage(w, r, http.StatusRequestEntityTooLarge, ui.MsgRequestTooLarge)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		// Each request loads a client once, whoever asks (store.WithClientMemo).
		r2 := r.WithContext(store.WithClientMemo(r.Context()))
		next.ServeHTTP(w, r2)
		r.Pattern = r2.Pattern // the route, for the middleware outside (metrics)
	})
}

// Mount registers every route on mux (Go 1.22 patterns).
func (s *Server) Mount(mux *http.ServeMux) {
	if s.opt.Registration != nil {
		s.opt.Registration(mux)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("GET /oauth2/auth", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/auth", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/token", s.handleToken)
	mux.HandleFunc("POST /oauth2/par", s.handlePAR)
	mux.HandleFunc("POST /oauth2/device/auth", s.handleDeviceAuthorization)
	mux.HandleFunc("POST /oauth2/introspect", s.handleIntrospect)
	mux.HandleFunc("POST /oauth2/revoke", s.handleRevoke)
	mux.Handle("GET /oauth2/logout", http.HandlerFunc(s.handleLogout))
	mux.Handle("POST /oauth2/logout", http.HandlerFunc(s.handleLogout))
	mux.HandleFunc("GET /userinfo", s.handleUserinfo)
	mux.HandleFunc("POST /userinfo", s.handleUserinfo)

	// The hosted pages' forms. Cross-origin form posts are refused on top
	// of the per-flow CSRF token (defence in depth); the token endpoint is
	// not covered, since cross-origin calls to it are legitimate.
	cop := http.NewCrossOriginProtection()
	forms := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, cop.Handler(h)) }
	forms("GET /device", s.handleDevicePage)
	forms("POST /device", s.handleDeviceSubmit)
	forms("GET /login", s.handleLoginPage)
	forms("POST /login", s.handleLoginSubmit)
	forms("GET /login/pin", s.handlePINPage)
	forms("POST /login/pin", s.handlePINSubmit)
	forms("POST /login/pin/resend", s.handlePINResend)
	forms("POST /login/pin/reroute", s.handlePINReroute)
	forms("GET /login/wait", s.handleWaitPage)
	forms("POST /login/wait", s.handleWaitSubmit)
	forms("GET /login/phone", s.handlePhonePage)
	forms("POST /login/phone", s.handlePhoneSubmit)
	forms("GET /login/consent", s.handleConsentPage)
	forms("POST /login/consent", s.handleConsentSubmit)
	forms("POST /login/factor/{name}", s.handleChooseFactor)
	forms("GET /login/recovery", s.handleRecoveryPage)
	forms("POST /login/recovery", s.handleRecoverySubmit)
	forms("GET /login/totp", s.handleTOTPPage)
	forms("POST /login/totp", s.handleTOTPSubmit)
	forms("GET /login/passkey", s.handlePasskeyPage)
	forms("POST /login/passkey", s.handlePasskeySubmit)
	forms("POST /login/passkey/options", s.handlePasskeyOptions)
	forms("POST /login/passwordless", s.handlePasswordlessSubmit)
	forms("POST /login/passwordless/options", s.handlePasswordlessOptions)
	forms("GET /login/recovery/used", s.handleRecoveryUsedPage)
	forms("POST /login/recovery/used", s.handleRecoveryUsedSubmit)
	forms("GET /password/forgot", s.handleForgot)
	forms("POST /password/forgot/passkey", s.handleForgotPasskey)
	forms("POST /password/forgot/passkey/options", s.handleForgotPasskeyOptions)
	forms("GET /password/reset", s.handleResetLink)
	forms("GET /login/forgot", s.handleForgotPage)
	forms("POST /login/forgot", s.handleForgotSubmit)
	forms("GET /login/password", s.handleNewPasswordPage)
	forms("POST /login/password", s.handleNewPasswordSubmit)
	forms("POST /login/restart", s.handleRestart)
	forms("POST /login/cancel", s.handleCancel)
	forms("POST /oauth2/logout/confirm", s.handleLogoutConfirm)
	forms("GET /invitation", s.handleInvitation)
	forms("GET /account", s.handleAccount)
	forms("GET /account/signin", s.handleAccountSignIn)
	forms("POST /account/recovery-codes", s.handleRecoveryCodesMake)
	forms("POST /account/totp/new", s.handleTOTPNew)
	forms("GET /account/totp", s.handleTOTPSetupPage)
	forms("POST /account/totp", s.handleTOTPConfirm)
	forms("POST /account/totp/remove", s.handleTOTPRemove)
	forms("POST /account/passkeys/options", s.handlePasskeyRegisterOptions)
	forms("POST /account/passkeys", s.handlePasskeyRegister)
	forms("POST /account/passkeys/rename", s.handlePasskeyRename)
	forms("POST /account/passkeys/remove", s.handlePasskeyRemove)
	forms("POST /account/sessions/revoke", s.handleSessionRevoke)
	forms("POST /account/devices/forget", s.handleDeviceForget)
	forms("GET /account/password", s.handlePasswordChangePage)
	forms("POST /account/password", s.handlePasswordChange)
	forms("GET /account/phone", s.handlePhoneChangeStart)
	forms("GET /account/phone/new", s.handleNewPhonePage)
	forms("POST /account/phone/new", s.handleNewPhoneSubmit)
	forms("GET /account/phone/verify", s.handleNewPhonePINPage)
	forms("POST /account/phone/verify", s.handleNewPhonePINSubmit)
	forms("POST /account/phone/verify/resend", s.handleNewPhoneResend)
	forms("POST /account/phone/verify/reroute", s.handleNewPhoneReroute)
	forms("POST /account/phone/verify/again", s.handleNewPhoneAgain)

	// Providers' delivery reports: server to server, authenticated by each
	// provider's own scheme, so no CSRF token and no origin check.
	mux.HandleFunc("POST /sms/receipts/{provider}", s.handleReceipt)
	mux.HandleFunc("GET /sms/receipts/{provider}", s.handleReceipt)

	mux.Handle("GET /static/", s.opt.UI.StaticHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, ui.MsgNotFound)
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	sqlDB, err := s.store.DB().DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unreachable\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// recoverer turns a panic into a logged error and a friendly page instead
// of a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.errorPage(w, r, http.StatusInternalServerError, ui.MsgServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// url returns an absolute URL on the issuer for a path.
func (s *Server) url(path string) string {
	return strings.TrimSuffix(s.opt.Issuer, "/") + path
}
