package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// axeTags are the axe-core rule tags checked: WCAG 2.0, 2.1 and 2.2 at
// levels A and AA, and axe's best practices.
const axeTags = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]`

// violation is one failed axe-core rule on a page.
type violation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

func (v violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s: %s (%s)", v.Impact, v.ID, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    at %s: %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
	}
	return b.String()
}

// checkA11y runs axe-core on the page in the tab and fails the test on any
// violation of impact serious or critical; lesser ones are logged. It also
// checks that the page reflows to 320 CSS pixels wide (WCAG 2.1 SC 1.4.10)
// with nothing to scroll sideways. name says which page it is in the
// messages.
func checkA11y(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	path := location(t, ctx).Path
	for _, v := range runAxe(t, ctx) {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("accessibility, %s page (%s):\n  %s", name, path, v)
		} else {
			t.Logf("accessibility, %s page (%s), not failing:\n  %s", name, path, v)
		}
	}
	size := eval[[]int64](t, ctx, `[window.innerWidth, window.innerHeight]`)
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(320, size[1]))
	wide := eval[int](t, ctx, `document.documentElement.scrollWidth`)
	do(t, ctx, "restore the window", chromedp.EmulateViewport(size[0], size[1]))
	if wide > 320 {
		t.Errorf("accessibility, %s page (%s): 320 px wide, the page is %d px wide and scrolls sideways", name, path, wide)
	}
}

// runAxe injects axe-core into the page, unless it is there already, and
// returns its violations.
func runAxe(t *testing.T, ctx context.Context) []violation {
	t.Helper()
	if !eval[bool](t, ctx, `typeof window.axe === "object"`) {
		src, err := os.ReadFile("testdata/axe.min.js")
		if err != nil {
			t.Fatalf("axe-core: %v (see testdata/README.md)", err)
		}
		// Injected through DevTools, so the page's CSP, which allows no
		// inline script, does not stop it; the page itself is unchanged.
		do(t, ctx, "inject axe-core", chromedp.Evaluate[chromedp.Void](string(src)+"\n;undefined"))
	}
	script := `axe.run(document, {
		runOnly: {type: "tag", values: ` + axeTags + `},
		resultTypes: ["violations"],
	}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary || ""})),
	})))`
	return run(t, ctx, "run axe-core", chromedp.Evaluate[[]violation](script, chromedp.EvalAwaitPromise))
}

// TestAccessibility runs axe-core on the pages and states that TestLogin
// and TestErrorPage do not reach, in English and Japanese: sign-in and PIN
// pages showing an error, logout and signed out, phone enrolment (and its
// error), and the phone change (new number, its PIN, the notice at the
// end). It first shows that the check finds known defects.
func TestAccessibility(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), false)
	shots := screenshotDir(t)

	t.Run("FindsKnownDefects", func(t *testing.T) {
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><html><head><title>x</title></head><body><main>` +
				`<form><input name="code"><button></button></form></main></body></html>`))
		}))
		defer broken.Close()
		ctx := newTab(t, browser, "en")
		navigate(t, ctx, broken.URL)
		found := map[string]string{}
		for _, v := range runAxe(t, ctx) {
			found[v.ID] = v.Impact
		}
		for _, id := range []string{"html-has-lang", "label", "button-name"} {
			if imp := found[id]; imp != "serious" && imp != "critical" {
				t.Errorf("axe-core did not report %s as serious or critical on a page with that defect (found %v)", id, found)
			}
		}
	})

	for i, l := range ui.Langs() {
		t.Run(l, func(t *testing.T) {
			alice := e.CreateUser("alice-"+l, "correct horse battery", fmt.Sprintf("+8190123400%02d", i), true)
			bob := e.CreateUser("bob-"+l, "correct horse battery staple", "", false)
			submit := `main form:not(.resend) button[type="submit"]`

			// Sign-in with a wrong password: the alert and the invalid fields.
			ctx := newTab(t, browser, l)
			navigate(t, ctx, newAuthRequest(client, nil).url(e.Issuer))
			do(t, ctx, "type a wrong password",
				chromedp.SendKeys(chromedp.ID("username"), alice.Username),
				chromedp.SendKeys(chromedp.ID("password"), "wrong password"))
			submitBy(t, ctx, "submit a wrong password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "login.title"))
			checkAlert(t, ctx, l, "login.invalid_credentials")
			checkA11y(t, ctx, "sign-in with an error")

			// The PIN page with a wrong code.
			do(t, ctx, "type the password", chromedp.SendKeys(chromedp.ID("password"), alice.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			do(t, ctx, "type a wrong code", chromedp.SendKeys(chromedp.ID("code"), wrongCode(e.LastCode(alice.Phone))))
			submitBy(t, ctx, "submit a wrong code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			checkAlert(t, ctx, l, "pin.invalid")
			checkA11y(t, ctx, "PIN with an error")
			screenshot(t, ctx, shots, "pin-error-"+l+".png")

			// Finish signing in, then sign out (RP-initiated logout).
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(alice.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			submitBy(t, ctx, "allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
			if got := location(t, ctx); !strings.HasPrefix(got.String(), e.callback()) {
				t.Fatalf("sign-in ended at %s, want the RP", got)
			}
			navigate(t, ctx, e.Issuer+"/oauth2/logout?"+url.Values{"client_id": {client.ID}}.Encode())
			checkPage(t, ctx, l, tr(l, "logout.title"))
			checkA11y(t, ctx, "logout")
			screenshot(t, ctx, shots, "logout-"+l+".png")
			submitBy(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`button[value="yes"]`)))
			checkPage(t, ctx, l, tr(l, "loggedout.title"))
			checkA11y(t, ctx, "signed out")

			// Phone enrolment through an invitation, for a user with no
			// phone, then with a bad number.
			ctx = newTab(t, browser, l)
			navigate(t, ctx, e.Invite(bob))
			checkPage(t, ctx, l, tr(l, "login.title_enrol"))
			checkA11y(t, ctx, "invitation sign-in")
			do(t, ctx, "type the password", chromedp.SendKeys(chromedp.ID("password"), bob.Password))
			submitBy(t, ctx, "sign in without a phone", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "phone.title"))
			checkA11y(t, ctx, "phone enrolment")
			screenshot(t, ctx, shots, "phone-"+l+".png")
			do(t, ctx, "type a bad number", chromedp.SendKeys(chromedp.ID("phone"), "12"))
			submitBy(t, ctx, "submit a bad number", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "phone.title"))
			checkAlert(t, ctx, l, "phone.invalid")
			checkA11y(t, ctx, "phone enrolment with an error")

			// A phone change: password, a PIN to the old number, the new
			// number, a PIN to it, and the notice that it is done.
			ctx = newTab(t, browser, l)
			navigate(t, ctx, e.Issuer+"/account/phone")
			checkPage(t, ctx, l, tr(l, "login.title_phone_change"))
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), alice.Username),
				chromedp.SendKeys(chromedp.ID("password"), alice.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(alice.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			if got := location(t, ctx).Path; got != "/account/phone/new" {
				t.Fatalf("phone change went to %s, want /account/phone/new\n%s", got, pageSummary(ctx))
			}
			checkA11y(t, ctx, "new phone number")
			newPhone := fmt.Sprintf("+8190987600%02d", i)
			do(t, ctx, "type the new number", chromedp.SendKeys(chromedp.ID("phone"), newPhone))
			submitBy(t, ctx, "submit the new number", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			checkA11y(t, ctx, "PIN to the new number")
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(newPhone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, string(ui.MsgPhoneChanged)+".title"))
			checkA11y(t, ctx, "phone changed")

			// Wrong codes up to the last try (a warning), then one more: the
			// page offers a new code, starting again and the way back.
			ctx = newTab(t, browser, l)
			navigate(t, ctx, newAuthRequest(client, nil).url(e.Issuer))
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), alice.Username),
				chromedp.SendKeys(chromedp.ID("password"), alice.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			for range 4 {
				do(t, ctx, "type a wrong code", chromedp.SendKeys(chromedp.ID("code"), wrongCode(e.LastCode(newPhone))))
				submitBy(t, ctx, "submit a wrong code", chromedp.Click(chromedp.CSS(submit)))
			}
			if got := text(t, ctx, "#last-try"); got != tr(l, "pin.one_try_left") {
				t.Errorf("last try warning = %q", got)
			}
			checkA11y(t, ctx, "PIN with one try left")
			do(t, ctx, "type a wrong code", chromedp.SendKeys(chromedp.ID("code"), wrongCode(e.LastCode(newPhone))))
			submitBy(t, ctx, "submit a wrong code", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, "pin.too_many_attempts")
			checkA11y(t, ctx, "too many tries")
			screenshot(t, ctx, shots, "pin-too-many-"+l+".png")

			// A device (RFC 8628): its code typed wrong (the alert), then
			// right; the sign-in for a device, its consent, and the page
			// that sends the user back to the device.
			tv := "tv-" + l
			e.CreateClient(tv, "", "", false, idp.DeviceGrantType)
			resp, err := e.Server.Client().PostForm(e.Issuer+"/oauth2/device/auth", url.Values{"client_id": {tv}, "scope": {"openid profile"}})
			if err != nil {
				t.Fatal(err)
			}
			var da struct {
				UserCode string `json:"user_code"`
			}
			json.NewDecoder(resp.Body).Decode(&da)
			resp.Body.Close()
			ctx = newTab(t, browser, l)
			navigate(t, ctx, e.Issuer+"/device")
			checkPage(t, ctx, l, tr(l, "device.title"))
			checkA11y(t, ctx, "device code")
			do(t, ctx, "type a wrong device code", chromedp.SendKeys(chromedp.ID("user_code"), "ZZZZ-ZZZZ"))
			submitBy(t, ctx, "submit a wrong device code", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, "device.code_invalid")
			checkA11y(t, ctx, "device code with an error")
			screenshot(t, ctx, shots, "device-error-"+l+".png")
			do(t, ctx, "type the device code", chromedp.SetValue(chromedp.ID("user_code"), da.UserCode))
			submitBy(t, ctx, "submit the device code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "login.title_device"))
			checkA11y(t, ctx, "device sign-in")
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), alice.Username),
				chromedp.SendKeys(chromedp.ID("password"), alice.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(newPhone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "consent.heading_device", "Test app "+tv))
			checkA11y(t, ctx, "device consent")
			screenshot(t, ctx, shots, "device-consent-"+l+".png")
			submitBy(t, ctx, "allow the device", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
			checkPage(t, ctx, l, tr(l, string(ui.MsgDeviceApproved)+".title"))
			checkA11y(t, ctx, "device connected")
		})
	}

	// A send refused by a limit: the page that says how long to wait.
	limited := newEnv(t, idptest.Options{Limits: mfa.Limits{PhoneHour: 1}})
	shop := limited.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", limited.callback(), true)
	for i, l := range ui.Langs() {
		t.Run("wait-"+l, func(t *testing.T) {
			carol := limited.CreateUser("carol-"+l, "correct horse battery", fmt.Sprintf("+8190555500%02d", i), true)
			submit := `main form button[type="submit"]`
			for try := range 2 {
				ctx := newTab(t, browser, l)
				navigate(t, ctx, newAuthRequest(shop, nil).url(limited.Issuer))
				do(t, ctx, "type username and password",
					chromedp.SendKeys(chromedp.ID("username"), carol.Username),
					chromedp.SendKeys(chromedp.ID("password"), carol.Password))
				submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
				if try == 0 {
					continue // the hour's one code
				}
				checkPage(t, ctx, l, tr(l, "sms.wait.title"))
				checkA11y(t, ctx, "send refused, wait")
				screenshot(t, ctx, shots, "wait-"+l+".png")
			}
		})
	}
}

// checkAlert checks that the page's error alert shows the title of msg.
func checkAlert(t *testing.T, ctx context.Context, l, msg string) {
	t.Helper()
	if got, want := text(t, ctx, "#form-error .alert-title"), tr(l, msg+".title"); got != want {
		t.Errorf("error shown = %q, want %q (%s)", got, want, msg)
	}
}

// wrongCode returns a code that is not right.
func wrongCode(right string) string {
	if right == "000000" {
		return "111111"
	}
	return "000000"
}
