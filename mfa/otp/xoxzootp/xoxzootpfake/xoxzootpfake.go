// Package xoxzootpfake is an httptest server that answers like Xoxzo's OTP
// API (api.xoxzo.com/otp/...), for tests of code that verifies phones
// through Xoxzo without the network.
//
// It follows the wire-level sheet (SMS-PROVIDERS.md, section 2 and its
// recommendation for a fake): HTTP Basic auth on every route (DRF's 401
// bodies); Django's trailing-slash rule (a path without its slash gets a
// 301 before anything else is looked at); JSON or form bodies; DRF's error
// shapes. The verified parts:
//
//	POST /otp/register-website/ {"website", "template_id"?}  201 {"message": "Website registered successfully."}
//	                                                         400 {"website": ["website info with this website already exists."]}
//	POST /otp/request/ {"website", "phone_number"}           201 {"msgid": "<10 digits>"}
//
// Everything about /otp/verify/ is a [GUESS], as is every error text
// below that is not quoted from the docs. The verify route accepts both
// shapes Xoxzo's sources suggest, {"otp_id", "code"} (the tutorial) and
// {"website", "phone_number", "otp"|"code"|"otp_code"} (the docs' table),
// and the union of them; RequireVerifyFields makes it insist on one shape,
// to test what a client does when its guess is wrong. It answers in one of
// two styles (Answers): 200/400 with {"message": "..."} (the default), or
// always 200 with {"verified": bool, "status": word, "message": "..."}.
//
// State: msgid -> (website, phone, code, expiry, attempts). One active
// code per (website, phone): a second request answers 400 unless
// ReplaceActive is on [GUESS]. A right code is consumed; MaxAttempts wrong
// ones lock the code until it expires; an expired code is gone. The clock
// is the fake's own (Clock, Advance). Code and OTPs expose the codes.
package xoxzootpfake

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms/smstest"
)

// Defaults, used unless the options say otherwise. DefaultWebsite is
// registered from the start.
const (
	DefaultSID     = "xoxzo-test-sid"
	DefaultToken   = "xoxzo-test-token"
	DefaultWebsite = "https://login.example.com"
)

// Answer texts of the default style. All [GUESS]: Xoxzo documents none.
const (
	TextVerified = "OTP verified successfully."
	TextInvalid  = "Invalid OTP."
	TextExpired  = "OTP has expired."
	TextNotFound = "OTP not found."
	TextTooMany  = "Too many attempts."
	TextActive   = "An active OTP already exists for this phone number."
)

// Style is how /otp/verify/ answers.
type Style int

const (
	// StyleStatus answers 200 {"message": TextVerified} on success and
	// 400 {"message": ...} on every refusal.
	StyleStatus Style = iota
	// StyleFlag answers 200 to everything, with {"verified": bool,
	// "status": "verified"|"invalid"|"expired"|"not_found"|"max_attempts",
	// "message": ...}: a client that reads only the status code would let
	// every code in.
	StyleFlag
)

// Request is one request as the fake received it.
type Request = smstest.Request

// OTP is one code the fake issued.
type OTP struct {
	MsgID    string
	Website  string
	Phone    string
	Code     string // what the phone shows; test-only
	Text     string // the whole SMS, template 3
	Sent     time.Time
	Expires  time.Time
	Attempts int
	State    string // active, verified, locked, replaced (expired is read off Expires)
}

// Option sets a knob, at New or later through Server.Apply.
type Option = smstest.Option[knobs]

type knobs struct {
	smstest.Knobs
	sid, token    string
	clock         func() time.Time
	ttl           time.Duration
	maxAttempts   int
	codeLength    int
	replaceActive bool
	style         Style
	require       []string
	noCredit      int
}

// Credentials sets the API SID and auth token the fake accepts.
func Credentials(sid, token string) Option { return func(k *knobs) { k.sid, k.token = sid, token } }

// Clock sets the fake's time source (default time.Now). Advance moves it.
func Clock(now func() time.Time) Option { return func(k *knobs) { k.clock = now } }

// TTL sets a code's lifetime [GUESS, undocumented; default 5 minutes].
func TTL(d time.Duration) Option { return func(k *knobs) { k.ttl = d } }

// MaxAttempts sets the wrong tries that lock a code [GUESS, undocumented;
// default 5].
func MaxAttempts(n int) Option { return func(k *knobs) { k.maxAttempts = n } }

// CodeLength sets the digits of a code (template 3 shows 6).
func CodeLength(n int) Option { return func(k *knobs) { k.codeLength = n } }

// ReplaceActive makes a request while a code is active replace it (the old
// msgid is dead) instead of answering 400 TextActive. Which one Xoxzo does
// is not documented.
func ReplaceActive(on bool) Option { return func(k *knobs) { k.replaceActive = on } }

// Answers sets the verify answer style.
func Answers(s Style) Option { return func(k *knobs) { k.style = s } }

