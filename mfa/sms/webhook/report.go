package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// Reports reads the delivery reports a receiver posts back, signed like
// the messages it gets, with the same secret:
//
//	POST <issuer>/sms/receipts/webhook
//	Content-Type: application/json
//	X-IDP-Signature: t=1767225600,v1=...
//
//	{"id":"3f2a...","status":"delivered","error_code":""}
//
// id is the id of the message's payload; status is delivered, failed,
// undelivered (failed too) or anything else (still pending); error_code
// is the carrier's, optional. A report signed more than the tolerance
// away from now is refused, which bounds replays; a replay within it
// changes nothing (the first report already did).
type Reports struct {
	Secret    []byte
	Tolerance time.Duration    // 0: DefaultTolerance
	Now       func() time.Time // nil: time.Now
}

var _ sms.ReportReader = (*Reports)(nil)

// report is the body of a delivery report.
type report struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	ErrorCode string `json:"error_code"`
}

// SignReport returns the body and SignatureHeader of a delivery report,
// for receivers (and tests) that post one.
func SignReport(secret []byte, at time.Time, id, status, errorCode string) (body []byte, signature string) {
	body, _ = json.Marshal(report{ID: id, Status: status, ErrorCode: errorCode})
	return body, Sign(secret, at, body)
}

// ReadReport verifies the signature over the raw body, then reads it.
func (rp *Reports) ReadReport(_ context.Context, r *http.Request) (sms.Report, error) {
	if r.Method != http.MethodPost {
		return sms.Report{}, fmt.Errorf("%w: %s, want POST", sms.ErrBadReport, r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return sms.Report{}, fmt.Errorf("%w: %w", sms.ErrBadReport, err)
	}
	now := time.Now
	if rp.Now != nil {
		now = rp.Now
	}
	if err := Verify(rp.Secret, r.Header.Get(SignatureHeader), body, now(), rp.Tolerance); err != nil {
		return sms.Report{}, errors.Join(sms.ErrForged, err)
	}
	var rep report
	if err := json.Unmarshal(body, &rep); err != nil || rep.ID == "" || rep.Status == "" {
		return sms.Report{}, fmt.Errorf("%w: want {\"id\", \"status\"}", sms.ErrBadReport)
	}
	state := sms.DeliveryPending
	switch rep.Status {
	case "delivered":
		state = sms.DeliveryDelivered
	case "failed", "undelivered", "rejected", "expired":
		state = sms.DeliveryFailed
	}
	return sms.Report{MessageID: rep.ID, State: state, Raw: rep.Status, ErrorCode: rep.ErrorCode}, nil
}
