// Package rp signs users in to a running provider the way a browser and a
// relying party do, for load and failure drivers: the authorize request,
// the password page, the PIN read from the file SMS provider's outbox,
// consent, and the code exchange at the token endpoint.
//
// A Login is a state machine over the pages the provider answers with, so
// it can be paused at a page, resumed later, and reloaded after a failed
// request the way a person presses reload: it then goes on from whatever
// page the flow is really at. Each login ends in one of three outcomes:
// completed (an ID token with amr pwd, sms and mfa that verifies against
// the provider's keys), failed cleanly (an error page that says what to
// do, a 503, an RFC 6749 error), or failed badly (a 500, a hang, a token
// without the PIN, a step half applied).
package rp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// RP is a confidential client registered at the provider.
type RP struct {
	Issuer       string // without a trailing slash
	ClientID     string
	ClientSecret string
	RedirectURI  string // never served: the driver reads the redirect
	Scope        string // "openid profile" when empty

	// Timeout bounds each HTTP request; a request that takes longer is
	// a hang. 30 s when zero.
	Timeout time.Duration
	// RetryFor is how long a login keeps reloading after a temporary
	// failure (a 502, 503 or 504, or a connection cut) before it gives
	// up; 0 gives up at the first.
	RetryFor time.Duration
	// Observe, when set, sees every response (for counting which
	// instance served what).
	Observe func(*http.Response)
	// Transport carries the requests (http.DefaultTransport when nil).
	Transport http.RoundTripper
	// DistinctClients gives each login an address of its own in an
	// X-Forwarded-For header, as many browsers behind a load balancer
	// would be: the provider must trust the proxy (IDP_TRUSTED_PROXIES),
	// or its per-network limits see one network for every login.
	DistinctClients bool

	keysMu sync.Mutex
	keys   *jose.JSONWebKeySet
}

// Outcome is how a login ended.
type Outcome int

const (
	Pending Outcome = iota
	Completed
	FailedCleanly
	FailedBadly
)

func (o Outcome) String() string {
	return [...]string{"pending", "completed", "failed cleanly", "failed badly"}[o]
}

// Tokens are what a completed login got from the token endpoint.
type Tokens struct {
	Access, Refresh, ID string
	AMR                 []string
}

// Login is one user's sign-in in one browser (its own cookie jar).
type Login struct {
	rp        *RP
	client    *http.Client
	outbox    *Outbox
	User      string
	Password  string
	Phone     string
	clientIP  string // sent as X-Forwarded-For, with RP.DistinctClients
	state     string
	nonce     string
	verifier  string
	page      page   // the page the browser shows now
	formURL   string // the page whose form was last posted (to reload)
	pinURL    string // the flow's PIN page, once seen
	code      string // the PIN last typed
	codesSeen int    // codes to the phone before the password was sent
	posted    string // the path of the page whose form was last posted
	pinCut    bool   // a PIN submit failed (temporarily) or lost its answer

	Outcome   Outcome
	Reason    string // why it did not complete (a short class)
	Reloads   int    // reloads after temporary failures
	Tokens    *Tokens
	AuthCode  string // the authorization code redeemed
	Started   time.Time
	TokenSent time.Time // when the code exchange that answered was sent
	Ended     time.Time
	Trace     []string // one line a request
}

type page struct {
	status   int
	path     string // of the provider's page, after redirects
	url      string
	body     string
	location string // of a redirect leaving the provider
	err      error
}

// NewLogin prepares a sign-in; nothing is sent yet.
func (r *RP) NewLogin(user, password, phone string, outbox *Outbox) *Login {
	jar, _ := cookiejar.New(nil)
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	l := &Login{rp: r, outbox: outbox, User: user, Password: password, Phone: phone,
		state: randomString(), nonce: randomString(), verifier: randomString()}
	if r.DistinctClients {
		// 198.18.0.0/15 is set aside for benchmarks (RFC 2544).
		n := mathrand.Uint32N(1 << 17)
		l.clientIP = fmt.Sprintf("198.%d.%d.%d", 18+n>>16, (n>>8)&0xff, n&0xff)
	}
	l.client = &http.Client{Jar: jar, Timeout: timeout, Transport: r.Transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), r.Issuer+"/") || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return l
}

