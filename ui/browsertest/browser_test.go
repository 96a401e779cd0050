package browsertest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// chromiumPath is Debian's chromium launcher; IDP_CHROMIUM names another.
const chromiumPath = "/usr/bin/chromium"

// pageTimeout bounds the browser actions of one test.
const pageTimeout = 60 * time.Second

// viewportWidth and viewportHeight are a tab's size in CSS pixels: wide
// enough for the card and its margins, small enough for the README's
// pictures.
const viewportWidth, viewportHeight = 640, 760

// newBrowser starts one headless Chromium for a test, with a fresh profile,
// and stops it when the test ends. The flags keep a machine without a
// network quiet: no QUIC, no component updates, no sync, no background
// requests. It skips the test when Chromium is not installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := cmp.Or(os.Getenv("IDP_CHROMIUM"), chromiumPath)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("browser tests need Chromium at %s: apt-get install chromium fonts-noto-cjk (or set IDP_CHROMIUM)", path)
	}
	var out lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox will not start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()), // its shared-memory files, removed with the test
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.CombinedOutput(&out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() && testing.Verbose() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to no deadline
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return ctx
}

// newTab opens a tab in a browser context of its own (its own cookies, as
// a private window has), sending Accept-Language acceptLang, and returns it
// with a deadline for the test's actions.
func newTab(t *testing.T, browser context.Context, acceptLang string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	if _, err := chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": acceptLang},
	}); err != nil {
		t.Fatalf("set Accept-Language: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, pageTimeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// do runs browser actions, failing the test on an error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageSummary(ctx))
	}
}

// run runs one browser action and returns its value, failing the test on
// an error.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageSummary(ctx))
	}
	return v
}

// navigate loads a URL and waits for it, following redirects.
func navigate(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	do(t, ctx, "open "+u, chromedp.Navigate(u))
}

// submitBy runs an action that submits a form (a click, an Enter) and waits
// for the page it leads to, through any redirects.
func submitBy(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	if _, err := chromedp.RunResponse(ctx, a); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageSummary(ctx))
	}
}

// eval evaluates a JavaScript expression in the page. DevTools evaluation
// is not subject to the page's Content-Security-Policy, so it works on the
// hosted pages, which allow no eval. (chromedp.Poll builds its predicate
// with new Function, which their CSP rightly refuses.)
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return run(t, ctx, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// waitFor evaluates expr until it is true or d passes.
func waitFor(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (%s): %v\n%s", d, what, expr, err, pageSummary(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text returns the trimmed visible text of the first element matching a
// CSS selector, or "" when there is none.
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").trim()`, css))
}

// location returns the tab's URL.
func location(t *testing.T, ctx context.Context) *url.URL {
	t.Helper()
	u, err := url.Parse(run(t, ctx, "read the location", chromedp.Location()))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pageSummary describes the current page for a failure message.
func pageSummary(ctx context.Context) string {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(c, chromedp.Location())
	body, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprintf("page %s:\n%s", loc, body)
}

// lang returns the page's <html lang>.
func lang(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.documentElement.lang`)
}

// checkPage checks that the page is in language l with heading h1.
func checkPage(t *testing.T, ctx context.Context, l, h1 string) {
	t.Helper()
	if got := lang(t, ctx); got != l {
		t.Errorf("%s: <html lang> = %q, want %q", location(t, ctx).Path, got, l)
	}
	if got := text(t, ctx, "h1"); got != h1 {
		t.Errorf("%s: <h1> = %q, want %q", location(t, ctx).Path, got, h1)
	}
}

// screenshotDir is where screenshots go: IDP_SCREENSHOTS (a relative path
// is taken from the module's root, where `go test ./...` runs), or a
// temporary directory of the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("IDP_SCREENSHOTS"); d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join("..", "..", d) // the test runs in ui/browsertest
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves the whole page as dir/name (a PNG).
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	savePNG(t, ctx, dir, name, chromedp.FullScreenshot(100))
}

// screenshotViewport saves the visible part of the page as dir/name (a
// PNG), for pages too long to show whole.
func screenshotViewport(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	savePNG(t, ctx, dir, name, chromedp.CaptureScreenshot())
}

func savePNG(t *testing.T, ctx context.Context, dir, name string, shot chromedp.Action[[]byte]) {
	t.Helper()
	// No caret in a focused input: the pictures stay the same from run to
	// run.
	eval[chromedp.Void](t, ctx, `document.activeElement && document.activeElement.style && (document.activeElement.style.caretColor = "transparent"), undefined`)
	png := run(t, ctx, "screenshot "+name, shot)
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// env is a provider, a relying party that shows the code it gets, and
// helpers to start sign-ins at it.
type env struct {
	*idptest.Env
	rp   *httptest.Server
	hits *hits
}

// hits records the requests the RP received.
type hits struct {
	mu   sync.Mutex
	urls []*url.URL
}

func (h *hits) add(u *url.URL) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.urls = append(h.urls, u)
}

func (h *hits) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.urls)
}

// newEnv starts a provider on SQLite with options o, and the RP.
func newEnv(t *testing.T, o idptest.Options) *env {
	t.Helper()
	e := &env{Env: idptest.New(t, dbtest.SQLite(t), o), hits: &hits{}}
	e.rp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.add(r.URL)
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><main><h1>Test RP</h1>
<p>code: <output id="code">%s</output></p>
<p>state: <output id="state">%s</output></p>
<p>error: <output id="error">%s</output></p></main></body></html>`,
			html.EscapeString(q.Get("code")), html.EscapeString(q.Get("state")), html.EscapeString(q.Get("error")))
	}))
	t.Cleanup(e.rp.Close)
	return e
}

