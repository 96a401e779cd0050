package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database"
)

// settingFlags are the flags every command shares, each naming the
// setting it overrides.
type settingFlags struct {
	config      string
	listen      string
	issuer      string
	databaseURL string
}

func (f *settingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML settings `FILE` (also IDP_CONFIG)")
	fs.StringVar(&f.listen, "listen", "", "listen address `HOST:PORT` (IDP_LISTEN)")
	fs.StringVar(&f.issuer, "issuer", "", "issuer `URL` (IDP_ISSUER)")
	fs.StringVar(&f.databaseURL, "database-url", "", "database `URL` (IDP_DATABASE_URL)")
}

// load reads the settings: defaults < file < env < flags.
func (f *settingFlags) load() (config.Config, error) {
	cfg, err := config.Load(f.config, os.LookupEnv)
	if err != nil {
		return cfg, err
	}
	for env, v := range map[string]string{"IDP_LISTEN": f.listen, "IDP_ISSUER": f.issuer, "IDP_DATABASE_URL": f.databaseURL} {
		if v != "" {
			if err := cfg.Set(env, v); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}

// newFlagSet makes a command's flag set. It prints nothing itself: a bad
// flag comes back from parse as one usageError naming it, and a request
// for help as helpRequested, which run answers on stdout.
func newFlagSet(name string, _ io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// flagError turns an error of fs.Parse into helpRequested or a usageError.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return helpRequested{fs}
	}
	return usageError{fs.Name() + ": " + flagProblem(err)}
}

// flagProblem rewords the flag package's errors in the manner of ours:
// "invalid value "x" for flag -since: parse error" becomes
// "--since "x": parse error".
func flagProblem(err error) string {
	msg := err.Error()
	var value, name, why string
	if i := strings.Index(msg, "invalid value "); i == 0 {
		rest := msg[len("invalid value "):]
		if j := strings.Index(rest, " for flag -"); j > 0 {
			value = rest[:j]
			rest = rest[j+len(" for flag -"):]
			if k := strings.Index(rest, ": "); k > 0 {
				name, why = rest[:k], rest[k+2:]
				return fmt.Sprintf("--%s %s: %s", name, value, why)
			}
		}
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Sprintf("unknown flag --%s", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("--%s needs a value", name)
	}
	return msg
}

// devSecret returns the secret kept beside a SQLite database in dev mode,
// making it on first use. It is stable across restarts, so sessions and
// signing keys survive them.
func devSecret(dbURL string) (string, error) {
	path, ok := strings.CutPrefix(dbURL, "sqlite:")
	if !ok {
		return "", errors.New("--dev keeps its secret beside a SQLite database; with PostgreSQL set IDP_SECRET")
	}
	secretPath := path + ".secret"
	if b, err := os.ReadFile(secretPath); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) >= 32 {
			return s, nil
		}
		return "", fmt.Errorf("%s holds a secret shorter than 32 bytes; delete it to make a new one", secretPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read dev secret: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	if dir := filepath.Dir(secretPath); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(secretPath, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev secret: %w", err)
	}
	return s, nil
}

// secretOrDev fills IDP_SECRET from the dev secret file when it is unset
// and such a file exists, so admin commands work against a dev database.
func secretOrDev(cfg *config.Config) {
	if cfg.Secret != "" {
		return
	}
	if path, ok := strings.CutPrefix(cfg.Database.URL, "sqlite:"); ok {
		if b, err := os.ReadFile(path + ".secret"); err == nil {
			cfg.Secret = strings.TrimSpace(string(b))
		}
	}
}

// openStore opens and (when asked) migrates the database.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger, migrate bool) (*gorm.DB, *store.Store, error) {
	db, err := database.Open(ctx, cfg.Database.URL, database.Options{
		MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxIdleConns, Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	if migrate {
		applied, err := database.Migrate(ctx, db)
		if err != nil {
			closeDB(db)
			return nil, nil, err
		}
		if len(applied) > 0 {
			logger.Info("database migrated", "versions", applied)
		}
	}
	st := store.New(db, nil)
	st.AuthCodeTTL, st.AccessTokenTTL, st.RefreshTokenTTL = cfg.TTL.AuthCode, cfg.TTL.AccessToken, cfg.TTL.RefreshToken
	st.ClientCacheTTL = 5 * time.Second
	return db, st, nil
}

func closeDB(db *gorm.DB) {
	if s, err := db.DB(); err == nil {
		s.Close()
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openFromFlags loads the settings and opens (and migrates) the store, for
// the admin commands. The returned func closes it.
func openFromFlags(ctx context.Context, sf *settingFlags, stderr io.Writer) (config.Config, *store.Store, func(), error) {
	cfg, err := sf.load()
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("settings:\n%w", err)
	}
	db, st, err := openStore(ctx, cfg, newLogger(cfg, stderr), true)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, st, func() { closeDB(db) }, nil
}
