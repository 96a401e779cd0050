package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/mfa/sms"
)

// newSender builds the SMS sender: one provider, or a failover chain of
// several in the order IDP_SMS_PROVIDER lists them.
func newSender(cfg config.Config, logger *slog.Logger, stdout io.Writer) (sms.Sender, error) {
	var senders []sms.Sender
	for _, name := range cfg.SMS.Providers {
		switch name {
		case config.ProviderConsole:
			senders = append(senders, &sms.Console{W: stdout})
		case config.ProviderFile:
			senders = append(senders, &sms.File{Path: cfg.SMS.File})
		default:
			return nil, fmt.Errorf("IDP_SMS_PROVIDER: provider %q is not available in this build", name)
		}
	}
	if len(senders) == 0 {
		return nil, fmt.Errorf("IDP_SMS_PROVIDER: no provider")
	}
	return senders[0], nil
}
