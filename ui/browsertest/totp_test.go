package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/totp"
	"github.com/smspin/idp/ui"
)

// TestTOTPEnrolmentAndSignIn drives, in English and Japanese, adding an
// authenticator app on the account page (the QR code drawn, the key as
// text, a wrong code then the right one), then a sign-in to an app that
// asks for the app's code first and sends no SMS. axe-core checks every
// page; the README shows the screenshots.
func TestTOTPEnrolmentAndSignIn(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), true)
	shots := screenshotDir(t)
	submit := `main form.form button[type="submit"]`
	code := func(secret string) string {
		t.Helper()
		c, err := totp.Code(secret, e.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	for i, l := range ui.Langs() {
		t.Run(l, func(t *testing.T) {
			user := e.CreateUser("taro-"+l, "correct horse battery "+l, fmt.Sprintf("+8190777701%02d", i), true)
			ctx := newTab(t, browser, l)
			navigate(t, ctx, e.Issuer+"/account/signin")
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(user.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "account.title"))

			submitBy(t, ctx, "add an authenticator app", chromedp.Click(chromedp.CSS(`form[action="/account/totp/new"] button`)))
			checkPage(t, ctx, l, tr(l, "totp_setup.title"))
			// The QR code is drawn: the CSP lets its data: URL load.
			if w := eval[int](t, ctx, `document.querySelector(".qr img").naturalWidth`); w < 100 {
				t.Fatalf("the QR code is not drawn (naturalWidth %d)", w)
			}
			secret := strings.ReplaceAll(text(t, ctx, "#totp-secret"), " ", "")
			if len(secret) != 32 {
				t.Fatalf("the key shown is %q", secret)
			}
			checkA11y(t, ctx, "authenticator set-up")
			screenshot(t, ctx, shots, "totp-setup-"+l+".png")
			wrong := "000000"
			if _, ok := totp.Check(secret, wrong, e.Now()); ok {
				wrong = "111111"
			}
			do(t, ctx, "type a wrong code", chromedp.SendKeys(chromedp.ID("totp_code"), wrong))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, string(ui.MsgTOTPInvalid))
			checkA11y(t, ctx, "authenticator set-up with an error")
			do(t, ctx, "type the code", chromedp.SetValue(chromedp.ID("totp_code"), code(secret)))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "account.title"))
			if got := text(t, ctx, `main .alert-info`); got != tr(l, "account.totp_added") {
				t.Errorf("after adding: notice %q", got)
			}
			checkA11y(t, ctx, "account with an authenticator app")

			// The next sign-in asks the app first: no SMS.
			e.Advance(totp.Period * 1e9)
			sent := len(e.Messages())
			ctx = newTab(t, browser, l)
			a := newAuthRequest(client, nil)
			navigate(t, ctx, a.url(e.Issuer))
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "totp.title"))
			if n := len(e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent before SMS was chosen", n)
			}
			checkA11y(t, ctx, "authenticator code")
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("totp_code"), code(secret)))
			screenshot(t, ctx, shots, "totp-signin-"+l+".png")
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			e.landedOnRP(t, ctx, a)
		})
	}
}
