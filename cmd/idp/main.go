// Command idp is an OpenID Provider whose second factor is an SMS PIN.
//
//	idp serve [--dev] [--config FILE]    run the provider
//	idp migrate                          apply database migrations
//	idp users create ...                 add a user
//	idp users import FILE                add many users from JSON lines or CSV
//	idp clients create ...               register a relying party
//	idp keys rotate                      make a new signing key
//	idp sms test --to NUMBER             send one PIN message, report each provider's answer
//	idp version                          print the version
//
// Settings come from defaults, an optional YAML file, IDP_* environment
// variables and flags, in that order; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
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
			fmt.Fprintln(os.Stderr, "run 'idp help' for the commands, 'idp COMMAND --help' for a command's flags")
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "idp:", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// helpRequested is returned by parse for -h, -help and --help: run prints
// the command's synopsis and flags on stdout and exits 0.
type helpRequested struct{ fs *flag.FlagSet }

func (helpRequested) Error() string { return "help requested" }

// synopses gives each command's usage lines, by the name of its flag set;
// the overview (idp help) lists them all, in this order.
var synopses = []struct{ name, text string }{
	{"serve", "idp serve [--dev] [--config FILE] [--listen ADDR] [--issuer URL] [--database-url URL]"},
	{"migrate", "idp migrate [--config FILE]"},
	{"users create", "idp users create --username NAME [--phone E164] [--phone-verified] [--locale en|ja]\n                 (--password-stdin | --password-hash-stdin)"},
	{"users import", "idp users import [--batch N] [--hash-workers N] [--progress auto|bar|lines|off] FILE|-\n                 (JSON lines or CSV with the columns username, phone, phone_verified, password | password_hash)"},
	{"users list", "idp users list [--search TEXT] [--limit N] [--after USERNAME]   one JSON object a line"},
	{"users show", "idp users show --username NAME|ID                  a user, their phone and factors"},
	{"users disable", "idp users disable --username NAME|ID               no more sign-in; sessions and tokens end now"},
	{"users enable", "idp users enable --username NAME|ID"},
	{"users delete", "idp users delete --username NAME|ID --yes          the user and all of theirs, for good"},
	{"users phone set", "idp users phone set --username NAME|ID --number E164 [--verified]"},
	{"users phone clear", "idp users phone clear --username NAME|ID          prints a new invitation link"},
	{"users remove-factor", "idp users remove-factor --username NAME|ID --factor recovery_codes|trusted_devices|totp|passkeys"},
	{"users sessions", "idp users sessions --username NAME                 list a user's sign-in sessions"},
	{"users sessions revoke", "idp users sessions revoke (--id SID | --username NAME --all)"},
	{"users unlock", "idp users unlock --username NAME                   lift a sign-in throttle"},
	{"users invite", "idp users invite --username NAME [--valid-for 7d]  a new invitation link to enrol a first phone"},
	{"users reset-password", "idp users reset-password --username NAME [--valid-for 1h]   a single-use link that sets a new password"},
	{"audit", "idp audit [--username NAME] [--event E] [--outcome O] [--since 24h|7d] [--limit N]"},
	{"clients create", `idp clients create --id ID --redirect-uri URI [--redirect-uri URI ...] [--public]
                   [--scope "openid profile phone offline_access"] [--grant-type TYPE ...]
                   [--post-logout-redirect-uri URI] [--first-party] [--name NAME]
                   [--token-endpoint-auth-method client_secret_basic|client_secret_post|private_key_jwt --jwks FILE]
                   [--require-par] [--id-token-signed-response-alg RS256|ES256] [--logo-uri URL]
                   [--resource-server-for CLIENT ...] [--backchannel-logout-uri URI]
                   [--frontchannel-logout-uri URI]
                   [--access-token-format opaque|jwt] [--access-token-lifespan 5m]`},
	{"clients list", "idp clients list                                  one JSON object a line"},
	{"clients show", "idp clients show --id ID"},
	{"clients update", "idp clients update --id ID [--name NAME] [--logo-uri URL] [--redirect-uri URI ...]\n                   [--post-logout-redirect-uri URI ...] [--scope \"openid ...\"] [--grant-type TYPE ...]"},
	{"clients rotate-secret", "idp clients rotate-secret --id ID                 a new secret, shown once; the old one stops working"},
	{"clients delete", "idp clients delete --id ID --yes                  the client, its consents and tokens"},
	{"logouts", "idp logouts [--status pending|delivered|failed] [--client-id ID] [--limit N]\n                                                 back-channel logout deliveries"},
	{"keys list", "idp keys list                                    the signing keys, newest first"},
	{"keys rotate", "idp keys rotate [--alg RS256|ES256]"},
	{"sms test", "idp sms test --to NUMBER [--provider NAME] [--locale en|ja]   send one PIN message, report each provider's answer"},
	{"sms holds", "idp sms holds                                    the sends held by the SMS-pumping guard or the budget"},
	{"sms holds lift", "idp sms holds lift --scope prefix:+8190123|country:+81|budget:YYYY-MM-DD [--by NAME]"},
	{"config", "idp config                                       print the effective settings (secrets masked)"},
	{"version", "idp version [--json]                             module version, commit and build date"},
}

func synopsis(name string) string {
	for _, s := range synopses {
		if s.name == name {
			return s.text
		}
	}
	return "idp " + name
}

