package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/webhook"
)

func TestReadReport(t *testing.T) {
	secret := bytes.Repeat([]byte("k"), 32)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rp := &webhook.Reports{Secret: secret, Now: func() time.Time { return now }}
	req := func(body []byte, sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/sms/receipts/webhook", bytes.NewReader(body))
		r.Header.Set(webhook.SignatureHeader, sig)
		return r
	}
	body, sig := webhook.SignReport(secret, now, "id-1", "undelivered", "30005")
	got, err := rp.ReadReport(context.Background(), req(body, sig))
	if err != nil || got != (sms.Report{MessageID: "id-1", State: sms.DeliveryFailed, Raw: "undelivered", ErrorCode: "30005"}) {
		t.Fatalf("ReadReport = %+v, %v", got, err)
	}
	forged, fsig := webhook.SignReport(bytes.Repeat([]byte("x"), 32), now, "id-1", "delivered", "")
	old, osig := webhook.SignReport(secret, now.Add(-time.Hour), "id-1", "delivered", "")
	delivered, _ := webhook.SignReport(secret, now, "id-1", "delivered", "")
	for name, r := range map[string]*http.Request{
		"other secret":           req(forged, fsig),
		"replayed an hour later": req(old, osig),
		"body changed":           req(delivered, sig),
		"no signature":           req(body, ""),
	} {
		if _, err := rp.ReadReport(context.Background(), r); !errors.Is(err, sms.ErrForged) {
			t.Errorf("%s: err = %v, want ErrForged", name, err)
		}
	}
	junk := []byte(`{"status": 3}`)
	if _, err := rp.ReadReport(context.Background(), req(junk, webhook.Sign(secret, now, junk))); !errors.Is(err, sms.ErrBadReport) {
		t.Errorf("signed junk: %v, want ErrBadReport", err)
	}
}
