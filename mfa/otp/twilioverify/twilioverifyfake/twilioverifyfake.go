// Package twilioverifyfake is an httptest server that answers like Twilio
// Verify v2 (verify.twilio.com), for tests of code that verifies phones
// through Twilio without the network.
//
// It follows the wire-level sheet (SMS-PROVIDERS.md, sections 3, 3.2 and
// 3.3): HTTP Basic auth with AccountSid:AuthToken or an API key
// (else 401/20003); a form-encoded body with PascalCase keys (a JSON body
// reads as an empty form, so it fails as a missing parameter, 60200); the
// error body {"code", "message", "more_info", "status"}; an unknown
// service sid answers 404/20404; the routes
//
//	POST /v2/Services/{VA}/Verifications        start (201)
//	POST /v2/Services/{VA}/VerificationCheck    check (200)
//	GET  /v2/Services/{VA}/Verifications/{VE}   fetch (200)
//	POST /v2/Services/{VA}/Verifications/{VE}   Status=canceled|approved (200)
//
// and the state machine per (service, To): a start creates a pending
// verification with a 6-digit code and a 10-minute life, a start while one
// is pending re-sends the same code under the same sid, and the sixth send
// fails with 429/60203; a wrong code answers 200 "pending"; after five
// checks the verification is "max_attempts_reached" and further checks
// answer 429/60202 until it expires; an approved, cancelled or expired
// verification is deleted, so a later check answers 404/20404.
//
// Where Twilio's behaviour is not documented the fake follows a guess,
// marked [GUESS] on the code that makes it: the fifth wrong check still
// answers "pending" (the sixth gets 60202); a start while the verification
// is max_attempts_reached re-sends the code that can no longer be checked;
// the 10 minutes run from the first send, not the last. The clock is the
// fake's own (Clock, Advance), so tests reach expiry without sleeping.
package twilioverifyfake

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms/smstest"
)

// Defaults, used unless the options say otherwise.
const (
	DefaultAccountSID = "AC00000000000000000000000000000000"
	DefaultAuthToken  = "twilio-verify-test-token"
	DefaultServiceSID = "VA00000000000000000000000000000000"
)

// Request is one request as the fake received it.
type Request = smstest.Request

// Send is one SMS the fake "sent": every accepted start, including each
// re-send of a pending verification's code.
type Send struct {
	SID     string // the verification's VE sid
	Service string
	To      string
	Channel string
	Locale  string
	Code    string // what the phone would show; test-only
	At      time.Time
}

// Verification is the fake's state for one (service, To).
type Verification struct {
	SID      string
	Service  string
	To       string
	Channel  string
	Locale   string
	Code     string
	Status   string // pending, max_attempts_reached (then deleted on approved, canceled, expired)
	Sends    int
	Checks   int
	Created  time.Time
	Updated  time.Time
	Expires  time.Time
	attempts []time.Time
}

// Option sets a knob, at New or later through Server.Apply.
type Option = smstest.Option[knobs]

type knobs struct {
	smstest.Knobs
	account, token string
	apiKeys        map[string]string
	services       map[string]bool
	clock          func() time.Time
	codeLength     int
	ttl            time.Duration
	maxChecks      int
	maxSends       int
	failStatus     int
	failCode       int
	failMessage    string
	landlines      map[string]bool
}

// Credentials sets the account SID and auth token the fake accepts.
func Credentials(accountSID, token string) Option {
	return func(k *knobs) { k.account, k.token = accountSID, token }
}

// APIKey makes the fake also accept an API key (SK...) and its secret.
func APIKey(sid, secret string) Option { return func(k *knobs) { k.apiKeys[sid] = secret } }

// Services adds Verify Services the account owns; DefaultServiceSID
// always exists. A request for any other service answers 404/20404.
func Services(sids ...string) Option {
	return func(k *knobs) {
		for _, s := range sids {
			k.services[s] = true
		}
	}
}

// Clock sets the fake's time source (default time.Now). Advance moves it.
func Clock(now func() time.Time) Option { return func(k *knobs) { k.clock = now } }

// CodeLength sets the digits of generated codes (Twilio: 4 to 10, default 6).
func CodeLength(n int) Option { return func(k *knobs) { k.codeLength = n } }

