package config

import (
	"slices"
	"strings"
	"testing"
)

func TestSMSProviderStatus(t *testing.T) {
	c := Default()
	c.Secret = strings.Repeat("s", 32)
	c.SMS.Providers = []string{ProviderXoxzo, ProviderTwilio}
	c.SMS.Xoxzo.SID, c.SMS.Xoxzo.AuthToken, c.SMS.Xoxzo.Sender = "sid", "token", "IDP"
	c.SMS.Twilio.AccountSID = "AC" + strings.Repeat("0", 32)
	c.SMS.Webhook.URL = "https://hooks.example.com/sms" // set, but webhook is not listed
	got := c.SMSProviderStatus()
	if len(got) != 3 {
		t.Fatalf("statuses = %+v, want xoxzo, twilio, webhook", got)
	}
	x, tw, wh := got[0], got[1], got[2]
	if x.Name != "xoxzo" || x.Position != 1 || !x.Ready || len(x.Missing) != 0 || !strings.Contains(strings.Join(x.Notes, " "), "IDP_XOXZO_TEMPLATE_ID") {
		t.Errorf("xoxzo: %+v", x)
	}
	if tw.Name != "twilio" || tw.Position != 2 || tw.Ready || !slices.Equal(tw.Missing, []string{"TWILIO_AUTH_TOKEN", "IDP_TWILIO_FROM"}) {
		t.Errorf("twilio: %+v", tw)
	}
	if wh.Name != "webhook" || wh.Position != 0 || wh.Ready || !slices.Equal(wh.Missing, []string{"IDP_SMS_WEBHOOK_SECRET"}) {
		t.Errorf("webhook: %+v", wh)
	}
	// What the status calls missing for a listed provider, Validate refuses.
	err := c.Validate()
	for _, env := range tw.Missing {
		if err == nil || !strings.Contains(err.Error(), env+": is required by the twilio SMS provider") {
			t.Errorf("Validate does not refuse the missing %s: %v", env, err)
		}
	}
	// Twilio's account alone, shared with a listed twilio-verify, does not
	// make twilio look meant.
	c = Default()
	c.SMS.Providers = []string{ProviderTwilioVerify}
	c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken = "AC"+strings.Repeat("0", 32), "token"
	c.SMS.Twilio.VerifyServiceSID = "VA" + strings.Repeat("0", 32)
	if got := c.SMSProviderStatus(); len(got) != 1 || got[0].Name != ProviderTwilioVerify || !got[0].Ready {
		t.Errorf("statuses = %+v, want twilio-verify ready alone", got)
	}
}
