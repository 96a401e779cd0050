// Package twilio sends one-time-code SMS through Twilio Programmable
// Messaging (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) and
// reads a message's status back.
//
// Twilio's REST API takes HTTP Basic auth (AccountSid:AuthToken),
// form-encoded bodies with PascalCase keys (a JSON body is read as an empty
// form: error 21604), and answers in JSON with snake_case keys. Every error
// has the body {"code", "message", "more_info", "status"}; the code, not
// the HTTP status, says what went wrong.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.twilio.com"

const provider = "twilio"

const maxBody = 64 << 10

// Config is what New needs.
type Config struct {
	BaseURL    string // empty: DefaultBaseURL
	AccountSID string // AC...
	AuthToken  string
	// From is a Twilio number in E.164, an alphanumeric sender id or a
	// short code. Alternatively, or as well, MessagingServiceSID (MG...)
	// lets Twilio pick the sender; Twilio then answers "accepted".
	From                string
	MessagingServiceSID string
	// ValidityPeriod drops the message if Twilio cannot hand it to the
	// carrier in time (1 s to 4 h, whole seconds). A PIN is useless after
	// its own expiry, so set it to the PIN lifetime. Zero: Twilio's default.
	ValidityPeriod time.Duration
	// StatusCallback receives Twilio's delivery reports; empty: none.
	StatusCallback string
	HTTP           *http.Client
}

// Client sends through one Twilio account. It implements sms.Sender. The
// zero BaseURL and HTTP mean DefaultBaseURL and a client with
// sms.DefaultTimeout; prefer New, which also checks the rest.
type Client struct {
	BaseURL             string
	AccountSID          string
	AuthToken           string
	From                string
	MessagingServiceSID string
	ValidityPeriod      time.Duration
	StatusCallback      string
	HTTP                *http.Client
}

var _ sms.Sender = (*Client)(nil)

// New checks cfg and returns a client. Every problem is reported at once.
func New(cfg Config) (*Client, error) {
	c := &Client{
		BaseURL:             cfg.BaseURL,
		AccountSID:          cfg.AccountSID,
		AuthToken:           cfg.AuthToken,
		From:                cfg.From,
		MessagingServiceSID: cfg.MessagingServiceSID,
		ValidityPeriod:      cfg.ValidityPeriod,
		StatusCallback:      cfg.StatusCallback,
		HTTP:                cfg.HTTP,
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: sms.DefaultTimeout}
	}
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("twilio: base URL %q must be http(s)://host[/path]", c.BaseURL))
	}
	if !strings.HasPrefix(c.AccountSID, "AC") || len(c.AccountSID) != 34 {
		errs = append(errs, fmt.Errorf("twilio: account SID %q must be AC followed by 32 characters", c.AccountSID))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("twilio: auth token is empty"))
	}
	if c.From == "" && c.MessagingServiceSID == "" {
		errs = append(errs, errors.New("twilio: set From or MessagingServiceSID"))
	}
	if c.MessagingServiceSID != "" && (!strings.HasPrefix(c.MessagingServiceSID, "MG") || len(c.MessagingServiceSID) != 34) {
		errs = append(errs, fmt.Errorf("twilio: messaging service SID %q must be MG followed by 32 characters", c.MessagingServiceSID))
	}
	if v := c.ValidityPeriod; v != 0 && (v < time.Second || v > 4*time.Hour || v%time.Second != 0) {
		errs = append(errs, fmt.Errorf("twilio: validity period %v must be whole seconds from 1s to 4h", v))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Send creates a Message resource: To, Body, From and/or
// MessagingServiceSid, and ValidityPeriod and StatusCallback when set. The
// receipt carries the SM... sid and Twilio's status word ("queued", or
// "accepted" through a Messaging Service).
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if c.From != "" {
		form.Set("From", c.From)
	}
	if c.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", c.MessagingServiceSID)
	}
	if c.ValidityPeriod > 0 {
		form.Set("ValidityPeriod", strconv.Itoa(int(c.ValidityPeriod/time.Second)))
	}
	if c.StatusCallback != "" {
		form.Set("StatusCallback", c.StatusCallback)
	}
	r, err := c.roundTrip(ctx, http.MethodPost, "/Messages.json", form)
	if err != nil {
		return sms.Receipt{}, err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return sms.Receipt{}, classify(r, m)
	}
	var got resource
	if err := json.Unmarshal(r.body, &got); err != nil || got.SID == "" {
		// Twilio took it but we cannot read what it said: the SMS may be
		// on its way, so this must not invite a resend.
		return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Unknown, Status: r.status,
			Err: fmt.Errorf("accepted, but the answer has no sid: %w", errors.Join(err, errors.New(`want {"sid": ...}`)))}
	}
	return sms.Receipt{Provider: provider, MessageID: got.SID, Status: got.Status}, nil
}

