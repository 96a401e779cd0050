// Package webhook hands each message to an operator's HTTP endpoint, which
// delivers it however it likes: an in-house gateway, a provider this
// project has no client for, a queue.
//
// The request:
//
//	POST <URL>
//	Content-Type: application/json
//	X-IDP-Signature: t=1767225600,v1=5d41402abc4b2a76b9719d911017c592...
//
//	{"id":"3f2a...","to":"+819012345678","body":"...","locale":"ja","ref":"<challenge id>"}
//
// id is random per send: a receiver can drop a replayed or duplicated
// request by it. ref is the IdP's challenge id, for correlating logs. The
// code is not sent on its own, because body already holds it, already
// localised; set Config.SendCode for a receiver that fills its own
// template, and "code" is added.
//
// The signature is an HMAC-SHA256, keyed with the shared secret, of the
// decimal Unix time, a dot and the exact body bytes: "1767225600.{...}".
// t is in the signed text so a captured request cannot be replayed later
// than the receiver's tolerance. Receivers check it with Verify, which has
// no dependencies beyond the standard library, so it can be copied as is.
//
// The answer: any 2xx means the receiver took the message. 408 and 429 are
// Transient (busy, try another provider), 401 and 403 are Config (the
// secret or the URL is wrong: the operator must act, and another provider
// may deliver meanwhile), any other 4xx is Permanent (the receiver refuses
// this message or number). 5xx is Transient except 504, and a timeout
// after the request was written is Unknown: the receiver may have sent it.
//
// Delivery reports: a receiver that learns what became of a message may
// post {"id","status","error_code"} back to the IdP's
// /sms/receipts/webhook, signed the same way with the same secret (see
// Reports and SignReport).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// SignatureHeader carries the request's signature.
const SignatureHeader = "X-IDP-Signature"

// DefaultTolerance is how far the signed time may be from the receiver's
// clock in Verify when the caller passes no tolerance.
const DefaultTolerance = 5 * time.Minute

// MinSecretLen is the shortest secret New accepts: 32 random bytes match
// SHA-256's strength, so the key is never the weak part of the signature.
const MinSecretLen = 32

const provider = "webhook"

// Config is what New needs.
type Config struct {
	// URL receives the POST. Use https: the body carries the code. Plain
	// http is accepted for a sidecar or a private network; the config
	// package warns about it for any host but loopback.
	URL string
	// Secret keys the signature; at least MinSecretLen bytes.
	Secret []byte
	// SendCode adds "code" to the payload, for receivers that render
	// their own text.
	SendCode bool
	HTTP     *http.Client     // nil: a client with sms.DefaultTimeout
	Now      func() time.Time // nil: time.Now
}

// Client posts messages to one receiver. It implements sms.Sender.
type Client struct {
	URL      string
	Secret   []byte
	SendCode bool
	HTTP     *http.Client
	Now      func() time.Time
}

var _ sms.Sender = (*Client)(nil)

// New checks cfg and returns a client. Every problem is reported at once.
func New(cfg Config) (*Client, error) {
	c := &Client{URL: cfg.URL, Secret: cfg.Secret, SendCode: cfg.SendCode, HTTP: cfg.HTTP, Now: cfg.Now}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: sms.DefaultTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("webhook: URL: %w", err))
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, errors.New("webhook: URL must be an absolute http(s) URL"))
	}
	if len(c.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("webhook: secret has %d bytes, want at least %d", len(c.Secret), MinSecretLen))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// payload is the request body; see the package doc.
type payload struct {
	ID     string `json:"id"`
	To     string `json:"to"`
	Body   string `json:"body"`
	Code   string `json:"code,omitempty"`
	Locale string `json:"locale"`
	Ref    string `json:"ref"`
}

// Send posts m, signed. The receipt's MessageID is the payload's id.
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	p := payload{ID: newID(), To: m.To, Body: m.Body, Locale: m.Locale, Ref: m.Ref}
	if c.SendCode {
		p.Code = m.Code
	}
	body, err := json.Marshal(p)
	if err != nil {
		return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		// Not wrapped: a parse error would quote the URL, which may hold a token.
		return sms.Receipt{}, &sms.Error{Provider: provider, Kind: sms.Config, Err: errors.New("cannot build the request from the URL")}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(c.Secret, now(), body))
	resp, err := sms.DoHTTP(c.HTTP, provider, req)
	if err != nil {
		return sms.Receipt{}, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return sms.Receipt{Provider: provider, MessageID: p.ID, Status: "accepted"}, nil
	}
	e := &sms.Error{Provider: provider, Status: resp.StatusCode, Err: fmt.Errorf("receiver answered %s", excerpt(m, answer))}
	switch st := resp.StatusCode; {
	case st == http.StatusTooManyRequests, st == http.StatusServiceUnavailable:
		e.Kind = sms.Transient
		e.RetryAfter = sms.RetryAfter(resp.Header, now())
	case st == http.StatusRequestTimeout:
		e.Kind = sms.Transient
	case st == http.StatusGatewayTimeout:
		e.Kind = sms.Unknown
	case st >= 500:
		e.Kind = sms.Transient
	case st == http.StatusUnauthorized, st == http.StatusForbidden, st < 400:
		e.Kind = sms.Config
	default:
		e.Kind = sms.Permanent
	}
	return sms.Receipt{}, e
}

// excerpt is the start of the receiver's answer, quoted, with the number
// and code masked in case the receiver echoes the request. The masking
// comes after the quoting, whose escapes can spell digits ("\x18" +
// "19012345678").
func excerpt(m sms.Message, b []byte) string {
	// Quoted, then masked again: an escape such as \x18 could otherwise
	// join with the digits after it to spell the number.
	return m.Redact(strconv.Quote(m.Excerpt(string(b))))
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// Sign returns the SignatureHeader value for body sent at t:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors from Verify.
var (
	ErrNoSignature  = errors.New("webhook: missing or malformed signature header")
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: signature time outside tolerance")
)

// Verify checks a SignatureHeader value against the raw request body, for
// receivers. Read the body once, verify, then parse the JSON from the same
// bytes. The time must be within tolerance of now either way
// (DefaultTolerance if tolerance <= 0), which bounds replays; drop repeated
// payload ids within that window to stop them entirely. Several v1 values
// are allowed, so a sender can sign with an old and a new secret while
// they rotate. The comparison is constant-time (hmac.Equal), so timing
// tells an attacker nothing about how much of a forgery was right.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrNoSignature
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrNoSignature
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrNoSignature
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	if !slices.ContainsFunc(sigs, func(sig []byte) bool { return hmac.Equal(sig, want) }) {
		return ErrBadSignature
	}
	// Checked after the signature, so ErrStale means "genuine but old".
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