// Run drives the login from wherever it is until it ends, or until it
// reaches a page whose path is stopAt ("" for none). It reports whether
// it stopped there; otherwise Outcome says how it ended.
func (l *Login) Run(ctx context.Context, stopAt string) bool {
	if l.Started.IsZero() {
		l.Started = time.Now()
		q := url.Values{
			"response_type": {"code"}, "client_id": {l.rp.ClientID}, "redirect_uri": {l.rp.RedirectURI},
			"scope": {l.rp.scope()}, "state": {l.state}, "nonce": {l.nonce},
			"code_challenge": {s256(l.verifier)}, "code_challenge_method": {"S256"},
		}
		// A reload of a failed authorize request asks again.
		l.formURL = l.rp.Issuer + "/oauth2/auth?" + q.Encode()
		l.page = l.get(ctx, l.formURL)
	}
	var retryUntil time.Time
	for steps := 0; l.Outcome == Pending; steps++ {
		if steps > 40 {
			l.end(FailedBadly, "no end after 40 steps: "+l.page.path)
			break
		}
		p := l.page
		if temporary(p) {
			// A person reloads the page they were on: the flow's own
			// page tells where it really is.
			if retryUntil.IsZero() {
				retryUntil = time.Now().Add(l.rp.RetryFor)
			}
			if time.Now().After(retryUntil) {
				l.end(FailedCleanly, "gave up on "+describe(p))
				break
			}
			if !sleep(ctx, 300*time.Millisecond) {
				l.end(FailedCleanly, "stopped while retrying "+describe(p))
				break
			}
			l.Reloads++
			if l.posted == "/login/pin" {
				l.pinCut = true
			}
			l.page = l.get(ctx, l.formURL)
			continue
		}
		retryUntil = time.Time{}
		if p.err != nil {
			l.end(FailedBadly, "no answer: "+p.err.Error())
			break
		}
		if p.location != "" {
			l.back(ctx, p.location)
			break
		}
		if p.status >= 500 {
			l.end(FailedBadly, describe(p))
			break
		}
		if p.status >= 400 && p.path != "/login/pin" {
			l.end(FailedCleanly, describe(p))
			break
		}
		if stopAt != "" && p.path == stopAt {
			return true
		}
		switch p.path {
		case "/login":
			if p.status != http.StatusOK {
				l.end(FailedCleanly, describe(p))
				break
			}
			l.codesSeen = l.outbox.Count(l.Phone)
			l.post(ctx, url.Values{"username": {l.User}, "password": {l.Password}})
		case "/login/pin":
			l.pinURL = p.url
			if p.status == http.StatusUnauthorized && l.code != "" {
				if l.pinCut {
					// Used up by a submit that failed or whose answer
					// was lost, while the flow stayed at this page.
					l.end(FailedBadly, "the right PIN was refused after a failed submit: consumed, flow not advanced")
				} else {
					l.end(FailedBadly, "the right PIN was refused")
				}
				break
			}
			if p.status != http.StatusOK {
				l.end(FailedCleanly, describe(p))
				break
			}
			code, err := l.outbox.Wait(ctx, l.Phone, l.codesSeen, 15*time.Second)
			if err != nil {
				l.end(FailedBadly, "at the PIN page: "+err.Error())
				break
			}
			l.code = code
			l.post(ctx, url.Values{"code": {code}})
		case "/login/consent":
			l.post(ctx, url.Values{"consent": {"allow"}})
		case "/login/phone":
			// The users driven here all have a verified phone.
			l.end(FailedBadly, "the phone enrolment page for a user with a phone: the password step moved the flow on without a PIN challenge")
		default:
			l.end(FailedBadly, "unexpected page "+describe(p))
		}
	}
	return false
}

// end records the outcome once.
func (l *Login) end(o Outcome, why string) {
	if l.Outcome != Pending {
		return
	}
	l.Outcome, l.Reason, l.Ended = o, why, time.Now()
}

