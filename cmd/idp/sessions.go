package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/smspin/idp/idp/store"
)

type sessionJSON struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created_at"`
	LastSeen   time.Time `json:"last_seen_at"`
	AuthTime   time.Time `json:"auth_time"`
	MFATime    time.Time `json:"mfa_time"`
	Expires    time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	AMR        string    `json:"amr"`
	Username   string    `json:"username"`
	UserID     string    `json:"user_id"`
	RevokedNow bool      `json:"revoked,omitempty"`
}

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
	st, closeFn, u, err := openForUser(ctx, &sf, stderr, *username)
	if err != nil {
		return err
	}
	defer closeFn()
	list, err := st.UserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	out := []sessionJSON{}
	for _, s := range list {
		out = append(out, sessionJSON{ID: s.ID, Created: s.CreatedAt, LastSeen: s.LastSeenAt, AuthTime: s.AuthTime, MFATime: s.MFATime,
			Expires: s.ExpiresAt, UserAgent: s.UserAgent, IP: s.IP, AMR: s.AMR, Username: u.Username, UserID: u.ID})
	}
	return printJSON(stdout, map[string]any{"sessions": out})
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
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	if *id != "" {
		if _, err := st.Session(ctx, *id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("users sessions revoke: no session %q", *id)
		}
		ended, err := st.RevokeSession(ctx, *id)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"revoked": ended, "id": *id})
	}
	u, err := userByName(ctx, st, *username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("users sessions revoke: no user %q", *username)
	}
	if err != nil {
		return err
	}
	n, err := st.RevokeUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"revoked": n, "username": u.Username})
}

// openForUser opens the store and loads a user by name.
func openForUser(ctx context.Context, sf *settingFlags, stderr io.Writer, username string) (*store.Store, func(), *store.User, error) {
	_, st, closeStore, err := openFromFlags(ctx, sf, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := userByName(ctx, st, username)
	if err != nil {
		closeStore()
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("no user %q", username)
		}
		return nil, nil, nil, err
	}
	return st, closeStore, u, nil
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