// callback is the RP's redirect URI.
func (e *env) callback() string { return e.rp.URL + "/callback" }

// authRequest is one authorization request with PKCE (RFC 7636, S256).
type authRequest struct {
	client   idptest.Client
	state    string
	verifier string
	extra    url.Values
}

func newAuthRequest(c idptest.Client, extra url.Values) *authRequest {
	return &authRequest{client: c, state: rand.Text(), verifier: rand.Text() + rand.Text(), extra: extra}
}

// url returns the authorize URL at the provider.
func (a *authRequest) url(issuer string) string {
	sum := sha256.Sum256([]byte(a.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {a.client.ID},
		"redirect_uri":          {a.client.RedirectURI},
		"scope":                 {"openid profile phone offline_access"},
		"state":                 {a.state},
		"nonce":                 {"nonce-" + a.state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	for k, v := range a.extra {
		q[k] = v
	}
	return issuer + "/oauth2/auth?" + q.Encode()
}

// landedOnRP checks that the tab is on the RP's callback with a code and
// the request's state, and that the code buys tokens at the token endpoint.
func (e *env) landedOnRP(t *testing.T, ctx context.Context, a *authRequest) {
	t.Helper()
	loc := location(t, ctx)
	if !strings.HasPrefix(loc.String(), e.callback()) {
		t.Fatalf("ended at %s, want the RP's callback %s\n%s", loc, e.callback(), pageSummary(ctx))
	}
	if errText := text(t, ctx, "#error"); errText != "" {
		t.Fatalf("the RP got error=%s", errText)
	}
	code := text(t, ctx, "#code")
	if code == "" {
		t.Fatalf("the RP shows no code\n%s", pageSummary(ctx))
	}
	if got := text(t, ctx, "#state"); got != a.state {
		t.Errorf("state = %q, want %q", got, a.state)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {a.client.RedirectURI},
		"code_verifier": {a.verifier},
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.client.ID, a.client.Secret)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"id_token"`)) {
		t.Fatalf("code exchange: status %d: %s", resp.StatusCode, body)
	}
}

// tr is the catalogue text of key in lang.
func tr(lang string, key string, args ...any) string { return ui.T(lang, ui.MsgID(key), args...) }

// lockedBuffer is a bytes.Buffer safe for the browser's output goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