// TTL sets how long a verification lives (default 10 minutes).
func TTL(d time.Duration) Option { return func(k *knobs) { k.ttl = d } }

// MaxChecks sets the checks a verification takes (default 5).
func MaxChecks(n int) Option { return func(k *knobs) { k.maxChecks = n } }

// MaxSends sets the sends a verification takes (default 5).
func MaxSends(n int) Option { return func(k *knobs) { k.maxSends = n } }

// Unauthorized makes every request fail with 401/20003.
func Unauthorized(on bool) Option { return func(k *knobs) { k.Unauthorized = on } }

// Throttle answers every authenticated request with 429/20429 and a
// Retry-After of d (whole seconds). 0 turns it off.
func Throttle(d time.Duration) Option { return func(k *knobs) { k.Throttle = d } }

// ServerError answers every request with status: 500 and 503 with
// Twilio's JSON body (20500, 20503), other statuses (502, 504) with an edge
// proxy's HTML page. 0 turns it off.
func ServerError(status int) Option { return func(k *knobs) { k.ServerError = status } }

// Slow delays every answer by d, after the request has been processed: a
// start is recorded (the SMS "went out"), a check counted, and then the
// answer is late. The handler gives up as soon as the client goes away.
// 0 turns it off.
func Slow(d time.Duration) Option { return func(k *knobs) { k.Slow = d } }

// Fail makes every start that passes validation fail with this Twilio
// error, for codes the fake does not produce itself (60410 Fraud Guard,
// 60605 Geo-Permissions, 60212, ...). Status 0 turns it off.
func Fail(status, code int, message string) Option {
	return func(k *knobs) { k.failStatus, k.failCode, k.failMessage = status, code, message }
}

// Canned answers every request (after recording it) with exactly this
// status, header and body. Status 0 turns it off.
func Canned(status int, header http.Header, body string) Option {
	return func(k *knobs) { k.Canned = smstest.Reply{Status: status, Header: header, Body: []byte(body)} }
}

// Landlines lists numbers that are not mobiles: a start to one fails with
// 400/60205 "SMS is not supported by landline phone number".
func Landlines(numbers ...string) Option {
	return func(k *knobs) {
		for _, n := range numbers {
			k.landlines[n] = true
		}
	}
}

// Server is the fake. Its embedded *httptest.Server gives URL and Client.
type Server struct {
	*smstest.Fake[knobs]

	offset time.Duration
	sends  []Send
	verifs map[string]*Verification // service + " " + To
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{verifs: make(map[string]*Verification)}
	s.Fake = smstest.NewFake(t, knobs{
		account: DefaultAccountSID, token: DefaultAuthToken,
		apiKeys:    make(map[string]string),
		services:   map[string]bool{DefaultServiceSID: true},
		clock:      time.Now,
		codeLength: 6, ttl: 10 * time.Minute, maxChecks: 5, maxSends: 5,
		landlines: make(map[string]bool),
	}, s.answer)
	s.Apply(opts...)
	return s
}

// Advance moves the fake's clock forward by d.
func (s *Server) Advance(d time.Duration) { s.Locked(func() { s.offset += d }) }

// now is the fake's time; the lock is held.
func (s *Server) now() time.Time { return s.K.clock().Add(s.offset).UTC() }

// Sends returns every SMS sent so far, in order.
func (s *Server) Sends() (out []Send) {
	s.Locked(func() { out = slices.Clone(s.sends) })
	return out
}

// Verification returns the live verification for to in any service, as
// the phone's owner would see it: the code and the counters. Expired ones
// are gone.
func (s *Server) Verification(to string) (out Verification, ok bool) {
	s.Locked(func() {
		for _, key := range slices.Sorted(maps.Keys(s.verifs)) {
			v := s.verifs[key]
			if v.To == to && s.now().Before(v.Expires) {
				out, ok = *v, true
				out.attempts = slices.Clone(v.attempts)
				return
			}
		}
	})
	return out, ok
}

// Code returns the code sent to to, if a verification is live: what a
// test types in place of the user.
func (s *Server) Code(to string) (string, bool) {
	v, ok := s.Verification(to)
	return v.Code, ok
}

type reply = smstest.Reply

func jsonReply(status int, v any) reply { return smstest.JSON(status, v) }

