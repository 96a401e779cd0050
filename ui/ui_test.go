package ui_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/smspin/idp/ui"
)

func newRenderer(t *testing.T, opts ui.Options) *ui.Renderer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r, err := ui.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func render(t *testing.T, r *ui.Renderer, status int, p ui.Page) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r.Render(w, status, p)
	return w
}

// tag returns the first start tag of element el whose attributes contain attr.
func tag(body, el, attr string) string {
	re := regexp.MustCompile(`<` + el + `\b[^>]*` + regexp.QuoteMeta(attr) + `[^>]*>`)
	return re.FindString(body)
}

func common(lang string) ui.Common {
	req := httptest.NewRequest(http.MethodGet, "/login?flow=f1o2w3", nil)
	return ui.Common{
		Lang:      lang,
		CSRFToken: "csrf-TOKEN-123",
		LangLinks: ui.LangLinks(req, lang),
		RequestID: "req-7f3a",
	}
}

// pageCase is a page with realistic data and what its body must contain.
type pageCase struct {
	name string
	page func(c ui.Common) ui.Page
	// want lists, per element, attributes one start tag must all have.
	want []wantTag
	// forms is the number of forms, each of which needs a csrf_token input.
	forms int
}

type wantTag struct {
	el    string
	key   string // an attribute that picks the tag
	attrs []string
}

