package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/smspin/idp/mfa/sms"
)

// adminHandler serves the admin listener: /metrics in the Prometheus text
// format, and, when IDP_ADMIN_TOKEN is set, the admin API behind it as a
// bearer token.
func (a *app) adminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /metrics", a.handleMetrics)
	if token != "" {
		auth := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
					w.Header().Set("WWW-Authenticate", `Bearer realm="idp-admin"`)
					http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
					return
				}
				h(w, r)
			}
		}
		mux.HandleFunc("GET /admin/v1/sms/deliveries", auth(a.handleDeliveries))
		mux.HandleFunc("GET /admin/v1/sms/holds", auth(a.handleHolds))
		mux.HandleFunc("POST /admin/v1/sms/holds/lift", auth(a.handleLiftHold))
	}
	return mux
}

// handleDeliveries answers "did the SMS go out?": the newest sends, with
// provider, provider message id and status, numbers masked.
func (a *app) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			http.Error(w, `{"error":"limit must be 1 to 1000"}`, http.StatusBadRequest)
			return
		}
		limit = n
	}
	list, err := a.mfa.RecentDeliveries(r.Context(), limit)
	if err != nil {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"deliveries": list})
}

func (a *app) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writeCounter(w, "idp_events_total", "Login and protocol events.", "event", a.server.Counters())
	writeCounter(w, "idp_sms_challenges_total", "SMS challenge outcomes; sent against verified shows SMS pumping.", "event", a.mfa.Counters())
	if a.chain != nil {
		fmt.Fprintln(w, "# HELP idp_sms_provider_attempts_total Sends tried per provider and outcome (failover included).")
		fmt.Fprintln(w, "# TYPE idp_sms_provider_attempts_total counter")
		att := a.chain.Attempts()
		keys := make([]sms.Attempt, 0, len(att))
		for k := range att {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].Provider+keys[i].Outcome < keys[j].Provider+keys[j].Outcome })
		for _, k := range keys {
			fmt.Fprintf(w, "idp_sms_provider_attempts_total{provider=%q,outcome=%q} %d\n", k.Provider, k.Outcome, att[k])
		}
	}
}

func writeCounter(w http.ResponseWriter, name, help, label string, values map[string]int64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%q} %d\n", name, label, k, values[k])
	}
}
