// Package xoxzofake is an httptest server that answers like the Xoxzo SMS
// API (api.xoxzo.com), for tests of any package that sends SMS through
// Xoxzo without the network.
//
// It follows the wire-level sheet (SMS-PROVIDERS.md, sections 1.1 to 1.9):
// HTTP Basic auth on every route; Django's trailing-slash rule (a path
// without its slash gets a 301 before anything else is looked at); DRF's
// error shapes ({"field": ["..."]}, {"detail": "..."}); the field rules of
// POST /sms/messages/ (form or JSON) and POST /sms/templates/<id>/messages/
// (JSON); the length table of section 1.6; 201 [{"msgid": "<32 alnum>"}] on
// success. Where Xoxzo's behaviour is undocumented (insufficient credit, a
// pending template, the texts of most errors, the test-credit wording) the
// fake follows the sheet's GUESS and says so on the knob.
package xoxzofake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
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
)

// Default credentials, used unless Credentials says otherwise.
const (
	DefaultSID   = "xoxzo-test-sid"
	DefaultToken = "xoxzo-test-token"
)

// TestCreditText replaces the text of every message sent in test-credit
// mode. Xoxzo's wording is not documented [GUESS]; only the fact that free
// credits replace the text is.
const TestCreditText = "This is a test message from Xoxzo."

// Request is one request as the fake received it.
type Request = smstest.Request

// Message is one SMS the fake accepted.
type Message struct {
	MsgID      string
	Recipient  string
	Sender     string
	Text       string // what the phone shows: rendered, and replaced in test-credit mode
	Requested  string // the text asked for, before test-credit replacement
	TemplateID string // "" for free text
	Variables  map[string]string
	Tags       []string
	Parts      int
	At         time.Time
	// CallbackURL is the callbackurl the message was sent with.
	CallbackURL string
}

// template is a registered SMS template. Status is "APPROVED" or "PENDING".
type template struct {
	ID      string
	Name    string
	Content string
	Status  string
}

// Option sets a knob, at New or later through Server.Apply.
type Option = smstest.Option[knobs]

type knobs struct {
	smstest.Knobs
	sid, token   string
	templates    map[string]template
	sequence     []string
	credits      float64
	notFoundJSON bool
	noCredit     int
	testCredit   bool
}

// Credentials sets the API SID and auth token the fake accepts.
func Credentials(sid, token string) Option {
	return func(k *knobs) { k.sid, k.token = sid, token }
}

// AddTemplate registers a template. content uses {name} or {{name}}
// placeholders (Xoxzo's docs and blog disagree; the fake takes both).
func AddTemplate(id, content, status string) Option {
	return func(k *knobs) {
		k.templates[id] = template{ID: id, Name: "template " + id, Content: content, Status: status}
	}
}

// StatusSequence sets the statuses a message reports on successive reads
// of GET /sms/messages/<msgid>/; the last one repeats. Default QUEUED,
// DELIVERED.
func StatusSequence(words ...string) Option {
	return func(k *knobs) { k.sequence = slices.Clone(words) }
}

// Credits sets the balance GET /you/credits/ reports. Default 1000.
func Credits(n float64) Option { return func(k *knobs) { k.credits = n } }

// NotFoundJSON makes a 404 for an unknown msgid carry DRF's
// {"detail": "Not found."} instead of an empty body.
func NotFoundJSON(on bool) Option { return func(k *knobs) { k.notFoundJSON = on } }

// Unauthorized makes every request fail as if the credentials were wrong.
func Unauthorized(on bool) Option { return func(k *knobs) { k.Unauthorized = on } }

// Throttle answers every authenticated request with DRF's 429 and a
// Retry-After of d (whole seconds). 0 turns it off.
func Throttle(d time.Duration) Option { return func(k *knobs) { k.Throttle = d } }

// ServerError answers every request with status (500, 502, 503, 504) and
// an HTML page, as Django or a proxy in front of it would. 0 turns it off.
func ServerError(status int) Option { return func(k *knobs) { k.ServerError = status } }

// Slow delays every answer by d, after the request has been processed: a
// send is recorded (the SMS "went out") and then the answer is late, which
// is the case a client timeout must treat as an unknown outcome. The
// handler gives up as soon as the client goes away. 0 turns it off.
func Slow(d time.Duration) Option { return func(k *knobs) { k.Slow = d } }

