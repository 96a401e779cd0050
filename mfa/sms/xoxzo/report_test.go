package xoxzo_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
	"github.com/smspin/idp/mfa/sms/xoxzo/xoxzofake"
)

// Xoxzo's callback is a prompt to poll: the status comes from its API,
// never from the call, and a call without our token makes no poll.
func TestReportsPollOnCallback(t *testing.T) {
	srv := xoxzofake.New(t, xoxzofake.StatusSequence("FAILED"))
	type result struct {
		rep sms.Report
		err error
	}
	got := make(chan result, 4)
	var rp *xoxzo.Reports
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := rp.ReadReport(r.Context(), r)
		got <- result{rep, err}
	}))
	t.Cleanup(idp.Close)
	c, err := xoxzo.New(xoxzo.Config{BaseURL: srv.URL, SID: xoxzofake.DefaultSID, AuthToken: xoxzofake.DefaultToken, Sender: "IDP",
		CallbackURL: xoxzo.CallbackURL(idp.URL+"/sms/receipts/xoxzo", "tok-0123")})
	if err != nil {
		t.Fatal(err)
	}
	rp = &xoxzo.Reports{Token: "tok-0123", Client: c}
	rcpt, err := c.Send(t.Context(), sms.Message{To: "+819012345678", Body: "code 123456", Code: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	if cb := srv.Messages()[0].CallbackURL; !strings.HasPrefix(cb, idp.URL+"/sms/receipts/xoxzo?token=") {
		t.Fatalf("callbackurl sent = %q", cb)
	}
	if _, err := srv.Callback(rcpt.MessageID); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.rep != (sms.Report{MessageID: rcpt.MessageID, State: sms.DeliveryFailed, Raw: "FAILED"}) {
		t.Fatalf("report = %+v, %v; want the polled FAILED, not the call's word", r.rep, r.err)
	}
	before := len(srv.Requests())
	resp, err := http.Post(idp.URL+"/sms/receipts/xoxzo?token=guess", "application/x-www-form-urlencoded", strings.NewReader("msgid="+rcpt.MessageID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := <-got; !errors.Is(r.err, sms.ErrForged) || len(srv.Requests()) != before {
		t.Fatalf("a call without our token: %v after %d polls; want ErrForged and none", r.err, len(srv.Requests())-before)
	}
}
