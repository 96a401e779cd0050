package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/twilioverify"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
	"github.com/smspin/idp/mfa/sms/webhook"
	"github.com/smspin/idp/mfa/sms/xoxzo"
)

// providers is what newSender builds.
type providers struct {
	chain *sms.Chain
	// readers read delivery states back from the providers that have them.
	readers map[string]mfa.StatusReader
	// reports read the delivery reports providers push to
	// /sms/receipts/{name}.
	reports map[string]sms.ReportReader
	// pushing names the providers that report on every send (Twilio with
	// a status callback), for IDP_SMS_RECEIPT_WAIT.
	pushing []string
}

// receiptsURL is where a provider pushes delivery reports, or "" when the
// issuer is not one a provider on the internet can reach (plain http,
// loopback): then no callback is asked for and the status is polled.
func receiptsURL(cfg config.Config, provider string) string {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Scheme != "https" || u.Hostname() == "localhost" {
		return ""
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && (ip.IsLoopback() || ip.IsPrivate()) {
		return ""
	}
	return strings.TrimSuffix(cfg.Issuer, "/") + "/sms/receipts/" + provider
}

// newSender builds the SMS sender: the providers IDP_SMS_PROVIDER lists,
// as a failover chain in that order, each wrapped by wrap (metrics) when
// it is not nil, with what reads their delivery reports.
func newSender(cfg config.Config, logger *slog.Logger, stdout io.Writer, wrap func(string, sms.Sender) sms.Sender) (providers, error) {
	httpc := &http.Client{Timeout: cfg.SMS.Timeout}
	chain := &sms.Chain{Logger: logger}
	readers := map[string]mfa.StatusReader{}
	out := providers{readers: readers, reports: map[string]sms.ReportReader{}}
	if newVerifier(cfg) != nil {
		return out, nil
	}
	for _, name := range cfg.SMS.Providers {
		var s sms.Sender
		var err error
		switch name {
		case config.ProviderConsole:
			s = &sms.Console{W: stdout}
		case config.ProviderFile:
			s = &sms.File{Path: cfg.SMS.File}
		case config.ProviderXoxzo:
			var c *xoxzo.Client
			cb, token := receiptsURL(cfg, name), hex.EncodeToString(keys.Derive([]byte(cfg.Secret), purposeXoxzoReports)[:16])
			if cb != "" {
				cb = xoxzo.CallbackURL(cb, token)
			}
			c, err = xoxzo.New(xoxzo.Config{
				BaseURL: cfg.SMS.Xoxzo.APIURL, SID: cfg.SMS.Xoxzo.SID, AuthToken: cfg.SMS.Xoxzo.AuthToken,
				Sender: cfg.SMS.Xoxzo.Sender, TemplateID: cfg.SMS.Xoxzo.TemplateID, CallbackURL: cb, HTTP: httpc, Logger: logger,
			})
			if err == nil {
				s = c
				if cb != "" {
					out.reports[name] = &xoxzo.Reports{Token: token, Client: c}
				}
				readers[name] = mfa.StatusReaderFunc(func(ctx context.Context, id string) (sms.DeliveryState, string, error) {
					st, err := c.Status(ctx, id)
					return st.State, st.Raw, err
				})
			}
		case config.ProviderTwilio:
			var c *twilio.Client
			cb := receiptsURL(cfg, name)
			c, err = twilio.New(twilio.Config{
				BaseURL: cfg.SMS.Twilio.APIURL, AccountSID: cfg.SMS.Twilio.AccountSID, AuthToken: cfg.SMS.Twilio.AuthToken,
				From: cfg.SMS.Twilio.From, StatusCallback: cb, HTTP: httpc,
			})
			if err == nil {
				s = c
				if cb != "" {
					// Twilio reports every message sent with a callback.
					out.reports[name] = &twilio.Reports{AuthToken: cfg.SMS.Twilio.AuthToken, URL: cb}
					out.pushing = append(out.pushing, name)
				}
				readers[name] = mfa.StatusReaderFunc(func(ctx context.Context, id string) (sms.DeliveryState, string, error) {
					st, err := c.Status(ctx, id)
					return st.State, st.Raw, err
				})
			}
		case config.ProviderWebhook:
			s, err = webhook.New(webhook.Config{URL: cfg.SMS.Webhook.URL, Secret: []byte(cfg.SMS.Webhook.Secret), HTTP: httpc})
			// The receiver reports back signed with the same secret,
			// whenever it can; its reports are optional.
			out.reports[name] = &webhook.Reports{Secret: []byte(cfg.SMS.Webhook.Secret)}
		default:
			err = fmt.Errorf("unknown provider")
		}
		if err != nil {
			return providers{}, fmt.Errorf("IDP_SMS_PROVIDER %s: %w", name, err)
		}
		if wrap != nil {
			s = wrap(name, s)
		}
		chain.Senders = append(chain.Senders, sms.Named{Name: name, Sender: s})
	}
	if len(chain.Senders) == 0 {
		return providers{}, fmt.Errorf("IDP_SMS_PROVIDER: no provider")
	}
	out.chain = chain
	return out, nil
}

// purposeXoxzoReports keys the token Xoxzo's callbackurl carries.
const purposeXoxzoReports = "idp xoxzo receipts v1"

// budget reads the price table and the daily budget (checked by
// Validate) into millionths of the currency.
func budget(cfg config.Config) mfa.Budget {
	b := mfa.Budget{Currency: cfg.SMS.Budget.Currency, Prices: map[string]map[string]int64{}}
	prices, _ := cfg.SMS.Budget.PriceTable()
	for _, p := range prices {
		if b.Prices[p.Provider] == nil {
			b.Prices[p.Provider] = map[string]int64{}
		}
		b.Prices[p.Provider][p.Country], _ = mfa.ParseMoney(p.Amount)
	}
	if cfg.SMS.Budget.Daily != "" {
		b.Daily, _ = mfa.ParseMoney(cfg.SMS.Budget.Daily)
	}
	return b
}

// newVerifier returns the provider that makes and checks codes itself,
// when IDP_SMS_PROVIDER names one (it is then the only one listed).
func newVerifier(cfg config.Config) otp.Verifier {
	if len(cfg.SMS.Providers) != 1 {
		return nil
	}
	httpc := &http.Client{Timeout: cfg.SMS.Timeout}
	switch cfg.SMS.Providers[0] {
	case config.ProviderTwilioVerify:
		c, err := twilioverify.New(twilioverify.Config{BaseURL: cfg.SMS.Twilio.VerifyAPIURL, AccountSID: cfg.SMS.Twilio.AccountSID,
			AuthToken: cfg.SMS.Twilio.AuthToken, ServiceSID: cfg.SMS.Twilio.VerifyServiceSID, HTTP: httpc})
		if err != nil {
			return nil
		}
		return c
	case config.ProviderXoxzoOTP:
		c, err := xoxzootp.New(xoxzootp.Config{BaseURL: cfg.SMS.Xoxzo.APIURL, SID: cfg.SMS.Xoxzo.SID, AuthToken: cfg.SMS.Xoxzo.AuthToken,
			Website: cfg.SMS.Xoxzo.OTPWebsite, HTTP: httpc})
		if err != nil {
			return nil
		}
		return c
	}
	return nil
}
