package main

import (
	"context"
	"fmt"
	"io"

	"github.com/smspin/idp/idp/store"
)

func cmdSessionsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users sessions", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "the user (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		return usageError{"users sessions: --username is required"}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := newService(cfg, st).Sessions(ctx, *username)
	if err != nil {
		return cliError("users sessions", err)
	}
	return printJSON(stdout, map[string]any{"sessions": list})
}

func cmdSessionsRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users sessions revoke", stderr)
	var sf settingFlags
	sf.register(fs)
	id := fs.String("id", "", "the session to end")
	username := fs.String("username", "", "with --all: the user whose sessions to end")
	all := fs.Bool("all", false, "end every session of --username")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *id != "" && (*username != "" || *all):
		return usageError{"users sessions revoke: give --id, or --username with --all, not both"}
	case *id == "" && !(*username != "" && *all):
		return usageError{"users sessions revoke: give --id SID, or --username NAME --all"}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	svc := newService(cfg, st)
	if *id != "" {
		ended, err := svc.EndSession(ctx, *id, byOperator)
		if err != nil {
			return cliError("users sessions revoke", err)
		}
		return printJSON(stdout, map[string]any{"revoked": ended, "id": *id})
	}
	u, err := svc.FindUser(ctx, *username)
	if err != nil {
		return cliError("users sessions revoke", err)
	}
	n, err := svc.EndSessions(ctx, u.ID, byOperator)
	if err != nil {
		return cliError("users sessions revoke", err)
	}
	return printJSON(stdout, map[string]any{"revoked": n, "username": u.Username})
}

// userByName finds a user by a name as an operator typed it: in its
// normal form, as the user signs in. A name that has none is no user's.
func userByName(ctx context.Context, st *store.Store, typed string) (*store.User, error) {
	name, err := store.NormalizeUsername(typed)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", store.ErrNotFound, err)
	}
	return st.UserByUsername(ctx, name)
}
