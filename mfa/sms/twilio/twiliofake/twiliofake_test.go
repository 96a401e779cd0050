package twiliofake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms/twilio/twiliofake"
)

const messagesPath = "/2010-04-01/Accounts/" + twiliofake.DefaultAccountSID + "/Messages.json"

// call sends one raw request and decodes a JSON answer (nil if not JSON).
func call(t *testing.T, srv *twiliofake.Server, method, path, ctype, body string, auth bool) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth {
		req.SetBasicAuth(twiliofake.DefaultAccountSID, twiliofake.DefaultAuthToken)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	_ = json.Unmarshal(b, &obj)
	return resp.StatusCode, resp.Header, obj
}

const form = "application/x-www-form-urlencoded"

func create(t *testing.T, srv *twiliofake.Server, v url.Values) (int, map[string]any) {
	t.Helper()
	st, _, obj := call(t, srv, http.MethodPost, messagesPath, form, v.Encode(), true)
	return st, obj
}

func TestCreateValidation(t *testing.T) {
	ok := url.Values{"To": {"+818012345678"}, "From": {"+15005550006"}, "Body": {"code 1234"}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for key, vals := range ok {
			out[key] = vals
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	tests := []struct {
		name   string
		opts   []twiliofake.Option
		ctype  string
		body   string
		status int
		code   int
	}{
		{"ok", nil, form, ok.Encode(), 201, 0},
		{"json body reads as empty", nil, "application/json", `{"To": "+818012345678", "From": "+15005550006", "Body": "x"}`, 400, 21604},
		{"no To", nil, form, with("To", "").Encode(), 400, 21604},
		{"no From", nil, form, with("From", "").Encode(), 400, 21603},
		{"service instead of From", nil, form, url.Values{"To": {"+818012345678"}, "MessagingServiceSid": {"MG11111111111111111111111111111111"}, "Body": {"x"}}.Encode(), 201, 0},
		{"bad service", nil, form, url.Values{"To": {"+818012345678"}, "MessagingServiceSid": {"MG1"}, "Body": {"x"}}.Encode(), 400, 21705},
		{"no Body", nil, form, with("Body", "").Encode(), 400, 21602},
		{"Body 1600", nil, form, with("Body", strings.Repeat("あ", 1600)).Encode(), 201, 0},
		{"Body 1601", nil, form, with("Body", strings.Repeat("a", 1601)).Encode(), 400, 21617},
		{"To not E.164", nil, form, with("To", "08012345678").Encode(), 400, 21211},
		{"geo permission", []twiliofake.Option{twiliofake.AllowCountries("+1", "+44")}, form, ok.Encode(), 400, 21408},
		{"geo permission allows", []twiliofake.Option{twiliofake.AllowCountries("+81")}, form, ok.Encode(), 201, 0},
		{"landline", []twiliofake.Option{twiliofake.Landlines("+818012345678")}, form, ok.Encode(), 400, 21614},
		{"forced failure", []twiliofake.Option{twiliofake.Fail(400, 21610, "Attempt to send to unsubscribed recipient")}, form, ok.Encode(), 400, 21610},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliofake.New(t, tt.opts...)
			st, _, obj := call(t, srv, http.MethodPost, messagesPath, tt.ctype, tt.body, true)
			if st != tt.status {
				t.Fatalf("status = %d (%v), want %d", st, obj, tt.status)
			}
			if tt.code == 0 {
				if len(srv.Messages()) != 1 {
					t.Errorf("accepted create not recorded")
				}
				return
			}
			if obj["code"] != float64(tt.code) || obj["status"] != float64(tt.status) || obj["message"] == "" ||
				obj["more_info"] != "https://www.twilio.com/docs/errors/"+strconv.Itoa(tt.code) {
				t.Errorf("error body = %v, want code %d", obj, tt.code)
			}
			if len(srv.Messages()) != 0 {
				t.Errorf("refused create recorded")
			}
		})
	}
}

