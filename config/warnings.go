package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// maxGuessOdds is the chance of guessing a PIN within one challenge above
// which Warnings speaks up: 1 in 10,000.
const maxGuessOdds = 1e-4

// Warnings returns advice about settings that are valid but probably not
// what a production deployment wants. Each starts with the env name. A
// configuration whose issuer is on localhost counts as a development setup
// and is spared the warnings about development-only providers.
func (c Config) Warnings() []string {
	var w []string
	add := func(env, format string, args ...any) {
		w = append(w, env+": "+fmt.Sprintf(format, args...))
	}
	dev := false
	if u, err := url.Parse(c.Issuer); err == nil {
		dev = isLoopbackName(u.Hostname())
	}

	// The Japanese SMS (mfa.Messages) fits one 70-character UCS-2 segment
	// only while the product name and the issuer's host, both in it, are
	// short; beyond that every code costs two segments.
	if u, err := url.Parse(c.Issuer); err == nil {
		if n := utf8.RuneCountInString(c.UI.ProductName) + len(u.Host); n > 23 {
			add("IDP_PRODUCT_NAME", "with the issuer host %q the Japanese SMS takes two segments (name + host = %d characters; 23 fit in one)", u.Host, n)
		}
	}

	// Odds that someone guessing gets a PIN right within one challenge:
	// every attempt of the first send and of each resend.
	p := c.PIN
	odds := float64(p.MaxAttempts*(p.MaxResends+1)) / math.Pow10(p.Length)
	switch {
	case p.Length < 6:
		add("IDP_PIN_LENGTH", "%d-digit PINs are easier to guess; 6 is the usual length", p.Length)
	case odds > maxGuessOdds:
		add("IDP_PIN_MAX_ATTEMPTS", "%d tries for each of %d sends give a guesser a 1 in %.0f chance per challenge; lower IDP_PIN_MAX_ATTEMPTS or IDP_PIN_MAX_RESENDS",
			p.MaxAttempts, p.MaxResends+1, 1/odds)
	}
	if p.ResendCooldown < 30*time.Second {
		add("IDP_PIN_RESEND_COOLDOWN", "%s is short: carriers drop rapid repeats to one number, and SMS pumping gets cheaper", formatDuration(p.ResendCooldown))
	}
	if c.TTL.LoginFlow < p.TTL {
		add("IDP_LOGIN_FLOW_TTL", "%s is shorter than IDP_PIN_TTL (%s): a login can expire while its PIN is still valid",
			formatDuration(c.TTL.LoginFlow), formatDuration(p.TTL))
	}
	if c.TTL.RefreshToken < c.TTL.AccessToken {
		add("IDP_REFRESH_TOKEN_TTL", "%s is shorter than IDP_ACCESS_TOKEN_TTL (%s)", formatDuration(c.TTL.RefreshToken), formatDuration(c.TTL.AccessToken))
	}

	if !dev {
		for _, name := range c.SMS.Providers {
			switch name {
			case ProviderConsole:
				add("IDP_SMS_PROVIDER", "console only writes PINs to the log; it is for development")
			case ProviderFile:
				add("IDP_SMS_PROVIDER", "file only writes PINs to %s; it is for development and tests", c.SMS.File)
			}
		}
	}
	if slices.Contains(c.SMS.Providers, ProviderXoxzo) {
		if c.SMS.Xoxzo.TemplateID == "" {
			add("IDP_XOXZO_TEMPLATE_ID", "is empty, so PINs go out as free text, which new Xoxzo accounts may not send; set an approved template id")
		}
		if s := c.SMS.Xoxzo.Sender; digitsRE.MatchString(s) && (strings.HasPrefix(s, "0") || strings.HasPrefix(s, "81")) {
			add("IDP_XOXZO_SENDER", "%q looks like a Japanese number, which Japanese carriers refuse as a sender id", s)
		}
	}
	for _, u := range []struct{ env, raw, provider string }{
		{"IDP_XOXZO_API_URL", c.SMS.Xoxzo.APIURL, ProviderXoxzo},
		{"IDP_TWILIO_API_URL", c.SMS.Twilio.APIURL, ProviderTwilio},
		{"IDP_SMS_WEBHOOK_URL", c.SMS.Webhook.URL, ProviderWebhook},
	} {
		if !slices.Contains(c.SMS.Providers, u.provider) {
			continue
		}
		if pu, err := url.Parse(u.raw); err == nil && pu.Scheme == "http" && !isLoopbackName(pu.Hostname()) {
			add(u.env, "uses plain http: credentials and PINs cross the network readable")
		}
	}
	if a, all := c.SMS.Countries(); !all && !slices.Contains(a, c.SMS.DefaultRegion) {
		add("IDP_SMS_DEFAULT_REGION", "%s is not in IDP_SMS_ALLOWED_COUNTRIES, so numbers typed in national format will be refused", c.SMS.DefaultRegion)
	}

	if c.Admin.Listen == "" && c.Admin.Token != "" {
		add("IDP_ADMIN_TOKEN", "is set but IDP_ADMIN_LISTEN is empty, so there is no admin API to use it")
	}
	if host, _, err := net.SplitHostPort(c.Admin.Listen); err == nil && !isLoopbackHost(host) {
		add("IDP_ADMIN_LISTEN", "%q is reachable from other hosts; /metrics there needs no token", c.Admin.Listen)
	}

	// OWASP's argon2id floor is m=19 MiB with t=2 (or the same product of
	// memory and passes at other settings).
	if pw := c.Password; uint64(pw.Memory)*uint64(pw.Time) < 19456*2 {
		add("IDP_ARGON2_MEMORY", "%d KiB x %d passes is below OWASP's argon2id minimum (19456 KiB x 2)", pw.Memory, pw.Time)
	}

	if c.Secret != "" && slices.Contains(c.SecretOld, c.Secret) {
		add("IDP_SECRET_OLD", "contains the current IDP_SECRET")
	}
	return w
}

// isLoopbackHost reports whether a listen host accepts only local
// connections. An empty host listens on every interface.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
