package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoScreenshots runs the real binary as a newcomer does, `idp serve
// --dev`, and walks the README's "Trying a login in one minute" in English
// and Japanese: the demo relying party at /demo, sign-in, the PIN, consent,
// and the demo's page of ID token claims and userinfo. It takes the
// README's screenshots, so it runs only when IDP_SCREENSHOTS names where
// they go; it builds the binary, which takes a while the first time.
func TestDemoScreenshots(t *testing.T) {
	shots := os.Getenv("IDP_SCREENSHOTS")
	if shots == "" {
		t.Skip("set IDP_SCREENSHOTS=DIR to run the demo walkthrough and save its screenshots in DIR")
	}
	shots = screenshotDir(t)
	browser := newBrowser(t)
	bin := filepath.Join(t.TempDir(), "idp")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/smspin/idp/cmd/idp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, l := range []string{"en", "ja"} {
		t.Run(l, func(t *testing.T) {
			// A server of its own for each language, so that both show
			// the consent page (the first would remember the consent).
			issuer, outbox := serveDev(t, bin)
			ctx := newTab(t, browser, map[string]string{"en": "en-US,en;q=0.9", "ja": "ja,en-US;q=0.8"}[l])
			do(t, ctx, "widen the window", chromedp.EmulateViewport(800, 840))
			navigate(t, ctx, issuer+"/demo?lang="+l)
			logA11y(t, ctx, "demo start")
			screenshotViewport(t, ctx, shots, "demo-start-"+l+".png")
			submitBy(t, ctx, "press Sign in", chromedp.Click(chromedp.CSS(".actions a.button")))

			// The provider's pages, at the width of the other tests' pictures.
			do(t, ctx, "narrow the window", chromedp.EmulateViewport(viewportWidth, viewportHeight))
			checkPage(t, ctx, l, tr(l, "login.title"))
			do(t, ctx, "type the demo user", chromedp.SendKeys(chromedp.ID("username"), "demo"),
				chromedp.SendKeys(chromedp.ID("password"), "demo-password"))
			screenshot(t, ctx, shots, "demo-login-"+l+".png")
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(`main button[type="submit"]`)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), lastCode(t, outbox)))
			screenshot(t, ctx, shots, "demo-pin-"+l+".png")
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(`main form:not(.resend) button[type="submit"]`)))
			if location(t, ctx).Path == "/login/consent" {
				screenshot(t, ctx, shots, "demo-consent-"+l+".png")
				submitBy(t, ctx, "allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
			}

			if p := location(t, ctx).Path; p != "/demo/callback" {
				t.Fatalf("ended at %s, want the demo's callback\n%s", p, pageSummary(ctx))
			}
			if got := lang(t, ctx); got != l {
				t.Errorf("demo result page: <html lang> = %q, want %q", got, l)
			}
			body := text(t, ctx, "main")
			for _, want := range []string{`"amr"`, `"pwd"`, `"sms"`, `"mfa"`, `"preferred_username": "demo"`, `"phone_number": "+819012345678"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the demo's result page lacks %s:\n%s", want, body)
				}
			}
			logA11y(t, ctx, "demo result")
			// The top of the page: how the user signed in and the ID token.
			do(t, ctx, "size the window", chromedp.EmulateViewport(800, 1000))
			screenshotViewport(t, ctx, shots, "demo-result-"+l+".png")
		})
	}
}

// serveDev starts `idp serve --dev` on a fresh database with the file SMS
// provider, stops it when the test ends, and returns its issuer and the
// SMS outbox.
func serveDev(t *testing.T, bin string) (issuer, outbox string) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	issuer = "http://localhost:" + port
	outbox = filepath.Join(dir, "sms.jsonl")
	var out lockedBuffer
	cmd := exec.Command(bin, "serve", "--dev",
		"--listen", "127.0.0.1:"+port, "--issuer", issuer, "--database-url", "sqlite:"+filepath.Join(dir, "idp.db"))
	cmd.Env = append(os.Environ(), "IDP_SMS_PROVIDER=file", "IDP_SMS_FILE="+outbox, "IDP_ADMIN_LISTEN=")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("idp serve --dev output:\n%s", out.String())
		}
	})
	waitReady(t, "http://127.0.0.1:"+port+"/readyz", exited, &out)
	return issuer, outbox
}

// logA11y runs axe-core on a demo page and logs what it finds: the demo is
// a development aid, so the test reports and does not fail.
func logA11y(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, v := range runAxe(t, ctx) {
		t.Logf("accessibility, %s page: %s", name, v)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago:
// 8080, the default that the README's pictures show, when it is free.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// waitReady waits for the server's readiness endpoint to answer 200.
func waitReady(t *testing.T, u string, exited <-chan error, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("idp serve --dev exited: %v\n%s", err, out)
		default:
		}
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("idp serve --dev not ready after 30 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var codeLine = regexp.MustCompile(`#([0-9]{4,8})\s*$`)

// lastCode reads the code of the newest SMS in the file provider's outbox.
func lastCode(t *testing.T, outbox string) string {
	t.Helper()
	data, err := os.ReadFile(outbox)
	if err != nil {
		t.Fatalf("SMS outbox: %v", err)
	}
	var body string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		body = m.Body
	}
	m := codeLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatal(errors.New("no SMS with an origin-bound code line in the outbox"))
	}
	return m[1]
}