func twilioError(status, code int, message string) reply {
	return smstest.TwilioError(status, code, message)
}

// answer decides the reply; the lock is held.
func (s *Server) answer(r *http.Request, rec Request) reply {
	secret, isKey := s.K.apiKeys[rec.User]
	authed := (rec.User == s.K.account && rec.Password == s.K.token) || (isKey && rec.Password == secret)
	if rep, ok := smstest.TwilioGate(&s.K.Knobs, authed); ok {
		return rep
	}

	// Twilio's 20404 message names the path without the version.
	notFound := twilioError(http.StatusNotFound, 20404,
		fmt.Sprintf("The requested resource %s was not found", strings.TrimPrefix(r.URL.Path, "/v2")))
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(seg) < 4 || seg[0] != "v2" || seg[1] != "Services" || !s.K.services[seg[2]] {
		return notFound
	}
	service := seg[2]
	switch {
	case len(seg) == 4 && seg[3] == "Verifications" && r.Method == http.MethodPost:
		return s.start(service, rec.Form)
	case len(seg) == 4 && seg[3] == "VerificationCheck" && r.Method == http.MethodPost:
		return s.check(service, rec.Form, notFound)
	case len(seg) == 5 && seg[3] == "Verifications" && r.Method == http.MethodGet:
		if v := s.bySID(service, seg[4]); v != nil {
			return jsonReply(http.StatusOK, s.resource(v))
		}
		return notFound
	case len(seg) == 5 && seg[3] == "Verifications" && r.Method == http.MethodPost:
		return s.update(service, seg[4], rec.Form, notFound)
	case len(seg) == 4 && (seg[3] == "Verifications" || seg[3] == "VerificationCheck"), len(seg) == 5 && seg[3] == "Verifications":
		return twilioError(http.StatusMethodNotAllowed, 20004, "Method not allowed")
	}
	return notFound
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// channels are the values Twilio's OpenAPI enum and docs give Channel.
var channels = []string{"sms", "call", "email", "whatsapp", "sna", "auto", "rcs"}

// locales Twilio Verify translates its default SMS into [from memory:
// Twilio's "supported languages" list; an unknown one is 60200].
var locales = []string{
	"af", "ar", "ca", "cs", "da", "de", "el", "en", "en-GB", "es", "et", "fi", "fr", "he", "hi", "hr", "hu",
	"id", "it", "ja", "ko", "ms", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sv", "th", "tl", "tr", "vi",
	"zh", "zh-CN", "zh-HK",
}

func invalid(param string) reply {
	return twilioError(http.StatusBadRequest, 60200, "Invalid parameter: "+param)
}

// live returns the verification for key unless it has expired, in which
// case Twilio has deleted it; the lock is held.
func (s *Server) live(key string) *Verification {
	v := s.verifs[key]
	if v != nil && !s.now().Before(v.Expires) {
		delete(s.verifs, key)
		return nil
	}
	return v
}

func (s *Server) bySID(service, sid string) *Verification {
	for key, v := range s.verifs {
		if v.Service == service && v.SID == sid {
			return s.live(key)
		}
	}
	return nil
}

// start is POST /v2/Services/{VA}/Verifications.
func (s *Server) start(service string, f url.Values) reply {
	to, channel, locale := f.Get("To"), f.Get("Channel"), f.Get("Locale")
	switch {
	case !e164.MatchString(to):
		return invalid("To")
	case !slices.Contains(channels, channel):
		return invalid("Channel")
	case locale != "" && !slices.Contains(locales, locale):
		return invalid("Locale")
	case s.K.landlines[to]:
		return twilioError(http.StatusBadRequest, 60205, "SMS is not supported by landline phone number")
	case s.K.failStatus != 0:
		return twilioError(s.K.failStatus, s.K.failCode, s.K.failMessage)
	}
	now := s.now()
	key := service + " " + to
	v := s.live(key)
	if v != nil {
		// A start while one is live re-sends the same code under the same
		// sid. [GUESS] also when max_attempts_reached: Twilio says to wait
		// for expiry, so the code stays uncheckable.
		if v.Sends >= s.K.maxSends {
			return twilioError(http.StatusTooManyRequests, 60203, "Max send attempts reached")
		}
	} else {
		v = &Verification{
			SID: "VE" + randomHex(), Service: service, To: to, Code: randomDigits(s.K.codeLength),
			Status: "pending", Created: now, Expires: now.Add(s.K.ttl),
		}
		s.verifs[key] = v
	}
	v.Sends++
	v.Channel, v.Locale, v.Updated = channel, locale, now
	v.attempts = append(v.attempts, now)
	s.sends = append(s.sends, Send{SID: v.SID, Service: service, To: to, Channel: channel, Locale: locale, Code: v.Code, At: now})
	return jsonReply(http.StatusCreated, s.resource(v))
}

// check is POST /v2/Services/{VA}/VerificationCheck.
func (s *Server) check(service string, f url.Values, notFound reply) reply {
	code := f.Get("Code")
	if n := len([]rune(code)); n < 4 || n > 10 {
		return invalid("Code")
	}
	var v *Verification
	switch {
	case f.Get("VerificationSid") != "":
		v = s.bySID(service, f.Get("VerificationSid"))
	case f.Get("To") != "":
		v = s.live(service + " " + f.Get("To"))
	default:
		return invalid("To") // [GUESS] code and text for "neither To nor VerificationSid"
	}
	if v == nil {
		return notFound
	}
	if v.Status == "max_attempts_reached" {
		return twilioError(http.StatusTooManyRequests, 60202, "Max check attempts reached")
	}
	v.Checks++
	v.Updated = s.now()
	if subtle.ConstantTimeCompare([]byte(code), []byte(v.Code)) == 1 {
		v.Status = "approved"
		delete(s.verifs, v.Service+" "+v.To)
		return jsonReply(http.StatusOK, s.checkResource(v, true))
	}
	rep := jsonReply(http.StatusOK, s.checkResource(v, false))
	if v.Checks >= s.K.maxChecks {
		// [GUESS] the fifth wrong check still reads "pending"; the state
		// changes behind it, and the next check gets 60202.
		v.Status = "max_attempts_reached"
	}
	return rep
}

// update is POST /v2/Services/{VA}/Verifications/{VE} with Status.
func (s *Server) update(service, sid string, f url.Values, notFound reply) reply {
	status := f.Get("Status")
	if status != "canceled" && status != "approved" {
		return invalid("Status")
	}
	v := s.bySID(service, sid)
	if v == nil {
		return notFound
	}
	v.Status, v.Updated = status, s.now()
	delete(s.verifs, v.Service+" "+v.To)
	return jsonReply(http.StatusOK, s.resource(v))
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// resource renders a Verification as the start and fetch answer it
// (twilio-python's fixture shape), with ISO-8601 dates.
func (s *Server) resource(v *Verification) map[string]any {
	attempts := make([]map[string]any, 0, len(v.attempts))
	for _, at := range v.attempts {
		attempts = append(attempts, map[string]any{"time": isoTime(at), "channel": strings.ToUpper(v.Channel), "channel_id": nil})
	}
	return map[string]any{
		"sid": v.SID, "service_sid": v.Service, "account_sid": s.K.account, "to": v.To, "channel": v.Channel,
		"status": v.Status, "valid": v.Status == "approved",
		"date_created": isoTime(v.Created), "date_updated": isoTime(v.Updated),
		"lookup": map[string]any{"carrier": map[string]any{
			"error_code": nil, "name": "Fake Carrier", "mobile_country_code": "440", "mobile_network_code": "10", "type": "mobile",
		}},
		"amount": nil, "payee": nil, "send_code_attempts": attempts,
		"url": "https://verify.twilio.com/v2/Services/" + v.Service + "/Verifications/" + v.SID,
	}
}

// checkResource renders a VerificationCheck answer.
func (s *Server) checkResource(v *Verification, ok bool) map[string]any {
	status := "pending"
	if ok {
		status = "approved"
	}
	return map[string]any{
		"sid": v.SID, "service_sid": v.Service, "account_sid": s.K.account, "to": v.To, "channel": v.Channel,
		"status": status, "valid": ok, "amount": nil, "payee": nil, "sna_attempts_error_codes": []any{},
		"date_created": isoTime(v.Created), "date_updated": isoTime(v.Updated),
	}
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}
