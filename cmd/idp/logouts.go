package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/smspin/idp/idp/store"
)

type logoutDeliveryJSON struct {
	ID            string     `json:"id"`
	ClientID      string     `json:"client_id"`
	SessionID     string     `json:"sid"`
	Subject       string     `json:"sub"`
	URI           string     `json:"uri"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastStatus    int        `json:"last_http_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// cmdLogouts prints the back-channel logout deliveries, newest first, one
// JSON object a line: which RP was told of which ended session, and how
// that went.
func cmdLogouts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logouts", stderr)
	var sf settingFlags
	sf.register(fs)
	status := fs.String("status", "", "only pending, delivered or failed (given up) deliveries")
	clientID := fs.String("client-id", "", "only this client's")
	limit := fs.Int("limit", 100, "at most this many (1-10000)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *status != "" && *status != store.DeliveryPending && *status != store.DeliveryDelivered && *status != store.DeliveryFailed:
		return usageError{"logouts: --status must be pending, delivered or failed"}
	case *limit < 1 || *limit > 10000:
		return usageError{"logouts: --limit must be 1 to 10000"}
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := st.LogoutDeliveries(ctx, *status, *clientID, *limit)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, d := range list {
		out := logoutDeliveryJSON{ID: d.ID, ClientID: d.ClientID, SessionID: d.SessionID, Subject: d.Subject, URI: d.URI,
			Status: d.Status, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt,
			DeliveredAt: d.DeliveredAt}
		if d.Status == store.DeliveryPending {
			next := d.NextAttemptAt
			out.NextAttemptAt = &next
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
