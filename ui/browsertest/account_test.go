package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/ui"
)

// TestAccountAndRecoveryCodes drives, in English and Japanese, the account
// page (signed in with the password and the PIN: recovery codes made and
// shown once, the password change, a trusted browser listed and
// forgotten), then a sign-in with a recovery code instead of the PIN, the
// forgotten-password page and an operator's reset link. axe-core checks
// every page; the README shows the screenshots.
func TestAccountAndRecoveryCodes(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{TrustedDeviceTTL: 30 * 24 * time.Hour})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), true)
	shots := screenshotDir(t)
	submit := `main form.form button[type="submit"]`

	for i, l := range ui.Langs() {
		t.Run(l, func(t *testing.T) {
			user := e.CreateUser("hanako-"+l, "correct horse battery "+l, fmt.Sprintf("+8190777700%02d", i), true)

			// The account page asks for a full sign-in first.
			ctx := newTab(t, browser, l)
			navigate(t, ctx, e.Issuer+"/account")
			checkPage(t, ctx, l, tr(l, "login.title_account"))
			checkA11y(t, ctx, "account sign-in")
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(user.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "account.title"))
			if got := text(t, ctx, "main .lead"); got != tr(l, "account.signed_in_as", user.Username) {
				t.Errorf("account page lead = %q", got)
			}
			checkA11y(t, ctx, "account")

			// Recovery codes: made, shown once.
			submitBy(t, ctx, "make recovery codes", chromedp.Click(chromedp.CSS(`form[action="/account/recovery-codes"] button`)))
			checkPage(t, ctx, l, tr(l, "codes.title"))
			codes := eval[[]string](t, ctx, `[...document.querySelectorAll(".codes code")].map(c => c.innerText.trim())`)
			if len(codes) != 10 {
				t.Fatalf("%d recovery codes shown, want 10", len(codes))
			}
			checkA11y(t, ctx, "recovery codes")
			screenshot(t, ctx, shots, "recovery-codes-"+l+".png")
			submitBy(t, ctx, "done", chromedp.Click(chromedp.CSS(`main .actions a`)))
			checkPage(t, ctx, l, tr(l, "account.title"))
			if got := text(t, ctx, `section[aria-labelledby="recovery-heading"] p:not(.hint)`); !strings.Contains(got, "10") {
				t.Errorf("the account page says %q of the codes, want 10 unused", got)
			}
			checkA11y(t, ctx, "account with codes")
			screenshot(t, ctx, shots, "account-"+l+".png")

			// The password change, with a wrong current password first.
			submitBy(t, ctx, "open the password change", chromedp.Click(chromedp.CSS(`a[href="/account/password"]`)))
			checkPage(t, ctx, l, tr(l, "account.change_password"))
			do(t, ctx, "type a wrong current password",
				chromedp.SendKeys(chromedp.ID("current_password"), "not my password"),
				chromedp.SendKeys(chromedp.ID("new_password"), "a brand new passphrase "+l),
				chromedp.SendKeys(chromedp.ID("confirm_password"), "a brand new passphrase "+l))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, string(ui.MsgCurrentPasswordWrong))
			checkA11y(t, ctx, "password change with an error")
			do(t, ctx, "type the passwords",
				chromedp.SendKeys(chromedp.ID("current_password"), user.Password),
				chromedp.SendKeys(chromedp.ID("new_password"), "a brand new passphrase "+l),
				chromedp.SendKeys(chromedp.ID("confirm_password"), "a brand new passphrase "+l))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "account.title"))
			if got := text(t, ctx, `main .alert-info`); got != tr(l, string(ui.MsgPasswordChanged)) {
				t.Errorf("after the change the page says %q", got)
			}
			user.Password = "a brand new passphrase " + l

			// A sign-in with a recovery code instead of the PIN, ticking
			// nothing: the PIN page offers both.
			ctx = newTab(t, browser, l)
			a := newAuthRequest(client, nil)
			navigate(t, ctx, a.url(e.Issuer))
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "pin.title"))
			if got := text(t, ctx, `label[for="trust_device"]`); got != tr(l, "pin.trust_device", 30) {
				t.Errorf("trusted browser box = %q", got)
			}
			checkA11y(t, ctx, "PIN with other factors")
			submitBy(t, ctx, "use a recovery code", chromedp.Click(chromedp.CSS(`form[action^="/login/factor/recovery"] button`)))
			checkPage(t, ctx, l, tr(l, "recovery.title"))
			do(t, ctx, "type a wrong code", chromedp.SendKeys(chromedp.ID("recovery_code"), "abcd-efgh-jkmn-pqrs"))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, string(ui.MsgRecoveryCodeInvalid))
			checkA11y(t, ctx, "recovery code with an error")
			do(t, ctx, "type a code", chromedp.SendKeys(chromedp.ID("recovery_code"), strings.ToUpper(codes[0])))
			screenshot(t, ctx, shots, "recovery-"+l+".png")
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "recovery.used_title"))
			if got := text(t, ctx, "main .alert-info"); got != tr(l, "recovery.used_left", 9) {
				t.Errorf("codes left = %q", got)
			}
			checkA11y(t, ctx, "recovery code used")
			screenshot(t, ctx, shots, "recovery-used-"+l+".png")
			submitBy(t, ctx, "continue", chromedp.Click(chromedp.CSS(submit)))
			e.landedOnRP(t, ctx, a)
			msgs := e.Messages()
			if last := msgs[len(msgs)-1]; last.To != user.Phone || strings.Contains(last.Body, "#") {
				t.Errorf("no notice of the recovery code: %+v", last)
			}

			// Forgot password, and an operator's reset link.
			ctx = newTab(t, browser, l)
			navigate(t, ctx, e.Issuer+"/password/forgot")
			checkPage(t, ctx, l, tr(l, "reset.title"))
			checkA11y(t, ctx, "forgot password")
			screenshot(t, ctx, shots, "forgot-"+l+".png")
			navigate(t, ctx, e.ResetLink(user))
			checkPage(t, ctx, l, tr(l, "password.new_title"))
			do(t, ctx, "type different passwords",
				chromedp.SendKeys(chromedp.ID("new_password"), "one new passphrase"),
				chromedp.SendKeys(chromedp.ID("confirm_password"), "another passphrase"))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkAlert(t, ctx, l, string(ui.MsgPasswordMismatch))
			checkA11y(t, ctx, "new password with an error")
			do(t, ctx, "type the new password",
				chromedp.SendKeys(chromedp.ID("new_password"), "one new passphrase"),
				chromedp.SendKeys(chromedp.ID("confirm_password"), "one new passphrase"))
			submitBy(t, ctx, "submit", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, string(ui.MsgPasswordReset)+".title"))
			checkA11y(t, ctx, "password reset")
		})
	}
}
