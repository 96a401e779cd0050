// Package xoxzootp is the client for Xoxzo's OTP API (2025), where Xoxzo
// makes the code, texts it with its fixed template and checks it
// (otp.Verifier). Same server as the SMS API: https://api.xoxzo.com, HTTP
// Basic auth with the API SID and auth token, Django REST Framework, so
// every path ends in a slash and error bodies have DRF's shapes. Bodies
// are JSON, as Xoxzo's own tutorial sends them.
//
// What is known (SMS-PROVIDERS.md, section 2):
//
//	POST /otp/request/ {"website": W, "phone_number": "+81..."}  ->  201 {"msgid": "..."}
//
// with 400 for missing or invalid parameters, 401 for bad credentials, and
// "one active OTP per phone number per domain". The website must be
// registered first (POST /otp/register-website/, see RegisterWebsite), once,
// from an operator's script. The SMS is Xoxzo's fixed Japanese template
// ("あなたの確認コードは123456です。"): no brand, no WebOTP line, and the
// locale is ignored.
//
// This was checked again against the stored copy of Xoxzo's OTP page
// (docs.xoxzo.com/en/otp): register-website answers 201 {"message":
// "Website registered successfully."} or 400 {"website": ["website info
// with this website already exists."]}; request takes website and
// phone_number and answers 201 {"msgid"}; the copy still stops at the
// first cell of the verify table ("webs...").
//
// What is NOT known, and is guessed here:
//
//   - The fields of POST /otp/verify/. Xoxzo's docs cut off after the
//     first field ("website"); Xoxzo's tutorial sends {"otp_id", "code"},
//     but the request step returns "msgid", not "otp_id". The guess lives in
//     one place, DefaultVerifyRequest, and a Config.VerifyRequest replaces
//     it without touching anything else. Confirm the fields against
//     https://docs.xoxzo.com/en/otp (and /ja/otp) before enabling this
//     provider in production.
//   - Every verify answer. readVerdict reads them tolerantly: a 2xx is an
//     approval unless its body says otherwise, a 400 is a wrong code unless
//     its text says expired, unknown or too many tries. A 400 that names a
//     missing field means our request shape is wrong, and comes back as an
//     sms.Config error so the operator hears about it instead of users
//     seeing "wrong code" forever.
//   - The answer to a second /otp/request/ while a code is active: taken to
//     be a 400 saying so, mapped to otp.ErrTooManySends.
//   - Code lifetime and attempt limit: not documented. The IdP's own limits
//     are the ones to rely on.
package xoxzootp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
)

// DefaultBaseURL is the production API, the same host as Xoxzo's SMS API.
const DefaultBaseURL = xoxzo.DefaultBaseURL

// Provider is the name in Started and errors.
const Provider = "xoxzo-otp"

// maxBody bounds what is read of any answer.
const maxBody = 64 << 10

// VerifyRequestBuilder makes the JSON body of POST /otp/verify/ from the
// registered website, the E.164 number the code went to, the msgid that
// /otp/request/ returned, and the code the user typed. The result is
// passed to json.Marshal. It exists because Xoxzo has not published the
// verify fields: when they are confirmed, change DefaultVerifyRequest or
// set Config.VerifyRequest, and nothing else.
type VerifyRequestBuilder func(website, phone, msgid, code string) any

// DefaultVerifyRequest is the best guess at the verify fields, UNCONFIRMED:
//
//	{"website": W, "phone_number": P, "otp_id": msgid, "code": C}
//
// It is the union of Xoxzo's two sources: the docs' table starts with
// "website" (and /otp/request/ identifies a code by website and
// phone_number), the tutorial sends "otp_id" and "code". DRF ignores
// fields a serializer does not declare, so the union passes whichever of
// the two shapes the server has, as long as the code field is called
// "code". If it is "otp" or "otp_code", the server answers 400
// {"<name>": ["This field is required."]}, which Check reports as an
// sms.Config error naming the field.
func DefaultVerifyRequest(website, phone, msgid, code string) any {
	return verifyRequest{Website: website, PhoneNumber: phone, OTPID: msgid, Code: code}
}

type verifyRequest struct {
	Website     string `json:"website"`
	PhoneNumber string `json:"phone_number"`
	OTPID       string `json:"otp_id"`
	Code        string `json:"code"`
}

// Config is what New needs. SID and AuthToken are the XOXZO_API_SID and
// XOXZO_API_AUTH_TOKEN of Xoxzo's own tools; Website is the URL registered
// with /otp/register-website/ ("https://login.example.com").
type Config struct {
	BaseURL       string // empty: DefaultBaseURL
	SID           string
	AuthToken     string
	Website       string
	HTTP          *http.Client
	VerifyRequest VerifyRequestBuilder // nil: DefaultVerifyRequest
}