var pageCases = []pageCase{
	{
		name: "login",
		page: func(c ui.Common) ui.Page {
			return ui.LoginPage{Common: c, Action: "/login?flow=f1o2w3"}
		},
		want: []wantTag{
			{"form", `action="/login?flow=f1o2w3"`, []string{`method="post"`}},
			{"input", `name="username"`, []string{`autocomplete="username"`, `autofocus`, `id="username"`}},
			{"input", `name="password"`, []string{`type="password"`, `autocomplete="current-password"`, `id="password"`}},
			{"label", `for="username"`, nil},
			{"label", `for="password"`, nil},
		},
		forms: 1,
	},
	{
		name: "pin",
		page: func(c ui.Common) ui.Page {
			return ui.PINPage{Common: c, Action: "/login/pin?flow=f1o2w3", ResendAction: "/login/pin/resend?flow=f1o2w3",
				MaskedPhone: "•••• 5678", CodeLength: 6, ResendInSeconds: 42, ResendsLeft: 2, Notice: ui.MsgPINSent}
		},
		want: []wantTag{
			{"input", `name="code"`, []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, `pattern="[0-9]{6}"`,
				`maxlength="6"`, `required`, `autofocus`, `id="code"`}},
			{"label", `for="code"`, nil},
			{"form", `action="/login/pin/resend?flow=f1o2w3"`, []string{`method="post"`}},
			{"button", `id="resend"`, []string{`aria-disabled="true"`, `data-wait="42"`}},
			{"script", `src="/static/pin.`, []string{`defer`}},
			{"div", `role="status"`, nil},
		},
		forms: 2,
	},
	{
		name: "phone",
		page: func(c ui.Common) ui.Page {
			return ui.PhonePage{Common: c, Action: "/login/phone?flow=f1o2w3", Phone: "+81 90", Error: ui.MsgPhoneInvalid}
		},
		want: []wantTag{
			{"input", `name="phone"`, []string{`type="tel"`, `autocomplete="tel"`, `autofocus`, `aria-invalid="true"`, `form-error`}},
			{"label", `for="phone"`, nil},
			{"div", `role="alert"`, []string{`id="form-error"`}},
		},
		forms: 1,
	},
	{
		name: "device",
		page: func(c ui.Common) ui.Page {
			return ui.DevicePage{Common: c, Action: "/device", UserCode: "BCDF-GHJK", Error: ui.MsgDeviceCodeInvalid}
		},
		want: []wantTag{
			{"form", `action="/device"`, []string{`method="post"`}},
			{"input", `name="user_code"`, []string{`value="BCDF-GHJK"`, `aria-invalid="true"`, `autocomplete="off"`, `id="user_code"`}},
			{"label", `for="user_code"`, nil},
		},
		forms: 1,
	},
	{
		name: "device consent",
		page: func(c ui.Common) ui.Page {
			return ui.ConsentPage{Common: c, Action: "/login/consent?flow=f1o2w3", ClientName: "Living-room TV", ClientID: "tv",
				Scopes: []string{"openid", "offline_access"}, Device: true}
		},
		want: []wantTag{
			{"button", `value="allow"`, []string{`name="consent"`, `type="submit"`}},
			{"button", `value="deny"`, []string{`name="consent"`, `type="submit"`}},
		},
		forms: 1,
	},
	{
		name: "consent",
		page: func(c ui.Common) ui.Page {
			return ui.ConsentPage{Common: c, Action: "/consent?flow=f1o2w3", ClientName: "Photo Album", ClientID: "photos",
				LogoURL: "https://photos.example/logo.png", Scopes: []string{"openid", "profile", "phone", "offline_access", "x-custom"}}
		},
		want: []wantTag{
			{"button", `value="allow"`, []string{`name="consent"`, `type="submit"`}},
			{"button", `value="deny"`, []string{`name="consent"`, `type="submit"`}},
			{"img", `src="https://photos.example/logo.png"`, []string{`alt=""`}},
		},
		forms: 1,
	},
	{
		name: "error",
		page: func(c ui.Common) ui.Page {
			return ui.ErrorPage{Common: c, Msg: ui.MsgFlowExpired, Status: http.StatusBadRequest}
		},
		want:  []wantTag{{"p", `class="reference"`, nil}},
		forms: 0,
	},
	{
		name: "logout",
		page: func(c ui.Common) ui.Page {
			return ui.LogoutPage{Common: c, Action: "/oauth2/logout?state=s", ClientName: "Photo Album"}
		},
		want: []wantTag{
			{"button", `value="yes"`, []string{`name="logout"`}},
			{"button", `value="no"`, []string{`name="logout"`}},
		},
		forms: 1,
	},
	{
		name:  "logged out",
		page:  func(c ui.Common) ui.Page { return ui.LoggedOutPage{Common: c} },
		forms: 0,
	},
	{
		name: "recovery code",
		page: func(c ui.Common) ui.Page {
			return ui.RecoveryPage{Common: c, Action: "/login/recovery?flow=f1o2w3", Error: ui.MsgRecoveryCodeInvalid,
				Factors: []ui.Action{{Label: ui.ActionUseSMS, URL: "/login/factor/sms?flow=f1o2w3", Post: true, CSRFToken: c.CSRFToken}}}
		},
		want: []wantTag{
			{"input", `name="recovery_code"`, []string{`autocomplete="off"`, `spellcheck="false"`, `aria-invalid="true"`, `form-error`}},
			{"label", `for="recovery_code"`, nil},
			{"form", `action="/login/factor/sms?flow=f1o2w3"`, []string{`method="post"`}},
		},
		forms: 2,
	},
	{
		name: "forgot password",
		page: func(c ui.Common) ui.Page {
			return ui.ForgotPage{Common: c, Action: "/login/forgot?flow=f1o2w3", Username: "alice", Error: ui.MsgResetRefused}
		},
		want: []wantTag{
			{"input", `name="username"`, []string{`autocomplete="username"`, `aria-invalid="true"`}},
			{"input", `name="recovery_code"`, []string{`autocomplete="off"`, `autofocus`}},
		},
		forms: 1,
	},
	{
		name: "new password",
		page: func(c ui.Common) ui.Page {
			return ui.NewPasswordPage{Common: c, Action: "/login/password?flow=f1o2w3", Username: "alice", Error: ui.MsgPasswordCommon}
		},
		want: []wantTag{
			{"input", `name="new_password"`, []string{`autocomplete="new-password"`, `aria-invalid="true"`}},
			{"input", `name="confirm_password"`, []string{`autocomplete="new-password"`}},
			{"input", `name="username"`, []string{`type="hidden"`, `autocomplete="username"`}},
		},
		forms: 1,
	},
	{
		name: "account",
		page: func(c ui.Common) ui.Page {
			return ui.AccountPage{Common: c, Username: "alice", Phone: "+81 •• •••• 5678", ConfirmURL: "/account/signin",
				PhoneChangeURL: "/account/phone", PasswordURL: "/account/password", RecoveryLeft: 2, RecoveryMade: "2026-12-01 10:00 JST",
				RecoveryAction: "/account/recovery-codes", SessionRevokeAction: "/account/sessions/revoke", SignOutURL: "/oauth2/logout",
				TOTPAdded: "2026-12-01 10:00 JST", TOTPLastUsed: "2026-12-02 09:00 JST", TOTPRemoveAction: "/account/totp/remove",
				Passkeys:         []ui.AccountPasskey{{ID: "cred-1", Name: "work laptop", Added: "2026-12-01 10:00 JST", Synced: true}},
				PasskeyAddAction: "/account/passkeys", PasskeyOptionsURL: "/account/passkeys/options",
				PasskeyRenameAction: "/account/passkeys/rename", PasskeyRemoveAction: "/account/passkeys/remove",
				Notice:   ui.MsgSessionEnded,
				Sessions: []ui.AccountSession{{ID: "s1", Agent: "Chrome, Windows", Current: true}, {ID: "s2", Agent: "Safari, iPhone"}},
				Activity: []ui.AccountActivity{{What: ui.MsgActivityWrongPassword, Warning: true}}}
		},
		want: []wantTag{
			{"a", `href="/account/phone"`, nil},
			{"a", `href="/account/signin"`, nil},
			{"input", `value="s2"`, []string{`type="hidden"`, `name="session"`}},
			{"p", `class="warn"`, nil},
			{"form", `action="/account/totp/remove"`, nil},
			{"form", `action="/account/passkeys"`, []string{`data-passkey="create"`, `data-options="/account/passkeys/options"`}},
			{"input", `name="passkey_credential"`, []string{`type="hidden"`}},
			{"input", `id="rename-cred-1"`, []string{`name="passkey_name"`, `value="work laptop"`}},
			{"form", `action="/account/passkeys/remove"`, nil},
		},
		forms: 7,
	},
	{
		name: "passkey",
		page: func(c ui.Common) ui.Page {
			return ui.PasskeyPage{Common: c, Action: "/login/passkey?flow=f1o2w3", OptionsURL: "/login/passkey/options?flow=f1o2w3",
				Error:   ui.MsgPasskeyInvalid,
				Factors: []ui.Action{{Label: ui.ActionUseSMS, URL: "/login/factor/sms?flow=f1o2w3", Post: true, CSRFToken: c.CSRFToken}}}
		},
		want: []wantTag{
			{"form", `action="/login/passkey?flow=f1o2w3"`, []string{`data-passkey="get"`, `data-options="/login/passkey/options?flow=f1o2w3"`}},
			{"input", `name="passkey_assertion"`, []string{`type="hidden"`}},
			{"form", `action="/login/factor/sms?flow=f1o2w3"`, nil},
		},
		forms: 2,
	},
	{
		name: "authenticator code",
		page: func(c ui.Common) ui.Page {
			return ui.TOTPPage{Common: c, Action: "/login/totp?flow=f1o2w3", Error: ui.MsgTOTPInvalid,
				Factors: []ui.Action{{Label: ui.ActionUseSMS, URL: "/login/factor/sms?flow=f1o2w3", Post: true, CSRFToken: c.CSRFToken}}}
		},
		want: []wantTag{
			{"input", `name="totp_code"`, []string{`autocomplete="one-time-code"`, `aria-invalid="true"`, `inputmode="numeric"`}},
			{"form", `action="/login/factor/sms?flow=f1o2w3"`, nil},
		},
		forms: 2,
	},
	{
		name: "authenticator setup",
		page: func(c ui.Common) ui.Page {
			return ui.TOTPSetupPage{Common: c, QRCode: "data:image/png;base64,iVBORw0KGgo=", Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
				Action: "/account/totp/confirm", AccountURL: "/account"}
		},
		want: []wantTag{
			{"img", `src="data:image/png;base64,iVBORw0KGgo="`, []string{`alt="`}},
			{"code", `id="totp-secret"`, nil},
			{"input", `name="totp_code"`, []string{`autocomplete="one-time-code"`}},
		},
		forms: 1,
	},
	{
		name: "recovery codes",
		page: func(c ui.Common) ui.Page {
			return ui.RecoveryCodesPage{Common: c, Codes: []string{"abcd-efgh-jkmn-pqrs", "0123-4567-89ab-cdef"}, AccountURL: "/account"}
		},
		want:  []wantTag{{"a", `href="/account"`, nil}, {"ul", `class="codes"`, nil}},
		forms: 0,
	},
	{
		name: "password change",
		page: func(c ui.Common) ui.Page {
			return ui.PasswordChangePage{Common: c, Action: "/account/password", Username: "alice", Error: ui.MsgCurrentPasswordWrong, AccountURL: "/account", Fresh: true}
		},
		want: []wantTag{
			{"input", `name="current_password"`, []string{`autocomplete="current-password"`, `aria-invalid="true"`}},
			{"input", `name="new_password"`, []string{`autocomplete="new-password"`}},
		},
		forms: 1,
	},
	{
		name: "recovery code used",
		page: func(c ui.Common) ui.Page {
			return ui.RecoveryUsedPage{Common: c, Action: "/login/recovery/used?flow=f1o2w3", Left: 2, PhoneChangeURL: "/account/phone"}
		},
		want:  []wantTag{{"a", `href="/account/phone"`, nil}, {"div", `role="status"`, nil}},
		forms: 1,
	},
}

