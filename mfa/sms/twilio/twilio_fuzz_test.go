package twilio_test

import (
	"context"
	"github.com/smspin/idp/mfa/sms/smstest"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
)

var fuzzMessage = sms.Message{
	To: "+818012345678", Body: "ExampleCo code: 482913\n\n@login.example.com #482913",
	Code: "482913", Locale: "en", Ref: "challenge-1",
}

// FuzzResponse answers Send and Status with arbitrary status codes,
// Retry-After headers and bodies, whole or broken off. No smstest.Answer may make
// the client panic; every failure is a classified *sms.Error that masks
// the number and code; a send succeeds only on 200 or 201 with a sid.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), uint16(201), "", `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`, 0)
	f.Add(uint8(0), uint16(201), "", `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`, 12)
	f.Add(uint8(0), uint16(200), "", `{"sid":""}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"code":21211,"message":"The 'To' number +818012345678 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`, 0)
	f.Add(uint8(0), uint16(400), "", `{"code":21614,"message":"'To' number 818012345678 is not a mobile number","status":400}`, 0)
	f.Add(uint8(0), uint16(401), "", `{"code":20003,"message":"Authenticate","status":401}`, 0)
	f.Add(uint8(0), uint16(429), "30", `{"code":20429,"message":"Too Many Requests","status":429}`, 0)
	f.Add(uint8(0), uint16(503), "Sun, 06 Nov 9994 08:49:37 GMT", `<html>down</html>`, 0)
	f.Add(uint8(0), uint16(504), "", ``, 0)
	f.Add(uint8(0), uint16(400), "", `{"code":"21211","message":482913}`, 0)
	f.Add(uint8(0), uint16(302), "", ``, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"SM1","status":"undelivered","error_code":30003}`, 0)
	f.Add(uint8(1), uint16(200), "", `{"sid":"SM1","status":"read","error_code":null}`, 0)
	f.Add(uint8(1), uint16(404), "", `{"code":20404,"message":"The requested resource was not found","status":404}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := smstest.Answer{Status: smstest.StatusCode(status), RetryAfter: retryAfter, Body: []byte(body), Cut: cut, CType: "application/json"}
		c, err := twilio.New(twilio.Config{BaseURL: "https://api.twilio.test", AccountSID: "AC00000000000000000000000000000000",
			AuthToken: "token", From: "+15005550006", HTTP: a.Client()})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		switch op % 2 {
		case 0:
			r, err := c.Send(ctx, fuzzMessage)
			if err != nil {
				se := smstest.CheckError(t, err, "twilio", fuzzMessage)
				if (a.Status == 200 || a.Status == 201) && se.Kind != sms.Unknown {
					t.Fatalf("%d with an unreadable smstest.Answer: kind %v, want unknown: the SMS may be out", a.Status, se.Kind)
				}
				return
			}
			if (a.Status != 200 && a.Status != 201) || r.MessageID == "" || r.Provider != "twilio" {
				t.Fatalf("status %d: receipt %+v accepted", a.Status, r)
			}
		case 1:
			st, err := c.Status(ctx, "SM0123456789abcdef0123456789abcdef")
			if err != nil {
				smstest.CheckError(t, err, "twilio", sms.Message{})
				return
			}
			switch st.State {
			case sms.DeliveryPending, sms.DeliveryDelivered, sms.DeliveryFailed:
			default:
				t.Fatalf("status %+v has no known state", st)
			}
		}
	})
}
