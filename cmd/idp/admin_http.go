package main

import (
	"crypto/subtle"
	"log/slog"

	"encoding/json"
	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"
)

// adminHandler serves the admin listener: /metrics (Prometheus), and,
// when IDP_ADMIN_TOKEN is set, the admin API behind it as a bearer token.
// On a listener others can reach (not loopback) /metrics needs the token
// too: it tells how many people sign in and which SMS provider fails.
func (a *app) adminHandler(cfg config.Config, logger *slog.Logger, loopback bool) http.Handler {
	token := cfg.Admin.Token
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	auth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="idp-admin"`)
				admin.WriteError(w, http.StatusUnauthorized, "unauthorized", "this needs the bearer token IDP_ADMIN_TOKEN")
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
		mux.Handle(admin.Prefix+"/", a.adminAPI(cfg, logger))
	}
	return a.metrics.Wrap("admin", mux)
}

// adminAPI is the admin API: the operator service's routes and the SMS
// ones.
func (a *app) adminAPI(cfg config.Config, logger *slog.Logger) *admin.API {
	svc := newService(cfg, a.store)
	svc.Passwords = a.passwords
	api := admin.NewAPI(svc, cfg.Admin.Token, logger)
	api.Route("POST /keys/rotate", func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Alg string `json:"alg"`
		}
		if err := admin.DecodeOptional(r, &body); err != nil {
			return err
		}
		if body.Alg == "" {
			body.Alg = cfg.Keys.SigningAlg
		}
		if body.Alg != keys.RS256 && body.Alg != keys.ES256 {
			return admin.Invalid("alg must be RS256 or ES256")
		}
		kid, err := a.keys.Rotate(r.Context(), body.Alg)
		if err != nil {
			return err
		}
		if err := a.store.Audit(r.Context(), store.AuditEvent{Event: "key.rotated", Outcome: "ok", Detail: body.Alg + " " + kid + " by " + admin.By}); err != nil {
			return err
		}
		admin.WriteJSON(w, http.StatusCreated, map[string]string{"kid": kid, "alg": body.Alg,
			"previous_key_published_until": time.Now().Add(a.keys.RetireAfter).UTC().Format(time.RFC3339)})
		return nil
	})
	api.Handle("GET /sms/deliveries", http.HandlerFunc(a.handleDeliveries))
	api.Handle("GET /sms/holds", http.HandlerFunc(a.handleHolds))
	api.Handle("POST /sms/holds/lift", http.HandlerFunc(a.handleLiftHold))
	return api
}

// handleDeliveries answers "did the SMS go out?": the newest sends, with
// provider, provider message id and status, numbers masked.
func (a *app) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			admin.WriteError(w, http.StatusBadRequest, "invalid_request", "limit must be 1 to 1000")
			return
		}
		limit = n
	}
	list, err := a.mfa.RecentDeliveries(r.Context(), limit)
	if err != nil {
		admin.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the database cannot be reached; try again shortly")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"deliveries": list})
}
