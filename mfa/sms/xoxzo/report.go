package xoxzo

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/smspin/idp/mfa/sms"
)

// Reports reads the calls Xoxzo makes to a message's callbackurl. What
// such a call carries (method, fields) is not documented anywhere we could
// read, and it is not signed, so it is used only as a prompt: the msgid
// is taken from the query, a form or a JSON body, and the status is then
// asked of Xoxzo's API (GET /sms/messages/<msgid>/) with our credentials.
// A caller must also present Token (in the callbackurl we gave Xoxzo, as
// ?token=): without it anyone could make us poll.
type Reports struct {
	Token  string
	Client *Client
}

var _ sms.ReportReader = (*Reports)(nil)

// CallbackURL is base (our receipts endpoint) with token added.
func CallbackURL(base, token string) string {
	return base + "?" + url.Values{"token": {token}}.Encode()
}

// ReadReport checks the token, finds the msgid and polls its status.
func (rp *Reports) ReadReport(ctx context.Context, r *http.Request) (sms.Report, error) {
	if got := r.URL.Query().Get("token"); rp.Token == "" || !hmac.Equal([]byte(got), []byte(rp.Token)) {
		return sms.Report{}, sms.ErrForged
	}
	msgid := r.URL.Query().Get("msgid")
	if msgid == "" && r.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		var obj struct {
			MsgID string `json:"msgid"`
		}
		if json.Unmarshal(body, &obj) == nil && obj.MsgID != "" {
			msgid = obj.MsgID
		} else if f, err := url.ParseQuery(string(body)); err == nil {
			msgid = f.Get("msgid")
		}
	}
	if msgid == "" {
		return sms.Report{}, fmt.Errorf("%w: no msgid", sms.ErrBadReport)
	}
	st, err := rp.Client.Status(ctx, msgid)
	if err != nil {
		return sms.Report{}, fmt.Errorf("xoxzo: poll the status of a reported message: %w", err)
	}
	return sms.Report{MessageID: msgid, State: st.State, Raw: st.Raw}, nil
}