var (
	inlineScript = regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
	scriptTag    = regexp.MustCompile(`(?is)<script\b[^>]*>`)
	styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr    = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
)

// checkSafeHTML fails if body has inline script, inline style or event handlers.
func checkSafeHTML(t *testing.T, body string) {
	t.Helper()
	if inlineScript.MatchString(body) {
		t.Error("inline <script> body")
	}
	for _, s := range scriptTag.FindAllString(body, -1) {
		if !strings.Contains(s, ` src="/static/`) {
			t.Errorf("script without a static src: %s", s)
		}
	}
	if styleAttr.MatchString(body) || strings.Contains(strings.ToLower(body), "<style") {
		t.Error("inline style")
	}
	if eventAttr.MatchString(body) {
		t.Error("inline event handler")
	}
}

func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
		"form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
}

func TestPagesRender(t *testing.T) {
	r := newRenderer(t, ui.Options{ProductName: "Acme ID"})
	for _, tc := range pageCases {
		for _, lang := range ui.Langs() {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				w := render(t, r, 0, tc.page(common(lang)))
				body := w.Body.String()
				if w.Code != http.StatusOK && !(tc.name == "error" && w.Code == http.StatusBadRequest) {
					t.Fatalf("status %d\n%s", w.Code, body)
				}
				checkHeaders(t, w.Header())
				checkSafeHTML(t, body)
				if !strings.HasPrefix(body, "<!doctype html>\n<html lang=\""+lang+"\">") {
					t.Errorf("html lang not %q: %.60s", lang, body)
				}
				if !strings.Contains(body, "– Acme ID</title>") || !strings.Contains(body, `<span class="product">Acme ID</span>`) {
					t.Error("product name not in title and header")
				}
				for _, wt := range tc.want {
					got := tag(body, wt.el, wt.key)
					if got == "" {
						t.Errorf("no <%s %s>", wt.el, wt.key)
						continue
					}
					for _, a := range wt.attrs {
						if !strings.Contains(got, a) {
							t.Errorf("%s lacks %s", got, a)
						}
					}
				}
				if n := strings.Count(body, "<form "); n != tc.forms {
					t.Errorf("%d forms, want %d", n, tc.forms)
				}
				if n := strings.Count(body, `<input type="hidden" name="csrf_token" value="csrf-TOKEN-123">`); n != tc.forms {
					t.Errorf("%d csrf_token inputs, want one per form (%d)", n, tc.forms)
				}
				if n := strings.Count(body, " autofocus"); n > 1 {
					t.Errorf("%d autofocus attributes", n)
				}
				// Every visible input has a label.
				for _, in := range regexp.MustCompile(`<input\b[^>]*>`).FindAllString(body, -1) {
					if strings.Contains(in, `type="hidden"`) {
						continue
					}
					id := regexp.MustCompile(`\sid="([^"]+)"`).FindStringSubmatch(in)
					if id == nil || !strings.Contains(body, `<label for="`+id[1]+`">`) {
						t.Errorf("input without a label: %s", in)
					}
				}
				other := "ja"
				if lang == "ja" {
					other = "en"
				}
				if !strings.Contains(body, `href="/login?flow=f1o2w3&amp;lang=`+other+`"`) ||
					!strings.Contains(body, `<span aria-current="true" lang="`+lang+`">`) {
					t.Error("language switch missing")
				}
			})
		}
	}
}

