package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// cmdSMSHolds lists the holds of the SMS-pumping guard and the budget.
func cmdSMSHolds(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sms holds", stderr)
	var sf settingFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	hs, err := (&mfa.Service{Store: st}).Holds(ctx)
	if err != nil {
		return err
	}
	if hs == nil {
		hs = []mfa.Hold{}
	}
	return printJSON(stdout, map[string]any{"holds": hs})
}

// cmdSMSLift lifts a hold: sends to the prefix, country or day's budget
// go out again, and a prefix's conversion is judged afresh from now.
func cmdSMSLift(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sms holds lift", stderr)
	var sf settingFlags
	sf.register(fs)
	scope := fs.String("scope", "", `the hold, as "idp sms holds" names it (prefix:+8190123, country:+81, budget:2026-12-02), or a bare prefix +8190123`)
	by := fs.String("by", "cli", "who lifts it, for the audit log")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *scope == "" {
		return usageError{"sms holds lift: --scope is required"}
	}
	_, st, closeStore, err := openFromFlags(ctx, &sf, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	lifted, err := liftHold(ctx, st, *scope, *by)
	if err != nil {
		return err
	}
	if !lifted {
		return fmt.Errorf("sms holds lift: %q is not held (see idp sms holds)", *scope)
	}
	return printJSON(stdout, map[string]any{"scope": *scope, "lifted": true})
}

// liftHold lifts a hold and audits it.
func liftHold(ctx context.Context, st *store.Store, scope, by string) (bool, error) {
	scope = mfa.HoldScope(scope)
	lifted, err := (&mfa.Service{Store: st}).LiftHold(ctx, scope, by)
	if err != nil || !lifted {
		return lifted, err
	}
	return true, st.Audit(ctx, store.AuditEvent{Event: "sms.hold_lifted", Outcome: "ok", Detail: scope + " by " + by})
}

// handleHolds is GET /admin/v1/sms/holds.
func (a *app) handleHolds(w http.ResponseWriter, r *http.Request) {
	hs, err := a.mfa.Holds(r.Context())
	if err != nil {
		admin.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the database cannot be reached; try again shortly")
		return
	}
	if hs == nil {
		hs = []mfa.Hold{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"holds": hs})
}

// handleLiftHold is POST /admin/v1/sms/holds/lift with scope (and by) in
// a form.
func (a *app) handleLiftHold(w http.ResponseWriter, r *http.Request) {
	scope, by := r.PostFormValue("scope"), r.PostFormValue("by")
	if by == "" {
		by = "admin-api"
	}
	if scope == "" {
		admin.WriteError(w, http.StatusBadRequest, "invalid_request", "scope is required (a form field)")
		return
	}
	lifted, err := liftHold(r.Context(), a.store, scope, by)
	switch {
	case err != nil:
		admin.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the database cannot be reached; try again shortly")
	case !lifted:
		admin.WriteError(w, http.StatusNotFound, "not_found", "not held")
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"scope": scope, "lifted": true})
	}
}