// Client talks to one Xoxzo account for one registered website. It
// implements otp.Verifier. Zero BaseURL, HTTP and VerifyRequest mean the
// defaults; prefer New, which also checks the rest.
type Client struct {
	BaseURL       string
	SID           string
	AuthToken     string
	Website       string
	HTTP          *http.Client
	VerifyRequest VerifyRequestBuilder
}

var _ otp.Verifier = (*Client)(nil)

// New checks cfg and returns a client. Every problem is reported at once.
func New(cfg Config) (*Client, error) {
	c := &Client{
		BaseURL: cfg.BaseURL, SID: cfg.SID, AuthToken: cfg.AuthToken, Website: cfg.Website,
		HTTP: cfg.HTTP, VerifyRequest: cfg.VerifyRequest,
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: sms.DefaultTimeout}
	}
	if c.VerifyRequest == nil {
		c.VerifyRequest = DefaultVerifyRequest
	}
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("xoxzo-otp: base URL %q must be http(s)://host[/path]", c.BaseURL))
	}
	if c.SID == "" {
		errs = append(errs, errors.New("xoxzo-otp: API SID is empty"))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("xoxzo-otp: auth token is empty"))
	}
	if u, err := url.Parse(c.Website); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("xoxzo-otp: website %q must be the registered URL, e.g. https://login.example.com", c.Website))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// RegisterWebsite links Website to the account (POST
// /otp/register-website/, template 3, the only one). It is a one-time
// set-up step for an operator's command, not for start-up: a website
// registered already is not an error.
func (c *Client) RegisterWebsite(ctx context.Context) error {
	r, err := c.post(ctx, "/otp/register-website/", map[string]string{"website": c.Website})
	if err != nil {
		return err
	}
	if r.status/100 == 2 {
		return nil
	}
	ae := parseAPIError(r.status, r.body, sms.Message{})
	if r.status == http.StatusBadRequest && strings.Contains(strings.ToLower(strings.Join(ae.Fields["website"], " ")), "already exists") {
		return nil
	}
	return classify(r, ae)
}

// Start asks Xoxzo to text a code to `to` (POST /otp/request/). locale is
// ignored (the template is fixed Japanese) and ref is not sent (the API has
// no field for it). The msgid Xoxzo returns is Started.ID; it is opaque,
// taken as a string or a number.
func (c *Client) Start(ctx context.Context, to, locale, ref string) (otp.Started, error) {
	r, err := c.post(ctx, "/otp/request/", map[string]string{"website": c.Website, "phone_number": to})
	if err != nil {
		return otp.Started{}, err
	}
	if r.status/100 != 2 {
		ae := parseAPIError(r.status, r.body, sms.Message{To: to})
		e := classify(r, ae)
		if r.status == http.StatusBadRequest {
			switch v := readVerdict(ae.text()); {
			case v == verdictActive || v == verdictTooMany:
				// [GUESS] "one active OTP per phone number per domain": a
				// refusal to send now, as a send limit would be.
				e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrTooManySends, ae)
			case ae.Fields["phone_number"] != nil && v != verdictShape:
				e.Kind = sms.Permanent // the number: no provider will do better
			}
		}
		return otp.Started{}, e
	}
	type sent struct {
		MsgID json.RawMessage `json:"msgid"`
	}
	// {"msgid": ...} per the docs; [{"msgid": ...}] as the SMS API answers
	// is taken too.
	var one sent
	var list []sent
	id := ""
	if json.Unmarshal(r.body, &one) == nil {
		id = opaqueID(one.MsgID)
	} else if json.Unmarshal(r.body, &list) == nil && len(list) > 0 {
		id = opaqueID(list[0].MsgID)
	}
	if id == "" {
		// Xoxzo said yes but we cannot tell to what: the SMS may be on its
		// way, so this must not invite a blind resend.
		return otp.Started{}, &sms.Error{Provider: Provider, Kind: sms.Unknown, Status: r.status,
			Err: errors.New(`accepted, but the answer has no msgid: want {"msgid": ...}`)}
	}
	return otp.Started{Provider: Provider, ID: id, Channel: "sms"}, nil
}

