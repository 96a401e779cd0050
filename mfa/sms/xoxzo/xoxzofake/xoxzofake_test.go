package xoxzofake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms/xoxzo/xoxzofake"
)

// call sends one raw request to the fake, never following redirects, and
// returns the status, the headers and the body.
func call(t *testing.T, srv *xoxzofake.Server, method, path, ctype, body string, auth bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth {
		req.SetBasicAuth(xoxzofake.DefaultSID, xoxzofake.DefaultToken)
	}
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const form = "application/x-www-form-urlencoded"

func sendForm(t *testing.T, srv *xoxzofake.Server, v url.Values) (int, string) {
	t.Helper()
	st, _, body := call(t, srv, http.MethodPost, "/sms/messages/", form, v.Encode(), true)
	return st, body
}

func fields(to, sender, msg string) url.Values {
	return url.Values{"recipient": {to}, "sender": {sender}, "message": {msg}}
}

func TestTrailingSlash(t *testing.T) {
	srv := xoxzofake.New(t)
	for _, path := range []string{"/sms/messages", "/sms/messages/abc", "/you/credits", "/sms/templates/7/messages"} {
		t.Run(path, func(t *testing.T) {
			// No auth: Django's middleware redirects before DRF authenticates.
			st, h, _ := call(t, srv, http.MethodPost, path, form, "", false)
			if st != http.StatusMovedPermanently || h.Get("Location") != path+"/" {
				t.Errorf("POST %s = %d Location %q, want 301 to %s/", path, st, h.Get("Location"), path)
			}
		})
	}
	t.Run("what a following client meets", func(t *testing.T) {
		// Why clients must not follow: net/http turns the POST into a GET,
		// and GET /sms/messages/ lists earlier messages with 200.
		if st, _ := sendForm(t, srv, fields("+818012345678", "XOXZO", "hello")); st != http.StatusCreated {
			t.Fatalf("seed send = %d", st)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/sms/messages", strings.NewReader(fields("+818012345678", "XOXZO", "x").Encode()))
		req.Header.Set("Content-Type", form)
		req.SetBasicAuth(xoxzofake.DefaultSID, xoxzofake.DefaultToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK || len(list) != 1 || resp.Request.Method != http.MethodGet {
			t.Errorf("followed redirect: %s %d, %d items, %v", resp.Request.Method, resp.StatusCode, len(list), err)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		st, _, body := call(t, srv, http.MethodPost, "/sms/nothing/", form, "", true)
		if st != http.StatusNotFound || !strings.Contains(body, "<h1>Not Found</h1>") {
			t.Errorf("= %d %q, want Django's HTML 404", st, body)
		}
	})
}

func TestAuth(t *testing.T) {
	srv := xoxzofake.New(t, xoxzofake.Credentials("sid", "token"))
	tests := []struct {
		name, user, pass string
		status           int
		detail           string
	}{
		{"none", "", "", 401, "Authentication credentials were not provided."},
		{"wrong token", "sid", "nope", 401, "Invalid username/password."},
		{"wrong sid", "other", "token", 401, "Invalid username/password."},
		{"right", "sid", "token", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/you/credits/", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.detail != "" && (got["detail"] != tt.detail || resp.Header.Get("WWW-Authenticate") != `Basic realm="api"`) {
				t.Errorf("body %v, challenge %q", got, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestSendValidation(t *testing.T) {
	tests := []struct {
		name   string
		ctype  string
		body   string
		status int
		want   map[string]any // the decoded answer, for failures
	}{
		{"missing everything", form, "", 400, map[string]any{
			"message": []any{"This field is required."}, "recipient": []any{"This field is required."}, "sender": []any{"This field is required."}}},
		{"blank message", form, fields("+818012345678", "XOXZO", "").Encode(), 400, map[string]any{"message": []any{"This field may not be blank."}}},
		{"json accepted", "application/json", `{"recipient": "+818012345678", "sender": "XOXZO", "message": "hi"}`, 201, nil},
		{"json null", "application/json", `{"recipient": "+818012345678", "sender": "XOXZO", "message": null}`, 400, map[string]any{"message": []any{"This field may not be null."}}},
		{"bad json", "application/json", `{"recipient":`, 400, nil},
		{"text/plain", "text/plain", "hi", 415, map[string]any{"detail": `Unsupported media type "text/plain" in request.`}},
		{"too long", form, fields("+818012345678", "XOXZO", strings.Repeat("x", 661)).Encode(), 400, map[string]any{"message": []any{"Message too long"}}},
		{"kp limits to one part", form, url.Values{"recipient": {"+818012345678"}, "sender": {"XOXZO"}, "message": {strings.Repeat("x", 141)}, "jp_kp": {"true"}}.Encode(), 400,
			map[string]any{"message": []any{"Message too long"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := xoxzofake.New(t)
			st, _, body := call(t, srv, http.MethodPost, "/sms/messages/", tt.ctype, tt.body, true)
			if st != tt.status {
				t.Fatalf("status = %d (%s), want %d", st, body, tt.status)
			}
			if st == 201 {
				var got []map[string]string
				if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 1 || len(got[0]["msgid"]) != 32 {
					t.Errorf("success body %q, want [{\"msgid\": <32 chars>}]", body)
				}
				return
			}
			if tt.want != nil {
				var got map[string]any
				if err := json.Unmarshal([]byte(body), &got); err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("body = %s, want %v", body, tt.want)
				}
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("a refused send was recorded")
			}
		})
	}
}

func TestRecipientAndSender(t *testing.T) {
	tests := []struct {
		recipient, sender string
		bad               string // the field refused, "" if accepted
	}{
		{"+818012345678", "XOXZO", ""},
		{"+123456789012345", "XOXZO", ""},
		{"+8108012345678", "XOXZO", "recipient"},
		{"818012345678", "XOXZO", "recipient"},
		{"08012345678", "XOXZO", "recipient"},
		{"+0818012345678", "XOXZO", "recipient"},
		{"+81 80 1234 5678", "XOXZO", "recipient"},
		{"+123456", "XOXZO", "recipient"},
		{"+1234567890123456", "XOXZO", "recipient"},
		{"+818012345678", "ABCDEFGHIJ", ""},
		{"+818012345678", "ABCDEFGHIJK", "sender"},
		{"+818012345678", "123456789012345", ""},
		{"+818012345678", "1234567890123456", "sender"},
		{"+818012345678", "TEST 1", "sender"},
		{"+818012345678", "テスト", "sender"},
		{"+818012345678", "+8180123", "sender"},
	}
	for _, tt := range tests {
		t.Run(tt.recipient+"/"+tt.sender, func(t *testing.T) {
			srv := xoxzofake.New(t)
			st, body := sendForm(t, srv, fields(tt.recipient, tt.sender, "hello"))
			if tt.bad == "" {
				if st != 201 {
					t.Errorf("= %d %s, want 201", st, body)
				}
				return
			}
			var got map[string][]string
			if err := json.Unmarshal([]byte(body), &got); st != 400 || err != nil || len(got[tt.bad]) != 1 || len(got) != 1 {
				t.Errorf("= %d %s, want 400 naming only %q", st, body, tt.bad)
			}
		})
	}
}

func TestParts(t *testing.T) {
	tests := []struct {
		name string
		text string
		kp   bool
		want int
	}{
		{"ascii 140", strings.Repeat("a", 140), false, 1},
		{"ascii 141", strings.Repeat("a", 141), false, 2},
		{"ascii 264", strings.Repeat("a", 264), false, 2},
		{"ascii 265", strings.Repeat("a", 265), false, 3},
		{"ascii 528", strings.Repeat("a", 528), false, 4},
		{"ascii 660", strings.Repeat("a", 660), false, 5},
		{"ascii 661", strings.Repeat("a", 661), false, 0},
		{"japanese 70", strings.Repeat("あ", 70), false, 1},
		{"japanese 71", strings.Repeat("あ", 71), false, 2},
		{"japanese 132", strings.Repeat("あ", 132), false, 2},
		{"japanese 133", strings.Repeat("あ", 133), false, 3},
		{"japanese 594", strings.Repeat("あ", 594), false, 9},
		{"japanese 660", strings.Repeat("あ", 660), false, 10},
		{"japanese 661", strings.Repeat("あ", 661), false, 0},
		{"one non-ascii switches the rule", "é" + strings.Repeat("a", 70), false, 2},
		{"emoji count two units", strings.Repeat("😀", 35), false, 1},
		{"emoji 36", strings.Repeat("😀", 36), false, 2},
		{"kp ascii 140", strings.Repeat("a", 140), true, 1},
		{"kp ascii 141", strings.Repeat("a", 141), true, 0},
		{"kp japanese 71", strings.Repeat("あ", 71), true, 0},
		{"sheet template", "【ExampleCo】ログイン認証コード: 4821（10分間有効）\n\n@login.example.com #4821", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := xoxzofake.Parts(tt.text, tt.kp); got != tt.want {
				t.Errorf("Parts = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTemplateSend(t *testing.T) {
	opts := []xoxzofake.Option{
		xoxzofake.AddTemplate("7", "Hi {{name}}! Code {code}.", "APPROVED"),
		xoxzofake.AddTemplate("8", "Pending {code}", "PENDING"),
	}
	tests := []struct {
		name, path, ctype, body string
		status                  int
		want                    string // substring of the answer
	}{
		{"renders both placeholder forms", "/sms/templates/7/messages/", "application/json",
			`{"sender": "XOXZO", "recipient": "+818012345678", "variables": {"name": "Alice", "code": "1234"}}`, 201, "msgid"},
		{"form refused", "/sms/templates/7/messages/", form, "sender=XOXZO", 415, "Unsupported media type"},
		{"pending", "/sms/templates/8/messages/", "application/json",
			`{"sender": "XOXZO", "recipient": "+818012345678", "variables": {"code": "1"}}`, 400, `"detail"`},
		{"unknown", "/sms/templates/9/messages/", "application/json",
			`{"sender": "XOXZO", "recipient": "+818012345678", "variables": {"code": "1"}}`, 400, `"detail"`},
		{"missing fields", "/sms/templates/7/messages/", "application/json", `{}`, 400, `"variables":["This field is required."]`},
		{"variables not an object", "/sms/templates/7/messages/", "application/json",
			`{"sender": "XOXZO", "recipient": "+818012345678", "variables": "x"}`, 400, "Expected a dictionary"},
		{"variable missing", "/sms/templates/7/messages/", "application/json",
			`{"sender": "XOXZO", "recipient": "+818012345678", "variables": {"code": "1"}}`, 400, "Missing variable: name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := xoxzofake.New(t, opts...)
			st, _, body := call(t, srv, http.MethodPost, tt.path, tt.ctype, tt.body, true)
			if st != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("= %d %s, want %d containing %q", st, body, tt.status, tt.want)
			}
			if st == 201 {
				m := srv.Messages()[0]
				if m.Text != "Hi Alice! Code 1234." || m.TemplateID != "7" || m.Variables["code"] != "1234" {
					t.Errorf("recorded %+v", m)
				}
			}
		})
	}
}

func TestStatusAndKnobs(t *testing.T) {
	t.Run("status object and sequence", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.StatusSequence("QUEUED", "DELIVERING", "DELIVERED"))
		st, body := sendForm(t, srv, url.Values{"recipient": {"+818012345678"}, "sender": {"XOXZO"}, "message": {"hi"}, "tags": {"otp,login"}})
		if st != 201 {
			t.Fatal(body)
		}
		id := srv.Messages()[0].MsgID
		var seen []string
		for range 4 {
			_, _, body := call(t, srv, http.MethodGet, "/sms/messages/"+id+"/", "", "", true)
			var obj map[string]any
			if err := json.Unmarshal([]byte(body), &obj); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, obj["status"].(string))
			if obj["msgid"] != id || obj["recipient"] != "+818012345678" || !reflect.DeepEqual(obj["tags"], []any{"otp", "login"}) {
				t.Errorf("object %v", obj)
			}
		}
		if want := []string{"QUEUED", "DELIVERING", "DELIVERED", "DELIVERED"}; !reflect.DeepEqual(seen, want) {
			t.Errorf("sequence %v, want %v", seen, want)
		}
	})
	t.Run("unknown msgid", func(t *testing.T) {
		srv := xoxzofake.New(t)
		if st, _, body := call(t, srv, http.MethodGet, "/sms/messages/nope/", "", "", true); st != 404 || body != "" {
			t.Errorf("= %d %q, want 404 with an empty body", st, body)
		}
		srv.Apply(xoxzofake.NotFoundJSON(true))
		if st, _, body := call(t, srv, http.MethodGet, "/sms/messages/nope/", "", "", true); st != 404 || body != `{"detail":"Not found."}` {
			t.Errorf("= %d %q, want DRF's not-found detail", st, body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		srv := xoxzofake.New(t)
		st, h, body := call(t, srv, http.MethodDelete, "/you/credits/", "", "", true)
		if st != 405 || h.Get("Allow") == "" || !strings.Contains(body, `Method \"DELETE\" not allowed.`) {
			t.Errorf("= %d %q %s", st, h.Get("Allow"), body)
		}
	})
	t.Run("test credit replaces the text", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.TestCredit(true))
		if st, body := sendForm(t, srv, fields("+818012345678", "XOXZO", "code 1234")); st != 201 {
			t.Fatal(body)
		}
		m := srv.Messages()[0]
		if m.Text != xoxzofake.TestCreditText || m.Requested != "code 1234" {
			t.Errorf("recorded %+v", m)
		}
	})
	t.Run("throttle", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.Throttle(30*time.Second))
		st, h, body := call(t, srv, http.MethodGet, "/you/credits/", "", "", true)
		if st != 429 || h.Get("Retry-After") != "30" || !strings.Contains(body, "Expected available in 30 seconds.") {
			t.Errorf("= %d %q %s", st, h.Get("Retry-After"), body)
		}
	})
	t.Run("insufficient credit happens after validation", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.InsufficientCredit(402))
		if st, _ := sendForm(t, srv, fields("+8108012345678", "XOXZO", "x")); st != 400 {
			t.Errorf("invalid send = %d, want 400", st)
		}
		if st, body := sendForm(t, srv, fields("+818012345678", "XOXZO", "x")); st != 402 || !strings.Contains(body, "Insufficient credits.") {
			t.Errorf("valid send = %d %s", st, body)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("recorded %d", n)
		}
	})
	t.Run("slow gives up when the client does", func(t *testing.T) {
		srv := xoxzofake.New(t, xoxzofake.Slow(time.Minute))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/you/credits/", nil)
		req.SetBasicAuth(xoxzofake.DefaultSID, xoxzofake.DefaultToken)
		start := time.Now()
		if _, err := (&http.Client{Timeout: 100 * time.Millisecond}).Do(req); err == nil {
			t.Fatal("no timeout")
		}
		srv.Close() // waits for the handler, which must notice the client left
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v", took)
		}
	})
}
