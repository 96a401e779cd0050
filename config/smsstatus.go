package config

import "slices"

// ProviderStatus says whether an SMS provider has the settings it needs.
type ProviderStatus struct {
	Name     string   `json:"provider"`
	Position int      `json:"position,omitempty"` // 1-based place in IDP_SMS_PROVIDER; 0 when not listed
	Ready    bool     `json:"ready"`              // listed, and nothing required is missing
	Missing  []string `json:"missing,omitempty"`  // required settings left empty
	Notes    []string `json:"notes,omitempty"`    // how optional settings change what it does
}

// SMSProviderStatus lists the providers IDP_SMS_PROVIDER names, in order,
// then those that are not listed but have some of their settings (a
// provider the operator may have meant to list), each with what it lacks.
func (c Config) SMSProviderStatus() []ProviderStatus {
	s := c.SMS
	value := map[string]string{
		"IDP_SMS_FILE": s.File, "XOXZO_API_SID": s.Xoxzo.SID, "XOXZO_API_AUTH_TOKEN": s.Xoxzo.AuthToken,
		"IDP_XOXZO_SENDER": s.Xoxzo.Sender, "IDP_XOXZO_OTP_WEBSITE": s.Xoxzo.OTPWebsite,
		"TWILIO_ACCOUNT_SID": s.Twilio.AccountSID, "TWILIO_AUTH_TOKEN": s.Twilio.AuthToken,
		"IDP_TWILIO_FROM": s.Twilio.From, "IDP_TWILIO_VERIFY_SERVICE_SID": s.Twilio.VerifyServiceSID,
		"IDP_SMS_WEBHOOK_URL": s.Webhook.URL, "IDP_SMS_WEBHOOK_SECRET": s.Webhook.Secret,
	}
	// The settings each provider cannot send without (validateSMS refuses
	// to start when a listed provider lacks one).
	required := map[string][]string{
		ProviderConsole:      nil,
		ProviderFile:         {"IDP_SMS_FILE"},
		ProviderXoxzo:        {"XOXZO_API_SID", "XOXZO_API_AUTH_TOKEN", "IDP_XOXZO_SENDER"},
		ProviderTwilio:       {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "IDP_TWILIO_FROM"},
		ProviderWebhook:      {"IDP_SMS_WEBHOOK_URL", "IDP_SMS_WEBHOOK_SECRET"},
		ProviderTwilioVerify: {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "IDP_TWILIO_VERIFY_SERVICE_SID"},
		ProviderXoxzoOTP:     {"XOXZO_API_SID", "XOXZO_API_AUTH_TOKEN", "IDP_XOXZO_OTP_WEBSITE"},
	}
	status := func(name string, pos int) ProviderStatus {
		st := ProviderStatus{Name: name, Position: pos}
		for _, env := range required[name] {
			if value[env] == "" {
				st.Missing = append(st.Missing, env)
			}
		}
		st.Ready = pos > 0 && len(st.Missing) == 0
		switch name {
		case ProviderConsole:
			st.Notes = append(st.Notes, "prints each SMS on stdout: for development only")
		case ProviderFile:
			st.Notes = append(st.Notes, "appends each SMS to IDP_SMS_FILE: nothing reaches a phone")
		case ProviderXoxzo:
			if s.Xoxzo.TemplateID == "" {
				st.Notes = append(st.Notes, "sends free text; accounts that may send only approved templates need IDP_XOXZO_TEMPLATE_ID")
			} else {
				st.Notes = append(st.Notes, "sends through approved template "+s.Xoxzo.TemplateID)
			}
		}
		return st
	}
	var out []ProviderStatus
	for i, name := range s.Providers {
		if _, ok := required[name]; ok {
			out = append(out, status(name, i+1))
		}
	}
	for _, name := range SMSProviders() {
		if slices.Contains(s.Providers, name) || len(required[name]) == 0 {
			continue
		}
		set := false
		for _, env := range required[name] {
			// Shared credentials alone (an account used by another listed
			// provider) do not make a provider look meant.
			if value[env] != "" && !sharedWithListed(env, s.Providers, required) {
				set = true
			}
		}
		if set {
			out = append(out, status(name, 0))
		}
	}
	return out
}

// sharedWithListed reports whether env is required by a listed provider.
func sharedWithListed(env string, listed []string, required map[string][]string) bool {
	for _, name := range listed {
		if slices.Contains(required[name], env) {
			return true
		}
	}
	return false
}
