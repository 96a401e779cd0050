// Package smstest holds what the tests of the SMS and OTP provider
// clients share: Fake, the server every fake provider (xoxzofake,
// twiliofake, twilioverifyfake, xoxzootpfake) is built on, with the error
// shapes of Django REST framework and of Twilio; made-up provider answers
// served through an http.RoundTripper for the fuzz targets; and the rule
// every provider failure must follow.
package smstest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// Answer is one made-up response of the provider. The fuzz targets serve
// it through an http.RoundTripper rather than a listening server: any
// status code and header reaches the client the same way, a thousand
// times faster, and the body can break off part way as a dropped
// connection does.
type Answer struct {
	Status     int
	RetryAfter string
	CType      string
	Body       []byte
	Cut        int // > 0: the body ends in an error after Cut bytes
}

// RoundTripFunc is an http.RoundTripper made of a function.
type RoundTripFunc func(*http.Request) (*http.Response, error)

func (f RoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// failingBody returns its bytes, then an error: the connection dropped.
type failingBody struct{ r io.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (failingBody) Close() error { return nil }

// Client is an HTTP client whose every request gets a.
func (a Answer) Client() *http.Client {
	return &http.Client{Transport: RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		h := http.Header{}
		if a.RetryAfter != "" {
			h.Set("Retry-After", a.RetryAfter)
		}
		if a.CType != "" {
			h.Set("Content-Type", a.CType)
		}
		var body io.ReadCloser = io.NopCloser(strings.NewReader(string(a.Body)))
		if a.Cut > 0 && a.Cut < len(a.Body) {
			body = failingBody{strings.NewReader(string(a.Body[:a.Cut]))}
		}
		return &http.Response{StatusCode: a.Status, Status: http.StatusText(a.Status), Header: h, Body: body,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r}, nil
	})}
}

// StatusCode keeps a fuzzed status to the three digits HTTP has.
func StatusCode(s uint16) int {
	if s < 100 || s > 999 {
		return 100 + int(s)%900
	}
	return int(s)
}

// CheckError asserts what every provider failure must be: an *sms.Error
// of this provider with a Kind, a bounded Retry-After, and text (which is
// logged) that shows neither the number nor the code.
func CheckError(t testing.TB, err error, provider string, m sms.Message) *sms.Error {
	t.Helper()
	var se *sms.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %q is not an *sms.Error", err, err)
	}
	switch se.Kind {
	case sms.Transient, sms.Permanent, sms.Unknown, sms.Config:
	default:
		t.Fatalf("error %q has no Kind (%d)", err, se.Kind)
	}
	if se.Provider != provider {
		t.Fatalf("error %q names provider %q, want %q", err, se.Provider, provider)
	}
	if se.RetryAfter < 0 || se.RetryAfter > 24*time.Hour {
		t.Fatalf("error %q has RetryAfter %v", err, se.RetryAfter)
	}
	text := err.Error()
	for _, secret := range []string{m.To, strings.TrimPrefix(m.To, "+"), m.Code} {
		if secret != "" && strings.Contains(text, secret) {
			t.Fatalf("error text %q shows %q", text, secret)
		}
	}
	return se
}
