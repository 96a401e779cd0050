package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	var sf settingFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	db, err := database.Open(ctx, cfg.Database.URL, database.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer closeDB(db)
	applied, err := database.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if applied == nil {
		applied = []int{}
	}
	return printJSON(stdout, map[string]any{"applied": applied, "dialect": database.DialectOf(db)})
}

func cmdUsersCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("users create", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "username (required)")
	phone := fs.String("phone", "", "mobile number in E.164 form, e.g. +819012345678")
	verified := fs.Bool("phone-verified", false, "the operator vouches for the number: no first-login proof")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	hashStdin := fs.Bool("password-hash-stdin", false, "read an existing password hash from standard input instead (argon2id, argon2i or bcrypt), to migrate users without a reset")
	locale := fs.String("locale", "", "preferred language: en or ja")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		return usageError{"users create: --username is required"}
	}
	switch {
	case *pwStdin == *hashStdin:
		return usageError{"users create: give --password-stdin or --password-hash-stdin (the password is never taken from the command line)"}
	case *verified && *phone == "":
		return usageError{"users create: --phone-verified needs --phone"}
	case *locale != "" && *locale != "en" && *locale != "ja":
		return usageError{"users create: --locale must be en or ja"}
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	svc := newService(cfg, nil)
	nu := admin.NewUser{Username: *username, Phone: *phone, PhoneVerified: *verified, Locale: *locale}
	if *hashStdin {
		nu.PasswordHash = pw // stored as it is and replaced at the first sign-in
	} else {
		nu.Password = pw
	}
	// Checked before the database is opened: a typo costs nothing.
	if err := svc.CheckNewUser(&nu); err != nil {
		return cliError("users create", err)
	}
	db, st, err := openStore(ctx, cfg, newLogger(cfg, stderr), true)
	if err != nil {
		return err
	}
	defer closeDB(db)
	svc.Store = st
	if nu.Password != "" {
		svc.Passwords = hasherFor(cfg)
	}
	created, err := svc.CreateUser(ctx, nu, byOperator)
	if err != nil {
		return cliError("users create", err)
	}
	out := map[string]any{"id": created.ID, "username": created.Username}
	if created.InvitationURL != "" {
		out["invitation_url"], out["invitation_expires_at"] = created.InvitationURL, created.InvitationExpiresAt
	}
	return printJSON(stdout, out)
}

// readPassword reads one line; a trailing newline is not part of it.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError{"users create: no password on standard input"}
	}
	return pw, nil
}

// passwordProblem says in plain words why a new password is refused.
func passwordProblem(err error) string { return admin.PasswordProblem(err) }

func cmdClientsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clients create", stderr)
	var sf settingFlags
	sf.register(fs)
	id := fs.String("id", "", "client id (required)")
	name := fs.String("name", "", "name shown on the consent page")
	public := fs.Bool("public", false, "a public client (SPA, mobile app): no secret, PKCE required")
	firstParty := fs.Bool("first-party", false, "skip the consent page")
	scope := fs.String("scope", "openid profile phone offline_access", "scopes the client may ask for")
	method := fs.String("token-endpoint-auth-method", "client_secret_basic", "client_secret_basic, client_secret_post or private_key_jwt")
	jwksFile := fs.String("jwks", "", "file with the client's public JWKS (for private_key_jwt)")
	requirePAR := fs.Bool("require-par", false, "authorize requests must be pushed first (RFC 9126)")
	logo := fs.String("logo-uri", "", "https URL of the client's logo, shown on the consent page")
	idTokenAlg := fs.String("id-token-signed-response-alg", "", "RS256 or ES256 (default IDP_SIGNING_ALG)")
	atFormat := fs.String("access-token-format", "opaque", "opaque, or jwt for RFC 9068 access tokens that resource servers validate locally (signed ES256, or the client's --id-token-signed-response-alg)")
	atLifespan := fs.Duration("access-token-lifespan", 0, "this client's access token lifetime (default IDP_ACCESS_TOKEN_TTL); keep it short for jwt")
	dpopBound := fs.Bool("dpop-bound-access-tokens", false, "every token request must carry a DPoP proof (RFC 9449): tokens bound to the client's key")
	backchannel := fs.String("backchannel-logout-uri", "", "where logout tokens are posted when a session of this client ends (Back-Channel Logout 1.0)")
	backchannelSID := fs.Bool("backchannel-logout-session-required", false, "the client needs sid in logout tokens (always sent)")
	frontchannel := fs.String("frontchannel-logout-uri", "", "loaded in a frame of the signed-out page, with iss and sid (Front-Channel Logout 1.0)")
	frontchannelSID := fs.Bool("frontchannel-logout-session-required", false, "the client needs iss and sid on its front-channel URI (always sent)")
	var redirects, grants, postLogout, resourceFor, exchangeAud multiFlag
	fs.Var(&exchangeAud, "token-exchange-audience", "a client id or resource server URI this client may ask tokens for by token exchange (repeatable; needs --grant-type "+idp.TokenExchangeGrantType+")")
	fs.Var(&resourceFor, "resource-server-for", "a client whose tokens this one may introspect, as their resource server (repeatable; * for all); its own it always may")
	fs.Var(&redirects, "redirect-uri", "redirect URI, exact match (repeatable, at least one)")
	fs.Var(&grants, "grant-type", "authorization_code, refresh_token, client_credentials or "+idp.DeviceGrantType+" (device, for TVs and command-line tools) or "+idp.TokenExchangeGrantType+" (token exchange, for services) (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "where logout may return (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var jwks []byte
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return usageError{fmt.Sprintf("clients create: --jwks: %v", err)}
		}
		jwks = b
	}
	nc := store.NewClient{
		ID: *id, Name: *name, Public: *public, FirstParty: *firstParty,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout, GrantTypes: grants, Scopes: strings.Fields(*scope),
		TokenEndpointAuthMethod: *method, RequirePAR: *requirePAR, JWKS: string(jwks), IDTokenAlg: *idTokenAlg, LogoURI: *logo,
		ResourceServerFor: resourceFor, TokenExchangeAudiences: exchangeAud,
		BackchannelLogoutURI: *backchannel, BackchannelLogoutSessionRequired: *backchannelSID,
		FrontchannelLogoutURI: *frontchannel, FrontchannelLogoutSessionRequired: *frontchannelSID,
		AccessTokenFormat: *atFormat, AccessTokenLifespan: *atLifespan, DPoPBound: *dpopBound,
	}
	if len(nc.GrantTypes) == 0 {
		nc.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if p := admin.CheckClient(nc, flagNames); len(p) > 0 {
		return usageError{"clients create:\n  " + strings.Join(p, "\n  ")}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	secret, err := newService(cfg, st).CreateClient(ctx, nc, flagNames, byOperator)
	if err != nil {
		return cliError("clients create", err)
	}
	out := map[string]string{"client_id": nc.ID}
	if secret != "" {
		out["client_secret"] = secret
	}
	return printJSON(stdout, out)
}

// flagNames spells a client's fields as the clients commands' flags.
func flagNames(field string) string {
	switch field {
	case "redirect_uris":
		return "--redirect-uri"
	case "post_logout_redirect_uris":
		return "--post-logout-redirect-uri"
	case "grant_types":
		return "--grant-type"
	case "scopes":
		return "--scope"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

func cmdKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", stderr)
	var sf settingFlags
	sf.register(fs)
	alg := fs.String("alg", "", "RS256 or ES256 (default IDP_SIGNING_ALG)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	secretOrDev(&cfg)
	if len(cfg.Secret) < 32 {
		return errors.New("keys rotate: IDP_SECRET is required (at least 32 bytes): the keys are stored encrypted with it")
	}
	if *alg == "" {
		*alg = cfg.Keys.SigningAlg
	}
	if *alg != keys.RS256 && *alg != keys.ES256 {
		return usageError{"keys rotate: --alg must be RS256 or ES256"}
	}
	db, st, err := openStore(ctx, cfg, newLogger(cfg, stderr), true)
	if err != nil {
		return err
	}
	defer closeDB(db)
	secrets := [][]byte{[]byte(cfg.Secret)}
	for _, s := range cfg.SecretOld {
		secrets = append(secrets, []byte(s))
	}
	km := keys.NewManager(st, secrets, cfg.TTL.IDToken+10*time.Minute)
	if err := km.Refresh(ctx); err != nil {
		return err
	}
	kid, err := km.Rotate(ctx, *alg)
	if err != nil {
		return err
	}
	st.Audit(ctx, store.AuditEvent{Event: "key.rotated", Outcome: "ok", Detail: *alg + " " + kid + " by operator"})
	return printJSON(stdout, map[string]string{"kid": kid, "alg": *alg,
		"previous_key_published_until": time.Now().Add(km.RetireAfter).UTC().Format(time.RFC3339)})
}

func cmdConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", stderr)
	var sf settingFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	red := cfg.Redacted()
	names := make([]string, 0, len(red))
	for _, s := range config.Settings() {
		names = append(names, s.Env)
	}
	for _, n := range names {
		fmt.Fprintf(stdout, "%s=%s\n", n, red[n])
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "\nproblems:\n%v\n", err)
	}
	return nil
}
