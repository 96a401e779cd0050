package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// During a database outage (a failover, a restart) introspection cannot
// tell whether a token is active. It must say so, 503 and
// temporarily_unavailable, and never answer "active": false, which a
// resource server takes for a revoked token and acts on by signing the
// user out. Once the database is back the same token is active again.
func TestIntrospectionDuringDatabaseOutage(t *testing.T) {
	if os.Getenv(dbtest.EnvURL) == "" {
		t.Skip(dbtest.EnvURL + " is not set: the outage test needs PostgreSQL (.ci/run sets it)")
	}
	direct := dbtest.Postgres(t)
	u, _ := url.Parse(direct.URL)
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	viaProxy, err := database.Open(t.Context(), u.String(), database.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := viaProxy.DB(); err == nil {
			s.Close()
		}
	})
	e := idptest.New(t, &dbtest.DB{Dialect: "postgres", URL: u.String(), Gorm: viaProxy}, idptest.Options{})
	// As serve does: the client is then known without the database, and
	// the outage is met at the token's lookup.
	e.Store.ClientCacheTTL = time.Minute
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	client := e.CreateClient("api", "api-secret-0123456789-0123456789-0123456789", rpCallback, true)
	r := newRP(t, e, client)
	verifier := oauth2.GenerateVerifier()
	p := e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user)
	tok, err := r.conf.Exchange(r.ctx(t.Context()), codeFrom(t, p, "state-0123456789"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}

	ask := func() (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client.ID, client.Secret)
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("introspection: status %d: %v", resp.StatusCode, err)
		}
		return resp.StatusCode, out
	}
	if status, out := ask(); status != http.StatusOK || out["active"] != true {
		t.Fatalf("before the outage: %d %v, want an active token", status, out)
	}

	proxy.cut()
	status, out := ask()
	if _, said := out["active"]; said || status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
		t.Errorf("during the outage: %d %v, want 503 temporarily_unavailable and no verdict", status, out)
	}

	proxy.restore(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, out := ask()
		if status == http.StatusOK && out["active"] == true {
			break
		}
		if status == http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %v, want the token active again", status, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
