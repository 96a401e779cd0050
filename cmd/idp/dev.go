package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
)

// Dev-mode demo accounts. They exist only in the development database.
const (
	demoUser     = "demo"
	demoPassword = "demo-password"
	demoPhone    = "+819012345678"
	demoClient   = "demo"
)

// devWalkthrough makes the demo user and client when missing and prints
// how to try a login.
func devWalkthrough(ctx context.Context, cfg config.Config, st *store.Store, hasher *password.Hasher, w io.Writer) error {
	if _, err := st.UserByUsername(ctx, demoUser); errors.Is(err, store.ErrNotFound) {
		hash, err := hasher.Hash(ctx, demoPassword)
		if err != nil {
			return err
		}
		now := st.Now()
		if err := st.CreateUser(ctx, &store.User{Username: demoUser, PasswordHash: hash}, &store.Phone{Number: demoPhone, VerifiedAt: &now}); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("dev: create demo user: %w", err)
		}
	} else if err != nil {
		return err
	}
	redirect := cfg.Issuer + "/demo/callback"
	if _, err := st.Client(ctx, demoClient); errors.Is(err, store.ErrNotFound) {
		err := st.CreateClient(ctx, store.NewClient{
			ID: demoClient, Name: "Demo app", Public: true, FirstParty: false,
			RedirectURIs: []string{redirect}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile", "phone", "offline_access"},
			TokenEndpointAuthMethod: "none",
		})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("dev: create demo client: %w", err)
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, `
  Development mode. Nothing here is fit for production.

  1. Open %s/demo in a browser and press "Sign in".
  2. Sign in as %q with the password %q.
  3. The SMS PIN is printed below in this terminal; type it in.
  4. The demo app shows the ID token (with amr = pwd, sms, mfa) and userinfo.

  Discovery: %s/.well-known/openid-configuration
  Database:  %s (secret kept beside it)
  Add users: echo 'a-long-password' | go run ./cmd/idp users create --username alice --phone +819012345678 --password-stdin

`, cfg.Issuer, demoUser, demoPassword, cfg.Issuer, redactedDB(cfg.Database.URL))
	return nil
}

func redactedDB(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}
