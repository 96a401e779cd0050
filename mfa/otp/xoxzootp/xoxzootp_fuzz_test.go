package xoxzootp_test

import (
	"context"
	"github.com/smspin/idp/mfa/sms/smstest"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
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
)

// FuzzResponse answers Start and Check with arbitrary status codes,
// Retry-After headers and bodies, whole or broken off. No smstest.Answer may make
// the client panic; every failure is a classified *sms.Error that masks
// the number and the code; a code is approved only on a 2xx smstest.Answer.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), uint16(201), "", `{"msgid":"0123456789abcdef"}`, 0)
	f.Add(uint8(0), uint16(201), "", `[{"msgid":12345}]`, 0)
	f.Add(uint8(0), uint16(201), "", `{"msgid":null}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"phone_number":["Invalid phone number +818012345678"]}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"non_field_errors":["An OTP is already active for this number"]}`, 0)
	f.Add(uint8(0), uint16(401), "", `{"detail":"Invalid username/password."}`, 0)
	f.Add(uint8(0), uint16(429), "60", `{"detail":"Request was throttled."}`, 0)
	f.Add(uint8(1), uint16(200), "", ``, 0)
	f.Add(uint8(1), uint16(200), "", `{"verified":false}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"status":"approved","phone_number":"+818012345678"}`, 0)
	f.Add(uint8(1), uint16(200), "", `<html>proxy</html>`, 0)
	f.Add(uint8(1), uint16(200), "", `{"detail":"OK"}`, 3)
	f.Add(uint8(1), uint16(400), "", `{"code":["Invalid code 482913"]}`, 0)
	f.Add(uint8(1), uint16(400), "", `{"detail":"The OTP has expired"}`, 0)
	f.Add(uint8(1), uint16(400), "", `{"otp_id":["This field is required."]}`, 0)
	f.Add(uint8(1), uint16(429), "", `{"detail":"Too many attempts"}`, 0)
	f.Add(uint8(1), uint16(404), "", ``, 0)
	f.Add(uint8(1), uint16(400), "", `{"+818012345678":["x"],"482913":true,"818012345678":1}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := smstest.Answer{Status: smstest.StatusCode(status), RetryAfter: retryAfter, Body: []byte(body), Cut: cut, CType: "application/json"}
		c, err := xoxzootp.New(xoxzootp.Config{BaseURL: "https://api.xoxzo.test", SID: "sid", AuthToken: "token",
			Website: "https://login.example.com", HTTP: a.Client()})
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
				smstest.CheckError(t, err, xoxzootp.Provider, sms.Message{To: fuzzTo})
				return
			}
			if a.Status/100 != 2 || s.ID == "" || s.Provider != xoxzootp.Provider {
				t.Fatalf("status %d: started %+v", a.Status, s)
			}
		case 1:
			res, err := c.Check(ctx, otp.Started{Provider: xoxzootp.Provider, ID: "0123456789abcdef"}, fuzzTo, fuzzCode)
			if err != nil {
				smstest.CheckError(t, err, xoxzootp.Provider, m)
			}
			checkResult(t, a, res, err)
		}
	})
}
