package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/store"
)

// Links the operator hands to a user: their lifetimes by default.
const (
	invitationTTL = 7 * 24 * time.Hour
	resetTTL      = time.Hour
)

// newInvitation makes a user's invitation link (replacing an older one)
// and records it in the audit log.
func newInvitation(ctx context.Context, st *store.Store, issuer string, u *store.User, ttl time.Duration) (string, time.Time, error) {
	token, l, err := st.CreateLink(ctx, u.ID, store.LinkInvitation, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	st.Audit(ctx, store.AuditEvent{Event: "invitation.created", Outcome: "ok", UserID: u.ID, Username: u.Username,
		Detail: "by operator, valid until " + l.ExpiresAt.Format(time.RFC3339)})
	return idp.InvitationURL(issuer, token), l.ExpiresAt, nil
}

// cmdUsersInvite makes a new invitation link for a user without a phone:
// the only way to enrol a first number. An older link stops working.
func cmdUsersInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users invite", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "the user (required)")
	validFor := sinceFlag(invitationTTL)
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
	u, err := userByName(ctx, st, *username)
	if err != nil {
		return fmt.Errorf("users invite: no user %q", *username)
	}
	phone, err := st.PhoneOf(ctx, u.ID)
	if err != nil {
		return err
	}
	if phone != nil {
		return fmt.Errorf("users invite: %s has a phone already; an invitation is only for enrolling a first one", u.Username)
	}
	link, until, err := newInvitation(ctx, st, cfg.Issuer, u, time.Duration(validFor))
	if err != nil {
		return err
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
	validFor := sinceFlag(resetTTL)
	fs.Var(&validFor, "valid-for", "how long the link works, such as 30m or 1h (at most 24h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *username == "":
		return usageError{"users reset-password: --username is required"}
	case time.Duration(validFor) > 24*time.Hour:
		return usageError{"users reset-password: --valid-for is at most 24h: a reset link is as good as the password"}
	}
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	u, err := userByName(ctx, st, *username)
	if err != nil {
		return fmt.Errorf("users reset-password: no user %q", *username)
	}
	token, l, err := st.CreateLink(ctx, u.ID, store.LinkPasswordReset, time.Duration(validFor))
	if err != nil {
		return err
	}
	st.Audit(ctx, store.AuditEvent{Event: "password_reset.created", Outcome: "ok", UserID: u.ID, Username: u.Username,
		Detail: "by operator, valid until " + l.ExpiresAt.Format(time.RFC3339)})
	return printJSON(stdout, map[string]any{"username": u.Username, "reset_url": idp.ResetURL(cfg.Issuer, token), "expires_at": l.ExpiresAt})
}
