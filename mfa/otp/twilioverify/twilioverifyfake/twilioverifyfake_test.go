package twilioverifyfake_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/otp/twilioverify/twilioverifyfake"
)

const phone = "+818012345678"

func fixed() time.Time { return time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC) }

// call sends one request as Twilio's SDKs do and decodes the JSON answer.
func call(t *testing.T, srv *twilioverifyfake.Server, method, path, ctype, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(twilioverifyfake.DefaultAccountSID, twilioverifyfake.DefaultAuthToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object", method, path, b)
	}
	return resp.StatusCode, out
}

const form = "application/x-www-form-urlencoded"

var base = "/v2/Services/" + twilioverifyfake.DefaultServiceSID

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func TestShapes(t *testing.T) {
	srv := twilioverifyfake.New(t, twilioverifyfake.Clock(fixed))
	status, v := call(t, srv, "POST", base+"/Verifications", form, url.Values{"To": {phone}, "Channel": {"sms"}}.Encode())
	if status != http.StatusCreated {
		t.Fatalf("start: %d %v", status, v)
	}
	// twilio-python's fixture test_verification.py, key for key.
	wantKeys := []string{"account_sid", "amount", "channel", "date_created", "date_updated", "lookup", "payee",
		"send_code_attempts", "service_sid", "sid", "status", "to", "url", "valid"}
	if got := keys(v); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("start keys = %v, want %v", got, wantKeys)
	}
	if v["status"] != "pending" || v["valid"] != false || v["date_created"] != "2026-09-01T09:00:00Z" || v["account_sid"] != twilioverifyfake.DefaultAccountSID {
		t.Errorf("start = %v", v)
	}
	sid := v["sid"].(string)

	status, fetched := call(t, srv, "GET", base+"/Verifications/"+sid, "", "")
	if status != http.StatusOK || fetched["sid"] != sid {
		t.Errorf("fetch: %d %v", status, fetched)
	}
	code, _ := srv.Code(phone)
	status, chk := call(t, srv, "POST", base+"/VerificationCheck", form, url.Values{"To": {phone}, "Code": {code}}.Encode())
	wantKeys = []string{"account_sid", "amount", "channel", "date_created", "date_updated", "payee",
		"service_sid", "sid", "sna_attempts_error_codes", "status", "to", "valid"}
	if status != http.StatusOK || chk["status"] != "approved" || chk["valid"] != true || !reflect.DeepEqual(keys(chk), wantKeys) {
		t.Errorf("check: %d %v", status, chk)
	}
	status, gone := call(t, srv, "GET", base+"/Verifications/"+sid, "", "")
	if status != http.StatusNotFound || gone["code"] != 20404.0 {
		t.Errorf("fetch after approval: %d %v", status, gone)
	}
	if !strings.HasPrefix(gone["message"].(string), "The requested resource /Services/VA") ||
		gone["more_info"] != "https://www.twilio.com/docs/errors/20404" || gone["status"] != 404.0 {
		t.Errorf("20404 body = %v", gone)
	}
}

