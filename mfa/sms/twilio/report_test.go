package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
)

// The example of Twilio's own validator tests: auth token 12345, this URL
// and these parameters sign to RSOYDt4T1cUTdK1PDd93/VVr8B8=.
func TestSignatureMatchesTwilios(t *testing.T) {
	form := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"}}
	if got := twilio.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Fatalf("signature %q, want Twilio's RSOYDt4T1cUTdK1PDd93/VVr8B8=", got)
	}
}

func TestReadReport(t *testing.T) {
	const cb = "https://login.example.com/sms/receipts/twilio"
	rp := &twilio.Reports{AuthToken: "token", URL: cb}
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}, "AccountSid": {"AC1"}}
	post := func(f url.Values, sig string) *http.Request {
		// The request arrives on another URL (behind a proxy): the
		// configured one is what was signed.
		r := httptest.NewRequest(http.MethodPost, "http://10.0.0.5:8080/sms/receipts/twilio", strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			r.Header.Set(twilio.SignatureHeader, sig)
		}
		return r
	}
	got, err := rp.ReadReport(context.Background(), post(form, twilio.Signature("token", cb, form)))
	if err != nil || got != (sms.Report{MessageID: "SM1", State: sms.DeliveryFailed, Raw: "undelivered", ErrorCode: "30003"}) {
		t.Fatalf("ReadReport = %+v, %v", got, err)
	}
	tampered := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "AccountSid": {"AC1"}}
	for name, r := range map[string]*http.Request{
		"no signature":    post(form, ""),
		"other token":     post(form, twilio.Signature("guess", cb, form)),
		"other URL":       post(form, twilio.Signature("token", cb+"?x=1", form)),
		"status changed":  post(tampered, twilio.Signature("token", cb, form)),
		"not base64":      post(form, "%%%"),
		"signature of {}": post(form, twilio.Signature("token", cb, url.Values{})),
	} {
		if _, err := rp.ReadReport(context.Background(), r); !errors.Is(err, sms.ErrForged) {
			t.Errorf("%s: err = %v, want ErrForged", name, err)
		}
	}
	empty := url.Values{"AccountSid": {"AC1"}}
	if _, err := rp.ReadReport(context.Background(), post(empty, twilio.Signature("token", cb, empty))); !errors.Is(err, sms.ErrBadReport) {
		t.Errorf("a signed report with no sid: %v, want ErrBadReport", err)
	}
}
