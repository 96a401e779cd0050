package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/idp/admin"
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
	var since sinceFlag
	fs.Var(&since, "since", "only events of the last `DURATION`: 90m, 24h, 7d")
	limit := fs.Int("limit", 100, "at most this many events (1-10000)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usageError{"audit: --limit must be 1 to 10000"}
	}
	if *event != "" {
		if msg := checkEventFilter(*event); msg != "" {
			return usageError{"audit: " + msg}
		}
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	f := store.AuditFilter{Event: *event, Outcome: *outcome, Limit: *limit}
	if since > 0 {
		f.Since = time.Now().Add(-time.Duration(since))
	}
	if *username != "" {
		u, err := userByName(ctx, st, *username)
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

// sinceFlag is a positive duration in Go's syntax, or whole days ("7d").
type sinceFlag time.Duration

func (s *sinceFlag) String() string { return time.Duration(*s).String() }

func (s *sinceFlag) Set(v string) error {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3660 {
			*s = sinceFlag(time.Duration(n) * 24 * time.Hour)
			return nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("not a length of time: give one such as 90m, 24h or 7d")
	}
	*s = sinceFlag(d)
	return nil
}

// checkEventFilter refuses an --event that can match nothing, naming the
// events there are.
func checkEventFilter(event string) string {
	if msg := admin.CheckEventFilter(event); msg != "" {
		return "--" + msg
	}
	return ""
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
	cfg, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	u, was, err := newService(cfg, st).Unlock(ctx, *username, byOperator)
	if err != nil {
		return cliError("users unlock", err)
	}
	return printJSON(stdout, map[string]any{"username": u.Username, "was_throttled": was})
}
