package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
)

// byOperator names the CLI's actions in the audit log.
const byOperator = "operator"

// newService is the operator service on st (nil until the store is
// open). It hashes no passwords until given a hasher (users create).
func newService(cfg config.Config, st *store.Store) *admin.Service {
	return &admin.Service{Store: st, Issuer: cfg.Issuer, Phones: phonePolicy(cfg)}
}

// hasherFor is the password hasher of the settings.
func hasherFor(cfg config.Config) *password.Hasher {
	return password.New(password.Params{Memory: cfg.Password.Memory, Time: cfg.Password.Time, Threads: cfg.Password.Threads}, 1)
}

// cliError turns a refusal of the service into a usage error (exit 2)
// naming the command; anything else keeps its kind.
func cliError(cmd string, err error) error {
	if ie, ok := errors.AsType[*admin.InputError](err); ok {
		return usageError{cmd + ": " + ie.Msg}
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s: %s", cmd, userFacing(err))
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// userFacing is what a service error says before the store's wrapping:
// "no user \"x\"", "client id \"y\" is taken".
func userFacing(err error) string {
	msg, _, _ := strings.Cut(err.Error(), ": store:")
	return msg
}
