// Package twilioverify is the Twilio Verify v2 client for provider-verified
// codes (otp.Verifier): Twilio makes the code, texts it and checks it.
//
// Two calls, both form-encoded POSTs with HTTP Basic auth (AccountSid and
// AuthToken, or an API key SK... and its secret), answered in JSON:
//
//	POST {base}/v2/Services/{VA...}/Verifications      To, Channel=sms, Locale
//	POST {base}/v2/Services/{VA...}/VerificationCheck  VerificationSid (or To), Code
//
// A wrong code is not an HTTP error: the check answers 200 with status
// "pending". Once a verification is approved, expired (10 minutes),
// cancelled or out of attempts Twilio deletes it, and a check answers
// 404/20404. Five checks exhaust it (429/60202); a sixth send to a number
// with a verification pending fails with 429/60203. Errors carry Twilio's
// body {"code", "message", "more_info", "status"}, and the code, not the
// HTTP status, says what went wrong (SMS-PROVIDERS.md, section 3.2).
package twilioverify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
)

// DefaultBaseURL is the production Verify API.
const DefaultBaseURL = "https://verify.twilio.com"

// Provider is the name in Started, receipts and errors.
const Provider = "twilio-verify"

// maxBody bounds what is read of any answer; a verification is ~1 KiB.
const maxBody = 64 << 10

// SendWindow is how long Twilio keeps a verification, and so how long
// 60203 (too many sends) lasts when Twilio sends no Retry-After.
const SendWindow = 10 * time.Minute

// Config is what New needs. Set AccountSID and AuthToken, or APIKeySID and
// APIKeySecret (a revocable key is the better secret to hand a server).
type Config struct {
	BaseURL      string // empty: DefaultBaseURL
	AccountSID   string // AC + 32 hex
	AuthToken    string
	APIKeySID    string // SK + 32 hex; when set, used instead of AccountSID:AuthToken
	APIKeySecret string
	ServiceSID   string // the Verify Service, VA + 32 hex
	HTTP         *http.Client
}

// Client talks to one Verify Service. It implements otp.Verifier. The zero
// BaseURL and HTTP mean DefaultBaseURL and a client with sms.DefaultTimeout;
// prefer New, which also checks the rest.
type Client struct {
	BaseURL      string
	AccountSID   string
	AuthToken    string
	APIKeySID    string
	APIKeySecret string
	ServiceSID   string
	HTTP         *http.Client
}

var _ otp.Verifier = (*Client)(nil)

var (
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySID  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	serviceSID = regexp.MustCompile(`^VA[0-9a-fA-F]{32}$`)
)

