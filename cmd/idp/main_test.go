package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database"
	"golang.org/x/crypto/bcrypt"
)

// cli runs the command in-process with its own database file.
type cli struct {
	t  *testing.T
	db string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	db := "sqlite:" + filepath.Join(t.TempDir(), "idp.db")
	t.Setenv("IDP_DATABASE_URL", db)
	t.Setenv("IDP_CONFIG", "")
	t.Setenv("IDP_SECRET", "")
	t.Setenv("IDP_ARGON2_MEMORY", "8192")
	t.Setenv("IDP_ARGON2_TIME", "1")
	t.Setenv("IDP_SMS_ALLOWED_COUNTRIES", "JP,US")
	return &cli{t: t, db: db}
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(c.t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("output is not JSON: %q: %v", s, err)
	}
	return m
}

func TestUsersCreate(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("a long enough password\n", "users", "create", "--username", "alice", "--phone", "+819012345678", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	if m["username"] != "alice" || m["id"] == "" || m["id"] == nil {
		t.Fatalf("users create printed %v", m)
	}
	// National input is read in IDP_SMS_DEFAULT_REGION (JP) and stored in E.164.
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "bob", "--phone", "090-1234-5678", "--password-stdin"); err != nil {
		t.Fatalf("national number: %v", err)
	}
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "bob2", "--phone", "+819012345678", "--password-stdin"); err != nil {
		t.Fatalf("E.164 number: %v", err)
	}
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"taken", "a long enough password\n", []string{"--username", "alice"}, "taken"},
		{"short password", "short\n", []string{"--username", "dave"}, "fewer than 8"},
		{"common password", "password123\n", []string{"--username", "dave"}, "most common"},
		{"username as password", "zyxwdave88\n", []string{"--username", "zyxwdave"}, "too close to the username"},
		{"no password", "", []string{"--username", "dave"}, "no password"},
		{"landline", "a long enough password\n", []string{"--username", "dave", "--phone", "03-1234-5678"}, "cannot receive SMS codes: a landline"},
		{"country not allowed", "a long enough password\n", []string{"--username", "dave", "--phone", "+44 7400 123456"}, "country"},
		{"verified without phone", "a long enough password\n", []string{"--username", "dave", "--phone-verified"}, "needs --phone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"users", "create", "--password-stdin"}, tc.args...)
			_, _, err := c.run(tc.stdin, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "carol"); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("without --password-stdin: %v", err)
	}
	// A hash from another system is taken as it is (migration without a reset).
	bc, _ := bcrypt.GenerateFromPassword([]byte("migrated password"), bcrypt.MinCost)
	if _, _, err := c.run(string(bc)+"\n", "users", "create", "--username", "erin", "--password-hash-stdin"); err != nil {
		t.Fatalf("import a bcrypt hash: %v", err)
	}
	if _, _, err := c.run("not a hash\n", "users", "create", "--username", "frank", "--password-hash-stdin"); err == nil {
		t.Fatal("a non-hash was imported as a hash")
	}
}