func TestPagesTranslated(t *testing.T) {
	r := newRenderer(t, ui.Options{})
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			en := render(t, r, 0, tc.page(common("en"))).Body.String()
			ja := render(t, r, 0, tc.page(common("ja"))).Body.String()
			if en == ja {
				t.Fatal("en and ja pages are the same")
			}
			if !regexp.MustCompile(`[\p{Hiragana}\p{Katakana}\p{Han}]`).MatchString(
				regexp.MustCompile(`(?s)<main.*</main>`).FindString(ja)) {
				t.Error("ja page has no Japanese text in <main>")
			}
		})
	}
}

func TestLoginErrorAccessibility(t *testing.T) {
	r := newRenderer(t, ui.Options{})
	tests := []struct {
		name      string
		page      ui.LoginPage
		focus     string // the input with autofocus
		invalid   bool
		alertText string
	}{
		{"empty", ui.LoginPage{}, "username", false, ""},
		{"wrong password", ui.LoginPage{Username: "alice", Error: ui.MsgInvalidCredentials}, "password", true,
			ui.T("en", ui.MsgInvalidCredentials)},
		{"rate limited", ui.LoginPage{Username: "alice", Error: ui.MsgRateLimited}, "password", false,
			ui.T("en", ui.MsgRateLimited)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.page.Common = common("en")
			body := render(t, r, http.StatusOK, tc.page).Body.String()
			for _, name := range []string{"username", "password"} {
				in := tag(body, "input", `name="`+name+`"`)
				if got := strings.Contains(in, "autofocus"); got != (name == tc.focus) {
					t.Errorf("%s autofocus = %v", name, got)
				}
				if got := strings.Contains(in, `aria-invalid="true"`) && strings.Contains(in, `aria-describedby="form-error"`); got != tc.invalid {
					t.Errorf("%s invalid and described = %v, want %v: %s", name, got, tc.invalid, in)
				}
			}
			if tc.alertText == "" {
				if strings.Contains(body, `role="alert"`) {
					t.Error("alert without an error")
				}
				return
			}
			alert := regexp.MustCompile(`(?s)<div class="alert alert-error" id="form-error" role="alert">.*?</div>`).FindString(body)
			if !strings.Contains(alert, tc.alertText) {
				t.Errorf("alert %q lacks %q", alert, tc.alertText)
			}
			if !strings.Contains(body, `value="alice"`) {
				t.Error("username not prefilled")
			}
		})
	}
}

