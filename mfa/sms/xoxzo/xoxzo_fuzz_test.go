package xoxzo_test

import (
	"context"
	"github.com/smspin/idp/mfa/sms/smstest"
	"net/http"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
)

var fuzzMessage = sms.Message{
	To: "+818012345678", Body: "ExampleCo の認証コード: 482913\n\n@login.example.com #482913",
	Code: "482913", Locale: "ja", Ref: "challenge-1",
}

// FuzzResponse answers Send, Status and Credits with arbitrary status
// codes, Retry-After headers and bodies, whole or broken off. No smstest.Answer
// may make the client panic; every failure is a classified *sms.Error
// that masks the number and code; a send succeeds only on 200 or 201
// with a msgid.
func FuzzResponse(f *testing.F) {
	f.Add(uint8(0), false, uint16(201), "", `[{"msgid":"0123456789abcdef"}]`, 0)
	f.Add(uint8(0), true, uint16(201), "", `[{"msgid":""}]`, 0)
	f.Add(uint8(0), false, uint16(201), "", `[{"msgid":"0123456789abcdef"}]`, 10)
	f.Add(uint8(0), false, uint16(400), "", `{"recipient":["Invalid recipient +818012345678"]}`, 0)
	f.Add(uint8(0), false, uint16(400), "", `{"+818012345678":["482913"],"detail":{"code":"482913"}}`, 0)
	f.Add(uint8(0), true, uint16(400), "", `{"non_field_errors":["Template 7 is not approved"]}`, 0)
	f.Add(uint8(0), false, uint16(402), "", `{"detail":"Insufficient credit"}`, 0)
	f.Add(uint8(0), false, uint16(429), "120", `{"detail":"Request was throttled."}`, 0)
	f.Add(uint8(0), false, uint16(429), "Sun, 06 Nov 9994 08:49:37 GMT", ``, 0)
	f.Add(uint8(0), false, uint16(502), "", `<html><body>Bad gateway for 818012345678</body></html>`, 0)
	f.Add(uint8(0), false, uint16(504), "", ``, 0)
	f.Add(uint8(0), false, uint16(301), "", `moved`, 0)
	f.Add(uint8(0), false, uint16(200), "", `[1, "x", {"msgid": 7}]`, 0)
	f.Add(uint8(1), false, uint16(200), "", `{"msgid":"m1","status":"DELIVERED","sent_time":"2026-06-01 12:00:00","cost":"7.5"}`, 0)
	f.Add(uint8(1), false, uint16(200), "", `{"status":"WEIRD","cost":1e400}`, 0)
	f.Add(uint8(1), false, uint16(404), "", `{"detail":"Not found."}`, 0)
	f.Add(uint8(2), false, uint16(200), "", `{"credits": 1200.5}`, 0)
	f.Add(uint8(2), false, uint16(200), "", `{"credits": null}`, 0)
	f.Fuzz(func(t *testing.T, op uint8, template bool, status uint16, retryAfter, body string, cut int) {
		if strings.ContainsAny(retryAfter, "\r\n") {
			t.Skip("not a header value")
		}
		a := smstest.Answer{Status: smstest.StatusCode(status), RetryAfter: retryAfter, Body: []byte(body), Cut: cut, CType: "application/json"}
		cfg := xoxzo.Config{BaseURL: "https://api.xoxzo.test", SID: "sid", AuthToken: "token", Sender: "IDPTEST", HTTP: a.Client()}
		if template {
			cfg.TemplateID = "7"
		}
		c, err := xoxzo.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		switch op % 3 {
		case 0:
			r, err := c.Send(ctx, fuzzMessage)
			if err != nil {
				se := smstest.CheckError(t, err, "xoxzo", fuzzMessage)
				switch {
				case a.Status == http.StatusGatewayTimeout && se.Kind != sms.Unknown:
					t.Fatalf("504: kind %v, want unknown: the SMS may be out", se.Kind)
				case (a.Status == 200 || a.Status == 201) && se.Kind != sms.Unknown:
					t.Fatalf("%d with an unreadable smstest.Answer: kind %v, want unknown: the SMS may be out", a.Status, se.Kind)
				}
				return
			}
			if (a.Status != 200 && a.Status != 201) || r.MessageID == "" || r.Provider != "xoxzo" {
				t.Fatalf("status %d: receipt %+v accepted", a.Status, r)
			}
		case 1:
			st, err := c.Status(ctx, "0123456789abcdef")
			if err != nil {
				smstest.CheckError(t, err, "xoxzo", sms.Message{})
				return
			}
			switch st.State {
			case sms.DeliveryPending, sms.DeliveryDelivered, sms.DeliveryFailed:
			default:
				t.Fatalf("status %+v has no known state", st)
			}
		case 2:
			if _, err := c.Credits(ctx); err != nil {
				smstest.CheckError(t, err, "xoxzo", sms.Message{})
			}
		}
	})
}
