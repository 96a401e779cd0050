package browsertest

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp/idptest"
)

// TestLogin signs in in a browser from the authorize request to the RP's
// callback: password, the PIN from the SMS outbox, consent. In English the
// language comes from the browser's Accept-Language; in Japanese from the
// OpenID Connect ui_locales parameter, which must win over an English
// browser on every page of the sign-in, the SMS included.
func TestLogin(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), false)
	shots := screenshotDir(t)

	for _, tc := range []struct {
		lang      string
		uiLocales string // "" sends none
		label     string // the current language on the language switch
		smsWord   string // a word of the SMS text in this language
	}{
		{lang: "en", label: "English", smsWord: "code:"},
		{lang: "ja", uiLocales: "ja", label: "日本語", smsWord: "確認コード"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			l := tc.lang
			user := e.CreateUser("user-"+l, "correct horse battery "+l, "+8190123456"+map[string]string{"en": "01", "ja": "02"}[l], true)
			ctx := newTab(t, browser, "en-US,en;q=0.9")
			var extra url.Values
			if tc.uiLocales != "" {
				extra = url.Values{"ui_locales": {tc.uiLocales}}
			}
			a := newAuthRequest(client, extra)

			// Sign in.
			navigate(t, ctx, a.url(e.Issuer))
			if got := location(t, ctx); got.Path != "/login" {
				t.Fatalf("the authorize request led to %s, want /login", got)
			}
			checkPage(t, ctx, l, tr(l, "login.title"))
			for css, key := range map[string]string{
				"main .lead":            "login.intro",
				`label[for="username"]`: "login.username",
				`label[for="password"]`: "login.password",
				"main button":           "login.submit",
			} {
				if got := text(t, ctx, css); got != tr(l, key) {
					t.Errorf("%s = %q, want %q (%s)", css, got, tr(l, key), key)
				}
			}
			if got := text(t, ctx, ".langs [aria-current]"); got != tc.label {
				t.Errorf("language switch shows %q as current, want %q", got, tc.label)
			}
			if got := eval[string](t, ctx, `document.title`); !strings.HasPrefix(got, tr(l, "login.title")+" – ") {
				t.Errorf("<title> = %q", got)
			}
			checkA11y(t, ctx, "sign-in")
			screenshot(t, ctx, shots, "login-"+l+".png")
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(`main button[type="submit"]`)))

			// The PIN page: the masked number, never the whole one.
			checkPage(t, ctx, l, tr(l, "pin.title"))
			lead := text(t, ctx, "main .lead")
			masked := maskedPhone(t, lead, l)
			if want := tr(l, "pin.intro", 6, masked); lead != want {
				t.Errorf("PIN intro = %q, want %q", lead, want)
			}
			if strings.Contains(text(t, ctx, "body"), strings.TrimPrefix(user.Phone, "+81")) {
				t.Errorf("the PIN page shows the whole phone number %s", user.Phone)
			}
			if got := text(t, ctx, `label[for="code"]`); got != tr(l, "pin.label") {
				t.Errorf("code label = %q, want %q", got, tr(l, "pin.label"))
			}
			if got := text(t, ctx, ".help summary"); got != tr(l, "pin.wrong_number") {
				t.Errorf("help = %q, want %q", got, tr(l, "pin.wrong_number"))
			}
			checkA11y(t, ctx, "PIN")
			screenshot(t, ctx, shots, "pin-"+l+".png")
			msgs := e.Messages()
			if last := msgs[len(msgs)-1]; last.To != user.Phone || !strings.Contains(last.Body, tc.smsWord) {
				t.Errorf("SMS to %s: %q, want one to %s in %s", last.To, last.Body, user.Phone, l)
			}
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(user.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(`main form:not(.resend) button[type="submit"]`)))

			// Consent: the client's name and the scopes in plain words.
			checkPage(t, ctx, l, tr(l, "consent.heading", "Test app shop"))
			var scopes []string
			for _, s := range []string{"openid", "profile", "phone", "offline_access"} {
				scopes = append(scopes, tr(l, "scope."+s))
			}
			if got := eval[[]string](t, ctx, `[...document.querySelectorAll(".scopes li")].map(li => li.innerText.trim())`); strings.Join(got, "|") != strings.Join(scopes, "|") {
				t.Errorf("scopes shown = %q, want %q", got, scopes)
			}
			if got := text(t, ctx, `button[value="allow"]`); got != tr(l, "consent.allow") {
				t.Errorf("allow button = %q, want %q", got, tr(l, "consent.allow"))
			}
			checkA11y(t, ctx, "consent")
			screenshot(t, ctx, shots, "consent-"+l+".png")
			submitBy(t, ctx, "allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))

			e.landedOnRP(t, ctx, a)
		})
	}
}

