package main

import (
	"net/http"
	"strings"
	"testing"
)

// On an admin listener others can reach, /metrics needs the admin token;
// on the loopback it does not.
func TestMetricsNeedTheTokenOffLoopback(t *testing.T) {
	const token = "admin-token-0123456789"
	t.Run("every address, with a token", func(t *testing.T) {
		newCLI(t)
		t.Setenv("IDP_ADMIN_LISTEN", "0.0.0.0:0")
		t.Setenv("IDP_ADMIN_TOKEN", token)
		s := startServe(t, "--dev", "--listen", "127.0.0.1:0")
		if code, _ := get(t, loopbackURL(s.admin, "/metrics"), ""); code != http.StatusUnauthorized {
			t.Errorf("/metrics without the token: %d, want 401", code)
		}
		if code, _ := get(t, loopbackURL(s.admin, "/metrics"), "wrong-token-0123456789"); code != http.StatusUnauthorized {
			t.Errorf("/metrics with a wrong token: %d, want 401", code)
		}
		code, body := get(t, loopbackURL(s.admin, "/metrics"), token)
		if code != http.StatusOK || !strings.Contains(body, "idp_http_requests_total") {
			t.Errorf("/metrics with the token: %d\n%s", code, body)
		}
		if code, _ := get(t, loopbackURL(s.admin, "/debug/pprof/heap"), ""); code != http.StatusUnauthorized {
			t.Errorf("/debug/pprof/heap without the token: %d, want 401", code)
		}
		if code, body := get(t, loopbackURL(s.admin, "/debug/pprof/heap?debug=1"), token); code != http.StatusOK || !strings.Contains(body, "heap profile") {
			t.Errorf("/debug/pprof/heap with the token: %d\n%.200s", code, body)
		}
		if code, _ := get(t, loopbackURL(s.admin, "/healthz"), ""); code != http.StatusOK {
			t.Errorf("/healthz: %d, want 200 without a token", code)
		}
	})
	t.Run("every address, no token", func(t *testing.T) {
		newCLI(t)
		t.Setenv("IDP_ADMIN_LISTEN", "0.0.0.0:0")
		s := startServe(t, "--dev", "--listen", "127.0.0.1:0")
		if code, _ := get(t, loopbackURL(s.admin, "/metrics"), ""); code != http.StatusUnauthorized {
			t.Errorf("/metrics: %d, want 401", code)
		}
		if !strings.Contains(s.log.String(), "IDP_ADMIN_TOKEN is empty") {
			t.Errorf("no warning at start:\n%s", s.log)
		}
	})
	t.Run("loopback", func(t *testing.T) {
		newCLI(t)
		t.Setenv("IDP_ADMIN_LISTEN", "127.0.0.1:0")
		s := startServe(t, "--dev", "--listen", "127.0.0.1:0")
		if code, _ := get(t, "http://"+s.admin+"/metrics", ""); code != http.StatusOK {
			t.Errorf("/metrics on the loopback: %d, want 200", code)
		}
		if code, _ := get(t, "http://"+s.admin+"/debug/pprof/heap", ""); code != http.StatusNotFound {
			t.Errorf("/debug/pprof/heap with no admin token set: %d, want 404 (profiles only behind a token)", code)
		}
	})
}
