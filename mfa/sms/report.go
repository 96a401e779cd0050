package sms

import (
	"context"
	"errors"
	"net/http"
)

// Report is a delivery report (DLR) a provider pushed to us: which
// message, and what became of it. Only the status is taken from it: a
// report never names a number, a code or anything else we act on.
type Report struct {
	MessageID string        // the provider's id, as Receipt.MessageID gave it
	State     DeliveryState // pending, delivered or failed
	Raw       string        // the provider's own status word
	ErrorCode string        // the carrier's or provider's error code, if any
}

// ErrForged is returned by a ReportReader for a callback that fails its
// provider's authentication (a bad signature or token).
var ErrForged = errors.New("sms: delivery report not authentic")

// ErrBadReport is returned by a ReportReader for an authentic callback it
// cannot read.
var ErrBadReport = errors.New("sms: delivery report unreadable")

// ReportReader authenticates and reads one provider's delivery-report
// callback. A provider whose callback format is not documented reads only
// the message id from it and asks its API for the status (the callback is
// a prompt to poll).
type ReportReader interface {
	ReadReport(ctx context.Context, r *http.Request) (Report, error)
}