// maskedPhone returns the masked number in the PIN page's intro: the text
// the catalogue's {1} stands for.
func maskedPhone(t *testing.T, lead, l string) string {
	t.Helper()
	pattern := tr(l, "pin.intro", 6, "\x00")
	before, after, ok := strings.Cut(pattern, "\x00")
	if !ok || !strings.HasPrefix(lead, before) || !strings.HasSuffix(lead, after) || len(lead) < len(before)+len(after) {
		t.Fatalf("PIN intro %q does not match the catalogue's %q", lead, tr(l, "pin.intro", 6, "{1}"))
	}
	return lead[len(before) : len(lead)-len(after)]
}

// TestKeyboardOnlyLogin signs in with the keyboard alone, as someone who
// uses no pointer does: focus starts in the username field, Tab moves on,
// Enter submits; a wrong password brings focus back to the password field,
// tied to the announced error; the PIN field has the focus when its page
// opens; Tab reaches the consent button, with a visible focus ring.
func TestKeyboardOnlyLogin(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), false)
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	ctx := newTab(t, browser, "en-US,en;q=0.9")
	a := newAuthRequest(client, nil)
	focused := func() string {
		t.Helper()
		return eval[string](t, ctx, `(() => { const a = document.activeElement; return a ? (a.id || a.tagName.toLowerCase() + (a.value ? "=" + a.value : "")) : "" })()`)
	}
	// waitFocus waits for the focus to reach want: the browser applies
	// autofocus at its next rendering update, which can come after the
	// load event.
	waitFocus := func(want, what string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got = focused(); got == want {
				return
			}
		}
		t.Fatalf("%s: focus is on %q, want %q", what, got, want)
	}
	press := func(what, keys string) {
		t.Helper()
		do(t, ctx, what, chromedp.KeyEvent(keys))
	}

	navigate(t, ctx, a.url(e.Issuer))
	waitFocus("username", "the sign-in page")
	press("type the username", user.Username)
	press("tab", "\t")
	if got := focused(); got != "password" {
		t.Fatalf("Tab from the username went to %q, want the password field", got)
	}
	press("type a wrong password", "not the password")
	submitBy(t, ctx, "Enter on a wrong password", chromedp.KeyEvent("\r"))
	if got := text(t, ctx, "#form-error .alert-title"); got != tr("en", "login.invalid_credentials.title") {
		t.Fatalf("error shown = %q, want %q", got, tr("en", "login.invalid_credentials.title"))
	}
	waitFocus("password", "after a wrong password")
	if got := eval[string](t, ctx, `document.activeElement.getAttribute("aria-describedby") || ""`); !strings.Contains(got, "form-error") {
		t.Errorf("the password field's aria-describedby = %q, want it to name form-error", got)
	}
	if got := eval[string](t, ctx, `document.getElementById("form-error").getAttribute("role")`); got != "alert" {
		t.Errorf("the error's role = %q, want alert (announced)", got)
	}
	press("type the password", user.Password)
	submitBy(t, ctx, "Enter on the password", chromedp.KeyEvent("\r"))

	checkPage(t, ctx, "en", tr("en", "pin.title"))
	waitFocus("code", "the PIN page")
	press("type the code", e.LastCode(user.Phone))
	submitBy(t, ctx, "Enter on the code", chromedp.KeyEvent("\r"))

	checkPage(t, ctx, "en", tr("en", "consent.heading", "Test app shop"))
	press("tab", "\t")
	if got := focused(); got != "button=allow" {
		t.Fatalf("the first Tab on the consent page went to %q, want the Allow button", got)
	}
	if got := eval[string](t, ctx, `getComputedStyle(document.activeElement).outlineStyle`); got == "none" || got == "" {
		t.Errorf("the focused Allow button has no visible focus ring (outline-style %q)", got)
	}
	screenshot(t, ctx, screenshotDir(t), "consent-keyboard-en.png")
	submitBy(t, ctx, "Enter on Allow", chromedp.KeyEvent("\r"))

	e.landedOnRP(t, ctx, a)
}
