package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/store"
)

// cmdAudit prints security events, newest first, one JSON object a line.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "only this user's events")
	event := fs.String("event", "", `only this event (e.g. pin.verify), or a family ending in "." (e.g. pin.)`)
	outcome := fs.String("outcome", "", "only this outcome (ok, failed, refused, throttled, exhausted, ...)")
	since := fs.Duration("since", 0, "only events of the last DURATION (e.g. 24h)")
	limit := fs.Int("limit", 100, "at most this many events (1-10000)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usageError{"audit: --limit must be 1 to 10000"}
	}
	if *since < 0 {
		return usageError{"audit: --since must be positive"}
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	f := store.AuditFilter{Event: *event, Outcome: *outcome, Limit: *limit}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	if *username != "" {
		u, err := st.UserByUsername(ctx, *username)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("audit: no user %q", *username)
		}
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	events, err := st.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

// cmdUsersUnlock lifts the sign-in throttle of an account.
func cmdUsersUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users unlock", stderr)
	var sf settingFlags
	sf.register(fs)
	username := fs.String("username", "", "the user (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		return usageError{"users unlock: --username is required"}
	}
	st, closeFn, u, err := openForUser(ctx, &sf, stderr, *username)
	if err != nil {
		return err
	}
	defer closeFn()
	n, err := st.ThrottleReset(ctx, idp.AccountThrottleKey(u.Username))
	if err != nil {
		return err
	}
	st.Audit(ctx, store.AuditEvent{Event: "account.unlocked", Outcome: "ok", UserID: u.ID, Username: u.Username, Detail: "by operator"})
	return printJSON(stdout, map[string]any{"username": u.Username, "was_throttled": n > 0})
}
