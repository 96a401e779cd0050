// Package idptest runs a whole provider on an httptest server for tests:
// real database (SQLite or PostgreSQL, see dbtest), real fosite, real
// pages, and the file SMS outbox so a test reads the PIN the way a phone
// would receive it.
package idptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/admin"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/password"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/migrations/database"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// Env is a running provider.
type Env struct {
	T       testing.TB
	DB      *dbtest.DB
	Issuer  string
	Server  *httptest.Server
	Store   *store.Store
	MFA     *mfa.Service
	Keys    *keys.Manager
	Outbox  string // the file SMS provider's outbox
	Secret  []byte
	offset  atomic.Int64 // nanoseconds added to the SMS clock
	Handler http.Handler
	current atomic.Value // the http.Handler serving now
	host    string
	logger  *slog.Logger
}

// Options change the defaults of New.
type Options struct {
	Policy     *mfa.Policy
	SigningAlg string
	Sender     sms.Sender // default: the file outbox
	Phones     mfa.PhonePolicy
	// Instances runs that many provider instances on the one database,
	// requests going round-robin between them, as behind a load balancer.
	Instances int
	// Limits are the SMS send limits (none by default).
	Limits mfa.Limits
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// MFARemember is how long a PIN spares the next one in a session
	// (default 12h; negative: always ask).
	MFARemember time.Duration
	// Secret replaces the test IDP_SECRET; OldSecrets are IDP_SECRET_OLD.
	Secret     []byte
	OldSecrets [][]byte
	// TLS serves over https (cookies then get Secure and the __Host- prefix).
	TLS bool
	// Providers, when set, builds the SMS sender and the readers of the
	// delivery reports providers push to /sms/receipts/{name}, given the
	// Env with its Issuer (a status callback URL is made from it) and
	// Outbox. It replaces Sender.
	Providers func(e *Env) (sms.Sender, map[string]sms.ReportReader)
	// TuneMFA changes the SMS service of every instance before it serves
	// (the pumping guard, the budget, receipt waits).
	TuneMFA func(*mfa.Service)
	// TrustedDeviceTTL offers "don't ask for a code on this browser".
	TrustedDeviceTTL time.Duration
	// DeviceCodeTTL and DevicePollInterval set the device grant's code
	// lifetime and polling interval (defaults 10 minutes, 5 s).
	DeviceCodeTTL, DevicePollInterval time.Duration
	// Localhost names the issuer http://localhost:port instead of by its
	// IP address: a WebAuthn relying party needs a domain name.
	Localhost bool
	// DPoPNonce requires server nonces in DPoP proofs.
	DPoPNonce bool
	// PasskeyPasswordless offers a sign-in with a passkey alone.
	PasskeyPasswordless bool
	// RegistrationToken turns on dynamic client registration with this
	// initial access token (IDP_REGISTRATION_TOKEN).
	RegistrationToken string
}

// New starts a provider on db.
func New(t testing.TB, db *dbtest.DB, o Options) *Env {
	t.Helper()
	e := &Env{T: t, DB: db, Secret: []byte("test-secret-test-secret-test-secret-0123")}
	if o.Secret != nil {
		e.Secret = o.Secret
	}
	if o.Phones.DefaultRegion == "" {
		o.Phones.DefaultRegion = "JP"
	}
	e.Outbox = filepath.Join(t.TempDir(), "outbox.jsonl")
	srv := httptest.NewUnstartedServer(nil)
	scheme := "http://"
	if o.TLS {
		scheme = "https://"
	}
	e.Issuer = scheme + srv.Listener.Addr().String()
	if o.Localhost {
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		e.Issuer = scheme + "localhost:" + port
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	instances := max(o.Instances, 1)
	handlers := make([]http.Handler, instances)
	for i := range handlers {
		gdb := db.Gorm
		if i > 0 {
			// Another instance: its own connections, keys in memory and
			// services; only the database is shared.
			var err error
			gdb, err = database.Open(t.Context(), db.URL, database.Options{MaxOpenConns: 10})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if s, err := gdb.DB(); err == nil {
					s.Close()
				}
			})
		}
		handlers[i] = e.instance(t, o, gdb, srv.Listener.Addr().String(), logger, i == 0)
	}
	var next atomic.Uint64
	e.current.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers[(next.Add(1)-1)%uint64(instances)].ServeHTTP(w, r)
	}))
	e.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.current.Load().(http.Handler).ServeHTTP(w, r)
	})
	e.host, e.logger = srv.Listener.Addr().String(), logger
	srv.Config.Handler = e.Handler
	if o.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	e.Server = srv
	return e
}

