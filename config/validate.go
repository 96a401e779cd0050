package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The SMS provider names IDP_SMS_PROVIDER accepts.
const (
	ProviderConsole = "console"
	ProviderFile    = "file"
	ProviderXoxzo   = "xoxzo"
	ProviderTwilio  = "twilio"
	ProviderWebhook = "webhook"
	// Providers that make and check the code themselves; either is the
	// only provider listed.
	ProviderTwilioVerify = "twilio-verify"
	ProviderXoxzoOTP     = "xoxzo-otp"
)

// SMSProviders lists every provider name IDP_SMS_PROVIDER accepts.
func SMSProviders() []string {
	return []string{ProviderConsole, ProviderFile, ProviderXoxzo, ProviderTwilio, ProviderWebhook, ProviderTwilioVerify, ProviderXoxzoOTP}
}

const (
	minSecretLen     = 32 // bytes: a 256-bit key
	minAdminTokenLen = 16
	// The registration token guards a public endpoint: as long as a key.
	minRegistrationTokenLen = 32
	maxProductName          = 40 // characters; it is part of every SMS
)

var (
	colorRE     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	countryRE   = regexp.MustCompile(`^[A-Z]{2}$`)
	digitsRE    = regexp.MustCompile(`^[0-9]+$`)
	twilioSIDRE = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	verifySIDRE = regexp.MustCompile(`^VA[0-9a-fA-F]{32}$`)
	alnumRE     = regexp.MustCompile(`^[A-Za-z0-9]{1,10}$`)
	numSenderRE = regexp.MustCompile(`^[0-9]{1,15}$`)
)

// Validate checks the whole configuration and returns every problem at
// once, joined with errors.Join; each is an *Error whose message starts
// with the setting's env name.
func (c Config) Validate() error {
	var p problems

	// Simple bounds from the struct tags.
	for _, f := range fields(&c) {
		if msg := f.checkBounds(); msg != "" {
			p.add(f.env, "%s", msg)
		}
	}

	if msg := checkURL(c.Issuer, true); msg != "" {
		p.add("IDP_ISSUER", "%s", msg)
	} else if strings.HasSuffix(c.Issuer, "/") {
		p.add("IDP_ISSUER", "%q ends with a slash; the issuer has none", c.Issuer)
	}
	if msg := checkHostPort(c.Listen); msg != "" {
		p.add("IDP_LISTEN", "%s", msg)
	}
	for _, tp := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(tp); err != nil {
			if _, err := netip.ParseAddr(tp); err != nil {
				p.add("IDP_TRUSTED_PROXIES", "%q is neither an IP address nor a CIDR range like 10.0.0.0/8", tp)
			}
		}
	}
	if c.Admin.Listen != "" {
		if msg := checkHostPort(c.Admin.Listen); msg != "" {
			p.add("IDP_ADMIN_LISTEN", "%s", msg)
		} else if c.Admin.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			p.add("IDP_ADMIN_LISTEN", "%q is also IDP_LISTEN; use another port, or empty to turn the admin listener off", c.Admin.Listen)
		}
	}
	if n := len(c.Admin.Token); n > 0 && n < minAdminTokenLen {
		p.add("IDP_ADMIN_TOKEN", "is %d characters; at least %d needed", n, minAdminTokenLen)
	}
	if n := len(c.RegistrationToken); n > 0 && n < minRegistrationTokenLen {
		p.add("IDP_REGISTRATION_TOKEN", "is %d characters; at least %d needed (e.g. openssl rand -base64 32)", n, minRegistrationTokenLen)
	}

	c.validateDatabase(&p)

	switch n := len(c.Secret); {
	case n == 0:
		p.add("IDP_SECRET", "is required: at least %d random bytes (e.g. openssl rand -base64 32), or IDP_SECRET_FILE", minSecretLen)
	case n < minSecretLen:
		p.add("IDP_SECRET", "is %d bytes; at least %d needed", n, minSecretLen)
	}
	for i, s := range c.SecretOld {
		if len(s) < minSecretLen {
			p.add("IDP_SECRET_OLD", "secret %d of %d is %d bytes; at least %d needed", i+1, len(c.SecretOld), len(s), minSecretLen)
		}
	}

	c.validateUI(&p)

	if c.Keys.Rotation != 0 && c.Keys.Rotation < 24*time.Hour {
		p.add("IDP_KEY_ROTATION", "%s is too often: use 0 (manual only) or at least 24h", formatDuration(c.Keys.Rotation))
	}

	c.validateSMS(&p)

	return p.err()
}

