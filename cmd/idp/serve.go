package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/demo"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/metrics"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/ui"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var sf settingFlags
	sf.register(fs)
	dev := fs.Bool("dev", false, "development mode: SQLite, a generated secret, SMS printed to the terminal, a demo user and client")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	if *dev {
		if cfg.Secret == "" {
			if cfg.Secret, err = devSecret(cfg.Database.URL); err != nil {
				return err
			}
		}
		if len(cfg.SMS.Providers) == 0 {
			cfg.SMS.Providers = []string{config.ProviderConsole}
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	logger := newLogger(cfg, stderr)
	setMemoryLimit(cfg, logger)
	for _, w := range cfg.Warnings() {
		if !*dev {
			logger.Warn("setting", "advice", w)
		}
	}
	logSMSStatus(logger, cfg)
	logCountries(cfg, logger)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (IDP_LISTEN): %w", cfg.Listen, err)
	}
	defer ln.Close()
	if *dev && !issuerSet(sf, cfg) {
		if iss, ok := devIssuer(ln.Addr()); ok && iss != cfg.Issuer {
			cfg.Issuer = iss
			logger.Info("dev: issuer follows the loopback listen address; set IDP_ISSUER or --issuer to choose another", "issuer", iss)
		}
	}

	db, st, err := openStore(ctx, cfg, logger, cfg.Database.MigrateOnStart)
	if err != nil {
		return err
	}
	defer closeDB(db)
	var extra func(*http.ServeMux)
	if *dev {
		d, err := demo.New(demo.Options{Issuer: cfg.Issuer, ClientID: demoClient, Logger: logger})
		if err != nil {
			return err
		}
		extra = d.Mount
	}
	app, err := newApp(ctx, cfg, logger, db, st, stdout, extra)
	if err != nil {
		return err
	}
	if *dev {
		if err := devWalkthrough(ctx, cfg, st, app.passwords, stdout); err != nil {
			return err
		}
	}
	return app.serve(ctx, cfg, logger, ln)
}

// issuerSet reports whether the issuer was chosen (by flag, environment
// or a file) rather than left at its default.
func issuerSet(sf settingFlags, cfg config.Config) bool {
	_, inEnv := os.LookupEnv("IDP_ISSUER")
	return sf.issuer != "" || inEnv || cfg.Issuer != config.Default().Issuer
}