// InsufficientCredit makes valid sends fail with status and
// {"detail": "Insufficient credits."}. Xoxzo documents neither [GUESS:
// 402 or 403]. 0 turns it off.
func InsufficientCredit(status int) Option { return func(k *knobs) { k.noCredit = status } }

// TestCredit replaces the text of every accepted message with
// TestCreditText, as Xoxzo does on free test credits: the PIN never reaches
// the phone though the API says 201.
func TestCredit(on bool) Option { return func(k *knobs) { k.testCredit = on } }

// Canned answers every request (after recording it) with exactly this
// status, header and body, for shapes the other knobs do not make.
// Status 0 turns it off.
func Canned(status int, header http.Header, body string) Option {
	return func(k *knobs) { k.Canned = smstest.Reply{Status: status, Header: header, Body: []byte(body)} }
}

// Server is the fake. Its embedded *httptest.Server gives URL and Client.
type Server struct {
	*smstest.Fake[knobs]

	messages []Message
	reads    map[string]int // msgid -> status reads so far
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{reads: make(map[string]int)}
	s.Fake = smstest.NewFake(t, knobs{
		sid: DefaultSID, token: DefaultToken,
		templates: make(map[string]template),
		sequence:  []string{"QUEUED", "DELIVERED"},
		credits:   1000,
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

func fieldErrors(errs map[string][]string) reply { return jsonReply(http.StatusBadRequest, errs) }

func detail(status int, text string) reply { return smstest.Detail(status, text) }

// answer decides the reply; the lock is held.
func (s *Server) answer(r *http.Request, rec Request) reply {
	// Django's CommonMiddleware runs before authentication and the view:
	// a path that only resolves with a slash gets a 301 to it.
	if !strings.HasSuffix(r.URL.Path, "/") {
		if route, _ := resolve(r.URL.Path + "/"); route != "" {
			loc := r.URL.Path + "/"
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			return reply{Status: http.StatusMovedPermanently, Header: http.Header{"Location": {loc}}}
		}
	}
	if rep, ok := smstest.DjangoGate(&s.K.Knobs, rec, s.K.sid, s.K.token); ok {
		return rep
	}

	route, id := resolve(r.URL.Path)
	allow := map[string]string{
		"messages": "GET, POST, HEAD, OPTIONS", "message": "GET, HEAD, OPTIONS",
		"templates": "GET, HEAD, OPTIONS", "template-send": "POST, OPTIONS", "credits": "GET, HEAD, OPTIONS",
	}
	switch {
	case route == "":
		return smstest.DjangoNotFound()
	case route == "messages" && r.Method == http.MethodPost:
		return s.sendFree(rec)
	case route == "messages" && r.Method == http.MethodGet:
		out := make([]map[string]any, 0, len(s.messages))
		for _, m := range s.messages {
			out = append(out, s.statusObject(m, r, false))
		}
		return jsonReply(http.StatusOK, out)
	case route == "message" && r.Method == http.MethodGet:
		for _, m := range s.messages {
			if m.MsgID == id {
				return jsonReply(http.StatusOK, s.statusObject(m, r, true))
			}
		}
		if s.K.notFoundJSON {
			return detail(http.StatusNotFound, "Not found.")
		}
		return reply{Status: http.StatusNotFound}
	case route == "templates" && r.Method == http.MethodGet:
		out := []map[string]any{}
		for _, k := range slices.Sorted(maps.Keys(s.K.templates)) {
			t := s.K.templates[k]
			n, _ := strconv.Atoi(t.ID)
			out = append(out, map[string]any{"id": n, "name": t.Name, "approved_content": t.Content, "pending_content": nil, "status": t.Status})
		}
		return jsonReply(http.StatusOK, out)
	case route == "template-send" && r.Method == http.MethodPost:
		return s.sendTemplate(rec, id)
	case route == "credits" && r.Method == http.MethodGet:
		return jsonReply(http.StatusOK, map[string]float64{"credits": s.K.credits})
	}
	rep := detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
	rep.Header.Set("Allow", allow[route])
	return rep
}

// resolve names the route of a slash-terminated path, with its id.
func resolve(path string) (route, id string) {
	if !strings.HasSuffix(path, "/") {
		return "", ""
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 2 && seg[0] == "sms" && seg[1] == "messages":
		return "messages", ""
	case len(seg) == 3 && seg[0] == "sms" && seg[1] == "messages" && seg[2] != "":
		return "message", seg[2]
	case len(seg) == 2 && seg[0] == "sms" && seg[1] == "templates":
		return "templates", ""
	case len(seg) == 4 && seg[0] == "sms" && seg[1] == "templates" && seg[2] != "" && seg[3] == "messages":
		return "template-send", seg[2]
	case len(seg) == 2 && seg[0] == "you" && seg[1] == "credits":
		return "credits", ""
	}
	return "", ""
}

var (
	recipientRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	alnumRE     = regexp.MustCompile(`^[A-Za-z0-9]{1,10}$`)
	digitsRE    = regexp.MustCompile(`^[0-9]{1,15}$`)
	placeholder = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}|\{(\w+)\}`)
)

func unsupported(ctype string) reply {
	return detail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ctype))
}

// sendFree is POST /sms/messages/.
func (s *Server) sendFree(rec Request) reply {
	if rec.ContentType != "application/x-www-form-urlencoded" && rec.ContentType != "application/json" {
		return unsupported(rec.ContentType)
	}
	f, err := smstest.ParseFields(rec.ContentType, rec.Body)
	if err != nil {
		return detail(http.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	errs := map[string][]string{}
	for _, name := range []string{"message", "recipient", "sender"} {
		smstest.RequireField(errs, f, name)
	}
	checkRecipient(errs, f.Get("recipient"))
	checkSender(errs, f.Get("sender"))
	kp := f.Get("jp_kp") == "true" || f.Get("jp_kpl") == "true"
	parts := 0
	if f.Get("message") != "" {
		if parts = Parts(f.Get("message"), kp); parts == 0 {
			errs["message"] = append(errs["message"], "Message too long")
		}
	}
	if len(errs) > 0 {
		return fieldErrors(errs)
	}
	var tags []string
	for _, t := range f["tags"] {
		for tag := range strings.SplitSeq(t, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				tags = append(tags, tag)
			}
		}
	}
	return s.accept(Message{Recipient: f.Get("recipient"), Sender: f.Get("sender"), Requested: f.Get("message"), Tags: tags, Parts: parts,
		CallbackURL: f.Get("callbackurl")})
}

// sendTemplate is POST /sms/templates/<id>/messages/.
func (s *Server) sendTemplate(rec Request, id string) reply {
	if rec.ContentType != "application/json" {
		return unsupported(rec.ContentType)
	}
	var in map[string]any
	if err := json.Unmarshal(rec.Body, &in); err != nil {
		return detail(http.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	t, ok := s.K.templates[id]
	if !ok {
		return detail(http.StatusBadRequest, "Template not found.") // [GUESS]
	}
	if t.Status != "APPROVED" {
		return detail(http.StatusBadRequest, "Template is not approved.") // [GUESS]
	}
	f, _ := smstest.ParseFields(rec.ContentType, rec.Body)
	errs := map[string][]string{}
	smstest.RequireField(errs, f, "sender")
	smstest.RequireField(errs, f, "recipient")
	checkRecipient(errs, f.Get("recipient"))
	checkSender(errs, f.Get("sender"))
	vars := map[string]string{}
	switch v := in["variables"].(type) {
	case nil:
		errs["variables"] = []string{"This field is required."}
	case map[string]any:
		for k, x := range v {
			if str, ok := x.(string); ok {
				vars[k] = str
			} else {
				vars[k] = fmt.Sprint(x)
			}
		}
	default:
		errs["variables"] = []string{fmt.Sprintf("Expected a dictionary of items but got type %q.", jsonType(v))}
	}
	var missing []string
	text := placeholder.ReplaceAllStringFunc(t.Content, func(p string) string {
		sub := placeholder.FindStringSubmatch(p)
		name := sub[1] + sub[2]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 && errs["variables"] == nil {
		slices.Sort(missing)
		errs["variables"] = []string{"Missing variable: " + strings.Join(slices.Compact(missing), ", ")} // [GUESS]
	}
	parts := Parts(text, false)
	if parts == 0 {
		errs["message"] = []string{"Message too long"}
	}
	if len(errs) > 0 {
		return fieldErrors(errs)
	}
	return s.accept(Message{Recipient: f.Get("recipient"), Sender: f.Get("sender"), Requested: text, TemplateID: id, Variables: vars, Parts: parts,
		CallbackURL: f.Get("callbackurl")})
}

// accept bills, records and answers 201.
func (s *Server) accept(m Message) reply {
	if s.K.noCredit != 0 {
		return detail(s.K.noCredit, "Insufficient credits.") // [GUESS]
	}
	m.MsgID = msgID()
	m.Text = m.Requested
	if s.K.testCredit {
		m.Text = TestCreditText
	}
	m.At = time.Now().UTC()
	s.messages = append(s.messages, m)
	return jsonReply(http.StatusCreated, []map[string]string{{"msgid": m.MsgID}})
}

// statusObject is the section 1.4 object; advance moves the status
// sequence on, as a read of the single message does.
func (s *Server) statusObject(m Message, r *http.Request, advance bool) map[string]any {
	i := min(s.reads[m.MsgID], len(s.K.sequence)-1)
	if advance {
		s.reads[m.MsgID]++
	}
	status := s.K.sequence[i]
	var sent any
	if status != "QUEUED" {
		sent = m.At.Format(time.DateTime)
	}
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"msgid": m.MsgID, "status": status, "sent_time": sent, "cost": 10 * m.Parts, "parts": m.Parts,
		"sender": m.Sender, "recipient": m.Recipient, "tags": tags,
		"url": "http://" + r.Host + "/sms/messages/" + m.MsgID + "/",
	}
}

func checkRecipient(errs map[string][]string, v string) {
	// +810... is a domestic leading 0 kept after the country code, the
	// case Xoxzo's own client tests use for a bad recipient.
	if v != "" && (!recipientRE.MatchString(v) || strings.HasPrefix(v, "+810")) {
		errs["recipient"] = append(errs["recipient"], "Invalid recipient") // text [GUESS]
	}
}

func checkSender(errs map[string][]string, v string) {
	if v != "" && !alnumRE.MatchString(v) && !digitsRE.MatchString(v) {
		errs["sender"] = append(errs["sender"], "Invalid sender") // text [GUESS]
	}
}

// Parts is the number of SMS parts Xoxzo bills for text (section 1.6), or
// 0 if Xoxzo refuses it as too long. ASCII-only text fits 140 characters
// in one part and 132 per part when split; one non-ASCII character switches
// the whole text to 70 and 66 (counted in UTF-16 units). Either way 660 is
// the most one request may carry. kp (K-Premium) allows a single part only.
func Parts(text string, kp bool) int {
	single, per := 140, 132
	n := len(text)
	for _, r := range text {
		if r >= 0x80 {
			single, per = 70, 66
			n = len(utf16.Encode([]rune(text)))
			break
		}
	}
	switch {
	case n <= single:
		return 1
	case kp || n > 660:
		return 0
	}
	return (n + per - 1) / per
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "str"
	case []any:
		return "list"
	case float64:
		return "int"
	case bool:
		return "bool"
	}
	return "object"
}

// msgID is 32 random letters and digits, like Xoxzo's.
func msgID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Callback calls the callbackurl message msgid was sent with, as Xoxzo
// does when the carrier reports. The payload is not documented [GUESS: a
// form POST with msgid and status]; a client must not trust it beyond the
// msgid (the status is read back from GET /sms/messages/<msgid>/, which
// answers by StatusSequence).
func (s *Server) Callback(msgid string) (*http.Response, error) {
	var m Message
	s.Locked(func() {
		for _, x := range s.messages {
			if x.MsgID == msgid {
				m = x
			}
		}
	})
	if m.CallbackURL == "" {
		return nil, fmt.Errorf("xoxzofake: message %q has no callbackurl", msgid)
	}
	form := url.Values{"msgid": {msgid}, "status": {"DELIVERED"}}
	return http.PostForm(m.CallbackURL, form)
}