// resource is the part of a Message resource this package reads.
type resource struct {
	SID          string `json:"sid"`
	Status       string `json:"status"`
	ErrorCode    *int   `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

// DeliveryStatus is what Twilio reports about a sent message.
type DeliveryStatus struct {
	SID   string
	State sms.DeliveryState
	Raw   string // Twilio's status word
	// ErrorCode is set on failed and undelivered messages (30003
	// unreachable, 30007 filtered, 30450 blocked by SMS Pumping
	// Protection, ...); 0 otherwise.
	ErrorCode int
}

// Status fetches the Message resource sid. An unknown sid gives an error
// that matches sms.ErrNotFound.
func (c *Client) Status(ctx context.Context, sid string) (DeliveryStatus, error) {
	if sid == "" {
		return DeliveryStatus{}, errors.New("twilio: status: empty sid")
	}
	r, err := c.roundTrip(ctx, http.MethodGet, "/Messages/"+url.PathEscape(sid)+".json", nil)
	if err != nil {
		return DeliveryStatus{}, err
	}
	if r.status == http.StatusNotFound {
		return DeliveryStatus{}, &sms.Error{Provider: provider, Kind: sms.Permanent, Status: r.status,
			Err: fmt.Errorf("message %q: %w", sid, sms.ErrNotFound)}
	}
	if r.status != http.StatusOK {
		return DeliveryStatus{}, classify(r, sms.Message{})
	}
	var got resource
	if err := json.Unmarshal(r.body, &got); err != nil {
		return DeliveryStatus{}, &sms.Error{Provider: provider, Kind: sms.Transient, Status: r.status, Err: fmt.Errorf("decode message: %w", err)}
	}
	st := DeliveryStatus{SID: got.SID, Raw: got.Status, State: stateOf(got.Status)}
	if got.ErrorCode != nil {
		st.ErrorCode = *got.ErrorCode
	}
	return st, nil
}

// stateOf maps Twilio's message_enum_status. "read" (WhatsApp, RCS) implies
// delivered; "canceled" (a scheduled message) never went out.
func stateOf(raw string) sms.DeliveryState {
	switch raw {
	case "delivered", "read":
		return sms.DeliveryDelivered
	case "failed", "undelivered", "canceled":
		return sms.DeliveryFailed
	}
	return sms.DeliveryPending
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// roundTrip sends one authenticated request under the account's path.
func (c *Client) roundTrip(ctx context.Context, method, path string, form url.Values) (response, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u := strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(c.AccountSID) + path
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return response{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: err}
	}
	req.SetBasicAuth(c.AccountSID, c.AuthToken)
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	a, err := sms.Call(c.HTTP, provider, req, maxBody)
	return response{status: a.Status, header: a.Header, body: a.Body}, err
}

// APIError is Twilio's error body. Message has the recipient's number and
// the code masked (21211's text quotes the number), since errors are logged.
type APIError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func (e *APIError) Error() string {
	if e.Code == 0 {
		return e.Message
	}
	return fmt.Sprintf("error %d: %s", e.Code, e.Message)
}

// codeKind is the Kind an error code decides on its own, whatever the HTTP
// status; ok is false for codes left to the status.
func codeKind(code int) (k sms.Kind, ok bool) {
	switch code {
	// Refusals of the recipient or the text, which another provider would
	// share, or, for SMS Pumping Protection, must not be asked to bypass.
	case 21211, // invalid To number
		21614, // To is not a mobile number (Japanese landlines land here)
		21610, // recipient unsubscribed (replied STOP)
		21602, // body required
		21617, // body over 1600 characters
		30450, // blocked by SMS Pumping Protection (minutes)
		30453: // blocked by SMS Pumping Protection (hours)
		return sms.Permanent, true
	// Our account or sender: the operator must act, and another provider
	// may deliver meanwhile.
	case 20003, // authentication failed, or the account is suspended
		20404, // account or resource not found
		21212, // invalid From number
		21603, // From or MessagingServiceSid required
		21606, // From cannot send to this destination
		21408, // region off in Geo Permissions: account set-up; the IdP's allow-list guards pumping
		21608, // trial account: To not verified
		21612, // To/From combination not deliverable (sender id rules)
		21659, // From is not a number of this account
		21705: // invalid Messaging Service
		return sms.Config, true
	case 20429: // too many concurrent requests
		return sms.Transient, true
	}
	return 0, false
}

// classify turns an error answer into an *sms.Error. Known codes decide
// first (codeKind). Then the status: 429 and 5xx are Transient, except
// 504, whose outcome is Unknown. Any other 4xx, and a 3xx (never
// followed), is Config: the recipient-related codes are listed in
// codeKind, so an unlisted 400 is far more often our request or account
// than the user's number, and trying the next provider is the better
// failure.
func classify(r response, m sms.Message) *sms.Error {
	ae := ParseError(r.status, r.body, m)
	e := &sms.Error{Provider: provider, Status: r.status, Err: ae}
	if r.status == http.StatusTooManyRequests || ae.Code == 20429 {
		e.RetryAfter = sms.RetryAfter(r.header, time.Now())
	}
	if k, ok := codeKind(ae.Code); ok {
		e.Kind = k
		return e
	}
	switch {
	case r.status == http.StatusTooManyRequests:
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

// ParseError decodes a Twilio error body, the same for every Twilio API
// (Messaging, Verify). A body that is not Twilio's JSON is kept as text.
// The number and the code of m are masked, since errors are logged.
func ParseError(status int, body []byte, m sms.Message) *APIError {
	ae := &APIError{Status: status}
	if err := json.Unmarshal(body, ae); err != nil || (ae.Code == 0 && ae.Message == "") {
		ae = &APIError{Status: status, Message: "non-JSON answer: " + string(body)}
	}
	ae.Message = m.Excerpt(ae.Message)
	return ae
}
