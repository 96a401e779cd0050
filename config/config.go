package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the idp binary. Each leaf field carries its
// environment variable name in an env tag and a one-line description in a
// help tag; secret:"true" marks values that are never printed, and
// min/max/oneof tags state the simple bounds that Validate enforces and
// Settings documents.
type Config struct {
	// Issuer is the OpenID issuer identifier, without a trailing slash.
	Issuer string `env:"IDP_ISSUER" help:"issuer URL; https unless the host is localhost, 127.0.0.1 or ::1"`
	// Listen is the public listener's address.
	Listen string `env:"IDP_LISTEN" help:"listen address (host:port) for the public pages and OAuth endpoints"`
	// TrustedProxies may set X-Forwarded-For; the client address is the
	// nearest one in that header not among them.
	TrustedProxies []string `env:"IDP_TRUSTED_PROXIES" help:"comma list of proxy addresses or CIDR ranges whose X-Forwarded-For is believed; empty = use the connection's address"`

	Admin    Admin
	Database Database

	// Secret keys the PIN hashes, cookies and encryption at rest.
	Secret string `env:"IDP_SECRET" secret:"true" help:"system secret, at least 32 bytes (keys PIN hashes, cookies, encryption at rest)"`
	// SecretOld are earlier values of Secret, still accepted when reading
	// what they protected, so the secret can be rotated without logging
	// everybody out.
	SecretOld []string `env:"IDP_SECRET_OLD" secret:"true" help:"comma list of previous secrets, still accepted for reading"`
	// RegistrationToken is the initial access token of dynamic client
	// registration (RFC 7591); empty leaves registration off.
	RegistrationToken string `env:"IDP_REGISTRATION_TOKEN" secret:"true" help:"initial access token for dynamic client registration at /oauth2/register (RFC 7591), at least 32 characters; empty = registration off"`

	Log      Log
	UI       UI
	TTL      TTL
	Keys     Keys
	Password Password
	SMS      SMS
	PIN      PIN

	// MFARemember is how long a browser that passed the PIN step may skip
	// it at its next sign-in; 0 asks every time.
	MFARemember time.Duration `env:"IDP_MFA_REMEMBER" min:"0" max:"720h" help:"how long a browser that passed the PIN step skips it (0 = always ask)"`
	// SessionTTL is how long a browser stays signed in after a full login.
	SessionTTL time.Duration `env:"IDP_SESSION_TTL" min:"1m" max:"2160h" help:"how long a browser stays signed in (SSO) after a full login"`
	// TrustedDeviceTTL, when not 0, offers "don't ask for a code on this
	// browser" for that long.
	// DPoPNonce requires a server nonce in DPoP proofs.
	DPoPNonce bool `env:"IDP_DPOP_NONCE" help:"DPoP proofs (RFC 9449) must carry a server nonce, sent in the DPoP-Nonce header (limits pre-made proofs)"`
	// PasskeyPasswordless offers a sign-in with a passkey alone (one that
	// verified its user) beside the password form.
	PasskeyPasswordless bool          `env:"IDP_PASSKEY_PASSWORDLESS" help:"offer \"Sign in with a passkey\" on the sign-in page: a passkey that verifies its user (fingerprint, face, device PIN) replaces the password and the SMS step"`
	TrustedDeviceTTL    time.Duration `env:"IDP_TRUSTED_DEVICE_TTL" min:"0" max:"2160h" help:"offer \"don't ask for a code on this browser\" for this long, e.g. 720h (30 days); 0 = not offered"`
}

// Admin is the separate listener for /metrics and the admin API.
type Admin struct {
	// Listen is empty when the admin listener is off.
	Listen string `env:"IDP_ADMIN_LISTEN" help:"admin listener (host:port) for /metrics and the admin API; empty = off"`
	// Token is the bearer token of the admin API; empty turns the API off.
	Token string `env:"IDP_ADMIN_TOKEN" secret:"true" help:"bearer token for the admin API, at least 16 characters; empty = admin API off"`
}

// Database says where the data lives.
type Database struct {
	// URL is postgres://..., postgresql://... or sqlite:PATH.
	URL            string `env:"IDP_DATABASE_URL" help:"postgres://... or sqlite:PATH; through PgBouncer in transaction pooling add default_query_exec_mode=exec"`
	MaxOpenConns   int    `env:"IDP_DATABASE_MAX_OPEN_CONNS" min:"1" max:"1000" help:"most open database connections"`
	MaxIdleConns   int    `env:"IDP_DATABASE_MAX_IDLE_CONNS" min:"0" max:"1000" help:"most idle database connections kept (at most IDP_DATABASE_MAX_OPEN_CONNS)"`
	MigrateOnStart bool   `env:"IDP_MIGRATE_ON_START" help:"apply pending migrations when serve starts"`
}