func TestPINPageResend(t *testing.T) {
	r := newRenderer(t, ui.Options{})
	base := ui.PINPage{Common: common("en"), Action: "/pin", ResendAction: "/resend", MaskedPhone: "•••• 5678", CodeLength: 8}
	tests := []struct {
		name          string
		wait, left    int
		reroute       string
		want, notWant []string
	}{
		{"waiting", 30, 3, "", []string{"You can ask for a new code in 30 s", `aria-disabled="true"`, `action="/resend"`}, []string{"another route", "could not be delivered"}},
		{"ready", 0, 1, "", []string{">Send a new code</button>", `action="/resend"`}, []string{"aria-disabled"}},
		{"none left", 0, 0, "", []string{ui.T("en", "pin.no_resends")}, []string{`action="/resend"`}},
		// A failed delivery: another route at once, whatever the cooldown.
		{"undelivered", 30, 2, "/reroute", []string{`action="/reroute"`, ">Send by another route</button>", `data-wait="30"`, "could not be delivered"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.ResendInSeconds, p.ResendsLeft, p.RerouteAction = tc.wait, tc.left, tc.reroute
			body := render(t, r, http.StatusOK, p).Body.String()
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(body, s) {
					t.Errorf("body has %q", s)
				}
			}
			if in := tag(body, "input", `name="code"`); !strings.Contains(in, `pattern="[0-9]{8}"`) || !strings.Contains(in, `maxlength="8"`) {
				t.Errorf("code input not sized by CodeLength: %s", in)
			}
			if !strings.Contains(body, "Wrong number?") {
				t.Error("no wrong-number help")
			}
		})
	}
}