func (c Config) validateDatabase(p *problems) {
	d := c.Database
	switch d.Dialect() {
	case "postgres":
		// Never echo the URL: it may hold a password.
		u, err := url.Parse(d.URL)
		if err != nil {
			p.add("IDP_DATABASE_URL", "is not a valid postgres:// URL")
			break
		}
		// Behind a pooler in transaction mode (PgBouncer before 1.21)
		// this is set to exec: pgx's own parameter, checked here so a
		// typo names the setting instead of failing at connect time.
		if m := u.Query().Get("default_query_exec_mode"); m != "" &&
			!slices.Contains([]string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}, m) {
			p.add("IDP_DATABASE_URL", "default_query_exec_mode=%s is not one of cache_statement, cache_describe, describe_exec, exec, simple_protocol", m)
		}
	case "sqlite":
		if d.SQLitePath() == "" {
			p.add("IDP_DATABASE_URL", "sqlite: needs a path, e.g. sqlite:idp.db")
		}
	default:
		p.add("IDP_DATABASE_URL", "must start with postgres://, postgresql:// or sqlite:")
	}
	if d.MaxOpenConns >= 1 && d.MaxIdleConns > d.MaxOpenConns {
		p.add("IDP_DATABASE_MAX_IDLE_CONNS", "%d is more than IDP_DATABASE_MAX_OPEN_CONNS (%d)", d.MaxIdleConns, d.MaxOpenConns)
	}
}

func (c Config) validateUI(p *problems) {
	u := c.UI
	switch n := utf8.RuneCountInString(u.ProductName); {
	case strings.TrimSpace(u.ProductName) == "":
		p.add("IDP_PRODUCT_NAME", "is required")
	case n > maxProductName:
		p.add("IDP_PRODUCT_NAME", "is %d characters; at most %d, as it is part of every SMS", n, maxProductName)
	case strings.ContainsFunc(u.ProductName, unicode.IsControl):
		p.add("IDP_PRODUCT_NAME", "%q contains a control character", u.ProductName)
	}
	if u.LogoURL != "" {
		if strings.HasPrefix(u.LogoURL, "/") && !strings.HasPrefix(u.LogoURL, "//") {
			// a path on our own host
		} else if msg := checkURL(u.LogoURL, false); msg != "" {
			p.add("IDP_LOGO_URL", "%s (or use a /path)", msg)
		}
	}
	if !colorRE.MatchString(u.AccentColor) {
		p.add("IDP_ACCENT_COLOR", "%q is not a colour like #0b57d0 (in YAML, quote it: \"#0b57d0\")", u.AccentColor)
	}
}