// Dialect is "postgres" or "sqlite" according to the URL's scheme, or ""
// when it is neither.
func (d Database) Dialect() string {
	switch {
	case strings.HasPrefix(d.URL, "postgres://"), strings.HasPrefix(d.URL, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(d.URL, "sqlite:"):
		return "sqlite"
	}
	return ""
}

// SQLitePath is the PATH of a sqlite:PATH URL, or "" for any other URL.
func (d Database) SQLitePath() string {
	if d.Dialect() != "sqlite" {
		return ""
	}
	return strings.TrimPrefix(d.URL, "sqlite:")
}

// Log shapes the process log.
type Log struct {
	Level  string `env:"IDP_LOG_LEVEL" oneof:"debug,info,warn,error" help:"least severe log level written"`
	Format string `env:"IDP_LOG_FORMAT" oneof:"text,json" help:"log line format"`
}

// UI brands the hosted pages and the SMS text.
type UI struct {
	ProductName   string `env:"IDP_PRODUCT_NAME" help:"name shown on the pages and in the SMS text, 1 to 40 characters"`
	LogoURL       string `env:"IDP_LOGO_URL" help:"logo image URL (http(s) or a /path); empty = no logo"`
	AccentColor   string `env:"IDP_ACCENT_COLOR" help:"accent colour of the pages, #rrggbb"`
	DefaultLocale string `env:"IDP_DEFAULT_LOCALE" oneof:"en,ja" help:"page and SMS language when the browser asks for none we have"`
}

// TTL holds the lifetimes of tokens and of a login in progress.
type TTL struct {
	AccessToken  time.Duration `env:"IDP_ACCESS_TOKEN_TTL" min:"1m" max:"24h" help:"access token lifetime"`
	RefreshToken time.Duration `env:"IDP_REFRESH_TOKEN_TTL" min:"1h" max:"8760h" help:"refresh token lifetime"`
	IDToken      time.Duration `env:"IDP_ID_TOKEN_TTL" min:"1m" max:"24h" help:"ID token lifetime"`
	AuthCode     time.Duration `env:"IDP_AUTH_CODE_TTL" min:"10s" max:"10m" help:"authorization code lifetime"`
	LoginFlow    time.Duration `env:"IDP_LOGIN_FLOW_TTL" min:"1m" max:"24h" help:"time a user has to finish signing in"`
	DeviceCode   time.Duration `env:"IDP_DEVICE_CODE_TTL" min:"1m" max:"30m" help:"lifetime of a device grant's device and user codes (RFC 8628)"`
	// DevicePoll is the least time a device leaves between polls; one
	// that polls sooner is told slow_down, and its interval grows by 5 s.
	DevicePoll time.Duration `env:"IDP_DEVICE_POLL_INTERVAL" min:"1s" max:"1m" help:"least time a device leaves between polls of the token endpoint; sooner is slow_down"`
}

// Keys chooses how tokens are signed.
type Keys struct {
	SigningAlg string `env:"IDP_SIGNING_ALG" oneof:"RS256,ES256" help:"JWS algorithm of new signing keys"`
	// Rotation is 0 when keys rotate only through "idp keys rotate".
	Rotation time.Duration `env:"IDP_KEY_ROTATION" help:"automatic signing key rotation period, at least 24h; 0 = manual only"`
}

// Password holds the argon2id parameters of password hashes.
type Password struct {
	// Memory is in KiB.
	Memory uint32 `env:"IDP_ARGON2_MEMORY" min:"8192" max:"1048576" help:"argon2id memory per hash in KiB"`
	Time   uint32 `env:"IDP_ARGON2_TIME" min:"1" max:"10" help:"argon2id passes"`
	// Threads is a uint8 as golang.org/x/crypto/argon2 takes it.
	Threads uint8 `env:"IDP_ARGON2_THREADS" min:"1" max:"16" help:"argon2id parallelism"`
	// HashConcurrency bounds the hashes computed at once: each holds
	// Memory KiB, so a burst of logins must not multiply it unbounded.
	HashConcurrency int `env:"IDP_PASSWORD_HASH_CONCURRENCY" min:"1" max:"64" help:"most password hashes computed at once"`
}

// SMS chooses and configures the providers that carry the PIN.
type SMS struct {
	// Providers are tried in order when one fails.
	Providers []string `env:"IDP_SMS_PROVIDER" help:"comma list of SMS providers, tried in order: console, file, xoxzo, twilio, webhook; or one of twilio-verify, xoxzo-otp alone"`
	// File is the outbox of the file provider.
	File    string        `env:"IDP_SMS_FILE" help:"outbox path for the file provider (one JSON object a line)"`
	Timeout time.Duration `env:"IDP_SMS_TIMEOUT" min:"1s" max:"60s" help:"time limit of one send to a provider"`
	// DefaultRegion reads national-format input such as 090-1234-5678.
	DefaultRegion string `env:"IDP_SMS_DEFAULT_REGION" help:"ISO 3166 alpha-2 country for phone numbers typed without a country code"`
	// AllowedCountries lists the countries codes may go to. Empty allows
	// only DefaultRegion's country; "*" allows every country (see
	// Countries).
	AllowedCountries []string `env:"IDP_SMS_ALLOWED_COUNTRIES" help:"comma list of ISO 3166 alpha-2 countries PINs may be sent to; unset = only the country of IDP_SMS_DEFAULT_REGION; * = every country"`

	// Limits bound how many codes go out, shared by every instance.
	Limits SMSLimits
	// Pumping is the SMS-pumping guard.
	Pumping SMSPumping
	// Budget prices sends and caps the day's spend.
	Budget SMSBudget
	// ReceiptWait is how long a send through a provider that always sends
	// delivery receipts (Twilio, with the IdP reachable at its issuer) may
	// go without one before the PIN page offers another route.
	ReceiptWait time.Duration `env:"IDP_SMS_RECEIPT_WAIT" min:"0" max:"1h" help:"time without a delivery receipt after which the PIN page offers another route (0 = only on a failed receipt)"`

	Xoxzo   Xoxzo
	Twilio  Twilio
	Webhook Webhook
}

// SMSLimits cap SMS sends per hour and per day, for one number, one
// user, one client network and in all: every SMS costs money, and bots
// that trigger sends to premium ranges (SMS pumping) are stopped here.
// Zero turns a limit off.
type SMSLimits struct {
	PhoneHour  int `env:"IDP_SMS_LIMIT_PHONE_HOUR" min:"0" max:"1000000" help:"most codes sent to one number in an hour (0 = no limit)"`
	PhoneDay   int `env:"IDP_SMS_LIMIT_PHONE_DAY" min:"0" max:"1000000" help:"most codes sent to one number in a day (0 = no limit)"`
	UserHour   int `env:"IDP_SMS_LIMIT_USER_HOUR" min:"0" max:"1000000" help:"most codes sent for one user in an hour (0 = no limit)"`
	UserDay    int `env:"IDP_SMS_LIMIT_USER_DAY" min:"0" max:"1000000" help:"most codes sent for one user in a day (0 = no limit)"`
	IPHour     int `env:"IDP_SMS_LIMIT_IP_HOUR" min:"0" max:"1000000" help:"most codes sent for one client network (IPv4 address, IPv6 /64) in an hour (0 = no limit)"`
	IPDay      int `env:"IDP_SMS_LIMIT_IP_DAY" min:"0" max:"1000000" help:"most codes sent for one client network in a day (0 = no limit)"`
	GlobalHour int `env:"IDP_SMS_LIMIT_GLOBAL_HOUR" min:"0" max:"100000000" help:"most codes sent in all in an hour (0 = no limit)"`
	GlobalDay  int `env:"IDP_SMS_LIMIT_GLOBAL_DAY" min:"0" max:"100000000" help:"most codes sent in all in a day: the SMS budget (0 = no limit)"`
	PrefixHour int `env:"IDP_SMS_LIMIT_PREFIX_HOUR" min:"0" max:"1000000" help:"most codes sent in an hour to numbers of one prefix that no user has verified (0 = no limit)"`
	PrefixDay  int `env:"IDP_SMS_LIMIT_PREFIX_DAY" min:"0" max:"1000000" help:"most codes sent in a day to numbers of one prefix that no user has verified (0 = no limit)"`
	NoticeHour int `env:"IDP_SMS_LIMIT_NOTICE_HOUR" min:"0" max:"1000000" help:"most notices (a phone changed, a recovery code used, a password reset or changed) sent to one number in an hour (0 = no limit)"`
	NoticeDay  int `env:"IDP_SMS_LIMIT_NOTICE_DAY" min:"0" max:"1000000" help:"most notices sent to one number in a day (0 = no limit)"`
}

// SMSPumping configures the SMS-pumping guard: per country and number
// prefix, the share of codes sent that are verified, over a sliding
// window; below the threshold, new sends to fresh numbers there are held
// until an operator lifts the hold ("idp sms holds lift").
type SMSPumping struct {
	PrefixDigits  int           `env:"IDP_SMS_PUMPING_PREFIX_DIGITS" min:"1" max:"12" help:"digits after the country code that make a number prefix"`
	Window        time.Duration `env:"IDP_SMS_PUMPING_WINDOW" min:"10m" max:"168h" help:"sliding window the conversion of codes is measured over"`
	MinSends      int           `env:"IDP_SMS_PUMPING_MIN_SENDS" min:"0" max:"1000000" help:"codes a prefix is sent in the window before its conversion is judged (0 = guard off)"`
	CountryMin    int           `env:"IDP_SMS_PUMPING_COUNTRY_MIN_SENDS" min:"0" max:"10000000" help:"codes a country is sent in the window before its conversion is judged (0 = five times IDP_SMS_PUMPING_MIN_SENDS)"`
	MinConversion int           `env:"IDP_SMS_PUMPING_MIN_CONVERSION" min:"0" max:"100" help:"percent of codes that must be verified, below which sends are held"`
}

// SMSBudget prices sends and caps the spend of a UTC day.
type SMSBudget struct {
	Currency string `env:"IDP_SMS_CURRENCY" help:"currency of IDP_SMS_PRICES and IDP_SMS_DAILY_BUDGET (e.g. JPY, USD)"`
	// Prices are provider:+CC=amount items; "*" for CC prices any other
	// country.
	Prices []string `env:"IDP_SMS_PRICES" help:"comma list of provider:+CC=price (e.g. twilio:+81=0.0814,xoxzo:+81=3,twilio:*=0.05)"`
	Daily  string   `env:"IDP_SMS_DAILY_BUDGET" help:"most estimated spend in a UTC day, in IDP_SMS_CURRENCY; sends are held once reached (empty = no budget)"`
}

// Xoxzo is the Xoxzo SMS API.
type Xoxzo struct {
	SID        string `env:"XOXZO_API_SID" help:"Xoxzo API SID"`
	AuthToken  string `env:"XOXZO_API_AUTH_TOKEN" secret:"true" help:"Xoxzo API auth token"`
	Sender     string `env:"IDP_XOXZO_SENDER" help:"Xoxzo sender id: up to 10 letters and digits, or up to 15 digits"`
	APIURL     string `env:"IDP_XOXZO_API_URL" help:"Xoxzo API base URL"`
	TemplateID string `env:"IDP_XOXZO_TEMPLATE_ID" help:"approved Xoxzo SMS template id to send through instead of free text"`
	// OTPWebsite is the website registered with Xoxzo's OTP API, for the
	// xoxzo-otp provider.
	OTPWebsite string `env:"IDP_XOXZO_OTP_WEBSITE" help:"website registered with the Xoxzo OTP API (e.g. https://login.example.com), for the xoxzo-otp provider"`
}

// Twilio is the Twilio Programmable Messaging API.
type Twilio struct {
	AccountSID string `env:"TWILIO_ACCOUNT_SID" help:"Twilio account SID (AC followed by 32 hex digits)"`
	AuthToken  string `env:"TWILIO_AUTH_TOKEN" secret:"true" help:"Twilio auth token"`
	From       string `env:"IDP_TWILIO_FROM" help:"Twilio sender: a Twilio number or alphanumeric sender id"`
	APIURL     string `env:"IDP_TWILIO_API_URL" help:"Twilio API base URL"`
	// VerifyServiceSID is the Verify v2 service of the twilio-verify provider.
	VerifyServiceSID string `env:"IDP_TWILIO_VERIFY_SERVICE_SID" help:"Twilio Verify service SID (VA followed by 32 hex digits), for the twilio-verify provider"`
	VerifyAPIURL     string `env:"IDP_TWILIO_VERIFY_API_URL" help:"Twilio Verify API base URL"`
}

// Webhook posts each message to an HTTP endpoint of the operator's.
type Webhook struct {
	URL string `env:"IDP_SMS_WEBHOOK_URL" help:"http(s) URL the webhook provider posts messages to"`
	// Secret signs each request so the receiver can tell it came from us.
	Secret string `env:"IDP_SMS_WEBHOOK_SECRET" secret:"true" help:"key signing webhook requests, at least 32 bytes"`
}

// PIN is the one-time code sent by SMS.
type PIN struct {
	Length         int           `env:"IDP_PIN_LENGTH" min:"4" max:"8" help:"digits in a PIN"`
	TTL            time.Duration `env:"IDP_PIN_TTL" min:"30s" max:"10m" help:"how long a PIN stays valid"`
	MaxAttempts    int           `env:"IDP_PIN_MAX_ATTEMPTS" min:"1" max:"10" help:"wrong tries that end a challenge"`
	ResendCooldown time.Duration `env:"IDP_PIN_RESEND_COOLDOWN" min:"0" max:"10m" help:"wait before another PIN may be sent to the same number"`
	MaxResends     int           `env:"IDP_PIN_MAX_RESENDS" min:"0" max:"10" help:"resends allowed per challenge"`
}

// Default is the configuration before any file, environment variable or
// flag. It does not validate: IDP_SECRET and IDP_SMS_PROVIDER have no
// default.
func Default() Config {
	return Config{
		Issuer: "http://localhost:8080",
		Listen: "127.0.0.1:8080",
		Admin:  Admin{Listen: "127.0.0.1:8081"},
		Database: Database{
			URL:          "sqlite:idp.db",
			MaxOpenConns: 20,
			// As many idle as open: a pool that closes what it cannot keep
			// idle opens a new connection (a PostgreSQL process) for the
			// next burst, which cost the token endpoint about 40% of its
			// throughput under load.
			MaxIdleConns:   20,
			MigrateOnStart: true,
		},
		Log: Log{Level: "info", Format: "text"},
		UI: UI{
			ProductName:   "IDP",
			AccentColor:   "#0b57d0",
			DefaultLocale: "en",
		},
		TTL: TTL{
			AccessToken:  time.Hour,
			RefreshToken: 720 * time.Hour,
			IDToken:      time.Hour,
			AuthCode:     time.Minute,
			LoginFlow:    30 * time.Minute,
			DeviceCode:   10 * time.Minute,
			DevicePoll:   5 * time.Second,
		},
		Keys: Keys{SigningAlg: "RS256"},
		// OWASP's argon2id baseline: m=19 MiB, t=2, p=1.
		Password: Password{Memory: 19456, Time: 2, Threads: 1, HashConcurrency: 2},
		SMS: SMS{
			Timeout:       10 * time.Second,
			DefaultRegion: "JP",
			Limits: SMSLimits{PhoneHour: 5, PhoneDay: 10, UserHour: 10, UserDay: 20, IPHour: 20, IPDay: 100, GlobalHour: 1000, GlobalDay: 10000,
				PrefixHour: 30, PrefixDay: 100, NoticeHour: 5, NoticeDay: 20},
			Pumping:     SMSPumping{PrefixDigits: 5, Window: time.Hour, MinSends: 20, CountryMin: 100, MinConversion: 20},
			ReceiptWait: 3 * time.Minute,
			Xoxzo:       Xoxzo{APIURL: "https://api.xoxzo.com"},
			Twilio:      Twilio{APIURL: "https://api.twilio.com", VerifyAPIURL: "https://verify.twilio.com"},
		},
		PIN: PIN{
			Length:         6,
			TTL:            5 * time.Minute,
			MaxAttempts:    5,
			ResendCooldown: 60 * time.Second,
			MaxResends:     3,
		},
		MFARemember: 12 * time.Hour,
		SessionTTL:  24 * time.Hour,
	}
}

// Countries is the allow-list of countries codes may go to: every
// country when all is true, else list (DefaultRegion's country alone when
// IDP_SMS_ALLOWED_COUNTRIES is unset).
func (s SMS) Countries() (list []string, all bool) {
	switch {
	case len(s.AllowedCountries) == 1 && s.AllowedCountries[0] == "*":
		return nil, true
	case len(s.AllowedCountries) == 0:
		return []string{strings.ToUpper(s.DefaultRegion)}, false
	}
	return s.AllowedCountries, false
}

// Price is one entry of IDP_SMS_PRICES.
type Price struct {
	Provider string
	Country  string // "+81", or "*" for any other
	Amount   string
}

// PriceTable reads IDP_SMS_PRICES.
func (b SMSBudget) PriceTable() ([]Price, error) {
	var out []Price
	for _, item := range b.Prices {
		who, amount, ok := strings.Cut(item, "=")
		provider, cc, ok2 := strings.Cut(who, ":")
		if !ok || !ok2 || provider == "" || (cc != "*" && !callingCodeRE.MatchString(cc)) {
			return nil, fmt.Errorf("%q is not provider:+CC=price (e.g. twilio:+81=0.0814, or twilio:*=0.05 for other countries)", item)
		}
		if f, err := strconv.ParseFloat(amount, 64); err != nil || f < 0 || f > 1e6 {
			return nil, fmt.Errorf("%q: %q is not a price", item, amount)
		}
		out = append(out, Price{Provider: provider, Country: cc, Amount: amount})
	}
	return out, nil
}

var callingCodeRE = regexp.MustCompile(`^\+[1-9][0-9]{0,2}$`)