// RequireVerifyFields makes /otp/verify/ insist on these fields (each
// missing one answers 400 {"<name>": ["This field is required."]}), e.g.
// "otp_id", "code" for the tutorial's shape or "website", "phone_number",
// "otp" for one reading of the docs. None: both shapes are accepted.
func RequireVerifyFields(names ...string) Option {
	return func(k *knobs) { k.require = slices.Clone(names) }
}

// Unauthorized makes every request fail as if the credentials were wrong.
func Unauthorized(on bool) Option { return func(k *knobs) { k.Unauthorized = on } }

// Throttle answers every authenticated request with DRF's 429 and a
// Retry-After of d (whole seconds). 0 turns it off.
func Throttle(d time.Duration) Option { return func(k *knobs) { k.Throttle = d } }

// ServerError answers every request with status and an HTML page, as
// Django or a proxy would. 0 turns it off.
func ServerError(status int) Option { return func(k *knobs) { k.ServerError = status } }

// Slow delays every answer by d, after the request has been processed: a
// code is issued (the SMS "went out") or an attempt counted, and then the
// answer is late. The handler gives up as soon as the client goes away.
func Slow(d time.Duration) Option { return func(k *knobs) { k.Slow = d } }

// InsufficientCredit makes valid requests fail with status and
// {"detail": "Insufficient credits."} [GUESS]. 0 turns it off.
func InsufficientCredit(status int) Option { return func(k *knobs) { k.noCredit = status } }

// Canned answers every request (after recording it) with exactly this
// status, header and body. Status 0 turns it off.
func Canned(status int, header http.Header, body string) Option {
	return func(k *knobs) { k.Canned = smstest.Reply{Status: status, Header: header, Body: []byte(body)} }
}

// Server is the fake. Its embedded *httptest.Server gives URL and Client.
type Server struct {
	*smstest.Fake[knobs]

	offset   time.Duration
	websites map[string]int // registered website -> template id
	otps     []*OTP
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{websites: map[string]int{DefaultWebsite: 3}}
	s.Fake = smstest.NewFake(t, knobs{
		sid: DefaultSID, token: DefaultToken, clock: time.Now,
		ttl: 5 * time.Minute, maxAttempts: 5, codeLength: 6,
	}, s.answer)
	s.Apply(opts...)
	return s
}

// Advance moves the fake's clock forward by d.
func (s *Server) Advance(d time.Duration) { s.Locked(func() { s.offset += d }) }

func (s *Server) now() time.Time { return s.K.clock().Add(s.offset).UTC() }

// OTPs returns every code issued so far, in order, as they stand now.
func (s *Server) OTPs() (out []OTP) {
	s.Locked(func() {
		for _, o := range s.otps {
			out = append(out, *o)
		}
	})
	return out
}

// Code returns the active code for phone on website: what a test types in
// place of the user.
func (s *Server) Code(website, phone string) (code string, ok bool) {
	s.Locked(func() {
		if o := s.active(website, phone); o != nil {
			code, ok = o.Code, true
		}
	})
	return code, ok
}

// Websites returns the registered websites.
func (s *Server) Websites() (out []string) {
	s.Locked(func() { out = slices.Sorted(maps.Keys(s.websites)) })
	return out
}

// active is the live code for (website, phone), if any; the lock is held.
func (s *Server) active(website, phone string) *OTP {
	for _, o := range s.otps {
		if o.Website == website && o.Phone == phone && (o.State == "active" || o.State == "locked") && s.now().Before(o.Expires) {
			return o
		}
	}
	return nil
}

type reply = smstest.Reply

func jsonReply(status int, v any) reply { return smstest.JSON(status, v) }

var routes = []string{"/otp/register-website/", "/otp/request/", "/otp/verify/"}

// answer decides the reply; the lock is held.
func (s *Server) answer(r *http.Request, rec Request) reply {
	// Django's CommonMiddleware runs before authentication and the view.
	if !strings.HasSuffix(r.URL.Path, "/") && slices.Contains(routes, r.URL.Path+"/") {
		return reply{Status: http.StatusMovedPermanently, Header: http.Header{"Location": {r.URL.Path + "/"}}}
	}
	if rep, ok := smstest.DjangoGate(&s.K.Knobs, rec, s.K.sid, s.K.token); ok {
		return rep
	}
	if !slices.Contains(routes, r.URL.Path) {
		return smstest.DjangoNotFound()
	}
	if r.Method != http.MethodPost {
		rep := smstest.Detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		rep.Header.Set("Allow", "POST, OPTIONS")
		return rep
	}
	if rec.ContentType != "application/json" && rec.ContentType != "application/x-www-form-urlencoded" {
		return smstest.Detail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", rec.ContentType))
	}
	if rec.Fields == nil {
		return smstest.Detail(http.StatusBadRequest, "JSON parse error - the body is not a JSON object.")
	}
	switch r.URL.Path {
	case "/otp/register-website/":
		return s.register(rec.Fields)
	case "/otp/request/":
		return s.request(rec.Fields)
	}
	return s.verify(rec.Fields)
}

