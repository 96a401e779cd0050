package idp_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// The ID token's acr and amr say what was done, as a go-oidc RP reads
// them; an RP that requires a class gets it, by a step up, or is told
// unmet_authentication_requirements, never a lower class.
func TestACRAndAMR(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		acr := func(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("acr_values", v) }

		t.Run("PasswordAndSMS", func(t *testing.T) {
			f := setup(t, open)
			verifier := oauth2.GenerateVerifier()
			c := f.rp.claims(t, codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier), f.user), "state-0123456789"), verifier)
			if c.ACR != idp.ACRPasswordSMS || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
				t.Errorf("acr %q amr %v, want %s [pwd sms mfa]", c.ACR, c.AMR, idp.ACRPasswordSMS)
			}
			// Asked for any second factor, the SMS meets it and says so.
			verifier = oauth2.GenerateVerifier()
			b := f.e.NewBrowser()
			c = f.rp.claims(t, codeFrom(t, b.Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, acr(idp.ACRMFA)), f.user), "state-0123456789"), verifier)
			if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
				t.Errorf("acr_values=mfa: acr %q amr %v", c.ACR, c.AMR)
			}
		})

		t.Run("RecoveryCode", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			b := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p := b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, acr(idp.ACRMFA)))
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			p = b.Fill(chooseFactor(t, b, p, "recovery"), url.Values{"recovery_code": {codes[0]}})
			c := f.rp.claims(t, codeFrom(t, b.Fill(p, nil), "state-0123456789"), verifier)
			if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("a recovery code: acr %q amr %v, want %s [pwd otp mfa]", c.ACR, c.AMR, idp.ACRMFA)
			}
			// The session it made is remembered for an RP that takes any
			// second factor: no password, no PIN, the same amr.
			verifier = oauth2.GenerateVerifier()
			c = f.rp.claims(t, codeFrom(t, b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier)), "state-0123456789"), verifier)
			if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("the session of a recovery code: acr %q amr %v", c.ACR, c.AMR)
			}
			// An RP that requires the SMS gets a step up: the PIN, and no
			// other factor on offer.
			sent := len(f.e.Messages())
			verifier = oauth2.GenerateVerifier()
			p = b.Get(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, acr(idp.ACRPasswordSMS)))
			if p.URL.Path != "/login/pin" || len(f.e.Messages()) != sent+1 {
				t.Fatalf("acr_values=pwd+sms after a recovery code: at %s, %d SMS; want the PIN", p.URL.Path, len(f.e.Messages())-sent)
			}
			if strings.Contains(p.Body, "/login/factor/recovery") {
				t.Error("an RP that requires the SMS is offered a recovery code instead")
			}
			forced := b.Submit("/login/factor/recovery?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			if forced.Status != http.StatusConflict {
				t.Errorf("choosing a recovery code anyway: %d, want 409", forced.Status)
			}
			c = f.rp.claims(t, codeFrom(t, b.Fill(p, url.Values{"code": {f.e.LastCode(f.user.Phone)}}), "state-0123456789"), verifier)
			if c.ACR != idp.ACRPasswordSMS || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
				t.Errorf("after the step up: acr %q amr %v", c.ACR, c.AMR)
			}
		})

		// A class of ours that does not exist (yet) is unmet at once, as
		// is an essential acr claim nothing meets; other values are
		// voluntary (OIDC Core 3.1.2.1).
		t.Run("UnmetIsAnErrorNeverALowerClass", func(t *testing.T) {
			f := setup(t, open)
			for name, opt := range map[string]oauth2.AuthCodeOption{
				"unknown class of ours": acr("urn:idp:acr:phishing-resistant"),
				"essential claim":       oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["urn:example:loa:4"]}}}`),
			} {
				p := f.e.NewBrowser().Get(f.rp.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), opt))
				loc := p.Location()
				if p.Status != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "unmet_authentication_requirements" || loc.Query().Get("state") != "state-0123456789" {
					t.Errorf("%s: %d, Location %v; want unmet_authentication_requirements to the RP", name, p.Status, loc)
				}
			}
			if n := len(f.e.Messages()); n != 0 {
				t.Errorf("%d SMS sent for requests no sign-in could meet", n)
			}
			verifier := oauth2.GenerateVerifier()
			c := f.rp.claims(t, codeFrom(t, f.e.NewBrowser().Login(f.rp.authorize("state-0123456789", "nonce-0123456789", verifier, acr("1 2")), f.user), "state-0123456789"), verifier)
			if c.ACR != idp.ACRPasswordSMS {
				t.Errorf("voluntary unknown values: acr %q", c.ACR)
			}
		})
	})
}
