package main

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
)

// adminHandler serves the admin listener: /metrics (Prometheus), and,
// when IDP_ADMIN_TOKEN is set, the admin API behind it as a bearer token.
// On a listener others can reach (not loopback) /metrics needs the token
// too: it tells how many people sign in and which SMS provider fails.
func (a *app) adminHandler(token string, loopback bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	auth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="idp-admin"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"unauthorized"}` + "\n"))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	if token != "" {
		// Profiles of a running server, for the operator chasing a slow or
		// hungry instance: behind the token, since they show its internals.
		mux.Handle("GET /debug/pprof/", auth(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", auth(http.HandlerFunc(pprof.Profile)))
	}
	if loopback {
		mux.Handle("GET /metrics", a.metrics.Handler())
	} else {
		mux.Handle("GET /metrics", auth(a.metrics.Handler()))
	}
	if token != "" {
		mux.Handle("GET /admin/v1/sms/deliveries", auth(http.HandlerFunc(a.handleDeliveries)))
		mux.Handle("GET /admin/v1/sms/holds", auth(http.HandlerFunc(a.handleHolds)))
		mux.Handle("POST /admin/v1/sms/holds/lift", auth(http.HandlerFunc(a.handleLiftHold)))
	}
	return a.metrics.Wrap("admin", mux)
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
