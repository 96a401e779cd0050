// Command idp is an OpenID Provider whose second factor is an SMS PIN.
//
//	idp serve [--dev] [--config FILE]    run the provider
//	idp migrate                          apply database migrations
//	idp users create ...                 add a user
//	idp clients create ...               register a relying party
//	idp keys rotate                      make a new signing key
//
// Settings come from defaults, an optional YAML file, IDP_* environment
// variables and flags, in that order; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "idp:", err)
			fmt.Fprintln(os.Stderr, "run 'idp help' for usage")
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "idp:", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `idp: an OpenID Provider with an SMS PIN second factor

Usage:
  idp serve [--dev] [--config FILE] [--listen ADDR] [--issuer URL] [--database-url URL]
  idp migrate [--config FILE]
  idp users create --username NAME [--phone E164] [--phone-verified] --password-stdin
  idp users sessions --username NAME                 list a user's sign-in sessions
  idp users sessions revoke (--id SID | --username NAME --all)
  idp users unlock --username NAME                   lift a sign-in throttle
  idp audit [--username NAME] [--event E] [--outcome O] [--since 24h] [--limit N]
  idp clients create --id ID --redirect-uri URI [--redirect-uri URI ...] [--public]
                     [--scope "openid profile phone offline_access"] [--grant-type TYPE ...]
                     [--post-logout-redirect-uri URI] [--first-party] [--name NAME]
                     [--token-endpoint-auth-method client_secret_basic|client_secret_post|private_key_jwt --jwks FILE]
                     [--require-par] [--id-token-signed-response-alg RS256|ES256] [--logo-uri URL]
  idp keys rotate [--alg RS256|ES256]
  idp sms holds    list the sends held by the SMS-pumping guard or the budget
  idp sms holds lift --scope prefix:+8190123|country:+81|budget:YYYY-MM-DD [--by NAME]
  idp config       print the effective settings (secrets masked)

Every command takes --config FILE; settings are also read from IDP_* variables.
`

// run dispatches a command line; it is main without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stdout, stderr)
	case "users":
		switch {
		case len(args) > 1 && args[1] == "create":
			return cmdUsersCreate(ctx, args[2:], stdin, stdout, stderr)
		case len(args) > 2 && args[1] == "sessions" && args[2] == "revoke":
			return cmdSessionsRevoke(ctx, args[3:], stdout, stderr)
		case len(args) > 1 && args[1] == "sessions":
			return cmdSessionsList(ctx, args[2:], stdout, stderr)
		case len(args) > 1 && args[1] == "unlock":
			return cmdUsersUnlock(ctx, args[2:], stdout, stderr)
		}
		return usageError{"users: the subcommands are create, sessions, sessions revoke, unlock"}
	case "clients":
		if len(args) > 1 && args[1] == "create" {
			return cmdClientsCreate(ctx, args[2:], stdout, stderr)
		}
		return usageError{"clients: the subcommand is create"}
	case "keys":
		if len(args) > 1 && args[1] == "rotate" {
			return cmdKeysRotate(ctx, args[2:], stdout, stderr)
		}
		return usageError{"keys: the subcommand is rotate"}
	case "config":
		return cmdConfig(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(ctx, args[1:], stdout, stderr)
	case "sms":
		switch {
		case len(args) > 2 && args[1] == "holds" && args[2] == "lift":
			return cmdSMSLift(ctx, args[3:], stdout, stderr)
		case len(args) > 1 && args[1] == "holds":
			return cmdSMSHolds(ctx, args[2:], stdout, stderr)
		}
		return usageError{"sms: the subcommands are holds, holds lift"}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