var (
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	websiteRE = regexp.MustCompile(`^https?://[^/\s]+`)
)

// register is POST /otp/register-website/.
func (s *Server) register(f url.Values) reply {
	errs := map[string][]string{}
	smstest.RequireField(errs, f, "website")
	if w := f.Get("website"); w != "" && !websiteRE.MatchString(w) {
		errs["website"] = append(errs["website"], "Enter a valid URL.") // DRF URLField's text
	}
	tid := 3
	if v := f.Get("template_id"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n != 3 {
			errs["template_id"] = []string{"Invalid template_id."} // [GUESS]
		}
		tid = n
	}
	if len(errs) > 0 {
		return jsonReply(http.StatusBadRequest, errs)
	}
	if _, ok := s.websites[f.Get("website")]; ok {
		return jsonReply(http.StatusBadRequest, map[string][]string{"website": {"website info with this website already exists."}})
	}
	s.websites[f.Get("website")] = tid
	return jsonReply(http.StatusCreated, map[string]string{"message": "Website registered successfully."})
}

// request is POST /otp/request/.
func (s *Server) request(f url.Values) reply {
	errs := map[string][]string{}
	smstest.RequireField(errs, f, "website")
	smstest.RequireField(errs, f, "phone_number")
	website, phone := f.Get("website"), f.Get("phone_number")
	if website != "" {
		if _, ok := s.websites[website]; !ok {
			errs["website"] = append(errs["website"], "Website is not registered.") // [GUESS]
		}
	}
	// +810... is a domestic leading 0 kept after the country code.
	if phone != "" && (!e164.MatchString(phone) || strings.HasPrefix(phone, "+810")) {
		errs["phone_number"] = append(errs["phone_number"], "Enter a valid phone number.") // [GUESS]
	}
	if len(errs) > 0 {
		return jsonReply(http.StatusBadRequest, errs)
	}
	if old := s.active(website, phone); old != nil {
		if !s.K.replaceActive {
			return jsonReply(http.StatusBadRequest, map[string][]string{"phone_number": {TextActive}})
		}
		old.State = "replaced"
	}
	if s.K.noCredit != 0 {
		return smstest.Detail(s.K.noCredit, "Insufficient credits.")
	}
	now := s.now()
	code := randomDigits(s.K.codeLength)
	o := &OTP{
		MsgID: randomDigits(10), Website: website, Phone: phone, Code: code,
		Text: "あなたの確認コードは" + code + "です。", Sent: now, Expires: now.Add(s.K.ttl), State: "active",
	}
	s.otps = append(s.otps, o)
	return jsonReply(http.StatusCreated, map[string]string{"msgid": o.MsgID})
}

// verify is POST /otp/verify/.
func (s *Server) verify(f url.Values) reply {
	errs := map[string][]string{}
	for _, name := range s.K.require {
		smstest.RequireField(errs, f, name)
	}
	code, codeField := "", ""
	for _, name := range []string{"code", "otp", "otp_code"} {
		if v := f.Get(name); v != "" {
			code, codeField = v, name
			break
		}
	}
	if codeField == "" && len(s.K.require) == 0 {
		smstest.RequireField(errs, f, "code")
	}
	msgid, website, phone := f.Get("otp_id"), f.Get("website"), f.Get("phone_number")
	if msgid == "" && (website == "" || phone == "") && len(s.K.require) == 0 {
		smstest.RequireField(errs, f, "otp_id")
	}
	if len(errs) > 0 {
		return jsonReply(http.StatusBadRequest, errs)
	}
	var o *OTP
	for _, x := range slices.Backward(s.otps) {
		if (msgid == "" || x.MsgID == msgid) && (website == "" || x.Website == website) && (phone == "" || x.Phone == phone) {
			o = x
			break
		}
	}
	switch {
	case o == nil || o.State == "verified" || o.State == "replaced":
		return s.refuse("not_found", TextNotFound)
	case !s.now().Before(o.Expires):
		return s.refuse("expired", TextExpired)
	case o.State == "locked":
		return s.refuse("max_attempts", TextTooMany)
	}
	o.Attempts++
	if subtle.ConstantTimeCompare([]byte(code), []byte(o.Code)) == 1 {
		o.State = "verified"
		if s.K.style == StyleFlag {
			return jsonReply(http.StatusOK, map[string]any{"verified": true, "status": "verified", "message": TextVerified})
		}
		return jsonReply(http.StatusOK, map[string]string{"message": TextVerified})
	}
	if o.Attempts >= s.K.maxAttempts {
		o.State = "locked"
	}
	return s.refuse("invalid", TextInvalid)
}

func (s *Server) refuse(status, text string) reply {
	if s.K.style == StyleFlag {
		return jsonReply(http.StatusOK, map[string]any{"verified": false, "status": status, "message": text})
	}
	return jsonReply(http.StatusBadRequest, map[string]string{"message": text})
}

func randomDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}
