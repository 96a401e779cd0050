package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/admin"
)

// userCmd is a users command that acts on one user named by --username
// (a username or a user id).
func userCmd(ctx context.Context, name string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet),
	do func(svc *admin.Service, user string) (any, error)) error {
	return oneCmd(ctx, name, "username", "the user, by username or id (required)", args, stdout, stderr, extra,
		func(svc *admin.Service, user string, _ *flag.FlagSet) (any, error) { return do(svc, user) })
}

// clientCmd is a clients command that acts on one client named by --id.
func clientCmd(ctx context.Context, name string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet),
	do func(svc *admin.Service, id string, fs *flag.FlagSet) (any, error)) error {
	return oneCmd(ctx, name, "id", "the client id (required)", args, stdout, stderr, extra, do)
}

// oneCmd parses a command that acts on the one thing its required flag
// names, opens the store, runs do through the admin service and prints
// its answer as JSON.
func oneCmd(ctx context.Context, name, flagName, flagHelp string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet),
	do func(svc *admin.Service, target string, fs *flag.FlagSet) (any, error)) error {
	fs := newFlagSet(name, stderr)
	var sf settingFlags
	sf.register(fs)
	target := fs.String(flagName, "", flagHelp)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *target == "" {
		return usageError{fmt.Sprintf("%s: --%s is required", name, flagName)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	out, err := do(newService(cfg, st), *target, fs)
	if err != nil {
		return cliError(name, err)
	}
	return printJSON(stdout, out)
}

// cmdUsersList prints users in username order, one JSON object a line;
// when there are more, the --after of the next page goes to stderr.
func cmdUsersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users list", stderr)
	var sf settingFlags
	sf.register(fs)
	search := fs.String("search", "", "only users whose username or phone number contains this (or whose id it is)")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most this many users (1-%d)", admin.MaxPage))
	after := fs.String("after", "", "start after this username (the next page)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > admin.MaxPage {
		return usageError{fmt.Sprintf("users list: --limit must be 1 to %d", admin.MaxPage)}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	list, next, err := newService(cfg, st).ListUsers(ctx, *search, *after, *limit)
	if err != nil {
		return cliError("users list", err)
	}
	enc := json.NewEncoder(stdout)
	for _, u := range list {
		if err := enc.Encode(u); err != nil {
			return err
		}
	}
	if next != "" {
		fmt.Fprintf(stderr, "more users: idp users list --after %q\n", next)
	}
	return nil
}

func cmdUsersShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return userCmd(ctx, "users show", args, stdout, stderr, nil, func(svc *admin.Service, user string) (any, error) {
		return svc.ShowUser(ctx, user)
	})
}

func cmdUsersDisable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return userCmd(ctx, "users disable", args, stdout, stderr, nil, func(svc *admin.Service, user string) (any, error) {
		u, n, err := svc.Disable(ctx, user, byOperator)
		if err != nil {
			return nil, err
		}
		return map[string]any{"user": u, "sessions_ended": n}, nil
	})
}

func cmdUsersEnable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return userCmd(ctx, "users enable", args, stdout, stderr, nil, func(svc *admin.Service, user string) (any, error) {
		return svc.Enable(ctx, user, byOperator)
	})
}

func cmdUsersDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var yes *bool
	return userCmd(ctx, "users delete", args, stdout, stderr, func(fs *flag.FlagSet) {
		yes = fs.Bool("yes", false, "really delete: the user, their phone, sessions, tokens and links go for good (required)")
	}, func(svc *admin.Service, user string) (any, error) {
		if !*yes {
			return nil, &admin.InputError{Msg: "deleting a user cannot be undone: add --yes (or disable the user instead)"}
		}
		u, err := svc.Delete(ctx, user, byOperator)
		if err != nil {
			return nil, err
		}
		return map[string]any{"deleted": true, "id": u.ID, "username": u.Username}, nil
	})
}

func cmdUsersPhone(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"users phone: give set or clear"}
	}
	switch args[0] {
	case "set":
		var number *string
		var verified *bool
		return userCmd(ctx, "users phone set", args[1:], stdout, stderr, func(fs *flag.FlagSet) {
			number = fs.String("number", "", "the mobile number, e.g. +819012345678 (required)")
			verified = fs.Bool("verified", false, "the operator vouches for the number: no first-login proof")
		}, func(svc *admin.Service, user string) (any, error) {
			if *number == "" {
				return nil, &admin.InputError{Msg: "--number is required"}
			}
			return svc.SetPhone(ctx, user, *number, *verified, byOperator)
		})
	case "clear":
		return userCmd(ctx, "users phone clear", args[1:], stdout, stderr, nil, func(svc *admin.Service, user string) (any, error) {
			return svc.ClearPhone(ctx, user, byOperator)
		})
	}
	if isHelp(args[0]) {
		return dispatch(ctx, []string{"users", "--help"}, nil, stdout, stderr)
	}
	return usageError{fmt.Sprintf("users phone: unknown subcommand %q; give set or clear", args[0])}
}