func TestRequestRules(t *testing.T) {
	start := url.Values{"To": {phone}, "Channel": {"sms"}}.Encode()
	tests := []struct {
		name         string
		method, path string
		ctype, body  string
		auth         [2]string
		status, code int
	}{
		{"no auth", "POST", base + "/Verifications", form, start, [2]string{}, 401, 20003},
		{"wrong token", "POST", base + "/Verifications", form, start, [2]string{twilioverifyfake.DefaultAccountSID, "nope"}, 401, 20003},
		{"json body", "POST", base + "/Verifications", "application/json", `{"To":"` + phone + `","Channel":"sms"}`, [2]string{}, 400, 60200},
		{"unknown service", "POST", "/v2/Services/VA" + strings.Repeat("f", 32) + "/Verifications", form, start, [2]string{}, 404, 20404},
		{"bad channel", "POST", base + "/Verifications", form, url.Values{"To": {phone}, "Channel": {"fax"}}.Encode(), [2]string{}, 400, 60200},
		{"short code", "POST", base + "/VerificationCheck", form, url.Values{"To": {phone}, "Code": {"12"}}.Encode(), [2]string{}, 400, 60200},
		{"no verification", "POST", base + "/VerificationCheck", form, url.Values{"To": {phone}, "Code": {"123456"}}.Encode(), [2]string{}, 404, 20404},
		{"get on create", "GET", base + "/Verifications", "", "", [2]string{}, 405, 20004},
		{"bad update", "POST", base + "/Verifications/VE" + strings.Repeat("0", 32), form, "Status=pending", [2]string{}, 400, 60200},
		{"unknown path", "POST", "/v1/Services", form, "", [2]string{}, 404, 20404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twilioverifyfake.New(t)
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			user, pass := tt.auth[0], tt.auth[1]
			if tt.name != "no auth" && user == "" {
				user, pass = twilioverifyfake.DefaultAccountSID, twilioverifyfake.DefaultAuthToken
			}
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Code   int `json:"code"`
				Status int `json:"status"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || got.Code != tt.code || got.Status != tt.status {
				t.Errorf("answer %d %+v, want %d with code %d", resp.StatusCode, got, tt.status, tt.code)
			}
			if len(srv.Sends()) != 0 {
				t.Errorf("a refused request sent an SMS")
			}
		})
	}
}

func TestCheckLimitAndCancel(t *testing.T) {
	srv := twilioverifyfake.New(t, twilioverifyfake.Clock(fixed))
	_, v := call(t, srv, "POST", base+"/Verifications", form, url.Values{"To": {phone}, "Channel": {"sms"}}.Encode())
	sid := v["sid"].(string)
	code, _ := srv.Code(phone)
	wrong := "99999999"
	for i := 1; i <= 5; i++ {
		status, chk := call(t, srv, "POST", base+"/VerificationCheck", form, url.Values{"VerificationSid": {sid}, "Code": {wrong}}.Encode())
		if status != http.StatusOK || chk["status"] != "pending" || chk["valid"] != false {
			t.Fatalf("wrong check %d: %d %v", i, status, chk)
		}
	}
	status, chk := call(t, srv, "POST", base+"/VerificationCheck", form, url.Values{"VerificationSid": {sid}, "Code": {code}}.Encode())
	if status != http.StatusTooManyRequests || chk["code"] != 60202.0 {
		t.Errorf("sixth check: %d %v", status, chk)
	}
	if _, fetched := call(t, srv, "GET", base+"/Verifications/"+sid, "", ""); fetched["status"] != "max_attempts_reached" {
		t.Errorf("fetch after five wrong checks: %v", fetched)
	}
	status, upd := call(t, srv, "POST", base+"/Verifications/"+sid, form, "Status=canceled")
	if status != http.StatusOK || upd["status"] != "canceled" {
		t.Errorf("cancel: %d %v", status, upd)
	}
	if _, ok := srv.Verification(phone); ok {
		t.Error("a cancelled verification is still live")
	}
	if status, _ := call(t, srv, "POST", base+"/VerificationCheck", form, url.Values{"VerificationSid": {sid}, "Code": {code}}.Encode()); status != http.StatusNotFound {
		t.Errorf("check after cancel: %d, want 404", status)
	}
}

func TestKnobs(t *testing.T) {
	srv := twilioverifyfake.New(t, twilioverifyfake.Clock(fixed), twilioverifyfake.CodeLength(8),
		twilioverifyfake.TTL(time.Minute), twilioverifyfake.MaxSends(2))
	for i, want := range []int{201, 201, 429} {
		status, v := call(t, srv, "POST", base+"/Verifications", form, url.Values{"To": {phone}, "Channel": {"sms"}}.Encode())
		if status != want {
			t.Errorf("start %d: %d %v, want %d", i+1, status, v, want)
		}
	}
	if code, ok := srv.Code(phone); !ok || len(code) != 8 {
		t.Errorf("code %q, want 8 digits", code)
	}
	srv.Advance(time.Minute)
	if _, ok := srv.Code(phone); ok {
		t.Error("verification outlived its TTL")
	}
}
