package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/password"
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
	name, err := store.NormalizeUsername(*username)
	if err != nil {
		return usageError{fmt.Sprintf("users create: --username %q: %v", *username, err)}
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
	if *hashStdin {
		if err := password.Importable(pw); err != nil {
			return usageError{fmt.Sprintf("users create: the hash on standard input: %v", err)}
		}
	} else if err := password.CheckNew(pw, name); err != nil {
		return usageError{"users create: " + passwordProblem(err)}
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	if *phone != "" {
		n, err := phonePolicy(cfg).Normalise(*phone)
		if err != nil {
			return usageError{fmt.Sprintf("users create: --phone %q: %v (give a mobile number, e.g. +819012345678, or a national one in IDP_SMS_DEFAULT_REGION)", *phone, err)}
		}
		*phone = n
	}
	hash := pw // an imported hash is stored as it is and replaced at the first sign-in
	if !*hashStdin {
		hasher := password.New(password.Params{Memory: cfg.Password.Memory, Time: cfg.Password.Time, Threads: cfg.Password.Threads}, 1)
		if hash, err = hasher.Hash(ctx, pw); err != nil {
			return err
		}
	}
	db, st, err := openStore(ctx, cfg, newLogger(cfg, stderr), true)
	if err != nil {
		return err
	}
	defer closeDB(db)
	u := &store.User{Username: name, PasswordHash: hash, Locale: *locale}
	var p *store.Phone
	if *phone != "" {
		p = &store.Phone{Number: *phone}
		if *verified {
			now := st.Now()
			p.VerifiedAt = &now
		}
	}
	if err := st.CreateUser(ctx, u, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("users create: username %q is taken", name)
		}
		return err
	}
	st.Audit(ctx, store.AuditEvent{Event: "user.created", Outcome: "ok", UserID: u.ID, Username: u.Username, Detail: "by operator"})
	out := map[string]any{"id": u.ID, "username": u.Username}
	if p == nil {
		// Without a number the user can enrol one only through this link.
		link, until, err := newInvitation(ctx, st, cfg.Issuer, u, invitationTTL)
		if err != nil {
			return fmt.Errorf("users create: %s was created, but its invitation was not (run idp users invite): %w", u.Username, err)
		}
		out["invitation_url"], out["invitation_expires_at"] = link, until
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
func passwordProblem(err error) string {
	switch {
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("the password has fewer than %d characters", password.MinLength)
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("the password is longer than %d characters", password.MaxLength)
	case errors.Is(err, password.ErrCommon):
		return "the password is one of the most common passwords (found in breaches); choose another"
	case errors.Is(err, password.ErrContext):
		return "the password is too close to the username, or one character repeated; choose another"
	}
	return err.Error()
}

var (
	knownScopes     = []string{"openid", "profile", "phone", "offline_access"}
	knownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", idp.DeviceGrantType}
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
)

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
	backchannel := fs.String("backchannel-logout-uri", "", "where logout tokens are posted when a session of this client ends (Back-Channel Logout 1.0)")
	backchannelSID := fs.Bool("backchannel-logout-session-required", false, "the client needs sid in logout tokens (always sent)")
	frontchannel := fs.String("frontchannel-logout-uri", "", "loaded in a frame of the signed-out page, with iss and sid (Front-Channel Logout 1.0)")
	frontchannelSID := fs.Bool("frontchannel-logout-session-required", false, "the client needs iss and sid on its front-channel URI (always sent)")
	var redirects, grants, postLogout, resourceFor multiFlag
	fs.Var(&resourceFor, "resource-server-for", "a client whose tokens this one may introspect, as their resource server (repeatable; * for all); its own it always may")
	fs.Var(&redirects, "redirect-uri", "redirect URI, exact match (repeatable, at least one)")
	fs.Var(&grants, "grant-type", "authorization_code, refresh_token, client_credentials or "+idp.DeviceGrantType+" (device, for TVs and command-line tools) (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "where logout may return (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(grants) == 0 {
		grants = multiFlag{"authorization_code", "refresh_token"}
	}
	scopes := strings.Fields(*scope)
	var problems []string
	if !clientIDPattern.MatchString(*id) {
		problems = append(problems, "--id is required: 1-128 letters, digits and . _ ~ -")
	}
	for _, g := range grants {
		if !slices.Contains(knownGrantTypes, g) {
			problems = append(problems, fmt.Sprintf("--grant-type %q is not one of %s", g, strings.Join(knownGrantTypes, ", ")))
		}
	}
	interactive := slices.Contains(grants, "authorization_code")
	if interactive && len(redirects) == 0 {
		problems = append(problems, "--redirect-uri is required for the authorization_code grant")
	}
	if *atFormat != "opaque" && *atFormat != "jwt" {
		problems = append(problems, "--access-token-format must be opaque or jwt")
	}
	if *atLifespan < 0 || (*atLifespan > 0 && *atLifespan < time.Minute) {
		problems = append(problems, "--access-token-lifespan must be at least 1m")
	}
	for _, u := range []string{*backchannel, *frontchannel} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") {
			problems = append(problems, fmt.Sprintf("logout URI %q must be an http(s) URL", u))
		} else if msg := checkRedirectURI(u); msg != "" {
			problems = append(problems, msg)
		}
	}
	for _, u := range append(append([]string{}, redirects...), postLogout...) {
		if msg := checkRedirectURI(u); msg != "" {
			problems = append(problems, msg)
		}
	}
	for _, s := range scopes {
		if !slices.Contains(knownScopes, s) {
			problems = append(problems, fmt.Sprintf("--scope %q is not one of %s", s, strings.Join(knownScopes, ", ")))
		}
	}
	if *public && slices.Contains(grants, "client_credentials") {
		problems = append(problems, "a --public client cannot use client_credentials")
	}
	if *public && len(resourceFor) > 0 {
		problems = append(problems, "a --public client cannot introspect tokens, so it cannot be a --resource-server-for")
	}
	for _, c := range resourceFor {
		if c != "*" && !clientIDPattern.MatchString(c) {
			problems = append(problems, fmt.Sprintf("--resource-server-for %q is not a client id (or *)", c))
		}
	}
	switch *method {
	case "client_secret_basic", "client_secret_post":
	case "private_key_jwt":
		if *jwksFile == "" {
			problems = append(problems, "private_key_jwt needs --jwks FILE with the client's public keys")
		}
	default:
		problems = append(problems, "--token-endpoint-auth-method must be client_secret_basic, client_secret_post or private_key_jwt")
	}
	if *logo != "" {
		if u, err := url.Parse(*logo); err != nil || u.Scheme != "https" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("--logo-uri %q must be an https URL", *logo))
		}
	}
	if *idTokenAlg != "" && *idTokenAlg != "RS256" && *idTokenAlg != "ES256" {
		problems = append(problems, "--id-token-signed-response-alg must be RS256 or ES256")
	}
	var jwks []byte
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--jwks: %v", err))
		}
		jwks = b
	}
	if len(problems) > 0 {
		return usageError{"clients create:\n  " + strings.Join(problems, "\n  ")}
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	nc := store.NewClient{
		ID: *id, Name: *name, Public: *public, FirstParty: *firstParty,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout, GrantTypes: grants, Scopes: scopes,
		TokenEndpointAuthMethod: *method, RequirePAR: *requirePAR, JWKS: string(jwks), IDTokenAlg: *idTokenAlg, LogoURI: *logo,
		ResourceServerFor:    resourceFor,
		BackchannelLogoutURI: *backchannel, BackchannelLogoutSessionRequired: *backchannelSID,
		FrontchannelLogoutURI: *frontchannel, FrontchannelLogoutSessionRequired: *frontchannelSID,
		AccessTokenFormat: *atFormat, AccessTokenLifespan: *atLifespan,
	}
	if interactive {
		nc.ResponseTypes = []string{"code"}
	}
	if *public {
		nc.TokenEndpointAuthMethod = "none"
	} else if *method != "private_key_jwt" {
		// 256 random bits: safe to store as a fast hash (see ClientSecretHasher).
		b := make([]byte, 32)
		rand.Read(b)
		nc.Secret = base64.RawURLEncoding.EncodeToString(b)
	}
	if err := st.CreateClient(ctx, nc); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("clients create: client id %q is taken", *id)
		}
		return err
	}
	st.Audit(ctx, store.AuditEvent{Event: "client.created", Outcome: "ok", ClientID: nc.ID, Detail: "by operator"})
	out := map[string]string{"client_id": nc.ID}
	if nc.Secret != "" {
		out["client_secret"] = nc.Secret
	}
	return printJSON(stdout, out)
}

// checkRedirectURI applies RFC 6749 section 3.1.2 and OAuth 2.0 Security
// BCP rules: absolute, no fragment, https unless on the loopback (or a
// private-use scheme for native apps).
func checkRedirectURI(raw string) string {
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