// back handles the redirect to the RP: an error, or a code to exchange.
func (l *Login) back(ctx context.Context, location string) {
	u, err := url.Parse(location)
	if err != nil || !strings.HasPrefix(location, l.rp.RedirectURI) {
		l.end(FailedBadly, "redirected away to "+location)
		return
	}
	q := u.Query()
	if q.Get("state") != l.state {
		l.end(FailedBadly, "redirect with a wrong state")
		return
	}
	if e := q.Get("error"); e != "" {
		if e == "server_error" {
			l.end(FailedBadly, "authorize error server_error: "+q.Get("error_description"))
		} else {
			l.end(FailedCleanly, "authorize error "+e)
		}
		return
	}
	l.AuthCode = q.Get("code")
	if l.AuthCode == "" {
		l.end(FailedBadly, "redirect without a code")
		return
	}
	l.exchange(ctx)
}

// exchange redeems the code, retrying a temporary failure with the same
// code as an RP would (a lost answer then ends in invalid_grant).
func (l *Login) exchange(ctx context.Context) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {l.AuthCode},
		"redirect_uri": {l.rp.RedirectURI}, "code_verifier": {l.verifier}}
	until := time.Now().Add(l.rp.RetryFor)
	for {
		sent := time.Now()
		status, body, err := l.rp.tokenRequest(ctx, l.client, form)
		l.trace("POST /oauth2/token", status, err)
		switch {
		case err == nil && status == http.StatusOK:
			l.TokenSent = sent
			l.accept(ctx, body)
			return
		case err != nil && isTimeout(err):
			l.end(FailedBadly, "token: hang: "+err.Error())
			return
		case err != nil || status == 502 || status == 503 || status == 504:
			if time.Now().After(until) || !sleep(ctx, 300*time.Millisecond) {
				l.end(FailedCleanly, fmt.Sprintf("token: gave up on %d %v", status, err))
				return
			}
			l.Reloads++
		case status >= 500:
			l.end(FailedBadly, fmt.Sprintf("token: %d %.100s", status, body))
			return
		default:
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				l.end(FailedBadly, fmt.Sprintf("token: %d without an RFC 6749 error", status))
				return
			}
			l.end(FailedCleanly, "token: "+e.Error)
			return
		}
	}
}

// accept checks the token response: an ID token signed by the provider
// for this client and this login, that proves the password and the PIN.
func (l *Login) accept(ctx context.Context, body []byte) {
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" || tok.AccessToken == "" {
		l.end(FailedBadly, "token response without an ID token")
		return
	}
	claims, err := l.rp.verify(ctx, tok.IDToken)
	if err != nil {
		l.end(FailedBadly, "ID token: "+err.Error())
		return
	}
	var c struct {
		Iss   string   `json:"iss"`
		Aud   any      `json:"aud"`
		Nonce string   `json:"nonce"`
		AMR   []string `json:"amr"`
	}
	json.Unmarshal(claims, &c)
	switch {
	case c.Iss != l.rp.Issuer:
		l.end(FailedBadly, "ID token from issuer "+c.Iss)
	case !audienceHas(c.Aud, l.rp.ClientID):
		l.end(FailedBadly, "ID token for another audience")
	case c.Nonce != l.nonce:
		l.end(FailedBadly, "ID token of another login (nonce)")
	case !slices.Contains(c.AMR, "pwd") || !slices.Contains(c.AMR, "sms") || !slices.Contains(c.AMR, "mfa"):
		l.end(FailedBadly, fmt.Sprintf("a token without the PIN: amr %v", c.AMR))
	default:
		l.Tokens = &Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, ID: tok.IDToken, AMR: c.AMR}
		l.end(Completed, "")
	}
}

// PINPage fetches the flow's PIN page again in this browser, after the
// login went past it, and returns the path the provider answered at and
// its status: a flow that kept its state never shows the PIN page again.
func (l *Login) PINPage(ctx context.Context) (string, int, error) {
	if l.pinURL == "" {
		return "", 0, errors.New("the login never reached the PIN page")
	}
	p := l.get(ctx, l.pinURL)
	if p.err != nil {
		return "", 0, p.err
	}
	if p.location != "" {
		return p.location, p.status, nil
	}
	return p.path, p.status, nil
}

// Introspect asks the provider whether an access token is active (RFC
// 7662), as the client.
func (r *RP) Introspect(ctx context.Context, token string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.Issuer+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	r.observe(resp)
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Active == nil {
		return false, fmt.Errorf("introspection: status %d", resp.StatusCode)
	}
	return *out.Active, nil
}

