package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa/sms/twilio/twiliofake"
	"github.com/smspin/idp/mfa/sms/xoxzo/xoxzofake"
)

// smsCLI points the settings at the providers' fakes.
func smsCLI(t *testing.T, x *xoxzofake.Server, tw *twiliofake.Server) *cli {
	c := newCLI(t)
	t.Setenv("IDP_SMS_PROVIDER", "xoxzo,twilio")
	t.Setenv("XOXZO_API_SID", xoxzofake.DefaultSID)
	t.Setenv("XOXZO_API_AUTH_TOKEN", xoxzofake.DefaultToken)
	t.Setenv("IDP_XOXZO_SENDER", "IDP")
	t.Setenv("IDP_XOXZO_API_URL", x.URL)
	t.Setenv("TWILIO_ACCOUNT_SID", twiliofake.DefaultAccountSID)
	t.Setenv("TWILIO_AUTH_TOKEN", twiliofake.DefaultAuthToken)
	t.Setenv("IDP_TWILIO_FROM", "+15005550006")
	t.Setenv("IDP_TWILIO_API_URL", tw.URL)
	t.Setenv("IDP_SMS_ALLOWED_COUNTRIES", "")
	return c
}

func TestSMSTestCommand(t *testing.T) {
	type answer struct {
		provider, outcome string
		http              int
	}
	for _, tc := range []struct {
		name     string
		xoxzo    []xoxzofake.Option
		twilio   []twiliofake.Option
		args     []string
		to       string
		sent     bool
		answers  []answer
		notTried []string
		errWant  string
	}{
		{name: "first provider answers", sent: true, answers: []answer{{"xoxzo", "ok", 0}}, notTried: []string{"twilio"}},
		{name: "failover on a 503", xoxzo: []xoxzofake.Option{xoxzofake.ServerError(503)}, sent: true,
			answers: []answer{{"xoxzo", "transient", 503}, {"twilio", "ok", 0}}},
		{name: "bad credentials, then the next", xoxzo: []xoxzofake.Option{xoxzofake.Unauthorized(true)}, sent: true,
			answers: []answer{{"xoxzo", "config", 401}, {"twilio", "ok", 0}}},
		{name: "one provider alone", args: []string{"--provider", "twilio"}, sent: true, answers: []answer{{"twilio", "ok", 0}}},
		{name: "both fail", xoxzo: []xoxzofake.Option{xoxzofake.ServerError(503)}, twilio: []twiliofake.Option{twiliofake.Unauthorized(true)},
			answers: []answer{{"xoxzo", "transient", 503}, {"twilio", "config", 401}}, errWant: "not sent: twilio answered config"},
		{name: "a landline stops the chain", to: "+819011112222", xoxzo: []xoxzofake.Option{xoxzofake.ServerError(503)},
			twilio: []twiliofake.Option{twiliofake.Landlines("+819011112222")}, args: []string{"--provider", "twilio"},
			answers: []answer{{"twilio", "permanent", 400}}, errWant: "permanent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := xoxzofake.New(t, tc.xoxzo...)
			tw := twiliofake.New(t, tc.twilio...)
			c := smsCLI(t, x, tw)
			to := tc.to
			if to == "" {
				to = "+819012345678"
			}
			out, _, err := c.run("", append([]string{"sms", "test", "--to", to}, tc.args...)...)
			switch {
			case tc.errWant == "" && err != nil:
				t.Fatalf("sms test: %v", err)
			case tc.errWant != "" && (err == nil || !strings.Contains(err.Error(), tc.errWant)):
				t.Fatalf("sms test: %v, want an error mentioning %q", err, tc.errWant)
			}
			var rep struct {
				To       string
				Code     string
				Sent     bool
				NotTried []string `json:"not_tried"`
				Answers  []struct {
					Provider, Outcome, Error string
					MessageID                string `json:"message_id"`
					HTTP                     int    `json:"http_status"`
				}
				Providers []struct {
					Provider string
					Ready    bool
				}
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, out)
			}
			if rep.Sent != tc.sent || strings.Contains(rep.To, "12345678") || len(rep.Code) != 6 {
				t.Errorf("sent %v to %q code %q; want sent %v, a masked number, a 6-digit code", rep.Sent, rep.To, rep.Code, tc.sent)
			}
			if len(rep.Answers) != len(tc.answers) {
				t.Fatalf("answers = %+v, want %v", rep.Answers, tc.answers)
			}
			for i, want := range tc.answers {
				got := rep.Answers[i]
				if got.Provider != want.provider || got.Outcome != want.outcome || got.HTTP != want.http {
					t.Errorf("answer %d = %+v, want %v", i, got, want)
				}
				if got.Outcome == "ok" && got.MessageID == "" {
					t.Errorf("answer %d: no message id", i)
				}
				if got.Outcome != "ok" && got.Error == "" {
					t.Errorf("answer %d: no error text", i)
				}
			}
			if strings.Join(rep.NotTried, ",") != strings.Join(tc.notTried, ",") {
				t.Errorf("not tried = %v, want %v", rep.NotTried, tc.notTried)
			}
			if len(rep.Providers) != 2 || !rep.Providers[0].Ready || !rep.Providers[1].Ready {
				t.Errorf("provider statuses = %+v", rep.Providers)
			}
			// The phone got the code the report shows, from the provider that took it.
			var texts []string
			for _, m := range x.Messages() {
				texts = append(texts, m.Text)
			}
			for _, m := range tw.Messages() {
				texts = append(texts, m.Body)
			}
			if tc.sent && (len(texts) != 1 || !strings.Contains(texts[0], rep.Code)) {
				t.Errorf("messages delivered = %q, want one with the code %s", texts, rep.Code)
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		c := smsCLI(t, xoxzofake.New(t), twiliofake.New(t))
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"sms", "test"}, "--to NUMBER is required"},
			{[]string{"sms", "test", "--to", "+819012345678", "--provider", "webhook"}, `"webhook" is not in IDP_SMS_PROVIDER`},
			{[]string{"sms", "test", "--to", "03-1234-5678"}, "cannot receive SMS"},
		} {
			_, _, err := c.run("", tc.args...)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("idp %v: %v, want a usage error mentioning %q", tc.args, err, tc.want)
			}
		}
		t.Setenv("IDP_XOXZO_SENDER", "")
		if _, _, err := c.run("", "sms", "test", "--to", "+819012345678"); err == nil || !strings.Contains(err.Error(), "IDP_XOXZO_SENDER") {
			t.Errorf("a missing sender: %v", err)
		}
	})
}

// serve says at start which providers are ready, and which are set up but
// not listed.
func TestServeLogsSMSProviders(t *testing.T) {
	newCLI(t)
	t.Setenv("IDP_SMS_PROVIDER", "console")
	t.Setenv("TWILIO_ACCOUNT_SID", twiliofake.DefaultAccountSID)
	t.Setenv("IDP_ADMIN_LISTEN", "")
	s := startServe(t, "--dev", "--listen", "127.0.0.1:0")
	log := s.log.String()
	for _, want := range []string{
		`msg="sms provider ready" provider=console`,
		`msg="sms provider configured but not listed" provider=twilio`,
		"missing=TWILIO_AUTH_TOKEN,IDP_TWILIO_FROM",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("start log lacks %q:\n%s", want, log)
		}
	}
}
