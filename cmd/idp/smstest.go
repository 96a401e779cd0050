package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/mfa/sms"
)

// logSMSStatus says at start which SMS providers will send and which
// settings a provider that looks meant still lacks.
func logSMSStatus(logger *slog.Logger, cfg config.Config) {
	for _, st := range cfg.SMSProviderStatus() {
		attrs := []any{"provider", st.Name}
		if len(st.Notes) > 0 {
			attrs = append(attrs, "note", strings.Join(st.Notes, "; "))
		}
		switch {
		case st.Ready:
			logger.Info("sms provider ready", append(attrs, "position", st.Position)...)
		case st.Position > 0:
			logger.Error("sms provider not ready", append(attrs, "missing", strings.Join(st.Missing, ","))...)
		default:
			attrs = append(attrs, "hint", "not in IDP_SMS_PROVIDER, so not used")
			if len(st.Missing) > 0 {
				attrs = append(attrs, "missing", strings.Join(st.Missing, ","))
			}
			logger.Warn("sms provider configured but not listed", attrs...)
		}
	}
}

// smsAnswer is one provider's answer to the test message.
type smsAnswer struct {
	Provider  string `json:"provider"`
	Outcome   string `json:"outcome"` // ok, transient, permanent, unknown_outcome, config
	MessageID string `json:"message_id,omitempty"`
	Status    string `json:"status,omitempty"`
	HTTP      int    `json:"http_status,omitempty"`
	Error     string `json:"error,omitempty"`
	Millis    int64  `json:"ms"`
}

type smsTestReport struct {
	To        string                  `json:"to"` // masked
	Code      string                  `json:"code"`
	Sent      bool                    `json:"sent"`
	Answers   []smsAnswer             `json:"answers"`
	NotTried  []string                `json:"not_tried,omitempty"`
	Providers []config.ProviderStatus `json:"providers"`
}

// recorder wraps each provider of the chain to keep its answer.
type recorder struct {
	mu      sync.Mutex
	answers []smsAnswer
}

func (r *recorder) wrap(name string, s sms.Sender) sms.Sender {
	return senderFunc(func(ctx context.Context, m sms.Message) (sms.Receipt, error) {
		start := time.Now()
		rec, err := s.Send(ctx, m)
		a := smsAnswer{Provider: name, Outcome: "ok", MessageID: rec.MessageID, Status: rec.Status, Millis: time.Since(start).Milliseconds()}
		if err != nil {
			a.Outcome, a.Error = sms.KindOf(err).String(), err.Error()
			if se, ok := errors.AsType[*sms.Error](err); ok {
				a.HTTP = se.Status
			}
		}
		r.mu.Lock()
		r.answers = append(r.answers, a)
		r.mu.Unlock()
		return rec, err
	})
}

type senderFunc func(context.Context, sms.Message) (sms.Receipt, error)

func (f senderFunc) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) { return f(ctx, m) }

// cmdSMSTest sends one message, with a PIN as a sign-in would, through the
// configured providers and reports what each answered: a check of
// credentials, sender id, template and the route to a phone, before users
// depend on them.
func cmdSMSTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sms test", stderr)
	var sf settingFlags
	sf.register(fs)
	to := fs.String("to", "", "mobile `NUMBER` to send to, E.164 (+819012345678) or national in IDP_SMS_DEFAULT_REGION")
	only := fs.String("provider", "", "send through this `NAME` of IDP_SMS_PROVIDER alone, not the failover chain")
	locale := fs.String("locale", "", "language of the text, en or ja (default IDP_DEFAULT_LOCALE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usageError{"sms test: --to NUMBER is required"}
	}
	cfg, err := sf.load()
	if err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	if err := smsProblems(cfg.Validate()); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	number, err := phonePolicy(cfg).Normalise(*to)
	if err != nil {
		return usageError{fmt.Sprintf("sms test: --to %q: %v", *to, err)}
	}
	if *locale == "" {
		*locale = cfg.UI.DefaultLocale
	}
	if *locale != "en" && *locale != "ja" {
		return usageError{"sms test: --locale must be en or ja"}
	}
	report := smsTestReport{To: sms.MaskNumber(number), Code: randomCode(cfg.PIN.Length), Providers: cfg.SMSProviderStatus(), Answers: []smsAnswer{}}

	// The console provider prints the message: keep stdout for the report.
	logger := slog.New(slog.DiscardHandler)
	if v := newVerifier(cfg); v != nil {
		// Twilio Verify and Xoxzo OTP make the code themselves: starting a
		// verification is their test.
		start := time.Now()
		started, err := v.Start(ctx, number, *locale, "idp-sms-test")
		a := smsAnswer{Provider: cfg.SMS.Providers[0], Outcome: "ok", MessageID: started.ID, Status: started.Channel, Millis: time.Since(start).Milliseconds()}
		if err != nil {
			a.Outcome, a.Error = sms.KindOf(err).String(), err.Error()
		}
		report.Code = "" // the provider's own, not known here
		report.Answers = append(report.Answers, a)
		report.Sent = err == nil
		return finishSMSTest(stdout, report)
	}
	rec := &recorder{}
	prov, err := newSender(cfg, logger, stderr, rec.wrap)
	if err != nil {
		return err
	}
	chain := prov.chain
	if *only != "" {
		var one []sms.Named
		for _, s := range chain.Senders {
			if s.Name == *only {
				one = append(one, s)
			}
		}
		if one == nil {
			return usageError{fmt.Sprintf("sms test: --provider %q is not in IDP_SMS_PROVIDER (%s)", *only, strings.Join(cfg.SMS.Providers, ","))}
		}
		chain = &sms.Chain{Senders: one}
	}
	text := smsText(cfg)
	_, sendErr := chain.Send(ctx, sms.Message{To: number, Body: text(*locale, report.Code), Code: report.Code, Locale: *locale, Ref: "idp-sms-test"})
	report.Answers = append(report.Answers, rec.answers...)
	report.Sent = sendErr == nil
	tried := map[string]bool{}
	for _, a := range rec.answers {
		tried[a.Provider] = true
	}
	for _, s := range chain.Senders {
		if !tried[s.Name] {
			report.NotTried = append(report.NotTried, s.Name)
		}
	}
	return finishSMSTest(stdout, report)
}

func finishSMSTest(stdout io.Writer, r smsTestReport) error {
	if err := printJSON(stdout, r); err != nil {
		return err
	}
	if !r.Sent {
		last := r.Answers[len(r.Answers)-1]
		return fmt.Errorf("sms test: not sent: %s answered %s: %s", last.Provider, last.Outcome, last.Error)
	}
	return nil
}

// smsProblems keeps the settings problems that stop a send: those of the
// SMS settings. The test needs no database, secret or issuer.
func smsProblems(err error) error {
	var keep []error
	for _, e := range unjoin(err) {
		ce, ok := errors.AsType[*config.Error](e)
		if !ok {
			continue
		}
		for _, prefix := range []string{"IDP_SMS_", "XOXZO_", "IDP_XOXZO_", "TWILIO_", "IDP_TWILIO_", "IDP_PIN_", "IDP_PRODUCT_NAME"} {
			if strings.HasPrefix(ce.Env, prefix) {
				keep = append(keep, e)
				break
			}
		}
	}
	return errors.Join(keep...)
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// randomCode is a PIN of n digits, as a sign-in sends.
func randomCode(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}