// opaqueID reads a JSON string or number as a string.
func opaqueID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// Check posts the body VerifyRequest builds to /otp/verify/ and reads the
// answer tolerantly (see readVerdict). A code that is not 4 to 10 digits
// (Xoxzo sends 6) is answered here, wrong and not final, without a
// request.
//
// Result.Status is this package's word, not Xoxzo's (Xoxzo's are unknown):
// "approved"; "pending" for a wrong code; with otp.ErrNotFound "not_found"
// (expired, used or unknown); with otp.ErrTooManyChecks
// "max_attempts_reached"; "malformed" for a code refused locally.
func (c *Client) Check(ctx context.Context, s otp.Started, to, code string) (otp.Result, error) {
	if !digits(code, 4, 10) {
		return otp.Result{Status: "malformed"}, nil
	}
	build := c.VerifyRequest
	if build == nil {
		build = DefaultVerifyRequest
	}
	r, err := c.post(ctx, "/otp/verify/", build(c.Website, to, s.ID, code))
	if err != nil {
		return otp.Result{}, err
	}
	ae := parseAPIError(r.status, r.body, sms.Message{To: to, Code: code})
	e := &sms.Error{Provider: Provider, Status: r.status, Err: ae}
	if r.status/100 == 2 {
		if ae.Text != "" {
			// Not JSON (a proxy's page?): a 2xx we cannot read must not
			// log anyone in.
			e.Kind, e.Err = sms.Unknown, fmt.Errorf("unreadable verify answer: %w", ae)
			return otp.Result{}, e
		}
		if !ae.negative() {
			// Approval needs something said: an empty answer (a proxy, a
			// wrong base URL) must never log anyone in.
			if b := strings.TrimSpace(string(r.body)); b == "" || b == "{}" || b == "[]" || b == "null" {
				e.Kind, e.Err = sms.Unknown, errors.New("empty verify answer, not taken as approval")
				return otp.Result{}, e
			}
			return otp.Result{OK: true, Final: true, Status: "approved"}, nil
		}
	}
	v := readVerdict(ae.text())
	switch {
	case v == verdictShape || ae.Fields["website"] != nil:
	case ae.Fields["otp_id"] != nil || ae.Fields["msgid"] != nil:
		v = verdictGone // the id itself was refused: unknown or used up
	case r.status == http.StatusTooManyRequests && !strings.Contains(ae.text(), "attempt"):
		v = verdictNone // a throttle, not a verdict on the code
	}
	switch {
	case r.status/100 == 2, r.status == http.StatusBadRequest,
		r.status == http.StatusNotFound && ae.Text == "",
		r.status == http.StatusTooManyRequests && v == verdictTooMany:
		switch {
		case v == verdictShape || ae.Fields["website"] != nil:
			e.Kind, e.Err = sms.Config, fmt.Errorf("verify request refused (check the website registration and xoxzootp.DefaultVerifyRequest): %w", ae)
			return otp.Result{}, e
		case v == verdictGone:
			e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrNotFound, ae)
			return otp.Result{Final: true, Status: "not_found"}, e
		case v == verdictTooMany:
			e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrTooManyChecks, ae)
			return otp.Result{Final: true, Status: "max_attempts_reached"}, e
		}
		if r.status == http.StatusNotFound {
			// A 404 in JSON or with no body from the verify route: the
			// msgid is unknown. (A wrong URL gets Django's HTML page.)
			e.Kind, e.Err = sms.Permanent, fmt.Errorf("%w: %w", otp.ErrNotFound, ae)
			return otp.Result{Final: true, Status: "not_found"}, e
		}
		return otp.Result{Status: "pending"}, nil
	}
	return otp.Result{}, classify(r, ae)
}

func digits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

type verdict int

const (
	verdictNone    verdict = iota
	verdictShape           // our request is malformed: a field is missing or unparsable
	verdictActive          // a code is already active for the number
	verdictGone            // expired, used, unknown
	verdictTooMany         // too many tries
	verdictWrong           // wrong code
)

// readVerdict is the tolerant reading of Xoxzo's undocumented OTP answers,
// from the lowercased text of a body (keys and values). All of it is a
// GUESS from DRF's defaults and common wording. The order matters: a
// missing field beats everything, since it means our request is wrong;
// "too many" beats "expired" ("too many tries, wait until it expires");
// "no active" is a code that is gone, not one that is active.
func readVerdict(text string) verdict {
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(text, w) })
	}
	switch {
	case has("this field is required", "may not be blank", "may not be null", "parse error", "unsupported media type"):
		return verdictShape
	case has("too many", "max attempts", "maximum attempts", "attempts exceeded", "attempt limit", "locked", "回数"):
		return verdictTooMany
	case has("no active", "expire", "not found", "does not exist", "already verified", "already used", "has been used", "was used", "期限"):
		return verdictGone
	case has("already exists", "already active", "still active", "already been sent", "already sent"):
		return verdictActive
	case has("invalid", "incorrect", "wrong", "mismatch", "fail", "not valid", "not verified", "unverified", "無効", "一致", "誤"):
		return verdictWrong
	}
	return verdictNone
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// post sends one authenticated JSON request and reads the answer.
func (c *Client) post(ctx context.Context, path string, v any) (response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return response{}, &sms.Error{Provider: Provider, Kind: sms.Config, Err: fmt.Errorf("encode request: %w", err)}
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return response{}, &sms.Error{Provider: Provider, Kind: sms.Config, Err: err}
	}
	req.SetBasicAuth(c.SID, c.AuthToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	a, err := sms.Call(c.HTTP, Provider, req, maxBody)
	return response{status: a.Status, header: a.Header, body: a.Body}, err
}