func (c Config) validateSMS(p *problems) {
	s := c.SMS
	known := SMSProviders()
	listed := map[string]bool{}
	if len(s.Providers) == 0 {
		p.add("IDP_SMS_PROVIDER", "is required: a comma list of %s", strings.Join(known, ", "))
	}
	for _, name := range s.Providers {
		switch {
		case !slices.Contains(known, name):
			p.add("IDP_SMS_PROVIDER", "%q is not a provider; choose from %s", name, strings.Join(known, ", "))
		case listed[name]:
			p.add("IDP_SMS_PROVIDER", "%q is listed twice", name)
		}
		listed[name] = true
	}
	need := func(provider, env, value string) {
		if listed[provider] && value == "" {
			p.add(env, "is required by the %s SMS provider", provider)
		}
	}

	need(ProviderFile, "IDP_SMS_FILE", s.File)

	for _, v := range []string{ProviderTwilioVerify, ProviderXoxzoOTP} {
		if listed[v] && len(s.Providers) > 1 {
			p.add("IDP_SMS_PROVIDER", "%s makes and checks the code itself, so it must be the only provider listed", v)
		}
	}
	need(ProviderTwilioVerify, "TWILIO_ACCOUNT_SID", s.Twilio.AccountSID)
	need(ProviderTwilioVerify, "TWILIO_AUTH_TOKEN", s.Twilio.AuthToken)
	need(ProviderTwilioVerify, "IDP_TWILIO_VERIFY_SERVICE_SID", s.Twilio.VerifyServiceSID)
	if v := s.Twilio.VerifyServiceSID; v != "" && !verifySIDRE.MatchString(v) {
		p.add("IDP_TWILIO_VERIFY_SERVICE_SID", "%q is not VA followed by 32 hex digits", v)
	}
	need(ProviderXoxzoOTP, "XOXZO_API_SID", s.Xoxzo.SID)
	need(ProviderXoxzoOTP, "XOXZO_API_AUTH_TOKEN", s.Xoxzo.AuthToken)
	need(ProviderXoxzoOTP, "IDP_XOXZO_OTP_WEBSITE", s.Xoxzo.OTPWebsite)
	if w := s.Xoxzo.OTPWebsite; w != "" {
		if msg := checkURL(w, false); msg != "" {
			p.add("IDP_XOXZO_OTP_WEBSITE", "%s", msg)
		}
	}
	if u := s.Twilio.VerifyAPIURL; u != "" || listed[ProviderTwilioVerify] {
		if msg := checkURL(u, false); msg != "" {
			p.add("IDP_TWILIO_VERIFY_API_URL", "%s", msg)
		}
	}

	x := s.Xoxzo
	need(ProviderXoxzo, "XOXZO_API_SID", x.SID)
	need(ProviderXoxzo, "XOXZO_API_AUTH_TOKEN", x.AuthToken)
	need(ProviderXoxzo, "IDP_XOXZO_SENDER", x.Sender)
	if x.Sender != "" && !alnumRE.MatchString(x.Sender) && !numSenderRE.MatchString(x.Sender) {
		p.add("IDP_XOXZO_SENDER", "%q is not up to 10 letters and digits, or up to 15 digits", x.Sender)
	}
	if x.TemplateID != "" && !digitsRE.MatchString(x.TemplateID) {
		p.add("IDP_XOXZO_TEMPLATE_ID", "%q is not a number", x.TemplateID)
	}
	if msg := checkURL(x.APIURL, false); msg != "" {
		p.add("IDP_XOXZO_API_URL", "%s", msg)
	}

	t := s.Twilio
	need(ProviderTwilio, "TWILIO_ACCOUNT_SID", t.AccountSID)
	need(ProviderTwilio, "TWILIO_AUTH_TOKEN", t.AuthToken)
	need(ProviderTwilio, "IDP_TWILIO_FROM", t.From)
	if t.AccountSID != "" && !twilioSIDRE.MatchString(t.AccountSID) {
		p.add("TWILIO_ACCOUNT_SID", "%q is not AC followed by 32 hex digits", t.AccountSID)
	}
	if msg := checkURL(t.APIURL, false); msg != "" {
		p.add("IDP_TWILIO_API_URL", "%s", msg)
	}

	w := s.Webhook
	need(ProviderWebhook, "IDP_SMS_WEBHOOK_URL", w.URL)
	need(ProviderWebhook, "IDP_SMS_WEBHOOK_SECRET", w.Secret)
	if w.URL != "" {
		if msg := checkURL(w.URL, false); msg != "" {
			p.add("IDP_SMS_WEBHOOK_URL", "%s", msg)
		}
	}
	if n := len(w.Secret); n > 0 && n < minSecretLen {
		p.add("IDP_SMS_WEBHOOK_SECRET", "is %d bytes; at least %d needed", n, minSecretLen)
	}

	if !countryRE.MatchString(s.DefaultRegion) {
		p.add("IDP_SMS_DEFAULT_REGION", "%q is not an ISO 3166 alpha-2 country code like JP", s.DefaultRegion)
	}
	seen := map[string]bool{}
	for _, cc := range s.AllowedCountries {
		switch {
		case cc == "*" && len(s.AllowedCountries) == 1:
		case cc == "*":
			p.add("IDP_SMS_ALLOWED_COUNTRIES", "* (every country) cannot be listed with countries")
		case !countryRE.MatchString(cc):
			p.add("IDP_SMS_ALLOWED_COUNTRIES", "%q is not an ISO 3166 alpha-2 country code like JP", cc)
		case seen[cc]:
			p.add("IDP_SMS_ALLOWED_COUNTRIES", "%q is listed twice", cc)
		}
		seen[cc] = true
	}

	b := s.Budget
	prices, err := b.PriceTable()
	if err != nil {
		p.add("IDP_SMS_PRICES", "%s", err)
	}
	if b.Daily != "" {
		if f, err := strconv.ParseFloat(b.Daily, 64); err != nil || f <= 0 {
			p.add("IDP_SMS_DAILY_BUDGET", "%q is not an amount above 0", b.Daily)
		}
		if len(b.Prices) == 0 {
			p.add("IDP_SMS_DAILY_BUDGET", "needs IDP_SMS_PRICES to price each send")
		}
	}
	if (len(prices) > 0 || b.Daily != "") && !currencyRE.MatchString(b.Currency) {
		p.add("IDP_SMS_CURRENCY", "%q is not a currency code like JPY or USD", b.Currency)
	}
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// checkURL returns what is wrong with an absolute http(s) URL, or "". An
// issuer must in addition use https off loopback and have no query or
// fragment (OpenID Connect Discovery 1.0 §3).
func checkURL(raw string, issuer bool) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "is required"
	case err != nil:
		return fmt.Sprintf("%q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q is not an absolute http(s) URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("%q has no host", raw)
	case u.User != nil:
		return fmt.Sprintf("%q must not carry a user name or password", u.Redacted())
	case !issuer:
		return ""
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not have a query", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q must not have a fragment", raw)
	case u.Scheme == "http" && !isLoopbackName(u.Hostname()):
		return fmt.Sprintf("%q must use https (http is allowed only for localhost, 127.0.0.1 and ::1)", raw)
	}
	return ""
}

func isLoopbackName(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// checkHostPort returns what is wrong with a listen address, or "".
func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has no port number from 0 to 65535", addr)
	}
	return ""
}

// problems collects validation errors.
type problems []error

func (p *problems) add(env, format string, args ...any) {
	*p = append(*p, &Error{Env: env, Problem: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }
