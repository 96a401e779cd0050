package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/smspin/idp/mfa/sms/smstest"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/webhook"
)

var fuzzMessage = sms.Message{
	To: "+819012345678", Body: "認証コード: 482913\n\n@login.example.com #482913",
	Code: "482913", Locale: "ja", Ref: "challenge-1",
}

var fuzzSecret = []byte("0123456789abcdef0123456789abcdef-fuzz")

// FuzzResponse answers Send with arbitrary status codes, Retry-After
// headers and bodies, whole or broken off. No smstest.Answer may make the client
// panic; every failure is a classified *sms.Error that masks the number
// and code; only a 2xx is a success.
func FuzzResponse(f *testing.F) {
	f.Add(uint16(200), "", ``, 0)
	f.Add(uint16(204), "", `accepted`, 3)
	f.Add(uint16(400), "", `{"error":"bad number +819012345678, code 482913"}`, 0)
	f.Add(uint16(401), "", `wrong signature`, 0)
	f.Add(uint16(408), "", ``, 0)
	f.Add(uint16(429), "3600", ``, 0)
	f.Add(uint16(503), "Sun, 06 Nov 9994 08:49:37 GMT", ``, 0)
	f.Add(uint16(504), "", `gateway timeout`, 0)
	f.Add(uint16(302), "", ``, 0)
	f.Add(uint16(500), "", "819012345678\n482913 \xff", 0)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := smstest.Answer{Status: smstest.StatusCode(status), RetryAfter: retryAfter, Body: []byte(body), Cut: cut}
		hc := a.Client()
		inner := hc.Transport
		hc.Transport = smstest.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
			payload, _ := io.ReadAll(r.Body)
			if err := webhook.Verify(fuzzSecret, r.Header.Get(webhook.SignatureHeader), payload, now, 0); err != nil {
				t.Errorf("the request does not verify: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(payload))
			return inner.RoundTrip(r)
		})
		c, err := webhook.New(webhook.Config{URL: "https://hooks.example.test/sms", Secret: fuzzSecret, HTTP: hc,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Send(context.Background(), fuzzMessage)
		if err != nil {
			se := smstest.CheckError(t, err, "webhook", fuzzMessage)
			switch {
			case a.Status/100 == 2:
				t.Fatalf("%d refused: %v", a.Status, err)
			case a.Status == http.StatusGatewayTimeout && se.Kind != sms.Unknown:
				t.Fatalf("504: kind %v, want unknown: the SMS may be out", se.Kind)
			}
			return
		}
		if a.Status/100 != 2 || r.MessageID == "" || r.Provider != "webhook" {
			t.Fatalf("status %d: receipt %+v accepted", a.Status, r)
		}
	})
}

// FuzzVerify checks arbitrary signature headers against arbitrary bodies.
// "{sign}" in the header stands for a genuine signature of the body made
// at "now" plus skew seconds, so mutations explore the neighbourhood of a
// good header too. Verify must not panic, must smstest.Answer with one of its
// errors, and must accept only a header carrying a v1 HMAC of its own t
// and the body under the secret, with t within the tolerance.
func FuzzVerify(f *testing.F) {
	f.Add("{sign}", []byte(`{"id":"1","to":"+819012345678"}`), int64(0), []byte(nil))
	f.Add("{sign}", []byte(`{}`), int64(301), []byte(nil))
	f.Add("{sign}", []byte(`{}`), int64(-299), []byte(`{} `))
	f.Add("{sign},v1=00", []byte(`x`), int64(0), []byte(nil))
	f.Add("v1=00,{sign}", []byte(`x`), int64(0), []byte(`y`))
	f.Add("{sign},t=1767225600", []byte(`x`), int64(0), []byte(nil))
	f.Add("t=+1767225600,v1=5d41402abc4b2a76b9719d911017c592", []byte(`x`), int64(0), []byte(nil))
	f.Add(" t = 1767225600 , v1 = zz ", []byte(``), int64(0), []byte(nil))
	f.Add("t=1767225600,v1=", []byte(``), int64(0), []byte(nil))
	f.Add("t=-9223372036854775808,v1=00", []byte(``), int64(-9223372036854775808), []byte(nil))
	f.Add("", []byte(nil), int64(0), []byte(nil))
	now := time.Unix(1767225600, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte, skew int64, other []byte) {
		signed := webhook.Sign(fuzzSecret, now.Add(time.Duration(skew%(1<<33))*time.Second), body)
		header = strings.ReplaceAll(header, "{sign}", signed)
		err := webhook.Verify(fuzzSecret, header, body, now, 0)
		switch {
		case err == nil:
			if !genuine(header, body, now) {
				t.Fatalf("Verify accepted %q for body %q", header, body)
			}
		case errors.Is(err, webhook.ErrNoSignature), errors.Is(err, webhook.ErrBadSignature), errors.Is(err, webhook.ErrStale):
		default:
			t.Fatalf("Verify(%q) = %v, not one of its errors", header, err)
		}
		// The signature binds the body and the key.
		if !bytes.Equal(other, body) {
			if err := webhook.Verify(fuzzSecret, signed, other, now, 0); !errors.Is(err, webhook.ErrBadSignature) {
				t.Fatalf("a signature of %q checked against %q: %v, want ErrBadSignature", body, other, err)
			}
		}
		if err := webhook.Verify([]byte("another secret, another secret!!"), signed, body, now, 0); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("a signature checked with another secret: %v, want ErrBadSignature", err)
		}
	})
}

// genuine is the documented rule, written out independently: the header's
// t is a decimal Unix time within five minutes of now, and one of its v1
// values is the hex HMAC-SHA256 of t, ".", and the body under the secret.
func genuine(header string, body []byte, now time.Time) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > webhook.DefaultTolerance || d < -webhook.DefaultTolerance {
		return false
	}
	m := hmac.New(sha256.New, fuzzSecret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}