// classify maps a status that no OTP-specific reading claimed, as the SMS
// client does: 429 and 5xx Transient (with Retry-After), 504 Unknown (a
// gateway gave up waiting; Xoxzo may have sent the code), anything that
// mentions credit or any other 3xx/4xx Config (credentials, website not
// registered or not linked, account).
func classify(r response, ae *APIError) *sms.Error {
	e := &sms.Error{Provider: Provider, Status: r.status, Err: ae}
	switch {
	case r.status == http.StatusTooManyRequests:
		e.Kind = sms.Transient
		e.RetryAfter = sms.RetryAfter(r.header, time.Now())
	case r.status == http.StatusGatewayTimeout:
		e.Kind = sms.Unknown
	case r.status >= 500, r.status == http.StatusRequestTimeout:
		e.Kind = sms.Transient
	default:
		e.Kind = sms.Config
	}
	return e
}

// APIError is an answer from the OTP API, decoded tolerantly: DRF field
// errors ({"phone_number": ["..."]}) go to Fields, {"detail"},
// {"message"}, {"error"} and {"non_field_errors"} to Detail, other scalar
// members (a "status" word, a "verified" flag) to Values, and a body that
// is not JSON to Text, shortened. The number and the code are masked in
// all of them, since errors are logged.
type APIError struct {
	Status int
	Detail string
	Fields map[string][]string
	Values map[string]any
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
	for _, k := range slices.Sorted(maps.Keys(e.Values)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, e.Values[k]))
	}
	if e.Text != "" {
		parts = append(parts, "body: "+e.Text)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("HTTP %d, empty answer", e.Status)
	}
	return strings.Join(parts, "; ")
}

// text is everything the answer says, lowercased and with underscores as
// spaces ("max_attempts_reached"), for readVerdict.
func (e *APIError) text() string {
	return strings.ReplaceAll(strings.ToLower(e.Error()), "_", " ")
}

// positiveWords and the flag names are what a 2xx verify body may use to
// say yes or no. [GUESS] all of them.
var (
	flagNames     = []string{"verified", "valid", "is_valid", "success", "ok", "approved", "result"}
	positiveWords = []string{"approved", "verified", "success", "successful", "ok", "valid", "accepted", "true"}
)

// negative reports whether a 2xx verify body says the code was not
// accepted: a false flag, a status word that is not a yes, or a message
// readVerdict reads as a refusal. A flagless body with some content is a
// yes (Xoxzo documents 2xx-or-400); an empty one is not, see Check.
func (e *APIError) negative() bool {
	for _, k := range flagNames {
		if b, ok := e.Values[k].(bool); ok && !b {
			return true
		}
	}
	for _, k := range []string{"status", "result", "state"} {
		if s, ok := e.Values[k].(string); ok && s != "" && !slices.Contains(positiveWords, strings.ToLower(s)) {
			return true // an unknown status word is no yes: fail closed
		}
	}
	// Only the message: other members of a 2xx body echo the request.
	return readVerdict(strings.ToLower(e.Detail)) != verdictNone
}

func parseAPIError(status int, body []byte, m sms.Message) *APIError {
	e := &APIError{Status: status}
	clean := m.Excerpt
	var obj map[string]any
	var list []any
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case json.Unmarshal(body, &obj) == nil && obj != nil:
		var details []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			// Keys are cleaned as well as values: a key can echo the
			// number or the code too.
			switch v := obj[k].(type) {
			case bool, float64, nil:
				if e.Values == nil {
					e.Values = make(map[string]any)
				}
				e.Values[clean(k)] = v
				continue
			case string:
				if k == "status" || k == "result" || k == "state" || k == "msgid" || k == "otp_id" {
					if e.Values == nil {
						e.Values = make(map[string]any)
					}
					e.Values[k] = clean(v)
					continue
				}
			}
			msgs := xoxzo.FlattenErrors(obj[k])
			for i := range msgs {
				msgs[i] = clean(msgs[i])
			}
			switch k {
			case "detail", "message", "error", "errors", "non_field_errors":
				details = append(details, msgs...)
			default:
				if e.Fields == nil {
					e.Fields = make(map[string][]string)
				}
				e.Fields[clean(k)] = msgs
			}
		}
		e.Detail = strings.Join(details, " ")
	case json.Unmarshal(body, &list) == nil:
		e.Detail = clean(strings.Join(xoxzo.FlattenErrors(list), " "))
	default:
		e.Text = clean(string(body))
	}
	return e
}
