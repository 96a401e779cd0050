package browsertest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
)

// TestResendCountdown checks the PIN page's one piece of JavaScript
// (static/pin.js): the resend button counts the cooldown down, refuses to
// send while it runs, and once it is over sends a new SMS whose code
// completes the sign-in.
func TestResendCountdown(t *testing.T) {
	const cooldown = 4 * time.Second
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{Policy: &mfa.Policy{
		CodeLength: 6, TTL: 5 * time.Minute, MaxAttempts: 5, ResendCooldown: cooldown, MaxResends: 3,
	}})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), true)
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	ctx := newTab(t, browser, "en-US,en;q=0.9")
	a := newAuthRequest(client, nil)

	navigate(t, ctx, a.url(e.Issuer))
	do(t, ctx, "type username and password",
		chromedp.SendKeys(chromedp.ID("username"), user.Username),
		chromedp.SendKeys(chromedp.ID("password"), user.Password))
	submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(`main button[type="submit"]`)))
	checkPage(t, ctx, "en", tr("en", "pin.title"))

	// secondsShown reads the countdown from the button: the n in the
	// catalogue's "… in {0} s", or -1 when the button says something else.
	secondsShown := func() int {
		t.Helper()
		got := text(t, ctx, "#resend")
		for n := 0; n <= int(cooldown/time.Second); n++ {
			if got == tr("en", "pin.resend_wait", n) {
				return n
			}
		}
		return -1
	}
	first := secondsShown()
	if first < 1 {
		t.Fatalf("resend button = %q, want the countdown %q", text(t, ctx, "#resend"), tr("en", "pin.resend_wait", int(cooldown/time.Second)))
	}
	if got := eval[string](t, ctx, `document.getElementById("resend").getAttribute("aria-disabled") || ""`); got != "true" {
		t.Errorf("resend button during the cooldown: aria-disabled = %q, want true", got)
	}

	// Pressed during the cooldown, it does nothing.
	pinURL := location(t, ctx).String()
	do(t, ctx, "press resend too early", chromedp.Click(chromedp.ID("resend")))
	time.Sleep(300 * time.Millisecond)
	if got := location(t, ctx).String(); got != pinURL {
		t.Errorf("pressing resend during the cooldown went to %s", got)
	}
	if eval[bool](t, ctx, `document.getElementById("form-error") !== null`) {
		t.Errorf("pressing resend during the cooldown reached the server: %s", text(t, ctx, "#form-error"))
	}
	if n := len(e.Messages()); n != 1 {
		t.Errorf("after pressing resend during the cooldown the outbox has %d messages, want 1", n)
	}

	// The number goes down, every second (1 is the last number shown).
	if first > 1 {
		expr := `(() => { const s = document.getElementById("resend").innerText.trim(); return [` +
			quoteEach(1, first, func(n int) string { return tr("en", "pin.resend_wait", n) }) + `].includes(s) })()`
		waitFor(t, ctx, "the countdown to go down from "+strconv.Itoa(first), expr, 2500*time.Millisecond)
	}

	// Then the button is ready, says so, and sends a new code.
	waitFor(t, ctx, "the resend button to be ready",
		`document.getElementById("resend").innerText.trim() === `+strconv.Quote(tr("en", "pin.resend"))+
			` && !document.getElementById("resend").hasAttribute("aria-disabled")`, cooldown+time.Second)
	submitBy(t, ctx, "press resend", chromedp.Click(chromedp.ID("resend")))
	checkPage(t, ctx, "en", tr("en", "pin.title"))
	if msgs := e.Messages(); len(msgs) != 2 || msgs[1].To != user.Phone {
		t.Fatalf("after the resend the outbox = %+v, want 2 SMS to %s", msgs, user.Phone)
	}
	notice := text(t, ctx, `main [role="status"]`)
	if !strings.HasPrefix(notice, strings.Split(tr("en", "pin.resent", "\x00"), "\x00")[0]) {
		t.Errorf("notice after the resend = %q, want %q", notice, tr("en", "pin.resent", "{0}"))
	}
	if n := secondsShown(); n < 1 {
		t.Errorf("after the resend the button = %q, want a new countdown", text(t, ctx, "#resend"))
	}
	screenshot(t, ctx, screenshotDir(t), "pin-resent-en.png")

	do(t, ctx, "type the new code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(user.Phone)))
	submitBy(t, ctx, "submit the new code", chromedp.Click(chromedp.CSS(`main form:not(.resend) button[type="submit"]`)))
	e.landedOnRP(t, ctx, a) // a first-party client: no consent page
}

// quoteEach returns the JavaScript strings f(from) … f(below-1),
// comma-separated.
func quoteEach(from, below int, f func(int) string) string {
	var q []string
	for n := from; n < below; n++ {
		q = append(q, strconv.Quote(f(n)))
	}
	return strings.Join(q, ", ")
}
