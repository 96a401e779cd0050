// Package xoxzo sends one-time-code SMS through the Xoxzo Cloud Telephony
// API (https://docs.xoxzo.com/en/sms.html) and reads delivery status and the
// credit balance.
//
// The server is Django REST Framework: every path ends in a slash (without
// it the server answers 301, which net/http would follow as a GET), auth is
// HTTP Basic with the API SID and auth token, and error bodies have DRF's
// shapes, {"field": ["message"]} or {"detail": "message"}. Those bodies are
// decoded tolerantly: the texts are documented only in part, and a proxy in
// front may answer with HTML.
package xoxzo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.xoxzo.com"

// provider is the name in receipts and errors.
const provider = "xoxzo"

// maxBody bounds what is read of any answer: the largest real one, a status
// object, is well under 1 KiB.
const maxBody = 64 << 10

// Config is what New needs. SID and AuthToken are the XOXZO_API_SID and
// XOXZO_API_AUTH_TOKEN of Xoxzo's own tools.
type Config struct {
	BaseURL   string // empty: DefaultBaseURL
	SID       string
	AuthToken string
	// Sender is the sender id: up to 10 letters and digits, or up to 15
	// digits. Japanese carriers refuse ids that look like domestic numbers
	// (a leading 0 or 81) and KDDI shows no alphanumeric ones; config warns
	// about the first, New only checks Xoxzo's syntax.
	Sender     string
	TemplateID string // an approved template's numeric id; empty: free text
	// CallbackURL is sent as callbackurl: Xoxzo calls it when the carrier
	// reports on the message. Empty: none (the status is polled).
	CallbackURL string
	HTTP        *http.Client
	Logger      *slog.Logger // nil: no logs
}

// Client talks to one Xoxzo account. It implements sms.Sender. The zero
// value of BaseURL and HTTP mean DefaultBaseURL and a client with
// sms.DefaultTimeout; prefer New, which also checks the rest.
//
// With TemplateID empty, Send posts the whole Message.Body as free text to
// /sms/messages/. Since June 2026 only approved accounts may do that; new
// accounts must send through an approved template, and then Send posts to
// /sms/templates/<TemplateID>/messages/ with the variables
// {"code": Message.Code} and nothing else. The body is not sent as a
// variable: a template is reviewed text, and a "{message}" placeholder
// carrying arbitrary text is what the review exists to refuse. So the
// template holds the wording, for example
//
//	【ExampleCo】認証コード: {code}
//
//	@login.example.com #{code}
//
// and the language of the template is the language the user gets, whatever
// Message.Locale says.
type Client struct {
	BaseURL     string
	SID         string
	AuthToken   string
	Sender      string
	TemplateID  string
	CallbackURL string
	HTTP        *http.Client
	// Logger hears about status words this package does not know. It never
	// receives credentials, bodies or codes.
	Logger *slog.Logger
}

var _ sms.Sender = (*Client)(nil)

var (
	alnumSender   = regexp.MustCompile(`^[A-Za-z0-9]{1,10}$`)
	numericSender = regexp.MustCompile(`^[0-9]{1,15}$`)
	templateID    = regexp.MustCompile(`^[0-9]+$`)
)

// New checks cfg and returns a client. Every problem is reported at once.
func New(cfg Config) (*Client, error) {
	c := &Client{
		BaseURL:     cfg.BaseURL,
		SID:         cfg.SID,
		AuthToken:   cfg.AuthToken,
		Sender:      cfg.Sender,
		TemplateID:  cfg.TemplateID,
		CallbackURL: cfg.CallbackURL,
		HTTP:        cfg.HTTP,
		Logger:      cfg.Logger,
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: sms.DefaultTimeout}
	}
	var errs []error
	if err := checkBaseURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.SID == "" {
		errs = append(errs, errors.New("xoxzo: API SID is empty"))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("xoxzo: auth token is empty"))
	}
	switch {
	case c.Sender == "":
		errs = append(errs, errors.New("xoxzo: sender is empty"))
	case !alnumSender.MatchString(c.Sender) && !numericSender.MatchString(c.Sender):
		errs = append(errs, fmt.Errorf("xoxzo: sender %q must be 1-10 letters and digits or 1-15 digits", c.Sender))
	}
	if c.TemplateID != "" && !templateID.MatchString(c.TemplateID) {
		errs = append(errs, fmt.Errorf("xoxzo: template id %q is not a number", c.TemplateID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("xoxzo: base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("xoxzo: base URL %q must be http(s)://host[/path]", raw)
	}
	return nil
}

// Send sends m and returns the msgid Xoxzo assigned. See Client for what
// goes on the wire. An accepted message has Status "queued": Xoxzo says
// nothing more until the carrier reports, which Status reads.
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	var (
		path, ctype string
		body        []byte
	)
	if c.TemplateID == "" {
		path = "/sms/messages/"
		ctype = "application/x-www-form-urlencoded"
		form := url.Values{"recipient": {m.To}, "sender": {c.Sender}, "message": {m.Body}}
		if c.CallbackURL != "" {
			form.Set("callbackurl", c.CallbackURL)
		}
		body = []byte(form.Encode())
	} else {
		if m.Code == "" {
			// A template can only carry the code; without one the message
			// is ours to fix, and a free-text provider may still send it.
			return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: errors.New("template send needs Message.Code")}
		}
		path = "/sms/templates/" + url.PathEscape(c.TemplateID) + "/messages/"
		ctype = "application/json"
		var err error
		body, err = json.Marshal(templateSend{Sender: c.Sender, Recipient: m.To, Variables: map[string]string{"code": m.Code},
			CallbackURL: c.CallbackURL})
		if err != nil {
			return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: err}
		}
	}
	r, err := c.roundTrip(ctx, http.MethodPost, path, ctype, body)
	if err != nil {
		return sms.Receipt{}, err
	}
	if !ok(r.status) {
		return sms.Receipt{}, classify(r, m)
	}
	var sent []struct {
		MsgID string `json:"msgid"`
	}
	if err := json.Unmarshal(r.body, &sent); err != nil || len(sent) == 0 || sent[0].MsgID == "" {
		// Xoxzo said yes but we cannot tell to what: the SMS may be on its
		// way, so this must not count as a failure worth resending.
		return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Unknown, Status: r.status,
			Err: fmt.Errorf("accepted, but the answer has no msgid: %w", errors.Join(err, errNoMsgID))}
	}
	return sms.Receipt{Provider: provider, MessageID: sent[0].MsgID, Status: "queued"}, nil
}

var errNoMsgID = errors.New("want [{\"msgid\": ...}]")

type templateSend struct {
	Sender    string            `json:"sender"`
	Recipient string            `json:"recipient"`
	Variables map[string]string `json:"variables"`
	// CallbackURL: the docs point template sends to the SMS parameters
	// table, callbackurl included.
	CallbackURL string `json:"callbackurl,omitempty"`
}

// DeliveryStatus is what Xoxzo reports about a sent message.
type DeliveryStatus struct {
	MsgID string
	State sms.DeliveryState
	// Raw is Xoxzo's own word: QUEUED, DELIVERING, DELIVERED or FAIL per the
	// blog (2017), QUEUED, DELIVERING, OK or FAILED per the help (2016).
	Raw string
	// SentTime is when Xoxzo handed the message on, zero if not yet. Xoxzo
	// writes it without a zone; its logs are UTC, so it is read as UTC.
	SentTime time.Time
	Cost     float64
}

// Status reads the delivery status of msgid. A msgid Xoxzo does not know
// gives an error that matches sms.ErrNotFound. DELIVERING can last long
// (phone off, out of area), and Xoxzo never retries a failed message.
func (c *Client) Status(ctx context.Context, msgid string) (DeliveryStatus, error) {
	if msgid == "" {
		return DeliveryStatus{}, errors.New("xoxzo: status: empty msgid")
	}
	r, err := c.roundTrip(ctx, http.MethodGet, "/sms/messages/"+url.PathEscape(msgid)+"/", "", nil)
	if err != nil {
		return DeliveryStatus{}, err
	}
	if r.status == http.StatusNotFound {
		// The body may be empty, not JSON, or DRF's {"detail": "Not found."}.
		return DeliveryStatus{}, &sms.Error{Provider: provider, Kind: sms.Permanent, Status: r.status,
			Err: fmt.Errorf("msgid %q: %w", msgid, sms.ErrNotFound)}
	}
	if !ok(r.status) {
		return DeliveryStatus{}, classify(r, sms.Message{})
	}
	var got struct {
		MsgID    string      `json:"msgid"`
		Status   string      `json:"status"`
		SentTime string      `json:"sent_time"`
		Cost     json.Number `json:"cost"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		return DeliveryStatus{}, &sms.Error{Provider: provider, Kind: sms.Transient, Status: r.status, Err: fmt.Errorf("decode status: %w", err)}
	}
	st := DeliveryStatus{MsgID: got.MsgID, Raw: got.Status, State: stateOf(got.Status)}
	if st.MsgID == "" {
		st.MsgID = msgid
	}
	if t, err := time.ParseInLocation(time.DateTime, got.SentTime, time.UTC); err == nil {
		st.SentTime = t
	}
	st.Cost, _ = got.Cost.Float64()
	if st.State == sms.DeliveryPending && !slices.Contains([]string{"QUEUED", "DELIVERING"}, strings.ToUpper(got.Status)) && c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelWarn, "xoxzo: unknown delivery status, read as pending",
			slog.String("msgid", msgid), slog.String("status", got.Status))
	}
	return st, nil
}

// stateOf maps both vocabularies Xoxzo has documented; anything else is
// still pending as far as we can tell.
func stateOf(raw string) sms.DeliveryState {
	switch strings.ToUpper(raw) {
	case "DELIVERED", "OK":
		return sms.DeliveryDelivered
	case "FAIL", "FAILED":
		return sms.DeliveryFailed
	}
	return sms.DeliveryPending
}

// Credits returns the account balance. It is cheap and authenticated, so it
// doubles as a readiness check of the credentials.
func (c *Client) Credits(ctx context.Context) (float64, error) {
	r, err := c.roundTrip(ctx, http.MethodGet, "/you/credits/", "", nil)
	if err != nil {
		return 0, err
	}
	if !ok(r.status) {
		return 0, classify(r, sms.Message{})
	}
	var got struct {
		Credits *float64 `json:"credits"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Credits == nil {
		return 0, &sms.Error{Provider: provider, Kind: sms.Transient, Status: r.status,
			Err: fmt.Errorf("decode credits: %w", errors.Join(err, errors.New(`want {"credits": n}`)))}
	}
	return *got.Credits, nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func ok(status int) bool { return status == http.StatusOK || status == http.StatusCreated }

// roundTrip sends one authenticated request and reads the answer.
func (c *Client) roundTrip(ctx context.Context, method, path, ctype string, body []byte) (response, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return response{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: err}
	}
	req.SetBasicAuth(c.SID, c.AuthToken)
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	a, err := sms.Call(c.HTTP, provider, req, maxBody)
	return response{status: a.Status, header: a.Header, body: a.Body}, err
}

// classify turns an error answer into an *sms.Error.
//
// A 400 about the recipient or the message text is Permanent: no provider
// will take that number or that text. Every other 400 (sender, template,
// variables, a {"detail"} such as a pending template) and every 3xx, 401,
// 402, 403 and 404 is Config: our account or settings are wrong, the
// operator must act, and another provider may still deliver. Insufficient
// credit has no documented status, so any answer that mentions credit is
// Config too. 429 and 5xx are Transient (Xoxzo did not take the message),
// except 504: a gateway timed out waiting for Xoxzo, which may have sent
// the SMS, so the outcome is Unknown and the chain must not resend.
func classify(r response, m sms.Message) *sms.Error {
	ae := parseAPIError(r.status, r.body, m)
	e := &sms.Error{Provider: provider, Status: r.status, Err: ae}
	switch {
	case r.status == http.StatusTooManyRequests:
		e.Kind = sms.Transient
		e.RetryAfter = sms.RetryAfter(r.header, time.Now())
	case r.status == http.StatusGatewayTimeout:
		e.Kind = sms.Unknown
	case r.status >= 500, r.status == http.StatusRequestTimeout:
		e.Kind = sms.Transient
	case ae.mentionsCredit():
		e.Kind = sms.Config
	case r.status == http.StatusBadRequest && (ae.Fields["recipient"] != nil || ae.Fields["message"] != nil):
		e.Kind = sms.Permanent
	default:
		e.Kind = sms.Config
	}
	return e
}

// APIError is an error answer from Xoxzo, decoded tolerantly: DRF field
// errors ({"recipient": ["Invalid recipient"]}) go to Fields, a
// {"detail": "..."} or {"non_field_errors": [...]} to Detail, and a body
// that is not JSON (a proxy's HTML page) to Text, shortened. The number and
// the code are masked in all of them, since errors are logged.
type APIError struct {
	Status int
	Detail string
	Fields map[string][]string
	Text   string
}

func (e *APIError) Error() string {
	var parts []string
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, k+": "+strings.Join(e.Fields[k], " "))
	}
	if e.Text != "" {
		parts = append(parts, "body: "+e.Text)
	}
	if len(parts) == 0 {
		return "empty answer"
	}
	return strings.Join(parts, "; ")
}

