package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/twilioverify"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
	"github.com/smspin/idp/mfa/sms/webhook"
	"github.com/smspin/idp/mfa/sms/xoxzo"
)

// newSender builds the SMS sender: the providers IDP_SMS_PROVIDER lists,
// as a failover chain in that order, each wrapped by wrap (metrics) when
// it is not nil. The second result reads delivery reports back from the
// providers that have them.
func newSender(cfg config.Config, logger *slog.Logger, stdout io.Writer, wrap func(string, sms.Sender) sms.Sender) (*sms.Chain, map[string]mfa.StatusReader, error) {
	httpc := &http.Client{Timeout: cfg.SMS.Timeout}
	chain := &sms.Chain{Logger: logger}
	readers := map[string]mfa.StatusReader{}
	if newVerifier(cfg) != nil {
		return nil, readers, nil
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
			c, err = xoxzo.New(xoxzo.Config{
				BaseURL: cfg.SMS.Xoxzo.APIURL, SID: cfg.SMS.Xoxzo.SID, AuthToken: cfg.SMS.Xoxzo.AuthToken,
				Sender: cfg.SMS.Xoxzo.Sender, TemplateID: cfg.SMS.Xoxzo.TemplateID, HTTP: httpc, Logger: logger,
			})
			if err == nil {
				s = c
				readers[name] = mfa.StatusReaderFunc(func(ctx context.Context, id string) (sms.DeliveryState, string, error) {
					st, err := c.Status(ctx, id)
					return st.State, st.Raw, err
				})
			}
		case config.ProviderTwilio:
			var c *twilio.Client
			c, err = twilio.New(twilio.Config{
				BaseURL: cfg.SMS.Twilio.APIURL, AccountSID: cfg.SMS.Twilio.AccountSID, AuthToken: cfg.SMS.Twilio.AuthToken,
				From: cfg.SMS.Twilio.From, HTTP: httpc,
			})
			if err == nil {
				s = c
				readers[name] = mfa.StatusReaderFunc(func(ctx context.Context, id string) (sms.DeliveryState, string, error) {
					st, err := c.Status(ctx, id)
					return st.State, st.Raw, err
				})
			}
		case config.ProviderWebhook:
			s, err = webhook.New(webhook.Config{URL: cfg.SMS.Webhook.URL, Secret: []byte(cfg.SMS.Webhook.Secret), HTTP: httpc})
		default:
			err = fmt.Errorf("unknown provider")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("IDP_SMS_PROVIDER %s: %w", name, err)
		}
		if wrap != nil {
			s = wrap(name, s)
		}
		chain.Senders = append(chain.Senders, sms.Named{Name: name, Sender: s})
	}
	if len(chain.Senders) == 0 {
		return nil, nil, fmt.Errorf("IDP_SMS_PROVIDER: no provider")
	}
	return chain, readers, nil
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
