package twilioverify_test

import (
	"context"
	"github.com/smspin/idp/mfa/sms/smstest"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/twilioverify"
	"github.com/smspin/idp/mfa/sms"
)

// checkResult asserts what a verdict must be whatever the smstest.Answer: an
// approval only from a 2xx smstest.Answer and without an error, and final.
func checkResult(t *testing.T, a smstest.Answer, res otp.Result, err error) {
	t.Helper()
	if res.OK && (err != nil || !res.Final || a.Status/100 != 2) {
		t.Fatalf("status %d: approved (%+v) with error %v", a.Status, res, err)
	}
}

const (
	fuzzTo   = "+818012345678"
	fuzzCode = "482913"
	fuzzSID  = "VE0123456789abcdef0123456789abcdef"
)

// FuzzResponse answers Start and Check with arbitrary status codes,
// Retry-After headers and bodies, whole or broken off. No smstest.Answer may make
// the client panic; every failure is a classified *sms.Error that masks
// the number and the code; a code is approved only on a 2xx smstest.Answer, and
// only for the verification that was started.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), uint16(201), "", `{"sid":"`+fuzzSID+`","to":"+818012345678","channel":"sms","status":"pending"}`, 0)
	f.Add(uint8(0), uint16(201), "", `{"sid":""}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"code":60200,"message":"Invalid parameter: To","status":400}`, 0)
	f.Add(uint8(0), uint16(429), "", `{"code":60203,"message":"Max send attempts reached","status":429}`, 0)
	f.Add(uint8(0), uint16(429), "Sun, 06 Nov 9994 08:49:37 GMT", `{"code":20429,"message":"Too many requests","status":429}`, 0)
	f.Add(uint8(0), uint16(403), "", `{"code":60410,"message":"Verification delivery attempt blocked for +818012345678","status":403}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"`+fuzzSID+`","to":"+818012345678","status":"approved","valid":true}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"`+fuzzSID+`","status":"approved","valid":false}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"VEother","status":"approved"}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"+818012345678 482913","status":"approved"}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"`+fuzzSID+`","status":"pending","valid":false}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"status":"approved"}`, 7)
	f.Add(uint8(1), uint16(404), "", `{"code":20404,"message":"The requested resource was not found","status":404}`, 0)
	f.Add(uint8(1), uint16(429), "", `{"code":60202,"message":"Max check attempts reached","status":429}`, 0)
	f.Add(uint8(1), uint16(400), "", `{"code":60200,"message":"Invalid parameter Code: 482913","status":400}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := smstest.Answer{Status: smstest.StatusCode(status), RetryAfter: retryAfter, Body: []byte(body), Cut: cut, CType: "application/json"}
		c, err := twilioverify.New(twilioverify.Config{BaseURL: "https://verify.twilio.test", AccountSID: "AC00000000000000000000000000000000",
			AuthToken: "token", ServiceSID: "VA00000000000000000000000000000000", HTTP: a.Client()})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := sms.Message{To: fuzzTo, Code: fuzzCode}
		switch op % 2 {
		case 0:
			s, err := c.Start(ctx, fuzzTo, "ja", "challenge-1")
			if err != nil {
				// The provider makes the code: only the number is ours to hide.
				smstest.CheckError(t, err, twilioverify.Provider, sms.Message{To: fuzzTo})
				return
			}
			if a.Status/100 != 2 || s.ID == "" || s.Provider != twilioverify.Provider {
				t.Fatalf("status %d: started %+v", a.Status, s)
			}
		case 1:
			res, err := c.Check(ctx, otp.Started{Provider: twilioverify.Provider, ID: fuzzSID}, fuzzTo, fuzzCode)
			if err != nil {
				smstest.CheckError(t, err, twilioverify.Provider, m)
			}
			checkResult(t, a, res, err)
			if res.OK && !strings.Contains(body, fuzzSID) {
				t.Fatalf("approved from an smstest.Answer that does not name the verification: %q", body)
			}
		}
	})
}
