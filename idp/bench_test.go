package idp_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// benchDB is PostgreSQL when IDP_TEST_DATABASE_URL is set, else SQLite.
func benchDB(b *testing.B) *dbtest.DB {
	if os.Getenv(dbtest.EnvURL) != "" {
		return dbtest.Postgres(b)
	}
	return dbtest.SQLite(b)
}

// BenchmarkTokenClientCredentials is the token endpoint's cost: client
// authentication, an opaque token, one row written.
func BenchmarkTokenClientCredentials(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{})
	e.CreateClient("svc", "svc-secret-0123456789-0123456789-0123456789", rpCallback, true, "client_credentials")
	benchClientCredentials(b, e, "svc")
}

// BenchmarkTokenClientCredentialsJWT is the same with an ES256 JWT access
// token (RFC 9068): a signature, and nothing written.
func BenchmarkTokenClientCredentialsJWT(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{})
	err := e.Store.CreateClient(b.Context(), store.NewClient{ID: "svc", Secret: "svc-secret-0123456789-0123456789-0123456789",
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: store.AccessTokenJWT})
	if err != nil {
		b.Fatal(err)
	}
	benchClientCredentials(b, e, "svc")
}

func benchClientCredentials(b *testing.B, e *idptest.Env, id string) {
	e.Store.ClientCacheTTL = 5 * time.Second // as idp serve has it
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	client := e.Server.Client()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, "svc-secret-0123456789-0123456789-0123456789")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

func BenchmarkRefresh(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{})
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	r := newRP(b, e, c)
	verifier := oauth2.GenerateVerifier()
	code := codeFrom(b, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
	ctx := r.ctx(b.Context())
	tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok, err = r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullLogin is a whole login as an RP and a browser do it:
// authorize, password (a cheap hash here: this measures everything else),
// PIN from the outbox, code exchange with PKCE.
func BenchmarkFullLogin(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{})
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	r := newRP(b, e, c)
	ctx := r.ctx(b.Context())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		verifier := oauth2.GenerateVerifier()
		code := codeFrom(b, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
		if _, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullLoginGuarded is BenchmarkFullLogin with the default send
// limits (sliding windows), the pumping guard and a budget: what counting
// a send costs a login.
func BenchmarkFullLoginGuarded(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{Limits: mfa.Limits{GlobalHour: 1 << 30, GlobalDay: 1 << 30, PrefixHour: 1 << 30, PrefixDay: 1 << 30},
		TuneMFA: func(s *mfa.Service) {
			s.Pumping = mfa.DefaultPumping
			s.Budget = mfa.Budget{Currency: "JPY", Daily: 1 << 50, Prices: map[string]map[string]int64{"file": {"+81": 3_000_000}}}
		}})
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	r := newRP(b, e, c)
	ctx := r.ctx(b.Context())
	// One user per login: the per-phone and per-user limits count as they
	// would in production, where no one signs in thousands of times.
	var users []idptest.User
	for i := range 2000 {
		users = append(users, e.CreateUser(fmt.Sprint("user", i), "correct horse battery", fmt.Sprintf("+819012%06d", i), true))
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		verifier := oauth2.GenerateVerifier()
		code := codeFrom(b, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), users[i%len(users)]), "state-0123456789")
		if _, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRefreshParallel is the refresh grant under concurrency: each
// goroutine rotates its own chain, as many RPs would.
func BenchmarkRefreshParallel(b *testing.B) {
	e := idptest.New(b, benchDB(b), idptest.Options{})
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
	r := newRP(b, e, c)
	ctx := r.ctx(b.Context())
	chains := make(chan string, 16*runtime.GOMAXPROCS(0))
	for range cap(chains) {
		verifier := oauth2.GenerateVerifier()
		code := codeFrom(b, e.NewBrowser().Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789")
		tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			b.Fatal(err)
		}
		chains <- tok.RefreshToken
	}
	b.ReportAllocs()
	b.SetParallelism(8) // 8 x GOMAXPROCS clients: the work is mostly waiting on the database
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := <-chains
		for pb.Next() {
			tok, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
			if err != nil {
				b.Error(err)
				return
			}
			rt = tok.RefreshToken
		}
	})
}
