// Package twiliofake is an httptest server that answers like Twilio's
// Programmable Messaging API (api.twilio.com, 2010-04-01), for tests of
// any package that sends SMS through Twilio without the network.
//
// It follows the wire-level sheet (SMS-PROVIDERS.md, sections 3, 3.1 and
// 3.3): HTTP Basic auth (AccountSid:AuthToken, else 401/20003); a
// form-encoded body with PascalCase keys (a JSON body reads as an empty
// form and so fails with 21604, as Twilio's 21604 page says); the error
// body {"code", "message", "more_info", "status"}; the sync error codes an
// OTP sender meets (21604, 21603, 21602, 21617, 21211, 21408, 21614,
// 20429); and a 201 Message resource with status "queued" ("accepted"
// through a Messaging Service) and num_segments counted as in section 5.1.
// Verify v2 is not faked: the client does not use it.
package twiliofake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/smspin/idp/mfa/sms/smstest"
	"github.com/smspin/idp/mfa/sms/twilio"
)

// Default credentials, used unless Credentials says otherwise.
const (
	DefaultAccountSID = "AC00000000000000000000000000000000"
	DefaultAuthToken  = "twilio-test-token"
)

// Request is one request as the fake received it.
type Request = smstest.Request

// Message is one message the fake accepted.
type Message struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	ValidityPeriod      string
	StatusCallback      string
	NumSegments         int
	Created             time.Time
	suspended           bool
}

// Option sets a knob, at New or later through Server.Apply.
type Option = smstest.Option[knobs]

type knobs struct {
	smstest.Knobs
	account, token string
	suspended      bool
	failStatus     int
	failCode       int
	failMessage    string
	landlines      map[string]bool
	countries      []string
	sequence       []string
}

// Credentials sets the account SID and auth token the fake accepts.
func Credentials(accountSID, token string) Option {
	return func(k *knobs) { k.account, k.token = accountSID, token }
}

// Unauthorized makes every request fail with 401/20003.
func Unauthorized(on bool) Option { return func(k *knobs) { k.Unauthorized = on } }

// InsufficientFunds models an account whose balance ran out: Twilio still
// answers 201 to the create, then fails the message asynchronously with
// error 30002 "Account suspended" (Twilio's 30002 page: "accepted the
// message for queueing, but your account was suspended before Twilio could
// send it"). A fetch of such a message reports status "failed".
func InsufficientFunds(on bool) Option { return func(k *knobs) { k.suspended = on } }

// Throttle answers every authenticated request with 429/20429 and a
// Retry-After of d (whole seconds). 0 turns it off.
func Throttle(d time.Duration) Option { return func(k *knobs) { k.Throttle = d } }

// ServerError answers every request with status: 500 and 503 with
// Twilio's JSON body (20500, 20503), other statuses (502, 504) with an edge
// proxy's HTML page. 0 turns it off.
func ServerError(status int) Option { return func(k *knobs) { k.ServerError = status } }

// Slow delays every answer by d, after the request has been processed: a
// create is recorded (the SMS "went out") and then the answer is late. The
// handler gives up as soon as the client goes away. 0 turns it off.
func Slow(d time.Duration) Option { return func(k *knobs) { k.Slow = d } }

// Fail makes every create that passes validation fail with this Twilio
// error, for codes the fake does not produce itself (21610, 21612, 30450,
// ...). Status 0 turns it off.
func Fail(status, code int, message string) Option {
	return func(k *knobs) { k.failStatus, k.failCode, k.failMessage = status, code, message }
}

// Canned answers every request (after recording it) with exactly this
// status, header and body. Status 0 turns it off.
func Canned(status int, header http.Header, body string) Option {
	return func(k *knobs) { k.Canned = smstest.Reply{Status: status, Header: header, Body: []byte(body)} }
}

// Landlines lists numbers that are not mobiles: a create to one fails with
// 21614, as Japanese landlines do.
func Landlines(numbers ...string) Option {
	return func(k *knobs) {
		for _, n := range numbers {
			k.landlines[n] = true
		}
	}
}

// AllowCountries enables Messaging Geo Permissions for these prefixes
// ("+81", "+1") only; other destinations fail with 21408. None: all.
func AllowCountries(prefixes ...string) Option {
	return func(k *knobs) { k.countries = slices.Clone(prefixes) }
}