func (e *APIError) mentionsCredit() bool {
	return e.Status == http.StatusPaymentRequired || strings.Contains(strings.ToLower(e.Error()), "credit")
}

func parseAPIError(status int, body []byte, m sms.Message) *APIError {
	e := &APIError{Status: status}
	clean := m.Excerpt
	var obj map[string]any
	var list []any
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case json.Unmarshal(body, &obj) == nil && obj != nil:
		for k, v := range obj {
			msgs := FlattenErrors(v)
			for i := range msgs {
				msgs[i] = clean(msgs[i])
			}
			switch k {
			case "detail", "non_field_errors":
				e.Detail = strings.Join(msgs, " ")
			default:
				if e.Fields == nil {
					e.Fields = make(map[string][]string)
				}
				// The key is cleaned too: a field name can echo the
				// number or the code as well as a message can.
				e.Fields[clean(k)] = msgs
			}
		}
	case json.Unmarshal(body, &list) == nil:
		e.Detail = clean(strings.Join(FlattenErrors(list), " "))
	default:
		e.Text = clean(string(body))
	}
	return e
}

// FlattenErrors collects the strings of a Django REST framework error
// value, as every Xoxzo API answers them: a string, a list of them, or a
// nested object for a nested field.
func FlattenErrors(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, FlattenErrors(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			for _, s := range FlattenErrors(v[k]) {
				out = append(out, k+": "+s)
			}
		}
		return out
	case nil:
		return nil
	}
	return []string{fmt.Sprint(v)}
}
