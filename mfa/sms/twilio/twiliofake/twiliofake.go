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
	"encoding/json"
	"fmt"
	"github.com/smspin/idp/mfa/sms/smstest"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// Default credentials, used unless Credentials says otherwise.
const (
	DefaultAccountSID = "AC00000000000000000000000000000000"
	DefaultAuthToken  = "twilio-test-token"
)

// Request is one request as the fake received it.
type Request struct {
	Method      string
	Path        string
	RawQuery    string
	Header      http.Header
	ContentType string // media type, without parameters
	User        string // Basic auth user, "" if none
	Password    string
	Body        []byte
	Form        url.Values // the parsed body if it was form-encoded
}

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
type Option func(*knobs)

type knobs struct {
	account, token string
	unauthorized   bool
	suspended      bool
	throttle       time.Duration
	serverError    int
	slow           time.Duration
	failStatus     int
	failCode       int
	failMessage    string
	cannedStatus   int
	cannedHeader   http.Header
	cannedBody     string
	landlines      map[string]bool
	countries      []string
	sequence       []string
}

// Credentials sets the account SID and auth token the fake accepts.
func Credentials(accountSID, token string) Option {
	return func(k *knobs) { k.account, k.token = accountSID, token }
}

// Unauthorized makes every request fail with 401/20003.
func Unauthorized(on bool) Option { return func(k *knobs) { k.unauthorized = on } }

// InsufficientFunds models an account whose balance ran out: Twilio still
// answers 201 to the create, then fails the message asynchronously with
// error 30002 "Account suspended" (Twilio's 30002 page: "accepted the
// message for queueing, but your account was suspended before Twilio could
// send it"). A fetch of such a message reports status "failed".
func InsufficientFunds(on bool) Option { return func(k *knobs) { k.suspended = on } }

// Throttle answers every authenticated request with 429/20429 and a
// Retry-After of d (whole seconds). 0 turns it off.
func Throttle(d time.Duration) Option { return func(k *knobs) { k.throttle = d } }

// ServerError answers every request with status: 500 and 503 with
// Twilio's JSON body (20500, 20503), other statuses (502, 504) with an edge
// proxy's HTML page. 0 turns it off.
func ServerError(status int) Option { return func(k *knobs) { k.serverError = status } }

// Slow delays every answer by d, after the request has been processed: a
// create is recorded (the SMS "went out") and then the answer is late. The
// handler gives up as soon as the client goes away. 0 turns it off.
func Slow(d time.Duration) Option { return func(k *knobs) { k.slow = d } }

// Fail makes every create that passes validation fail with this Twilio
// error, for codes the fake does not produce itself (21610, 21612, 30450,
// ...). Status 0 turns it off.
func Fail(status, code int, message string) Option {
	return func(k *knobs) { k.failStatus, k.failCode, k.failMessage = status, code, message }
}

// Canned answers every request (after recording it) with exactly this
// status, header and body. Status 0 turns it off.
func Canned(status int, header http.Header, body string) Option {
	return func(k *knobs) { k.cannedStatus, k.cannedHeader, k.cannedBody = status, header, body }
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
	*httptest.Server

	mu       sync.Mutex
	k        knobs
	requests []Request
	messages []Message
	fetches  map[string]int
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		k: knobs{
			account: DefaultAccountSID, token: DefaultAuthToken,
			landlines: make(map[string]bool),
			sequence:  []string{"queued", "sent", "delivered"},
		},
		fetches: make(map[string]int),
	}
	s.Apply(opts...)
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// Apply changes knobs while the server runs.
func (s *Server) Apply(opts ...Option) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		o(&s.k)
	}
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Messages returns every message accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own values are marshalled
	}
	return reply{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

// twilioError is the body every Twilio REST error has.
func twilioError(status, code int, message string) reply {
	return jsonReply(status, map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ctype, user, pass := smstest.ReadRequest(r)
	rec := Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
		ContentType: ctype, User: user, Password: pass, Body: body,
	}
	if ctype == "application/x-www-form-urlencoded" {
		rec.Form, _ = url.ParseQuery(string(body))
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	rep := s.answer(r, rec)
	delay := s.k.slow
	s.mu.Unlock()

	smstest.Respond(w, r, delay, rep.status, rep.header, rep.body)
}

// answer decides the reply; s.mu is held.
func (s *Server) answer(r *http.Request, rec Request) reply {
	if s.k.cannedStatus != 0 {
		return reply{status: s.k.cannedStatus, header: s.k.cannedHeader.Clone(), body: []byte(s.k.cannedBody)}
	}
	switch st := s.k.serverError; st {
	case 0:
	case http.StatusInternalServerError:
		return twilioError(st, 20500, "An internal server error has occurred")
	case http.StatusServiceUnavailable:
		return twilioError(st, 20503, "Service unavailable")
	default:
		page := fmt.Sprintf("<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n", st, http.StatusText(st), st, http.StatusText(st))
		return reply{status: st, header: http.Header{"Content-Type": {"text/html"}}, body: []byte(page)}
	}

	// /2010-04-01/Accounts/{AccountSid}/Messages.json
	// /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	notFound := twilioError(http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
	if len(seg) < 4 || seg[0] != "2010-04-01" || seg[1] != "Accounts" {
		return notFound
	}
	// Auth is checked against the account the path names [GUESS: a
	// mismatch answers like bad credentials].
	if s.k.unauthorized || rec.User != s.k.account || rec.Password != s.k.token || seg[2] != s.k.account {
		rep := twilioError(http.StatusUnauthorized, 20003, "Authenticate")
		rep.header.Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		return rep
	}
	if d := s.k.throttle; d > 0 {
		rep := twilioError(http.StatusTooManyRequests, 20429, "Too Many Requests")
		rep.header.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
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
	case len(s.k.countries) > 0 && !slices.ContainsFunc(s.k.countries, func(p string) bool { return strings.HasPrefix(to, p) }):
		return twilioError(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "+to+".")
	case s.k.landlines[to]:
		return twilioError(400, 21614, fmt.Sprintf("'To' number %s is not a valid mobile number", to))
	case s.k.failStatus != 0:
		return twilioError(s.k.failStatus, s.k.failCode, s.k.failMessage)
	}
	m := Message{
		SID: "SM" + randomHex(), To: to, From: f.Get("From"), MessagingServiceSID: f.Get("MessagingServiceSid"),
		Body: f.Get("Body"), ValidityPeriod: f.Get("ValidityPeriod"), StatusCallback: f.Get("StatusCallback"),
		NumSegments: Segments(f.Get("Body")), Created: time.Now().UTC(), suspended: s.k.suspended,
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
		i := min(s.fetches[m.SID], len(s.k.sequence)-1)
		s.fetches[m.SID]++
		status = s.k.sequence[i]
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
	uri := "/2010-04-01/Accounts/" + s.k.account + "/Messages/" + m.SID
	return map[string]any{
		"account_sid": s.k.account, "api_version": "2010-04-01", "body": m.Body,
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