// New checks cfg and returns a client. Every problem is reported at once.
func New(cfg Config) (*Client, error) {
	c := &Client{
		BaseURL: cfg.BaseURL, AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken,
		APIKeySID: cfg.APIKeySID, APIKeySecret: cfg.APIKeySecret, ServiceSID: cfg.ServiceSID, HTTP: cfg.HTTP,
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: sms.DefaultTimeout}
	}
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("twilio-verify: base URL %q must be http(s)://host[/path]", c.BaseURL))
	}
	if c.APIKeySID != "" {
		if !apiKeySID.MatchString(c.APIKeySID) {
			errs = append(errs, fmt.Errorf("twilio-verify: API key SID %q must be SK followed by 32 hex digits", c.APIKeySID))
		}
		if c.APIKeySecret == "" {
			errs = append(errs, errors.New("twilio-verify: API key secret is empty"))
		}
	} else {
		if !accountSID.MatchString(c.AccountSID) {
			errs = append(errs, fmt.Errorf("twilio-verify: account SID %q must be AC followed by 32 hex digits", c.AccountSID))
		}
		if c.AuthToken == "" {
			errs = append(errs, errors.New("twilio-verify: auth token is empty (or set an API key)"))
		}
	}
	if !serviceSID.MatchString(c.ServiceSID) {
		errs = append(errs, fmt.Errorf("twilio-verify: service SID %q must be VA followed by 32 hex digits", c.ServiceSID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// verification is the part of a Verification or VerificationCheck
// resource this package reads.
type verification struct {
	SID     string `json:"sid"`
	To      string `json:"to"`
	Channel string `json:"channel"`
	Status  string `json:"status"`
	// Valid is Twilio's legacy flag beside status. Only status decides,
	// but a present false vetoes an "approved": fail closed on nonsense.
	Valid *bool `json:"valid"`
}

// Start creates a verification: To, Channel=sms and, when set, Locale
// (see twilioLocale). ref is not sent: Twilio has no per-verification
// reference field, and the caller logs it beside the returned sid.
//
// While a verification for the same number is pending, Twilio re-sends the
// same code under the same sid and counts the send; the sixth fails with
// otp.ErrTooManySends.
func (c *Client) Start(ctx context.Context, to, locale, ref string) (otp.Started, error) {
	form := url.Values{"To": {to}, "Channel": {"sms"}}
	if l := twilioLocale(locale); l != "" {
		form.Set("Locale", l)
	}
	m := sms.Message{To: to}
	r, err := c.post(ctx, "/Verifications", form)
	if err != nil {
		return otp.Started{}, err
	}
	if r.status/100 != 2 {
		return otp.Started{}, classify(r, m, false)
	}
	var got verification
	if err := json.Unmarshal(r.body, &got); err != nil || got.SID == "" {
		// Twilio said yes but we cannot tell to what: the SMS may be on
		// its way, so this must not invite a blind resend.
		return otp.Started{}, &sms.Error{Provider: Provider, Kind: sms.Unknown, Status: r.status,
			Err: fmt.Errorf("accepted, but the answer has no sid: %w", errors.Join(err, errors.New(`want {"sid": ...}`)))}
	}
	ch := got.Channel
	if ch == "" {
		ch = "sms"
	}
	return otp.Started{Provider: Provider, ID: got.SID, Channel: ch}, nil
}

// Check posts the code with the verification's sid (or To when s has no
// ID, as Twilio allows). Checking by sid binds the answer to the code this
// challenge started, and an approval of any other sid or number is refused.
//
// A code Twilio would reject as a parameter (outside 4 to 10 characters) is
// answered here, wrong and not final, without a request. Result.Status is
// Twilio's word: approved, pending (wrong code), or canceled,
// max_attempts_reached, expired, failed, deleted (all final); with
// otp.ErrNotFound it is "not_found", with otp.ErrTooManyChecks
// "max_attempts_reached".
func (c *Client) Check(ctx context.Context, s otp.Started, to, code string) (otp.Result, error) {
	if n := len([]rune(code)); n < 4 || n > 10 {
		return otp.Result{Status: "malformed"}, nil
	}
	form := url.Values{"Code": {code}}
	switch {
	case s.ID != "":
		form.Set("VerificationSid", s.ID)
	case to != "":
		form.Set("To", to)
	default:
		return otp.Result{}, &sms.Error{Provider: Provider, Kind: sms.Config, Err: errors.New("check needs a verification sid or a number")}
	}
	m := sms.Message{To: to, Code: code}
	r, err := c.post(ctx, "/VerificationCheck", form)
	if err != nil {
		return otp.Result{}, err
	}
	if r.status/100 != 2 {
		e := classify(r, m, true)
		switch {
		case errors.Is(e, otp.ErrNotFound):
			return otp.Result{Final: true, Status: "not_found"}, e
		case errors.Is(e, otp.ErrTooManyChecks):
			return otp.Result{Final: true, Status: "max_attempts_reached"}, e
		}
		return otp.Result{}, e
	}
	var got verification
	if err := json.Unmarshal(r.body, &got); err != nil || got.Status == "" {
		// The check happened (and used an attempt) but we cannot read the
		// verdict: fail closed, and let the user try again.
		return otp.Result{}, &sms.Error{Provider: Provider, Kind: sms.Unknown, Status: r.status,
			Err: fmt.Errorf("decode check: %w", errors.Join(err, errors.New(`want {"status": ...}`)))}
	}
	res := otp.Result{Status: got.Status}
	switch got.Status {
	case "approved":
		res.OK, res.Final = got.Valid == nil || *got.Valid, true
	case "pending":
	case "canceled", "max_attempts_reached", "expired", "failed", "deleted":
		res.Final = true
	}
	if res.OK && ((s.ID != "" && got.SID != s.ID) || (to != "" && got.To != "" && got.To != to)) {
		// Twilio approved something other than what this challenge
		// started. Never let that pass as our user's proof.
		return otp.Result{Final: true, Status: got.Status}, &sms.Error{Provider: Provider, Kind: sms.Config, Status: r.status,
			Err: fmt.Errorf("approval for verification %s, want %q", m.Redact(strconv.Quote(got.SID)), s.ID)}
	}
	return res, nil
}

// twilioLocale turns a BCP 47 tag into one Twilio Verify knows: the
// primary language ("ja-JP" -> "ja"), except the regional variants Twilio
// lists separately. An unknown language is still sent; Twilio answers
// 60200 and classify calls that a configuration error.
func twilioLocale(tag string) string {
	tag = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
	switch tag {
	case "":
		return ""
	case "en-gb":
		return "en-GB"
	case "pt-br":
		return "pt-BR"
	case "zh-cn", "zh-hans":
		return "zh-CN"
	case "zh-hk", "zh-hant":
		return "zh-HK"
	}
	lang, _, _ := strings.Cut(tag, "-")
	return lang
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// post sends one authenticated form to a path under the service.
func (c *Client) post(ctx context.Context, path string, form url.Values) (response, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u := strings.TrimRight(base, "/") + "/v2/Services/" + url.PathEscape(c.ServiceSID) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, &sms.Error{Provider: Provider, Kind: sms.Config, Err: err}
	}
	if c.APIKeySID != "" {
		req.SetBasicAuth(c.APIKeySID, c.APIKeySecret)
	} else {
		req.SetBasicAuth(c.AccountSID, c.AuthToken)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a, err := sms.Call(c.HTTP, Provider, req, maxBody)
	return response{status: a.Status, header: a.Header, body: a.Body}, err
}

// APIError is Twilio's error body, shared by every Twilio API.
type APIError = twilio.APIError

// classify turns an error answer into an *sms.Error, wrapping an otp
// sentinel where one applies. check says the answer is to a
// VerificationCheck, where a 404 means the verification is gone; on
// Start a 404 can only mean the service sid (or base URL) is wrong.
//
//	code          HTTP  Kind       sentinel
//	20404 / 404   404   Permanent  ErrNotFound (check); Config on start
//	60202         429   Permanent  ErrTooManyChecks
//	60203         429   Permanent  ErrTooManySends (RetryAfter: header, else SendWindow)
//	60200 To      400   Permanent  invalid number (Config when it names another parameter)
//	21211, 21614,
//	60205, 60410  4xx   Permanent  invalid or landline number, Fraud Guard block
//	20003         401   Config     credentials
//	21408, 60605  4xx   Config     geo permissions: account set-up
//	20429, 60212  429   Transient  throttled (RetryAfter from the header)
//	other 429, 5xx, 408 Transient; 504 Unknown; any other status Config
//
// Too many checks or sends is Permanent rather than Transient: another
// provider must not be used to get around a limit on one number.
func classify(r response, m sms.Message, check bool) *sms.Error {
	ae := twilio.ParseError(r.status, r.body, m)
	e := &sms.Error{Provider: Provider, Status: r.status, Err: ae}
	if r.status == http.StatusTooManyRequests {
		e.RetryAfter = sms.RetryAfter(r.header, time.Now())
	}
	switch {
	case ae.Code == 20404 || (ae.Code == 0 && r.status == http.StatusNotFound):
		e.Kind = sms.Config
		if check && ae.Code == 20404 {
			e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrNotFound, ae)
		}
	case ae.Code == 60202:
		e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrTooManyChecks, ae)
	case ae.Code == 60203:
		e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrTooManySends, ae)
		if e.RetryAfter == 0 {
			e.RetryAfter = SendWindow
		}
	case ae.Code == 60200:
		e.Kind = sms.Permanent
		if p, ok := invalidParameter(ae.Message); ok && p != "To" {
			e.Kind = sms.Config
		}
	case ae.Code == 21211, ae.Code == 21614, ae.Code == 60205, ae.Code == 60410:
		e.Kind = sms.Permanent
	case ae.Code == 20003, ae.Code == 21408, ae.Code == 60605:
		e.Kind = sms.Config
	case ae.Code == 20429, ae.Code == 60212, r.status == http.StatusTooManyRequests:
		e.Kind = sms.Transient
	case r.status == http.StatusGatewayTimeout:
		e.Kind = sms.Unknown
	case r.status >= 500, r.status == http.StatusRequestTimeout:
		e.Kind = sms.Transient
	default:
		e.Kind = sms.Config
	}
	return e
}

// invalidParameter reads the parameter name out of 60200's message,
// "Invalid parameter: To" (also "Invalid parameter `To`: ...").
func invalidParameter(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, "Invalid parameter")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, ": `'\"")
	name := strings.FieldsFunc(rest, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	if len(name) == 0 {
		return "", false
	}
	return name[0], true
}