func TestRenderNeverLeaksError(t *testing.T) {
	var logs bytes.Buffer
	r := newRenderer(t, ui.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	secret := `pq: relation "users" does not exist`
	tests := []struct {
		name string
		page ui.Page
		code int
	}{
		{"nil page", nil, http.StatusInternalServerError},
		{"nil pointer page", (*ui.LoginPage)(nil), http.StatusInternalServerError},
		{"raw error as MsgID", ui.ErrorPage{Common: common("en"), Msg: ui.MsgID(secret), Status: 500}, http.StatusInternalServerError},
		{"raw error as login error", ui.LoginPage{Common: common("ja"), Error: ui.MsgID(secret)}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := render(t, r, 0, tc.page)
			if tc.page == nil {
				w = render(t, r, http.StatusInternalServerError, tc.page)
			}
			body := w.Body.String()
			if w.Code != tc.code {
				t.Errorf("status %d, want %d", w.Code, tc.code)
			}
			checkHeaders(t, w.Header())
			checkSafeHTML(t, body)
			for _, leak := range []string{secret, "pq:", "nil pointer", "panic", "runtime error", "relation"} {
				if strings.Contains(body, leak) {
					t.Errorf("body leaks %q", leak)
				}
			}
			if !strings.Contains(body, ui.T("en", ui.MsgServerError)) && !strings.Contains(body, ui.T("ja", ui.MsgServerError)) {
				t.Errorf("no server error text:\n%s", body)
			}
		})
	}
	if !strings.Contains(logs.String(), "nil pointer") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestRenderStatus(t *testing.T) {
	r := newRenderer(t, ui.Options{})
	tests := []struct {
		name   string
		status int
		page   ui.Page
		want   int
	}{
		{"page default", 0, ui.LoggedOutPage{}, http.StatusOK},
		{"explicit", http.StatusUnprocessableEntity, ui.LoginPage{}, http.StatusUnprocessableEntity},
		{"error page status", 0, ui.ErrorPage{Msg: ui.MsgNotFound, Status: http.StatusNotFound}, http.StatusNotFound},
		{"error page pointer", 0, &ui.ErrorPage{Msg: ui.MsgCSRF, Status: http.StatusForbidden}, http.StatusForbidden},
		{"explicit wins", http.StatusGone, ui.ErrorPage{Msg: ui.MsgFlowExpired, Status: http.StatusBadRequest}, http.StatusGone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := render(t, r, tc.status, tc.page); w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestErrorPageContent(t *testing.T) {
	r := newRenderer(t, ui.Options{})
	for _, lang := range ui.Langs() {
		body := render(t, r, 0, ui.ErrorPage{Common: common(lang), Msg: ui.MsgBadRedirectURI, Status: 400}).Body.String()
		for _, s := range []string{ui.T(lang, ui.MsgBadRedirectURI), "<code>req-7f3a</code>"} {
			if !strings.Contains(body, s) {
				t.Errorf("%s: body lacks %q", lang, s)
			}
		}
		if strings.Count(regexp.MustCompile(`(?s)<main.*</main>`).FindString(body), "<p") < 3 {
			t.Errorf("%s: want title, explanation, next step and reference", lang)
		}
	}
}

func TestCSP(t *testing.T) {
	r := newRenderer(t, ui.Options{LogoURL: "https://cdn.example.com/brand/logo.svg"})
	tests := []struct {
		name          string
		page          ui.Page
		want, notWant []string
	}{
		{
			name: "brand logo",
			page: ui.LoggedOutPage{},
			want: []string{"img-src 'self' https://cdn.example.com;", "form-action 'self';"},
		},
		{
			name: "consent logo and redirect",
			page: ui.ConsentPage{
				Common:  ui.Common{RedirectURIs: []string{"https://rp.example:8443/cb?x=1"}},
				LogoURL: "https://img.rp.example/l.png",
			},
			want: []string{"img-src 'self' https://cdn.example.com https://img.rp.example;", "form-action 'self' https://rp.example:8443;"},
		},
		{
			name:    "http consent logo refused",
			page:    ui.ConsentPage{LogoURL: "http://img.rp.example/l.png"},
			notWant: []string{"img.rp.example"},
		},
		{
			name: "native app redirects",
			page: ui.PINPage{Common: ui.Common{RedirectURIs: []string{
				"com.example.app:/oauth2redirect", "http://127.0.0.1:53121/cb", "http://[::1]:53121/cb",
				"javascript:alert(1)", "data:text/html,x", "https://bad host/", "/local",
			}}},
			want:    []string{"form-action 'self' com.example.app: http://127.0.0.1:53121 http:;"},
			notWant: []string{"javascript", "data:", "bad"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := render(t, r, 0, tc.page)
			csp := w.Header().Get("Content-Security-Policy")
			for _, s := range tc.want {
				if !strings.Contains(csp, s) {
					t.Errorf("CSP %q lacks %q", csp, s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(csp, s) || strings.Contains(w.Body.String(), s) {
					t.Errorf("CSP %q or body has %q", csp, s)
				}
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    ui.Options
		wantErr bool
		accent  string
	}{
		{"zero", ui.Options{}, false, "#1d4ed8"},
		{"dark accent kept", ui.Options{AccentColor: "#0B3D2E"}, false, "#0b3d2e"},
		{"short form", ui.Options{AccentColor: "#036"}, false, "#003366"},
		{"relative logo", ui.Options{LogoURL: "/brand/logo.png"}, false, ""},
		{"bad colour", ui.Options{AccentColor: "blue"}, true, ""},
		{"colour injection", ui.Options{AccentColor: "#fff}body{display:none"}, true, ""},
		{"bad logo scheme", ui.Options{LogoURL: "javascript:alert(1)"}, true, ""},
		{"protocol-relative logo", ui.Options{LogoURL: "//evil.example/x.png"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			r, err := ui.New(tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && tc.accent != "" && r.AccentColor() != tc.accent {
				t.Errorf("accent %s, want %s", r.AccentColor(), tc.accent)
			}
		})
	}
	// A light accent is darkened until white text on it passes AA.
	r := newRenderer(t, ui.Options{AccentColor: "#7dd3fc"})
	if r.AccentColor() == "#7dd3fc" {
		t.Error("light accent not darkened")
	}
}

var assetLink = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

func TestStaticHandler(t *testing.T) {
	r := newRenderer(t, ui.Options{AccentColor: "#8a2be2"})
	body := render(t, r, 0, ui.PINPage{ResendsLeft: 1, ResendInSeconds: 5}).Body.String()
	links := assetLink.FindAllStringSubmatch(body, -1)
	if len(links) != 3 {
		t.Fatalf("want app.css, theme.css and pin.js linked, got %v", links)
	}
	h := r.StaticHandler()
	fingerprinted := regexp.MustCompile(`^/static/(app|theme|pin)\.[0-9a-f]{8}\.(css|js)$`)
	for _, l := range links {
		path := l[1]
		t.Run(path, func(t *testing.T) {
			if !fingerprinted.MatchString(path) {
				t.Errorf("%s is not fingerprinted", path)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			ct := w.Header().Get("Content-Type")
			if strings.HasSuffix(path, ".css") && ct != "text/css; charset=utf-8" ||
				strings.HasSuffix(path, ".js") && ct != "text/javascript; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if w.Body.Len() == 0 {
				t.Error("empty body")
			}
			if strings.Contains(path, "theme.") && !strings.Contains(w.Body.String(), "--accent:#") {
				t.Errorf("theme without accent: %s", w.Body.String())
			}
			// The same file through http.StripPrefix.
			w = httptest.NewRecorder()
			http.StripPrefix("/static/", h).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusOK {
				t.Errorf("behind StripPrefix: status %d", w.Code)
			}
		})
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/static/app.css", http.StatusNotFound},
		{http.MethodGet, "/static/app.00000000.css", http.StatusNotFound},
		{http.MethodGet, "/static/", http.StatusNotFound},
		{http.MethodGet, "/static/../ui.go", http.StatusNotFound},
		{http.MethodPost, links[0][1], http.StatusMethodNotAllowed},
		{http.MethodHead, links[0][1], http.StatusOK},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			if w.Code != tc.code {
				t.Errorf("status %d, want %d", w.Code, tc.code)
			}
			if tc.code == http.StatusNotFound && strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
				t.Error("404 cached as immutable")
			}
		})
	}
	// Another accent colour gives another theme name; the stylesheet keeps its name.
	other := newRenderer(t, ui.Options{AccentColor: "#004d40"})
	otherLinks := assetLink.FindAllStringSubmatch(render(t, other, 0, ui.PINPage{}).Body.String(), -1)
	if otherLinks[0][1] != links[0][1] || otherLinks[1][1] == links[1][1] {
		t.Errorf("fingerprints: %v vs %v", links, otherLinks)
	}
}

func TestMatchLang(t *testing.T) {
	tests := []struct {
		name                        string
		uiLocales, accept, fallback string
		want                        string
	}{
		{"nothing", "", "", "", "en"},
		{"fallback ja", "", "", "ja", "ja"},
		{"fallback unsupported", "", "", "fr", "en"},
		{"fallback region", "", "", "ja-JP", "ja"},
		{"ui_locales first", "ja", "en-US,en;q=0.9", "en", "ja"},
		{"ui_locales order", "fr-CA ja en", "", "en", "ja"},
		{"ui_locales region", "ja-JP", "", "en", "ja"},
		{"ui_locales unsupported, header used", "fr de", "ja,en;q=0.5", "en", "ja"},
		{"ui_locales garbage", "!!! ???", "ja", "en", "ja"},
		{"accept ja", "", "ja-JP,ja;q=0.9,en-US;q=0.8", "en", "ja"},
		{"accept q order", "", "en;q=0.4, ja;q=0.8", "en", "ja"},
		{"accept en region", "", "en-GB", "ja", "en"},
		{"accept unsupported first", "", "zh-CN,ja;q=0.5", "en", "ja"},
		{"accept none supported", "", "fr-FR,de;q=0.5", "ja", "ja"},
		{"accept q=0 excluded", "", "ja;q=0, fr", "en", "en"},
		{"accept wildcard", "", "*", "ja", "ja"},
		{"accept malformed", "", "ja;;;q=, en-", "en", "ja"},
		{"accept huge", "", strings.Repeat("x-", 2000), "ja", "ja"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ui.MatchLang(tc.uiLocales, tc.accept, tc.fallback); got != tc.want {
				t.Errorf("MatchLang(%q, %q, %q) = %q, want %q", tc.uiLocales, tc.accept, tc.fallback, got, tc.want)
			}
		})
	}
}

func TestParseLang(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"en", "en", true}, {"ja", "ja", true}, {"JA-jp", "ja", true}, {"en-GB", "en", true},
		{"fr", "", false}, {"", "", false}, {"<script>", "", false}, {"ja;q=1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ui.ParseLang(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseLang(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLangLinks(t *testing.T) {
	tests := []struct {
		name, target, current string
		want                  map[string]string // lang -> URL
	}{
		{"keeps flow", "/login?flow=abc123", "en", map[string]string{
			"en": "/login?flow=abc123&lang=en", "ja": "/login?flow=abc123&lang=ja"}},
		{"replaces lang", "/login/pin?lang=en&flow=f&x=a+b", "ja", map[string]string{
			"en": "/login/pin?flow=f&lang=en&x=a+b", "ja": "/login/pin?flow=f&lang=ja&x=a+b"}},
		{"no query", "/logout", "fr", map[string]string{"en": "/logout?lang=en", "ja": "/logout?lang=ja"}},
		{"stays on host", "//evil.example/x?flow=1", "en", map[string]string{
			"en": "/evil.example/x?flow=1&lang=en", "ja": "/evil.example/x?flow=1&lang=ja"}},
		{"escaped path", "/a%20b/c", "en", map[string]string{"en": "/a%20b/c?lang=en", "ja": "/a%20b/c?lang=ja"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://idp.example"+tc.target, nil)
			links := ui.LangLinks(req, tc.current)
			if len(links) != 2 {
				t.Fatalf("got %d links", len(links))
			}
			wantCurrent := tc.current
			if wantCurrent != "ja" {
				wantCurrent = "en"
			}
			for _, l := range links {
				if l.URL != tc.want[l.Lang] {
					t.Errorf("%s: URL %q, want %q", l.Lang, l.URL, tc.want[l.Lang])
				}
				if l.Current != (l.Lang == wantCurrent) {
					t.Errorf("%s: Current = %v", l.Lang, l.Current)
				}
				if l.Label == "" {
					t.Errorf("%s: no label", l.Lang)
				}
			}
		})
	}
	if links := ui.LangLinks(nil, "ja"); len(links) != 2 || links[1].URL != "/?lang=ja" {
		t.Errorf("nil request: %+v", links)
	}
}

func TestT(t *testing.T) {
	tests := []struct {
		name, lang string
		id         ui.MsgID
		args       []any
		want       string
	}{
		{"en", "en", ui.MsgPINSent, []any{"•••• 5678"}, "We sent a code to •••• 5678."},
		{"ja", "ja", ui.MsgPINSent, []any{"•••• 5678"}, "•••• 5678 に確認コードを送信しました。"},
		{"unsupported lang", "fr", ui.MsgPINSent, []any{"x"}, "We sent a code to x."},
		{"missing arg", "en", ui.MsgPINSent, nil, "We sent a code to ."},
		{"unknown id", "ja", ui.MsgID("sql: no rows"), nil, ui.T("ja", ui.MsgServerError)},
		{"reordered", "ja", "pin.intro", []any{6, "•••• 5678"}, "•••• 5678 宛てに、6桁の確認コードをSMSで送信しました。"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ui.T(tc.lang, tc.id, tc.args...); got != tc.want {
				t.Errorf("T = %q, want %q", got, tc.want)
			}
		})
	}
	if !ui.MsgPINInvalid.Known() || ui.MsgID("login.title").Known() {
		t.Error("Known")
	}
}
