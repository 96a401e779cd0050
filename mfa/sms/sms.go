// Package sms delivers one-time-code messages through SMS providers.
//
// Every provider implements Sender. Errors carry a Kind so the failover
// chain (Chain) can tell a transient failure, worth trying the next
// provider for, from a permanent one (the number is bad: no provider will
// do better) and from an unknown outcome (a timeout after the request left:
// the message may have gone out, so it must not be sent again blindly).
package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Message is one text to one phone.
type Message struct {
	// To is the recipient in E.164 form (+819012345678).
	To string
	// Body is the full text, already localised.
	Body string
	// Code is the one-time code inside Body. Template-based providers
	// (Xoxzo templates) send it as a variable instead of Body. It never
	// reaches a log: see LogValue.
	Code string
	// Locale is the BCP 47 language of Body ("ja", "en").
	Locale string
	// Ref is our own reference for the send (the challenge id), for logs.
	Ref string
	// Skip names providers of a Chain not to try: a resend by another
	// route after a delivery receipt said the first one failed.
	Skip []string
}

// LogValue masks the number and leaves out the body and the code.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", MaskNumber(m.To)), slog.String("ref", m.Ref))
}

// Receipt is what a provider said when it accepted a message.
type Receipt struct {
	Provider  string // provider name, e.g. "xoxzo"
	MessageID string // the provider's id for the message, if any
	Status    string // the provider's status word, if any (e.g. "queued")
}

// Sender sends one message. Implementations must honour ctx cancellation
// and never log credentials, the body or the code.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Kind classifies a send failure.
type Kind int

const (
	// Transient: the provider did not take the message (connection refused,
	// 5xx before acceptance, 429). Another provider may succeed.
	Transient Kind = iota + 1
	// Permanent: the provider refused the message for a reason another
	// provider would share (invalid or landline number, message too long).
	Permanent
	// Unknown: the request may have reached the provider (timeout after the
	// body was sent, 504). Sending again could deliver two codes.
	Unknown
	// Config: our side is misconfigured (bad credentials, template not
	// approved). Another provider may succeed; the operator must act.
	Config
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Unknown:
		return "unknown_outcome"
	case Config:
		return "config"
	}
	return "unclassified"
}

// Error is a classified send failure.
type Error struct {
	Provider   string
	Kind       Kind
	Status     int           // HTTP status, 0 if none
	RetryAfter time.Duration // from a Retry-After header, 0 if none
	Err        error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("sms %s: %s (HTTP %d): %v", e.Provider, e.Kind, e.Status, e.Err)
	}
	return fmt.Sprintf("sms %s: %s: %v", e.Provider, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, Transient for an unclassified error.
func KindOf(err error) Kind {
	var se *Error
	if errors.As(err, &se) {
		return se.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unknown
	}
	return Transient
}

// MaskNumber keeps the country code and the last four digits:
// "+819012345678" -> "+81•••••5678". Safe for logs and pages.
func MaskNumber(e164 string) string {
	r := []rune(e164)
	if len(r) <= 6 {
		return "••••"
	}
	cc := 3
	if len(r) > 0 && r[0] == '+' && len(r) > 2 && r[1] == '1' {
		cc = 2
	}
	out := make([]rune, 0, len(r))
	out = append(out, r[:cc]...)
	for range r[cc : len(r)-4] {
		out = append(out, '•')
	}
	return string(append(out, r[len(r)-4:]...))
}

// Excerpt is s as an error message may quote it: the number and the code
// masked, runs of white space made one, and at most 200 characters.
func (m Message) Excerpt(s string) string {
	s = strings.Join(strings.Fields(m.Redact(s)), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// Redact replaces the full number (with and without its "+") and the code in
// s with masks. Provider error text can echo the recipient (Twilio's 21211
// message does), and error strings end up in logs.
func (m Message) Redact(s string) string {
	if m.To != "" {
		mask, digits := MaskNumber(m.To), strings.TrimPrefix(m.To, "+")
		// The last four digits a mask keeps, with the text after it, can
		// spell the number again ("…5678" + "18012345678"), so a number of
		// ASCII digits is masked until none is left. That ends when the
		// mask hides at least one digit: each round then hides more of the
		// text in bullets, and bullets hold no digit.
		repeat := strings.Trim(digits, "0123456789") == "" && !strings.Contains(mask, digits)
		for again := true; again; {
			before := s
			s = strings.ReplaceAll(s, m.To, mask)
			if len(digits) >= 6 {
				s = strings.ReplaceAll(s, digits, mask)
			}
			again = repeat && s != before
		}
	}
	if len(m.Code) >= 4 {
		s = strings.ReplaceAll(s, m.Code, "••••")
	}
	return s
}

// ErrNotFound reports that a provider does not know a message id (a status
// query for an id it never issued, or one past its retention).
var ErrNotFound = errors.New("sms: message not found")

// DeliveryState is a provider-neutral reading of a delivery report, for
// status polling: each provider maps its own status words onto it.
type DeliveryState string

const (
	// DeliveryPending: accepted but not yet known to be on the phone. Also
	// every status word a provider adds later, until it is mapped.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the carrier reported the message delivered.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: the provider or carrier gave up; it will not retry.
	DeliveryFailed DeliveryState = "failed"
)

// DefaultTimeout bounds one provider request when the caller supplies no
// *http.Client: long enough for a slow gateway, short enough that the user
// is still on the PIN page when the chain moves to the next provider.
const DefaultTimeout = 10 * time.Second

// DoHTTP sends req with c on behalf of provider and classifies a failure to
// get a response, so every HTTP provider draws the line between Transient
// and Unknown in the same place.
//
// A nil c means a client with DefaultTimeout. Redirects are never followed:
// net/http re-issues a POST that got a 301 as a GET, and on Xoxzo a GET of
// the send URL lists old messages with 200, which would read as a success.
// The 3xx response is returned for the caller to treat as a configuration
// error.
//
// A transport error comes back as an *Error: Unknown once the request was
// written in full (a timeout or a dropped connection after that point
// leaves the provider free to have sent the SMS), Transient before it
// (connection refused, DNS, TLS: nothing reached the provider). The
// *url.Error wrapper is dropped because its URL may carry a token in the
// query (and some webhook paths are secrets too); context errors stay
// reachable with errors.Is.
func DoHTTP(c *http.Client, provider string, req *http.Request) (*http.Response, error) {
	hc := http.Client{Timeout: DefaultTimeout}
	if c != nil {
		hc = *c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			wrote.Store(true)
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := hc.Do(req)
	if err == nil {
		return resp, nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	kind := Transient
	if wrote.Load() {
		kind = Unknown
	}
	return nil, &Error{Provider: provider, Kind: kind, Err: fmt.Errorf("%s request: %w", req.Method, err)}
}

// RetryAfter reads a Retry-After header (RFC 9110, section 10.2.3), either
// delay-seconds or an HTTP-date. It returns 0 when the header is absent,
// unparsable or already past, and caps the delay at a day so a hostile or
// broken value cannot park a provider forever.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 24*60*60)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), 24*time.Hour)
	}
	return 0
}

// Answer is a provider's HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends a provider request with c, without following redirects
// (DoHTTP), and reads the answer, at most max bytes. A 2xx whose body
// breaks off is an Unknown outcome: the provider may have acted on it.
func Call(c *http.Client, provider string, req *http.Request, max int64) (Answer, error) {
	resp, err := DoHTTP(c, provider, req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil && resp.StatusCode/100 == 2 {
		return Answer{}, &Error{Provider: provider, Kind: Unknown, Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