// StatusSequence sets the statuses a message reports on successive
// fetches; the last repeats. Default queued, sent, delivered.
func StatusSequence(words ...string) Option {
	return func(k *knobs) { k.sequence = slices.Clone(words) }
}

// Server is the fake. Its embedded *httptest.Server gives URL and Client.
type Server struct {
	*smstest.Fake[knobs]

	messages []Message
	fetches  map[string]int
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{fetches: make(map[string]int)}
	s.Fake = smstest.NewFake(t, knobs{
		account: DefaultAccountSID, token: DefaultAuthToken,
		landlines: make(map[string]bool),
		sequence:  []string{"queued", "sent", "delivered"},
	}, s.answer)
	s.Apply(opts...)
	return s
}

// Messages returns every message accepted so far, in order.
func (s *Server) Messages() (out []Message) {
	s.Locked(func() { out = slices.Clone(s.messages) })
	return out
}

type reply = smstest.Reply

func jsonReply(status int, v any) reply { return smstest.JSON(status, v) }

func twilioError(status, code int, message string) reply {
	return smstest.TwilioError(status, code, message)
}

// answer decides the reply; the lock is held.
func (s *Server) answer(r *http.Request, rec Request) reply {
	// /2010-04-01/Accounts/{AccountSid}/Messages.json
	// /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	notFound := twilioError(http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
	routed := len(seg) >= 4 && seg[0] == "2010-04-01" && seg[1] == "Accounts"
	if !routed && s.K.ServerError == 0 {
		return notFound
	}
	// Auth is checked against the account the path names [GUESS: a
	// mismatch answers like bad credentials].
	authed := routed && rec.User == s.K.account && rec.Password == s.K.token && seg[2] == s.K.account
	if rep, ok := smstest.TwilioGate(&s.K.Knobs, authed); ok {
		return rep
	}
	switch {
	case len(seg) == 4 && seg[3] == "Messages.json" && r.Method == http.MethodPost:
		return s.create(rec, r)
	case len(seg) == 4 && seg[3] == "Messages.json" && r.Method == http.MethodGet:
		list := []map[string]any{}
		for _, m := range slices.Backward(s.messages) {
			list = append(list, s.resource(m, r, false))
		}
		return jsonReply(http.StatusOK, map[string]any{"messages": list, "page": 0, "page_size": 50})
	case len(seg) == 5 && seg[3] == "Messages" && strings.HasSuffix(seg[4], ".json") && r.Method == http.MethodGet:
		sid := strings.TrimSuffix(seg[4], ".json")
		for _, m := range s.messages {
			if m.SID == sid {
				return jsonReply(http.StatusOK, s.resource(m, r, true))
			}
		}
		return notFound
	case len(seg) == 4 && seg[3] == "Messages.json", len(seg) == 5 && seg[3] == "Messages":
		return twilioError(http.StatusMethodNotAllowed, 20004, "Method not allowed")
	}
	return notFound
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// create is POST .../Messages.json.
func (s *Server) create(rec Request, r *http.Request) reply {
	f := rec.Form // nil unless form-encoded: JSON reads as an empty form
	to := f.Get("To")
	switch {
	case to == "":
		return twilioError(400, 21604, "A 'To' phone number is required.")
	case f.Get("From") == "" && f.Get("MessagingServiceSid") == "":
		return twilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
	case f.Get("Body") == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		return twilioError(400, 21602, "Message body is required.")
	case len([]rune(f.Get("Body"))) > 1600:
		return twilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
	case !e164.MatchString(to):
		return twilioError(400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
	case f.Get("MessagingServiceSid") != "" && !validSID("MG", f.Get("MessagingServiceSid")):
		return twilioError(400, 21705, "The Messaging Service Sid "+f.Get("MessagingServiceSid")+" is invalid.") // text [GUESS]
	case len(s.K.countries) > 0 && !slices.ContainsFunc(s.K.countries, func(p string) bool { return strings.HasPrefix(to, p) }):
		return twilioError(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "+to+".")
	case s.K.landlines[to]:
		return twilioError(400, 21614, fmt.Sprintf("'To' number %s is not a valid mobile number", to))
	case s.K.failStatus != 0:
		return twilioError(s.K.failStatus, s.K.failCode, s.K.failMessage)
	}
	m := Message{
		SID: "SM" + randomHex(), To: to, From: f.Get("From"), MessagingServiceSID: f.Get("MessagingServiceSid"),
		Body: f.Get("Body"), ValidityPeriod: f.Get("ValidityPeriod"), StatusCallback: f.Get("StatusCallback"),
		NumSegments: Segments(f.Get("Body")), Created: time.Now().UTC(), suspended: s.K.suspended,
	}
	s.messages = append(s.messages, m)
	return jsonReply(http.StatusCreated, s.resource(m, r, false))
}

// resource renders a Message resource as the API does: RFC 2822 dates,
// num_segments and num_media as strings, nulls for what is not known yet.
// A create answers with the first status ("accepted" through a Messaging
// Service); fetches walk the status sequence.
func (s *Server) resource(m Message, r *http.Request, fetch bool) map[string]any {
	status := "queued"
	if m.MessagingServiceSID != "" {
		status = "accepted"
	}
	var errCode, errMsg any
	if fetch {
		i := min(s.fetches[m.SID], len(s.K.sequence)-1)
		s.fetches[m.SID]++
		status = s.K.sequence[i]
		if m.suspended {
			status, errCode, errMsg = "failed", 30002, "Account suspended"
		}
	}
	date := m.Created.Format(time.RFC1123Z)
	var sent any
	if status != "queued" && status != "accepted" {
		sent = date
	}
	var from, mg any
	if m.From != "" {
		from = m.From
	}
	if m.MessagingServiceSID != "" {
		mg = m.MessagingServiceSID
	}
	uri := "/2010-04-01/Accounts/" + s.K.account + "/Messages/" + m.SID
	return map[string]any{
		"account_sid": s.K.account, "api_version": "2010-04-01", "body": m.Body,
		"date_created": date, "date_updated": date, "date_sent": sent, "direction": "outbound-api",
		"error_code": errCode, "error_message": errMsg, "from": from, "messaging_service_sid": mg,
		"num_media": "0", "num_segments": strconv.Itoa(m.NumSegments), "price": nil, "price_unit": "USD",
		"sid": m.SID, "status": status, "to": m.To, "uri": uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json"},
	}
}

func validSID(prefix, sid string) bool {
	if !strings.HasPrefix(sid, prefix) || len(sid) != 34 {
		return false
	}
	_, err := hex.DecodeString(sid[2:])
	return err == nil
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// gsm7 is the GSM 03.38 basic character set; gsm7ext the extension table,
// whose characters take two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7ext = "^{}\\[~]|€\f"
)

// Segments counts the SMS segments of body (sheet section 5.1): GSM-7
// text fits 160 septets in one segment and 153 per segment when split,
// extension characters counting two; anything outside GSM-7 turns the
// whole text into UCS-2, 70 UTF-16 units in one segment and 67 when split.
func Segments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			gsm = false
		}
	}
	n, single, per := septets, 160, 153
	if !gsm {
		n, single, per = len(utf16.Encode([]rune(body))), 70, 67
	}
	if n <= single {
		return 1
	}
	return (n + per - 1) / per
}

// Report posts a status callback for message sid to the StatusCallback
// URL it was created with, as Twilio does: a form with MessageSid,
// MessageStatus (and SmsSid, SmsStatus), AccountSid, To, From, ApiVersion
// and ErrorCode when code is not 0, signed in X-Twilio-Signature with the
// auth token, or with signWith when it is not "" (a forgery). Call it
// again for a duplicate.
func (s *Server) Report(sid, status string, code int, signWith string) (*http.Response, error) {
	var m Message
	var token, account string
	s.Locked(func() {
		for _, x := range s.messages {
			if x.SID == sid {
				m = x
			}
		}
		token, account = s.K.token, s.K.account
	})
	if m.StatusCallback == "" {
		return nil, fmt.Errorf("twiliofake: message %q has no StatusCallback", sid)
	}
	form := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {account}, "To": {m.To}, "From": {m.From}, "ApiVersion": {"2010-04-01"}}
	if code != 0 {
		form.Set("ErrorCode", strconv.Itoa(code))
	}
	if signWith != "" {
		token = signWith
	}
	req, err := http.NewRequest(http.MethodPost, m.StatusCallback, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Signature(token, m.StatusCallback, form))
	return http.DefaultClient.Do(req)
}