func TestClientsCreate(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("", "clients", "create", "--id", "shop", "--redirect-uri", "https://shop.example.com/cb", "--first-party")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	if m["client_id"] != "shop" || len(m["client_secret"].(string)) < 43 {
		t.Fatalf("clients create printed %v; want the id and a 256-bit secret", m)
	}
	out, _, err = c.run("", "clients", "create", "--id", "spa", "--public", "--redirect-uri", "http://localhost:3000/cb")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); m["client_secret"] != nil {
		t.Fatalf("a public client got a secret: %v", m)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"taken", []string{"--id", "shop", "--redirect-uri", "https://shop.example.com/cb"}, "taken"},
		{"http off localhost", []string{"--id", "x", "--redirect-uri", "http://shop.example.com/cb"}, "https"},
		{"fragment", []string{"--id", "x", "--redirect-uri", "https://shop.example.com/cb#frag"}, "fragment"},
		{"no redirect", []string{"--id", "x"}, "--redirect-uri is required"},
		{"bad grant", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--grant-type", "password"}, "not one of"},
		{"bad scope", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--scope", "openid admin"}, "not one of"},
		{"public resource server", []string{"--id", "x", "--public", "--redirect-uri", "https://a.example/cb", "--resource-server-for", "shop"}, "cannot introspect"},
		{"bad resource client", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--resource-server-for", "a b"}, "not a client id"},
		{"bad token format", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--access-token-format", "paseto"}, "opaque or jwt"},
		{"too short a lifespan", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--access-token-lifespan", "5s"}, "at least 1m"},
		{"http back-channel", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--backchannel-logout-uri", "http://rp.example/bc"}, "https"},
		{"public token exchange", []string{"--id", "x", "--public", "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange"}, "cannot use token exchange"},
		{"bad exchange audience", []string{"--id", "x", "--grant-type", "client_credentials", "--token-exchange-audience", "a b"}, "--token-exchange-audience"},
		{"front-channel fragment", []string{"--id", "x", "--redirect-uri", "https://a.example/cb", "--frontchannel-logout-uri", "https://rp.example/fc#x"}, "fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.run("", append([]string{"clients", "create"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// A service client needs no redirect URI.
	if _, _, err := c.run("", "clients", "create", "--id", "svc", "--grant-type", "client_credentials", "--scope", "profile"); err != nil {
		t.Fatalf("service client: %v", err)
	}
	// The protocol settings reach the store.
	if _, _, err := c.run("", "clients", "create", "--id", "api", "--grant-type", "client_credentials", "--scope", "profile",
		"--resource-server-for", "shop", "--access-token-format", "jwt", "--access-token-lifespan", "5m"); err != nil {
		t.Fatalf("resource server client: %v", err)
	}
	if _, _, err := c.run("", "clients", "create", "--id", "bc", "--redirect-uri", "https://bc.example/cb",
		"--backchannel-logout-uri", "https://bc.example/logout", "--frontchannel-logout-uri", "https://bc.example/fc"); err != nil {
		t.Fatalf("client with logout URIs: %v", err)
	}
	// A device app (RFC 8628), public, needs no redirect URI either.
	tvOut, _, err := c.run("", "clients", "create", "--id", "tv", "--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code",
		"--grant-type", "refresh_token", "--dpop-bound-access-tokens")
	if err != nil || !strings.Contains(tvOut, `"client_id": "tv"`) || strings.Contains(tvOut, "client_secret") {
		t.Fatalf("device client: %q, %v", tvOut, err)
	}
	st := c.store()
	if tv, err := st.Client(t.Context(), "tv"); err != nil || !tv.GetGrantTypes().Has("urn:ietf:params:oauth:grant-type:device_code") || !tv.IsPublic() || !tv.DPoPBound {
		t.Errorf("client tv = %+v, %v", tv, err)
	}
	api, err := st.Client(t.Context(), "api")
	if err == nil && api.DPoPBound {
		t.Error("client api is DPoP-bound without asking")
	}
	if err != nil || !slices.Equal(api.ResourceServerFor, []string{"shop"}) || api.AccessTokenFormat != "jwt" || api.AccessTokenLifespan != 5*time.Minute {
		t.Errorf("client api = %+v, %v", api, err)
	}
	// A service that may trade users' tokens (RFC 8693) for one audience.
	if _, _, err := c.run("", "clients", "create", "--id", "orders", "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange",
		"--resource-server-for", "shop", "--token-exchange-audience", "inventory"); err != nil {
		t.Fatalf("token exchange client: %v", err)
	}
	if orders, err := st.Client(t.Context(), "orders"); err != nil || !slices.Equal(orders.TokenExchangeAudiences, []string{"inventory"}) ||
		!orders.GetGrantTypes().Has("urn:ietf:params:oauth:grant-type:token-exchange") {
		t.Errorf("client orders = %+v, %v", orders, err)
	}
	bc, err := st.Client(t.Context(), "bc")
	if err != nil || bc.BackchannelLogoutURI != "https://bc.example/logout" || bc.FrontchannelLogoutURI != "https://bc.example/fc" {
		t.Errorf("client bc = %+v, %v", bc, err)
	}
}

func TestLogoutsCommand(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.run("", "logouts", "--status", "pending")
	if err != nil || out != "" {
		t.Fatalf("logouts with none: %q %v", out, err)
	}
	var ue usageError
	if _, _, err := c.run("", "logouts", "--status", "lost"); !errors.As(err, &ue) {
		t.Errorf("logouts --status lost: %v, want a usage error", err)
	}
}

func TestMigrateAndKeysRotate(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("", "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); m["dialect"] != "sqlite" {
		t.Fatalf("migrate printed %v", m)
	}
	if _, _, err := c.run("", "keys", "rotate"); err == nil || !strings.Contains(err.Error(), "IDP_SECRET") {
		t.Fatalf("keys rotate without a secret: %v, want an error naming IDP_SECRET", err)
	}
	t.Setenv("IDP_SECRET", strings.Repeat("k", 40))
	first, _, err := c.run("", "keys", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := c.run("", "keys", "rotate", "--alg", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if decode(t, first)["kid"] == decode(t, second)["kid"] {
		t.Fatal("two rotations gave the same kid")
	}
}

func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{}, {"frobnicate"}, {"users", "delete"}, {"serve", "--no-such-flag"}} {
		_, _, err := c.run("", args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("idp %v: %v, want a usage error", args, err)
		}
	}
}

func TestServeNeedsSecretOutsideDev(t *testing.T) {
	c := newCLI(t)
	t.Setenv("IDP_SMS_PROVIDER", "console")
	_, _, err := c.run("", "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "IDP_SECRET") {
		t.Fatalf("serve without IDP_SECRET: %v, want an error naming IDP_SECRET", err)
	}
}

// TestServeDev starts `serve --dev` on a free port, checks that it serves,
// and that it stops cleanly when told to.
func TestServeDev(t *testing.T) {
	newCLI(t)
	t.Setenv("IDP_ADMIN_LISTEN", "127.0.0.1:0")
	t.Setenv("IDP_ADMIN_TOKEN", "admin-token-0123456789")
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--listen", "127.0.0.1:0"}, strings.NewReader(""), &stdout, pw)
		pw.Close()
	}()
	addr, adminAddr, derived := "", "", ""
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`listen=(\S+)`)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "issuer follows the loopback listen address") {
			derived = sc.Text()
		}
		m := re.FindStringSubmatch(sc.Text())
		switch {
		case m != nil && strings.Contains(sc.Text(), "admin listener"):
			adminAddr = m[1]
		case m != nil && strings.Contains(sc.Text(), "serving"):
			addr = m[1]
		}
		if addr != "" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		cancel()
		t.Fatalf("serve --dev did not start: %v", <-done)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	// On a loopback address other than the default, the issuer follows
	// the port (as localhost), and the log says so.
	port := addr[strings.LastIndex(addr, ":")+1:]
	if !strings.Contains(derived, "issuer=http://localhost:"+port) {
		t.Errorf("no log line says the issuer was derived: %q", derived)
	}
	resp, err := client.Get("http://" + addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disco struct{ Issuer string }
	json.NewDecoder(resp.Body).Decode(&disco)
	resp.Body.Close()
	if disco.Issuer != "http://localhost:"+port {
		t.Errorf("issuer = %q, want http://localhost:%s", disco.Issuer, port)
	}
	// The admin listener: metrics for anyone who reaches it, the API only
	// with the token.
	resp, err = client.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`idp_http_requests_total{code="200",route="GET /healthz",server="public"} 1`,
		`idp_http_request_duration_seconds_count{code="200",route="GET /.well-known/openid-configuration",server="public"} 2`,
		"# TYPE go_goroutines gauge", "# TYPE process_resident_memory_bytes gauge",
		`go_sql_max_open_connections{db_name="sqlite"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+adminAddr+"/admin/v1/sms/deliveries", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin API without the token: %v %v, want 401", resp.StatusCode, err)
	}
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("admin API with the token: %v %v, want 200", resp.StatusCode, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stdout.String(), `"demo"`) || !strings.Contains(stdout.String(), "/demo") {
		t.Errorf("the dev walkthrough was not printed:\n%s", stdout.String())
	}
}

func TestUsersSessions(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "alice", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.run("", "users", "sessions", "--username", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); len(m["sessions"].([]any)) != 0 {
		t.Fatalf("a new user has sessions: %v", m)
	}
	if _, _, err := c.run("", "users", "sessions", "--username", "nobody"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("sessions of an unknown user: %v", err)
	}
	out, _, err = c.run("", "users", "sessions", "revoke", "--username", "alice", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); m["revoked"] != float64(0) {
		t.Fatalf("revoke all: %v", m)
	}
	for _, args := range [][]string{{"users", "sessions", "revoke"}, {"users", "sessions", "revoke", "--id", "x", "--all"}} {
		var ue usageError
		if _, _, err := c.run("", args...); !errors.As(err, &ue) {
			t.Errorf("idp %v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := c.run("", "users", "sessions", "revoke", "--id", "no-such-session"); err == nil {
		t.Error("revoking an unknown session succeeded")
	}
}

func TestAuditCommand(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "alice", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.run("", "clients", "create", "--id", "shop", "--redirect-uri", "https://shop.example.com/cb"); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.run("", "audit", "--event", "client.created")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("audit --event client.created printed %d lines:\n%s", len(lines), out)
	}
	if m := decode(t, lines[0]); m["event"] != "client.created" || m["client_id"] != "shop" || m["outcome"] != "ok" {
		t.Fatalf("audit line = %v", m)
	}
	out, _, err = c.run("", "audit", "--username", "alice")
	if err != nil || !strings.Contains(out, `"event":"user.created"`) {
		t.Fatalf("audit --username alice: %v\n%s", err, out)
	}
	if _, _, err := c.run("", "audit", "--limit", "0"); err == nil {
		t.Fatal("--limit 0 accepted")
	}
	out, _, err = c.run("", "users", "unlock", "--username", "alice")
	if err != nil || decode(t, out)["was_throttled"] != false {
		t.Fatalf("users unlock: %v %s", err, out)
	}
}

// store opens the CLI's database, as the server would.
func (c *cli) store() *store.Store {
	c.t.Helper()
	db, err := database.Open(c.t.Context(), c.db, database.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	return store.New(db, nil)
}

func TestSMSHolds(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("", "migrate"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Database.URL = c.db
	db, st, err := openStore(t.Context(), cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db)
	if _, err := st.PutHold(t.Context(), &mfa.Hold{Scope: "prefix:+8190555", Reason: "conversion", Sends: 20, HeldAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.run("", "sms", "holds")
	if err != nil {
		t.Fatal(err)
	}
	holds, _ := decode(t, out)["holds"].([]any)
	if len(holds) != 1 || holds[0].(map[string]any)["scope"] != "prefix:+8190555" || holds[0].(map[string]any)["lifted_at"] != nil {
		t.Fatalf("sms holds = %s", out)
	}
	if _, _, err := c.run("", "sms", "holds", "lift"); err == nil {
		t.Fatal("lift without --scope accepted")
	}
	out, _, err = c.run("", "sms", "holds", "lift", "--scope", "+8190555", "--by", "oncall")
	if err != nil || decode(t, out)["lifted"] != true {
		t.Fatalf("sms holds lift: %v %s", err, out)
	}
	if _, _, err := c.run("", "sms", "holds", "lift", "--scope", "+8190555"); err == nil || !strings.Contains(err.Error(), "not held") {
		t.Fatalf("lifting it again: %v, want a message saying it is not held", err)
	}
	h, _ := st.Hold(t.Context(), "prefix:+8190555")
	if h.Held() || h.LiftedBy != "oncall" {
		t.Fatalf("hold after lift = %+v", h)
	}
	out, _, _ = c.run("", "audit", "--event", "sms.hold_lifted")
	if !strings.Contains(out, "prefix:+8190555 by oncall") {
		t.Fatalf("no audit event for the lift:\n%s", out)
	}
}
