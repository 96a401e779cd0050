package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/ui"
)

// virtualAuthenticator gives a tab a platform authenticator of DevTools
// (CTAP2, internal, resident keys, user verification that succeeds), the
// way a laptop's fingerprint reader or a phone's screen lock answers.
func virtualAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// addCredential is WebAuthn.addCredential with params of our own.
var addCredential = cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}

// TestPasskeyRegistrationAndSignIn drives, in English and Japanese,
// adding a passkey on the account page (the page's script, the browser's
// WebAuthn, a virtual authenticator), then a sign-in to an app in a new
// browser holding the same passkey: the passkey page first, no SMS, one
// click, and the app gets its code. axe-core checks the pages; the README
// shows the screenshots.
func TestPasskeyRegistrationAndSignIn(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{Localhost: true}) // a relying party needs a domain name
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), true)
	shots := screenshotDir(t)
	submit := `main form.form button[type="submit"]`

	for i, l := range ui.Langs() {
		t.Run(l, func(t *testing.T) {
			user := e.CreateUser("hanako-"+l, "correct horse battery "+l, fmt.Sprintf("+8190777702%02d", i), true)
			ctx := newTab(t, browser, l)
			auth := virtualAuthenticator(t, ctx)
			navigate(t, ctx, e.Issuer+"/account/signin")
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			do(t, ctx, "type the code", chromedp.SendKeys(chromedp.ID("code"), e.LastCode(user.Phone)))
			submitBy(t, ctx, "submit the code", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "account.title"))
			if eval[bool](t, ctx, `!document.querySelector("#passkey-add [data-passkey-nojs]").hidden`) {
				t.Error("the script did not hide the note for browsers without passkeys")
			}

			do(t, ctx, "name the passkey", chromedp.SendKeys(chromedp.ID("passkey_name"), "laptop "+l))
			do(t, ctx, "add a passkey", chromedp.Click(chromedp.CSS(`#passkey-add button[type="submit"]`)))
			waitFor(t, ctx, "the passkey added", `document.querySelector("main .alert-info")`, 20*time.Second)
			if got := text(t, ctx, `main .alert-info`); got != tr(l, string(ui.MsgPasskeyAdded)) {
				t.Fatalf("after adding: notice %q\n%s", got, pageSummary(ctx))
			}
			checkA11y(t, ctx, "account with a passkey")
			screenshot(t, ctx, shots, "passkey-account-"+l+".png")
			creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
			if err != nil || len(creds.Credentials) != 1 {
				t.Fatalf("the authenticator holds %v (%v), want one passkey", creds, err)
			}

			// Another browser with the same passkey (as a synced one would
			// be): the password, then the passkey first, no SMS.
			sent := len(e.Messages())
			ctx = newTab(t, browser, l)
			auth = virtualAuthenticator(t, ctx)
			got := creds.Credentials[0]
			// Only the fields an authenticator without CMTG takes (the
			// generated params always send generateCmtgKeyOnNextOperation).
			c := map[string]any{"credentialId": got.CredentialID, "isResidentCredential": got.IsResidentCredential, "rpId": got.RpID,
				"privateKey": got.PrivateKey, "userHandle": got.UserHandle, "signCount": got.SignCount}
			if _, err := chromedp.Call(ctx, addCredential, map[string]any{"authenticatorId": auth, "credential": c}); err != nil {
				t.Fatalf("WebAuthn.addCredential: %v", err)
			}
			a := newAuthRequest(client, map[string][]string{"acr_values": {idp.ACRPhishingResistant}})
			navigate(t, ctx, a.url(e.Issuer))
			do(t, ctx, "type username and password",
				chromedp.SendKeys(chromedp.ID("username"), user.Username),
				chromedp.SendKeys(chromedp.ID("password"), user.Password))
			submitBy(t, ctx, "submit the password", chromedp.Click(chromedp.CSS(submit)))
			checkPage(t, ctx, l, tr(l, "passkey.title"))
			if n := len(e.Messages()) - sent; n != 0 {
				t.Errorf("%d SMS sent before SMS was chosen", n)
			}
			checkA11y(t, ctx, "passkey sign-in")
			screenshot(t, ctx, shots, "passkey-signin-"+l+".png")
			do(t, ctx, "use the passkey", chromedp.Click(chromedp.CSS(submit)))
			waitFor(t, ctx, "the RP's callback", fmt.Sprintf(`location.href.startsWith(%q)`, e.callback()), 20*time.Second)
			e.landedOnRP(t, ctx, a)
		})
	}
}
