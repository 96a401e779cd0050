package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/smspin/idp/mfa/sms"
)

// SignatureHeader carries Twilio's signature of a callback.
const SignatureHeader = "X-Twilio-Signature"

// Reports reads the status callbacks Twilio posts to a message's
// StatusCallback URL. Twilio signs each one: X-Twilio-Signature is the
// Base64 HMAC-SHA1, keyed with the account's auth token, of the full URL
// it called followed by every POST parameter, sorted by name, as name and
// value run together. The URL is the one configured, not the one the
// request arrived on: behind a proxy those differ.
type Reports struct {
	AuthToken string
	URL       string // the StatusCallback URL, exactly as sent to Twilio
}

var _ sms.ReportReader = (*Reports)(nil)

// Signature is what Twilio sends in SignatureHeader for a POST of form to
// rawURL.
func Signature(authToken, rawURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ReadReport checks the signature (in constant time) and reads
// MessageSid, MessageStatus and ErrorCode.
func (rp *Reports) ReadReport(_ context.Context, r *http.Request) (sms.Report, error) {
	if r.Method != http.MethodPost {
		return sms.Report{}, fmt.Errorf("%w: %s, want POST", sms.ErrBadReport, r.Method)
	}
	if err := r.ParseForm(); err != nil {
		return sms.Report{}, fmt.Errorf("%w: %w", sms.ErrBadReport, err)
	}
	got, _ := base64.StdEncoding.DecodeString(r.Header.Get(SignatureHeader))
	want, _ := base64.StdEncoding.DecodeString(Signature(rp.AuthToken, rp.URL, r.PostForm))
	if len(got) == 0 || !hmac.Equal(got, want) {
		return sms.Report{}, sms.ErrForged
	}
	f := r.PostForm
	sid, status := f.Get("MessageSid"), f.Get("MessageStatus")
	if sid == "" {
		sid = f.Get("SmsSid")
	}
	if status == "" {
		status = f.Get("SmsStatus")
	}
	if sid == "" || status == "" {
		return sms.Report{}, fmt.Errorf("%w: no MessageSid or MessageStatus", sms.ErrBadReport)
	}
	return sms.Report{MessageID: sid, State: stateOf(status), Raw: status, ErrorCode: f.Get("ErrorCode")}, nil
}