// overview is the usage of idp as a whole; group (e.g. "users") limits it
// to one family of commands.
func overview(group string) string {
	var b strings.Builder
	if group == "" {
		b.WriteString("idp: an OpenID Provider with an SMS PIN second factor\n\n")
	}
	b.WriteString("Usage:\n")
	for _, s := range synopses {
		if group == "" || s.name == group || strings.HasPrefix(s.name, group+" ") {
			b.WriteString("  " + strings.ReplaceAll(s.text, "\n", "\n  ") + "\n")
		}
	}
	b.WriteString("\nEvery command takes --config FILE; settings are also read from IDP_* variables.\n")
	b.WriteString("'idp COMMAND --help' shows a command's flags.\n")
	return b.String()
}

// printFlags lists a command's flags the way the synopses spell them
// (--name VALUE), with their defaults.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if kind != "" {
			head += " " + strings.ToUpper(kind)
		}
		fmt.Fprintf(w, "%s\n      %s", head, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// run dispatches a command line; it is main without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if h, ok := errors.AsType[helpRequested](err); ok {
		fmt.Fprintf(stdout, "Usage:\n  %s\n\nFlags:\n", strings.ReplaceAll(synopsis(h.fs.Name()), "\n", "\n  "))
		printFlags(stdout, h.fs)
		return nil
	}
	return err
}

// group runs the subcommand of a command family (users, clients, keys,
// sms) named by args[0], or prints the family's usage for help.
func group(name string, args []string, stdout io.Writer, subs map[string]func([]string) error) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			return usageError{fmt.Sprintf("%s: give a subcommand: %s", name, subNames(subs))}
		}
		fmt.Fprint(stdout, overview(name))
		return nil
	}
	if f, ok := subs[args[0]]; ok {
		return f(args[1:])
	}
	return usageError{fmt.Sprintf("%s: unknown subcommand %q; the subcommands are %s", name, args[0], subNames(subs))}
}

func subNames(subs map[string]func([]string) error) string {
	names := slices.Sorted(maps.Keys(subs))
	return strings.Join(names, ", ")
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, overview(""))
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stdout, stderr)
	case "users":
		return group("users", args[1:], stdout, map[string]func([]string) error{
			"create": func(a []string) error { return cmdUsersCreate(ctx, a, stdin, stdout, stderr) },
			"import": func(a []string) error { return cmdUsersImport(ctx, a, stdin, stdout, stderr) },
			"sessions": func(a []string) error {
				if len(a) > 0 && a[0] == "revoke" {
					return cmdSessionsRevoke(ctx, a[1:], stdout, stderr)
				}
				return cmdSessionsList(ctx, a, stdout, stderr)
			},
			"unlock":         func(a []string) error { return cmdUsersUnlock(ctx, a, stdout, stderr) },
			"list":           func(a []string) error { return cmdUsersList(ctx, a, stdout, stderr) },
			"show":           func(a []string) error { return cmdUsersShow(ctx, a, stdout, stderr) },
			"disable":        func(a []string) error { return cmdUsersDisable(ctx, a, stdout, stderr) },
			"enable":         func(a []string) error { return cmdUsersEnable(ctx, a, stdout, stderr) },
			"delete":         func(a []string) error { return cmdUsersDelete(ctx, a, stdout, stderr) },
			"phone":          func(a []string) error { return cmdUsersPhone(ctx, a, stdout, stderr) },
			"remove-factor":  func(a []string) error { return cmdUsersRemoveFactor(ctx, a, stdout, stderr) },
			"invite":         func(a []string) error { return cmdUsersInvite(ctx, a, stdout, stderr) },
			"reset-password": func(a []string) error { return cmdUsersResetPassword(ctx, a, stdout, stderr) },
		})
	case "clients":
		return group("clients", args[1:], stdout, map[string]func([]string) error{
			"create":        func(a []string) error { return cmdClientsCreate(ctx, a, stdout, stderr) },
			"list":          func(a []string) error { return cmdClientsList(ctx, a, stdout, stderr) },
			"show":          func(a []string) error { return cmdClientsShow(ctx, a, stdout, stderr) },
			"update":        func(a []string) error { return cmdClientsUpdate(ctx, a, stdout, stderr) },
			"rotate-secret": func(a []string) error { return cmdClientsRotateSecret(ctx, a, stdout, stderr) },
			"delete":        func(a []string) error { return cmdClientsDelete(ctx, a, stdout, stderr) },
		})
	case "keys":
		return group("keys", args[1:], stdout, map[string]func([]string) error{
			"rotate": func(a []string) error { return cmdKeysRotate(ctx, a, stdout, stderr) },
			"list":   func(a []string) error { return cmdKeysList(ctx, a, stdout, stderr) },
		})
	case "sms":
		return group("sms", args[1:], stdout, map[string]func([]string) error{
			"test": func(a []string) error { return cmdSMSTest(ctx, a, stdout, stderr) },
			"holds": func(a []string) error {
				if len(a) > 0 && a[0] == "lift" {
					return cmdSMSLift(ctx, a[1:], stdout, stderr)
				}
				return cmdSMSHolds(ctx, a, stdout, stderr)
			},
		})
	case "config":
		return cmdConfig(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		return cmdVersion(ctx, args[1:], stdout, stderr)
	case "logouts":
		return cmdLogouts(ctx, args[1:], stdout, stderr)
	}
	if isHelp(args[0]) {
		if len(args) > 1 {
			// idp help users create: the same as idp users create --help.
			return dispatch(ctx, append(args[1:], "--help"), stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, overview(""))
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
