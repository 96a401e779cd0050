package main

import (
	"context"
	"io"
	"time"

	"github.com/smspin/idp/idp/admin"
)

// cmdUsersInvite makes a new invitation link for a user without a phone:
// the only way to enrol a first number. An older link stops working.
func cmdUsersInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users invite", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "the user (required)")
	validFor := sinceFlag(admin.InvitationTTL)
	fs.Var(&validFor, "valid-for", "how long the link works, such as 48h or 7d")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		return usageError{"users invite: --username is required"}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	u, link, until, err := newService(cfg, st).Invite(ctx, *username, time.Duration(validFor), byOperator)
	if err != nil {
		return cliError("users invite", err)
	}
	return printJSON(stdout, map[string]any{"username": u.Username, "invitation_url": link, "expires_at": until})
}

// cmdUsersResetPassword makes a single-use link that sets a new password
// for a user (who then signs in with it and their phone as usual): the
// way on for a user without recovery codes. Using it ends every session
// of the user; an older link stops working.
func cmdUsersResetPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users reset-password", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "the user (required)")
	validFor := sinceFlag(admin.ResetTTL)
	fs.Var(&validFor, "valid-for", "how long the link works, such as 30m or 1h (at most 24h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *username == "":
		return usageError{"users reset-password: --username is required"}
	case time.Duration(validFor) > admin.MaxResetTTL:
		return usageError{"users reset-password: --valid-for is at most 24h: a reset link is as good as the password"}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	u, link, until, err := newService(cfg, st).ResetLink(ctx, *username, time.Duration(validFor), byOperator)
	if err != nil {
		return cliError("users reset-password", err)
	}
	return printJSON(stdout, map[string]any{"username": u.Username, "reset_url": link, "expires_at": until})
}