// instance builds one provider process on gdb. The first also becomes
// the Env's Store, Keys and MFA.
func (e *Env) instance(t testing.TB, o Options, gdb *gorm.DB, host string, logger *slog.Logger, first bool) http.Handler {
	t.Helper()
	st := store.New(gdb, nil)
	alg := o.SigningAlg
	if alg == "" {
		alg = keys.RS256
	}
	km := keys.NewManager(st, append([][]byte{e.Secret}, o.OldSecrets...), time.Hour)
	for _, a := range []string{keys.RS256, keys.ES256} {
		if err := km.Init(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	policy := mfa.DefaultPolicy
	if o.Policy != nil {
		policy = *o.Policy
	}
	sender := o.Sender
	var receipts map[string]sms.ReportReader
	if o.Providers != nil {
		sender, receipts = o.Providers(e)
	}
	if sender == nil {
		sender = &sms.File{Path: e.Outbox}
	}
	svc := &mfa.Service{
		Store: st, Sender: sender, Policy: policy, Secret: keys.Derive(e.Secret, keys.PurposePIN), OldSecrets: keys.DeriveAll(o.OldSecrets, keys.PurposePIN),
		Text: mfa.Messages("TestIDP", host, policy.TTL), Limits: o.Limits, Phones: o.Phones,
		Now: e.now, Logger: logger,
	}
	if o.TuneMFA != nil {
		o.TuneMFA(svc)
	}
	renderer, err := ui.New(ui.Options{ProductName: "TestIDP", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var registration func(*http.ServeMux)
	if o.RegistrationToken != "" {
		rg := &admin.Registration{Service: &admin.Service{Store: st, Issuer: e.Issuer, Phones: o.Phones}, Token: o.RegistrationToken, Logger: logger}
		registration = rg.Mount
	}
	s, err := idp.New(idp.Options{
		Registration: registration,
		Issuer:       e.Issuer, Secret: e.Secret, OldSecrets: o.OldSecrets, Store: st, Keys: km, MFA: svc, Receipts: receipts,
		Passwords: password.New(password.Params{Memory: 64, Time: 1, Threads: 1}, 4), UI: renderer, Logger: logger,
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 24 * time.Hour, IDTokenTTL: time.Hour, AuthCodeTTL: time.Minute,
		LoginFlowTTL: 30 * time.Minute, SigningAlg: alg, TrustedProxies: o.TrustedProxies,
		SessionTTL: 24 * time.Hour, MFARemember: remember(o.MFARemember), TrustedDeviceTTL: o.TrustedDeviceTTL,
		DeviceCodeTTL: o.DeviceCodeTTL, DevicePollInterval: o.DevicePollInterval, DPoPNonce: o.DPoPNonce, PasskeyPasswordless: o.PasskeyPasswordless,
	})
	if err != nil {
		t.Fatal(err)
	}
	if first {
		e.Store, e.Keys, e.MFA = st, km, svc
	}
	return idp.AccessLog(logger, idp.LimitBody(1<<20, s.Handler()))
}

// Advance moves the SMS clock forward (codes expire, cooldowns and
// send-limit windows pass). Tokens and flows keep real time: fosite reads
// the system clock.
func (e *Env) Advance(d time.Duration) { e.offset.Add(int64(d)) }

// Now is the SMS clock.
func (e *Env) Now() time.Time { return e.now() }

func (e *Env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// User is a created test user.
type User struct {
	ID, Username, Password, Phone string
}

// CreateUser adds a user; phone "" means none, verified marks it proven.
func (e *Env) CreateUser(username, pw, phone string, verified bool) User {
	e.T.Helper()
	h, err := password.New(password.Params{Memory: 64, Time: 1, Threads: 1}, 1).Hash(context.Background(), pw)
	if err != nil {
		e.T.Fatal(err)
	}
	u := &store.User{Username: username, PasswordHash: h}
	var p *store.Phone
	if phone != "" {
		p = &store.Phone{Number: phone}
		if verified {
			now := time.Now().UTC()
			p.VerifiedAt = &now
		}
	}
	if err := e.Store.CreateUser(context.Background(), u, p); err != nil {
		e.T.Fatal(err)
	}
	return User{ID: u.ID, Username: username, Password: pw, Phone: phone}
}

// Invite makes an invitation link for a user (replacing any older one),
// as idp users invite does, valid a week.
func (e *Env) Invite(u User) string {
	e.T.Helper()
	token, _, err := e.Store.CreateLink(context.Background(), u.ID, store.LinkInvitation, 7*24*time.Hour)
	if err != nil {
		e.T.Fatal(err)
	}
	return idp.InvitationURL(e.Issuer, token)
}

// ResetLink makes a password reset link for a user (replacing any older
// one), as idp users reset-password does, valid an hour.
func (e *Env) ResetLink(u User) string {
	e.T.Helper()
	token, _, err := e.Store.CreateLink(context.Background(), u.ID, store.LinkPasswordReset, time.Hour)
	if err != nil {
		e.T.Fatal(err)
	}
	return idp.ResetURL(e.Issuer, token)
}

// RecoveryCodes makes a user's set of recovery codes (replacing any
// older set), as the account page does, and returns them as shown.
func (e *Env) RecoveryCodes(u User) []string {
	e.T.Helper()
	codes, err := idp.NewRecoveryCodes(context.Background(), e.Store, password.New(password.Params{Memory: 64, Time: 1, Threads: 1}, 1), u.ID)
	if err != nil {
		e.T.Fatal(err)
	}
	return codes
}

// Client is a registered test client.
type Client struct {
	ID, Secret, RedirectURI string
}

// CreateClient registers a client; secret "" makes a public one.
func (e *Env) CreateClient(id, secret, redirect string, firstParty bool, grants ...string) Client {
	e.T.Helper()
	if len(grants) == 0 {
		grants = []string{"authorization_code", "refresh_token"}
	}
	method := "client_secret_basic"
	if secret == "" {
		method = "none"
	}
	err := e.Store.CreateClient(context.Background(), store.NewClient{
		ID: id, Name: "Test app " + id, Secret: secret, Public: secret == "", FirstParty: firstParty,
		RedirectURIs: []string{redirect}, GrantTypes: grants, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "phone", "offline_access"}, TokenEndpointAuthMethod: method,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return Client{ID: id, Secret: secret, RedirectURI: redirect}
}

// Message is one line of the SMS outbox.
type Message struct {
	To   string `json:"to"`
	Body string `json:"body"`
	At   string `json:"at"`
}

// Messages reads the outbox.
func (e *Env) Messages() []Message {
	e.T.Helper()
	f, err := os.Open(e.Outbox)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.T.Fatal(err)
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			e.T.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var codeRE = regexp.MustCompile(`#([0-9]{4,8})\s*$`)

// LastCode returns the code of the newest SMS to a number, from its
// origin-bound last line ("@host #123456").
func (e *Env) LastCode(to string) string {
	e.T.Helper()
	msgs := e.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			m := codeRE.FindStringSubmatch(msgs[i].Body)
			if m == nil {
				e.T.Fatalf("SMS %q has no origin-bound code line", msgs[i].Body)
			}
			return m[1]
		}
	}
	e.T.Fatalf("no SMS to %s in the outbox", to)
	return ""
}

// Browser is a cookie-keeping HTTP client that stops at redirects leaving
// the provider (to the RP), so the test can read the authorize response.
type Browser struct {
	e      *Env
	Client *http.Client
}

// NewBrowser returns a fresh browser with no cookies.
func (e *Env) NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{e: e}
	b.Client = &http.Client{Jar: jar, Transport: e.Server.Client().Transport, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.Issuer) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return fmt.Errorf("redirect loop: %d redirects, last to %s", len(via), req.URL)
		}
		return nil
	}}
	return b
}

// NoFollow returns a browser with the same cookies that stops at every
// redirect, so each request is seen on its own.
func (b *Browser) NoFollow() *Browser {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Browser{e: b.e, Client: &c}
}

// Page is a response with its body read.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

// Location is the Location header of a redirect that left the provider.
func (p *Page) Location() *url.URL {
	u, _ := url.Parse(p.Header.Get("Location"))
	return u
}

func (b *Browser) do(req *http.Request) *Page {
	b.e.T.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.e.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

// Get fetches a URL.
func (b *Browser) Get(u string) *Page {
	b.e.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// Submit posts a form the way a browser does (same-origin).
func (b *Browser) Submit(action string, form url.Values) *Page {
	b.e.T.Helper()
	u := action
	if strings.HasPrefix(action, "/") {
		u = b.e.Issuer + action
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.Issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token"\s+value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
)

// CSRF returns the first CSRF token on a page.
func (p *Page) CSRF(t testing.TB) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no csrf_token on page %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	return html.UnescapeString(m[1])
}

// Action returns the action of the first form on a page.
func (p *Page) Action(t testing.TB) string {
	t.Helper()
	m := actionRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no form on page %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	return html.UnescapeString(m[1])
}

// Fill posts the page's first form with the given fields and its CSRF token.
func (b *Browser) Fill(p *Page, fields url.Values) *Page {
	b.e.T.Helper()
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("csrf_token", p.CSRF(b.e.T))
	return b.Submit(p.Action(b.e.T), fields)
}

// Login drives a whole sign-in from an authorize URL: password, the PIN
// from the outbox, consent when asked. It returns the final response,
// normally the redirect to the RP.
func (b *Browser) Login(authURL string, u User) *Page {
	b.e.T.Helper()
	p := b.Get(authURL)
	if p.Status != http.StatusOK || !strings.Contains(p.URL.Path, "/login") {
		return p
	}
	p = b.Fill(p, url.Values{"username": {u.Username}, "password": {u.Password}})
	if p.Status != http.StatusOK || p.URL.Path != "/login/pin" {
		return p
	}
	p = b.Fill(p, url.Values{"code": {b.e.LastCode(u.Phone)}})
	if p.Status == http.StatusOK && p.URL.Path == "/login/consent" {
		p = b.Fill(p, url.Values{"consent": {"allow"}})
	}
	return p
}

// FormatCode pads n to a code of length digits (for wrong guesses).
func FormatCode(n, digits int) string { return fmt.Sprintf("%0*d", digits, n) }

func remember(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return 12 * time.Hour
	}
	return d
}

// Restart replaces the running provider with a new one built from o on the
// same database, issuer and outbox, as an operator's restart would (for
// example with a new IDP_SECRET and the old one in IDP_SECRET_OLD).
func (e *Env) Restart(o Options) {
	e.T.Helper()
	if o.Secret != nil {
		e.Secret = o.Secret
	}
	e.current.Store(e.instance(e.T, o, e.DB.Gorm, e.host, e.logger, true))
}
