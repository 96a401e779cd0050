package sms_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// FuzzRetryAfter feeds RetryAfter arbitrary header values. The delay it
// reads is never negative and never more than a day, whichever form the
// header takes, so a hostile provider cannot park a sender for good.
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{
		"120", "0", "-5", "99999999999999999999", " 30 ", "+7",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 9994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "soon", "",
	} {
		f.Add(v)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			t.Skip("not a header value")
		}
		d := sms.RetryAfter(http.Header{"Retry-After": {v}}, now)
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("RetryAfter(%q) = %v, want 0 to 24h", v, d)
		}
	})
}

// FuzzRedact masks a number and a code in arbitrary text, as the
// providers do with error answers before they are logged. Whatever the
// text, what comes out holds neither the number (with or without its
// "+") nor the code.
func FuzzRedact(f *testing.F) {
	for _, s := range []struct{ to, code, text string }{
		{"+819012345678", "482913", "The 'To' number +819012345678 is not valid; code 482913"},
		{"+818012345678", "482913", "81801234567818012345678"},
		{"+12015550123", "0123", "+1201555012312015550123"},
		{"+819012345678", "5678", "819012345678 9012345678 +81 90 1234 5678"},
		{"+819012345678", "123456", "\\x1819012345678"},
		{"+81901234567", "901234", "+81901234567+81901234567"},
	} {
		f.Add(s.to, s.code, s.text)
	}
	f.Fuzz(func(t *testing.T, to, code, text string) {
		m := sms.Message{To: to, Code: code}
		out := m.Redact(text)
		if e164.MatchString(to) {
			for _, n := range []string{to, strings.TrimPrefix(to, "+")} {
				if strings.Contains(out, n) {
					t.Fatalf("Redact(%q) = %q still shows %q", text, out, n)
				}
			}
		}
		if pin.MatchString(code) && strings.Contains(out, code) {
			t.Fatalf("Redact(%q) = %q still shows the code %q", text, out, code)
		}
	})
}

var (
	e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)
	pin  = regexp.MustCompile(`^\d{4,10}$`)
)