// Redeem exchanges an authorization code again (it must be refused once
// used) and returns the RFC 6749 error code.
func (l *Login) Redeem(ctx context.Context) (int, string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {l.AuthCode},
		"redirect_uri": {l.rp.RedirectURI}, "code_verifier": {l.verifier}}
	status, body, err := l.rp.tokenRequest(ctx, l.client, form)
	if err != nil {
		return 0, "", err
	}
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	return status, e.Error, nil
}

func (r *RP) scope() string {
	if r.Scope == "" {
		return "openid profile"
	}
	return r.Scope
}

func (r *RP) httpClient() *http.Client {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: r.Transport}
}

func (r *RP) observe(resp *http.Response) {
	if r.Observe != nil {
		r.Observe(resp)
	}
}

func (r *RP) tokenRequest(ctx context.Context, c *http.Client, form url.Values) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 section 2.3.1: form-encoded, then Basic.
	req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	r.observe(resp)
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// verify checks an ID token's signature against the provider's JWKS
// (fetched again once when the key is unknown) and returns its claims.
func (r *RP) verify(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, err
	}
	kid := jws.Signatures[0].Header.KeyID
	for attempt := 0; attempt < 2; attempt++ {
		r.keysMu.Lock()
		if r.keys == nil || attempt > 0 {
			r.keys = nil
			ks, err := r.fetchKeys(ctx)
			if err != nil {
				r.keysMu.Unlock()
				return nil, err
			}
			r.keys = ks
		}
		found := r.keys.Key(kid)
		r.keysMu.Unlock()
		if len(found) > 0 {
			return jws.Verify(found[0])
		}
	}
	return nil, fmt.Errorf("signed with unknown key %q", kid)
}

func (r *RP) fetchKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.Issuer+"/.well-known/jwks.json", nil)
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	var ks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&ks); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	return &ks, nil
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token"\s+value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
)

func (l *Login) get(ctx context.Context, u string) page {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	return l.do(req)
}

// post submits the current page's first form with fields and its CSRF
// token.
func (l *Login) post(ctx context.Context, fields url.Values) {
	tok, act := csrfRE.FindStringSubmatch(l.page.body), actionRE.FindStringSubmatch(l.page.body)
	if tok == nil || act == nil {
		l.end(FailedBadly, "no form on "+l.page.path)
		return
	}
	fields.Set("csrf_token", html.UnescapeString(tok[1]))
	l.formURL, l.posted = l.page.url, l.page.path
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.rp.Issuer+html.UnescapeString(act[1]), strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", l.rp.Issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	l.page = l.do(req)
}

func (l *Login) do(req *http.Request) page {
	if l.clientIP != "" {
		req.Header.Set("X-Forwarded-For", l.clientIP) // kept on the redirects that follow
	}
	what := req.Method + " " + req.URL.Path
	resp, err := l.client.Do(req)
	if err != nil {
		l.trace(what, 0, err)
		return page{err: err}
	}
	defer resp.Body.Close()
	l.rp.observe(resp)
	b, err := io.ReadAll(resp.Body)
	l.trace(what, resp.StatusCode, err)
	p := page{status: resp.StatusCode, path: resp.Request.URL.Path, url: resp.Request.URL.String(), body: string(b), err: err}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		p.location = resp.Header.Get("Location")
	}
	return p
}

func (l *Login) trace(what string, status int, err error) {
	line := fmt.Sprintf("%s %s %d", time.Now().Format("15:04:05.000"), what, status)
	if err != nil {
		line += " " + err.Error()
	}
	l.Trace = append(l.Trace, line)
}

// temporary is a failure a reload may cure: the load balancer's 502, 503
// or 504 (an instance or the database went away), or a cut connection.
// A timeout is not: that is a hang.
func temporary(p page) bool {
	if p.err != nil {
		return !isTimeout(p.err)
	}
	return p.status == 502 || p.status == 503 || p.status == 504
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func describe(p page) string {
	if p.err != nil {
		return p.err.Error()
	}
	return fmt.Sprintf("%d at %s", p.status, p.path)
}

func audienceHas(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		for _, v := range a {
			if v == id {
				return true
			}
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