// isLoopbackAddr reports whether a listener's address is on the loopback.
func isLoopbackAddr(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// devIssuer is http://localhost:PORT for a loopback listen address: the
// browser must reach the issuer, and passkeys refuse IP addresses, so the
// name is localhost whatever loopback address was given.
func devIssuer(addr net.Addr) (string, bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || !ap.Addr().IsLoopback() {
		return "", false
	}
	return fmt.Sprintf("http://localhost:%d", ap.Port()), true
}

// app is the assembled provider.
type app struct {
	server    *idp.Server
	keys      *keys.Manager
	store     *store.Store
	passwords *password.Hasher
	mfa       *mfa.Service
	readers   map[string]mfa.StatusReader
	chain     *sms.Chain
	metrics   *metrics.Registry
}

// logCountries says at start where codes may go: since the default allows
// only the default region's country, an operator with users abroad must
// see it before they do.
func logCountries(cfg config.Config, logger *slog.Logger) {
	list, all := cfg.SMS.Countries()
	switch {
	case all:
		logger.Info("SMS codes may go to every country (IDP_SMS_ALLOWED_COUNTRIES=*)")
	case len(cfg.SMS.AllowedCountries) == 0:
		logger.Info("SMS codes go only to numbers of "+strings.Join(list, ",")+" (IDP_SMS_DEFAULT_REGION); set IDP_SMS_ALLOWED_COUNTRIES to a list, or * for every country, for users abroad",
			"countries", list)
	default:
		logger.Info("SMS codes go only to numbers of the countries in IDP_SMS_ALLOWED_COUNTRIES", "countries", list)
	}
}

func newApp(ctx context.Context, cfg config.Config, logger *slog.Logger, db *gorm.DB, st *store.Store, stdout io.Writer, extra func(*http.ServeMux)) (*app, error) {
	secrets := [][]byte{[]byte(cfg.Secret)}
	var old [][]byte
	for _, s := range cfg.SecretOld {
		secrets = append(secrets, []byte(s))
		old = append(old, []byte(s))
	}
	km := keys.NewManager(st, secrets, cfg.TTL.IDToken+10*time.Minute)
	// Both algorithms have a key: clients may ask for either
	// (id_token_signed_response_alg); IDP_SIGNING_ALG is the default.
	for _, alg := range []string{keys.RS256, keys.ES256} {
		if err := km.Init(ctx, alg); err != nil {
			return nil, err
		}
	}
	reg := metrics.New()
	prov, err := newSender(cfg, logger, stdout, reg.SMS)
	if err != nil {
		return nil, err
	}
	sender, readers := prov.chain, prov.readers
	svc := &mfa.Service{
		Store:    st,
		Verifier: newVerifier(cfg),
		Sender:   senderOrNil(sender),
		Policy: mfa.Policy{
			CodeLength: cfg.PIN.Length, TTL: cfg.PIN.TTL, MaxAttempts: cfg.PIN.MaxAttempts,
			ResendCooldown: cfg.PIN.ResendCooldown, MaxResends: cfg.PIN.MaxResends,
		},
		Secret:     keys.Derive([]byte(cfg.Secret), keys.PurposePIN),
		OldSecrets: keys.DeriveAll(old, keys.PurposePIN),
		Phones:     phonePolicy(cfg),
		Limits: mfa.Limits{
			PhoneHour: cfg.SMS.Limits.PhoneHour, PhoneDay: cfg.SMS.Limits.PhoneDay,
			UserHour: cfg.SMS.Limits.UserHour, UserDay: cfg.SMS.Limits.UserDay,
			IPHour: cfg.SMS.Limits.IPHour, IPDay: cfg.SMS.Limits.IPDay,
			GlobalHour: cfg.SMS.Limits.GlobalHour, GlobalDay: cfg.SMS.Limits.GlobalDay,
			PrefixHour: cfg.SMS.Limits.PrefixHour, PrefixDay: cfg.SMS.Limits.PrefixDay,
			NoticeHour: cfg.SMS.Limits.NoticeHour, NoticeDay: cfg.SMS.Limits.NoticeDay,
		},
		Pumping: mfa.Pumping{PrefixDigits: cfg.SMS.Pumping.PrefixDigits, Window: cfg.SMS.Pumping.Window,
			MinSends: cfg.SMS.Pumping.MinSends, CountryMinSends: cfg.SMS.Pumping.CountryMin, MinConversion: float64(cfg.SMS.Pumping.MinConversion) / 100},
		Budget:      budget(cfg),
		ReceiptWait: cfg.SMS.ReceiptWait,
		Receipts:    prov.pushing,
		Text:        smsText(cfg),
		Logger:      logger,
	}
	hasher := password.New(password.Params{Memory: cfg.Password.Memory, Time: cfg.Password.Time, Threads: cfg.Password.Threads}, cfg.Password.HashConcurrency)
	renderer, err := ui.New(ui.Options{ProductName: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL, AccentColor: cfg.UI.AccentColor, Logger: logger})
	if err != nil {
		return nil, err
	}
	var registration func(*http.ServeMux)
	if cfg.RegistrationToken != "" {
		rg := &admin.Registration{Service: newService(cfg, st), Token: cfg.RegistrationToken, Logger: logger}
		registration = rg.Mount
		logger.Info("dynamic client registration is on at /oauth2/register (IDP_REGISTRATION_TOKEN)")
	}
	srv, err := idp.New(idp.Options{
		Issuer: cfg.Issuer, Secret: []byte(cfg.Secret), OldSecrets: old,
		Store: st, Keys: km, MFA: svc, Receipts: prov.reports, Passwords: hasher, UI: renderer, Logger: logger,
		AccessTokenTTL: cfg.TTL.AccessToken, RefreshTokenTTL: cfg.TTL.RefreshToken, IDTokenTTL: cfg.TTL.IDToken,
		AuthCodeTTL: cfg.TTL.AuthCode, LoginFlowTTL: cfg.TTL.LoginFlow, SessionTTL: cfg.SessionTTL, MFARemember: cfg.MFARemember,
		TrustedDeviceTTL: cfg.TrustedDeviceTTL, DeviceCodeTTL: cfg.TTL.DeviceCode, DevicePollInterval: cfg.TTL.DevicePoll,
		SigningAlg: cfg.Keys.SigningAlg, DefaultLocale: cfg.UI.DefaultLocale, Extra: extra, ProductName: cfg.UI.ProductName,
		TrustedProxies: trustedProxies(cfg.TrustedProxies), DPoPNonce: cfg.DPoPNonce, PasskeyPasswordless: cfg.PasskeyPasswordless, Registration: registration,
	})
	if err != nil {
		return nil, err
	}
	if sqlDB, err := db.DB(); err == nil {
		reg.DB(sqlDB, database.DialectOf(db))
	}
	src := metrics.Sources{Events: srv.Counters, Challenges: svc.Counters}
	if sender != nil {
		src.Attempts = sender.Attempts
	}
	reg.Counters(src)
	return &app{server: srv, keys: km, store: st, passwords: hasher, mfa: svc, readers: readers, chain: sender, metrics: reg}, nil
}

// serve runs the listener until ctx ends, then drains in-flight requests.
func (a *app) serve(ctx context.Context, cfg config.Config, logger *slog.Logger, ln net.Listener) error {
	hs := &http.Server{
		Handler:           idp.AccessLog(logger, a.metrics.Wrap("public", idp.LimitBody(1<<20, a.server.Handler()))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go a.maintain(bg, cfg, logger)
	// Back-channel logout tokens: written by whichever instance or command
	// ended a session, delivered and retried by any running instance.
	go a.server.LogoutNotifier().Run(bg, 10*time.Second)

	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var admin *http.Server
	if cfg.Admin.Listen != "" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			hs.Close()
			return fmt.Errorf("listen on %s (IDP_ADMIN_LISTEN): %w", cfg.Admin.Listen, err)
		}
		loopback := isLoopbackAddr(aln.Addr())
		if !loopback && cfg.Admin.Token == "" {
			logger.Warn("IDP_ADMIN_LISTEN is not a loopback address and IDP_ADMIN_TOKEN is empty: /metrics answers 401 to everyone; set a token for Prometheus to send as a bearer token", "listen", aln.Addr().String())
		}
		admin = &http.Server{Handler: a.adminHandler(cfg, logger, loopback), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		go func() {
			if err := admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
		logger.Info("admin listener", "listen", aln.Addr().String(), "api", cfg.Admin.Token != "", "metrics_need_token", !loopback)
	}
	logger.Info("serving", "issuer", cfg.Issuer, "listen", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if admin != nil {
		admin.Shutdown(shutCtx)
	}
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maintain reloads keys (another instance may have rotated them), rotates
// them on schedule, and deletes expired rows.
func (a *app) maintain(ctx context.Context, cfg config.Config, logger *slog.Logger) {
	refresh := time.NewTicker(time.Minute)
	cleanup := time.NewTicker(10 * time.Minute)
	defer refresh.Stop()
	defer cleanup.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			if err := a.keys.Refresh(ctx); err != nil {
				logger.Warn("reload signing keys", "err", err)
			}
			if cfg.Keys.Rotation > 0 {
				if k, err := a.keys.Active(cfg.Keys.SigningAlg); err == nil && time.Since(k.CreatedAt) > cfg.Keys.Rotation {
					if kid, err := a.keys.Rotate(ctx, cfg.Keys.SigningAlg); err != nil {
						logger.Warn("scheduled key rotation", "err", err)
					} else {
						logger.Info("signing key rotated on schedule", "kid", kid)
						a.store.Audit(ctx, store.AuditEvent{Event: "key.rotated", Outcome: "ok", Detail: cfg.Keys.SigningAlg + " " + kid + " on schedule"})
					}
				}
			}
			if n, err := a.mfa.RefreshDeliveries(ctx, a.readers, 24*time.Hour, 200); err != nil {
				logger.Warn("read back SMS delivery status", "err", err)
			} else if n > 0 {
				logger.Debug("SMS delivery status updated", "rows", n)
			}
		case <-cleanup.C:
			if _, err := a.mfa.DeleteExpiredCounters(ctx); err != nil {
				logger.Warn("delete expired rate counters", "err", err)
			}
			if n, err := a.store.DeleteExpired(ctx); err != nil {
				logger.Warn("delete expired rows", "err", err)
			} else if n > 0 {
				logger.Info("deleted expired rows", "rows", n)
			}
		}
	}
}

// senderOrNil keeps a nil chain a nil interface (no plain-SMS provider
// beside a provider-verified one).
func senderOrNil(c *sms.Chain) sms.Sender {
	if c == nil {
		return nil
	}
	return c
}

// trustedProxies reads IDP_TRUSTED_PROXIES (checked by Validate): single
// addresses become one-address ranges.
func trustedProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// phonePolicy is where codes may go: with IDP_SMS_ALLOWED_COUNTRIES unset,
// only the default region's country; "*" for every country.
func phonePolicy(cfg config.Config) mfa.PhonePolicy {
	list, all := cfg.SMS.Countries()
	if all {
		list = nil // mfa: an empty list allows every country
	}
	return mfa.PhonePolicy{DefaultRegion: cfg.SMS.DefaultRegion, AllowedCountries: list}
}

// smsText is the PIN message of this provider: its product name, and the
// issuer's host in the origin-bound last line.
func smsText(cfg config.Config) mfa.Text {
	iss, _ := url.Parse(cfg.Issuer)
	return mfa.Messages(cfg.UI.ProductName, iss.Host, cfg.PIN.TTL)
}