func TestResource(t *testing.T) {
	srv := twiliofake.New(t)
	st, obj := create(t, srv, url.Values{"To": {"+818012345678"}, "From": {"+15005550006"}, "Body": {"code 1234"}})
	if st != 201 {
		t.Fatalf("create = %d %v", st, obj)
	}
	sid, _ := obj["sid"].(string)
	if !strings.HasPrefix(sid, "SM") || len(sid) != 34 || obj["status"] != "queued" || obj["num_segments"] != "1" ||
		obj["num_media"] != "0" || obj["error_code"] != nil || obj["date_sent"] != nil || obj["from"] != "+15005550006" ||
		obj["messaging_service_sid"] != nil || obj["api_version"] != "2010-04-01" || obj["account_sid"] != twiliofake.DefaultAccountSID {
		t.Errorf("resource = %v", obj)
	}
	if _, err := time.Parse(time.RFC1123Z, obj["date_created"].(string)); err != nil {
		t.Errorf("date_created %q is not RFC 2822: %v", obj["date_created"], err)
	}
	_, _, got := call(t, srv, http.MethodGet, "/2010-04-01/Accounts/"+twiliofake.DefaultAccountSID+"/Messages/"+sid+".json", "", "", true)
	if got["sid"] != sid || got["status"] != "queued" {
		t.Errorf("fetch = %v", got)
	}
	_, _, got = call(t, srv, http.MethodGet, "/2010-04-01/Accounts/"+twiliofake.DefaultAccountSID+"/Messages/"+sid+".json", "", "", true)
	if got["status"] != "sent" || got["date_sent"] == nil {
		t.Errorf("second fetch = %v", got)
	}

	st, obj = create(t, srv, url.Values{"To": {"+818012345678"}, "MessagingServiceSid": {"MG11111111111111111111111111111111"}, "Body": {"x"}})
	if st != 201 || obj["status"] != "accepted" || obj["from"] != nil {
		t.Errorf("service create = %d %v", st, obj)
	}
}

func TestRoutesAndAuth(t *testing.T) {
	srv := twiliofake.New(t)
	tests := []struct {
		name, method, path string
		auth               bool
		status, code       int
	}{
		{"no auth", http.MethodPost, messagesPath, false, 401, 20003},
		{"other account", http.MethodGet, "/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json", true, 401, 20003},
		{"unknown route", http.MethodGet, "/2010-04-01/Accounts/" + twiliofake.DefaultAccountSID + "/Calls/x.json", true, 404, 20404},
		{"unknown message", http.MethodGet, "/2010-04-01/Accounts/" + twiliofake.DefaultAccountSID + "/Messages/SMnope.json", true, 404, 20404},
		{"wrong method", http.MethodDelete, messagesPath, true, 405, 20004},
		{"list", http.MethodGet, messagesPath, true, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, h, obj := call(t, srv, tt.method, tt.path, form, "", tt.auth)
			if st != tt.status || (tt.code != 0 && obj["code"] != float64(tt.code)) {
				t.Errorf("= %d %v, want %d/%d", st, obj, tt.status, tt.code)
			}
			if st == 401 && h.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without a challenge")
			}
		})
	}
	t.Run("own credentials", func(t *testing.T) {
		const account = "AC0123456789abcdef0123456789abcdef"
		srv := twiliofake.New(t, twiliofake.Credentials(account, "secret"))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/2010-04-01/Accounts/"+account+"/Messages.json", nil)
		req.SetBasicAuth(account, "secret")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("= %d, want 200", resp.StatusCode)
		}
		if st, _, _ := call(t, srv, http.MethodGet, messagesPath, "", "", true); st != 401 {
			t.Errorf("default credentials = %d, want 401", st)
		}
	})
	t.Run("throttle", func(t *testing.T) {
		srv := twiliofake.New(t, twiliofake.Throttle(3*time.Second))
		st, h, obj := call(t, srv, http.MethodPost, messagesPath, form, "", true)
		if st != 429 || obj["code"] != float64(20429) || h.Get("Retry-After") != "3" {
			t.Errorf("= %d %v Retry-After %q", st, obj, h.Get("Retry-After"))
		}
	})
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"gsm 160", strings.Repeat("a", 160), 1},
		{"gsm 161", strings.Repeat("a", 161), 2},
		{"gsm 306", strings.Repeat("a", 306), 2},
		{"gsm 307", strings.Repeat("a", 307), 3},
		{"extension counts two", strings.Repeat("€", 80), 1},
		{"extension 81", strings.Repeat("€", 81), 2},
		{"gsm accents", strings.Repeat("é", 160), 1},
		{"ucs2 70", strings.Repeat("あ", 70), 1},
		{"ucs2 71", strings.Repeat("あ", 71), 2},
		{"ucs2 134", strings.Repeat("あ", 134), 2},
		{"ucs2 135", strings.Repeat("あ", 135), 3},
		{"one non-gsm char", "ā" + strings.Repeat("a", 69), 1},
		{"one non-gsm char 71", "ā" + strings.Repeat("a", 70), 2},
		{"emoji two units", strings.Repeat("😀", 35), 1},
		{"emoji 36", strings.Repeat("😀", 36), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := twiliofake.Segments(tt.body); got != tt.want {
				t.Errorf("Segments = %d, want %d", got, tt.want)
			}
		})
	}
}