func cmdUsersRemoveFactor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var factor *string
	return userCmd(ctx, "users remove-factor", args, stdout, stderr, func(fs *flag.FlagSet) {
		factor = fs.String("factor", "", "recovery_codes, trusted_devices, totp or passkeys (required; the phone: users phone clear)")
	}, func(svc *admin.Service, user string) (any, error) {
		n, err := svc.RemoveFactor(ctx, user, *factor, byOperator)
		if err != nil {
			return nil, err
		}
		return map[string]any{"factor": *factor, "removed": n}, nil
	})
}

// cmdClientsList prints every client, one JSON object a line.
func cmdClientsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clients list", stderr)
	var sf settingFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := newService(cfg, st).ListClients(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, c := range list {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return nil
}

func cmdClientsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return clientCmd(ctx, "clients show", args, stdout, stderr, nil, func(svc *admin.Service, id string, _ *flag.FlagSet) (any, error) {
		return svc.ShowClient(ctx, id)
	})
}

func cmdClientsUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, logo, scope *string
	var redirects, postLogout, grants, exchangeAud multiFlag
	return clientCmd(ctx, "clients update", args, stdout, stderr, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "name shown on the consent page")
		logo = fs.String("logo-uri", "", `https URL of the client's logo ("" removes it)`)
		scope = fs.String("scope", "", `scopes the client may ask for, e.g. "openid profile"`)
		fs.Var(&redirects, "redirect-uri", "redirect URI, exact match (repeatable; replaces them all)")
		fs.Var(&postLogout, "post-logout-redirect-uri", "where logout may return (repeatable; replaces them all)")
		fs.Var(&grants, "grant-type", "authorization_code, refresh_token, client_credentials or "+idp.DeviceGrantType+" or "+idp.TokenExchangeGrantType+" (repeatable; replaces them all)")
		fs.Var(&exchangeAud, "token-exchange-audience", "a client id or resource server URI this client may ask tokens for by token exchange (repeatable; replaces them all; \"\" for none)")
	}, func(svc *admin.Service, id string, fs *flag.FlagSet) (any, error) {
		var ch admin.ClientChange
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				ch.Name = name
			case "logo-uri":
				ch.LogoURI = logo
			case "scope":
				sc := strings.Fields(*scope)
				ch.Scopes = &sc
			case "redirect-uri":
				v := []string(redirects)
				ch.RedirectURIs = &v
			case "post-logout-redirect-uri":
				v := []string(postLogout)
				ch.PostLogoutRedirectURIs = &v
			case "grant-type":
				v := []string(grants)
				ch.GrantTypes = &v
			case "token-exchange-audience":
				v := []string{}
				for _, a := range exchangeAud {
					if a != "" {
						v = append(v, a)
					}
				}
				ch.TokenExchangeAudiences = &v
			}
		})
		return svc.UpdateClient(ctx, id, ch, flagNames, byOperator)
	})
}

func cmdClientsRotateSecret(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return clientCmd(ctx, "clients rotate-secret", args, stdout, stderr, nil, func(svc *admin.Service, id string, _ *flag.FlagSet) (any, error) {
		secret, err := svc.RotateSecret(ctx, id, byOperator)
		if err != nil {
			return nil, err
		}
		return map[string]string{"client_id": id, "client_secret": secret}, nil
	})
}

func cmdClientsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var yes *bool
	return clientCmd(ctx, "clients delete", args, stdout, stderr, func(fs *flag.FlagSet) {
		yes = fs.Bool("yes", false, "really delete: the client, its consents and every token issued to it go for good (required)")
	}, func(svc *admin.Service, id string, _ *flag.FlagSet) (any, error) {
		if !*yes {
			return nil, &admin.InputError{Msg: "deleting a client cannot be undone: add --yes"}
		}
		if err := svc.DeleteClient(ctx, id, byOperator); err != nil {
			return nil, err
		}
		return map[string]any{"client_id": id, "deleted": true}, nil
	})
}

// cmdKeysList prints the signing keys, newest first.
func cmdKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys list", stderr)
	var sf settingFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := newService(cfg, st).Keys(ctx)
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"keys": list})
}
