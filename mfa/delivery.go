package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

// StatusReader reads the delivery state of a sent message back from the
// provider that took it (Xoxzo's GET /sms/messages/<msgid>/, Twilio's
// message resource).
type StatusReader interface {
	DeliveryState(ctx context.Context, messageID string) (state sms.DeliveryState, raw string, err error)
}

// StatusReaderFunc adapts a function to StatusReader.
type StatusReaderFunc func(ctx context.Context, messageID string) (sms.DeliveryState, string, error)

// DeliveryState implements StatusReader.
func (f StatusReaderFunc) DeliveryState(ctx context.Context, id string) (sms.DeliveryState, string, error) {
	return f(ctx, id)
}

// Final delivery states; a row in any other state may still change.
var finalStates = []string{string(sms.DeliveryDelivered), string(sms.DeliveryFailed), "unknown"}

// RefreshDeliveries asks the providers about sends of the last maxAge that
// have not reached a final state, and records what they say, so an
// operator can answer "did the SMS arrive?". It checks at most limit rows
// a call and returns how many changed.
func (s *Service) RefreshDeliveries(ctx context.Context, readers map[string]StatusReader, maxAge time.Duration, limit int) (int, error) {
	if len(readers) == 0 {
		return 0, nil
	}
	providers := make([]string, 0, len(readers))
	for p := range readers {
		providers = append(providers, p)
	}
	rows, err := s.Store.PendingDeliveries(ctx, providers, finalStates, s.now().Add(-maxAge), limit)
	if err != nil {
		return 0, fmt.Errorf("mfa: pending deliveries: %w", err)
	}
	changed := 0
	for _, d := range rows {
		state, raw, err := readers[d.Provider].DeliveryState(ctx, d.ProviderMessageID)
		if err != nil {
			s.log().WarnContext(ctx, "read delivery status", "provider", d.Provider, "delivery", d.ID, "err", err)
			continue
		}
		if string(state) == d.Status {
			continue
		}
		errText := ""
		if state == sms.DeliveryFailed {
			errText = "provider reports " + raw
			s.log().WarnContext(ctx, "sms not delivered", "provider", d.Provider, "challenge", d.ChallengeID, "provider_status", raw)
		}
		if err := s.Store.SetDeliveryStatus(ctx, d.ID, string(state), errText, s.now()); err != nil {
			return changed, fmt.Errorf("mfa: record delivery status: %w", err)
		}
		changed++
	}
	return changed, nil
}

// ApplyReport records a delivery report a provider pushed, once its
// ReportReader has authenticated it. Only the status (and the carrier's
// error code) is taken from it. A report of a pending state, a repeat, a
// late report after a final one, or one for a message we never sent
// changes nothing; changed says whether a send's status changed.
func (s *Service) ApplyReport(ctx context.Context, provider string, rep sms.Report) (changed bool, err error) {
	if rep.State != sms.DeliveryDelivered && rep.State != sms.DeliveryFailed {
		s.stats.add("receipt_pending")
		return false, nil
	}
	errText := ""
	if rep.State == sms.DeliveryFailed {
		errText = "receipt: " + rep.Raw
		if rep.ErrorCode != "" {
			errText += " (error " + rep.ErrorCode + ")"
		}
	}
	found, changed, err := s.Store.ApplyReceipt(ctx, provider, rep.MessageID, string(rep.State), rep.ErrorCode, errText, s.now())
	switch {
	case err != nil:
		return false, fmt.Errorf("mfa: apply delivery report: %w", err)
	case !found:
		s.stats.add("receipt_unknown")
		s.log().InfoContext(ctx, "delivery report for no known send", "provider", provider)
	case !changed:
		s.stats.add("receipt_duplicate")
	default:
		s.stats.add("receipt_" + string(rep.State))
		if rep.State == sms.DeliveryFailed {
			s.log().WarnContext(ctx, "sms not delivered", "provider", provider, "provider_status", rep.Raw, "error_code", rep.ErrorCode)
		}
	}
	return changed, nil
}

// DeliveryView is one send as an operator sees it: the number masked.
type DeliveryView struct {
	ChallengeID       string    `json:"challenge_id"`
	To                string    `json:"to"`
	Provider          string    `json:"provider"`
	ProviderMessageID string    `json:"provider_message_id,omitempty"`
	Status            string    `json:"status"`
	Error             string    `json:"error,omitempty"`
	At                time.Time `json:"at"`
	Updated           time.Time `json:"updated_at"`
}

// RecentDeliveries lists the newest sends, newest first.
func (s *Service) RecentDeliveries(ctx context.Context, limit int) ([]DeliveryView, error) {
	rows, err := s.Store.RecentDeliveries(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("mfa: recent deliveries: %w", err)
	}
	out := make([]DeliveryView, 0, len(rows))
	for _, r := range rows {
		out = append(out, DeliveryView{ChallengeID: r.ChallengeID, To: sms.MaskNumber(r.Phone), Provider: r.Provider,
			ProviderMessageID: r.ProviderMessageID, Status: r.Status, Error: r.Error, At: r.CreatedAt, Updated: r.UpdatedAt})
	}
	return out, nil
}

// Notify sends a message that carries no code (a phone changed, a
// recovery code used, a password reset or changed) and records its
// delivery under ref. Each is counted first against the notice limits of
// the number and the global ones (one conditional upsert each, in a
// transaction of its own): a notice over a limit is not sent, and says
// so (*RateLimitError). Codes' own limits are not touched.
func (s *Service) Notify(ctx context.Context, ref, to, body, locale string) error {
	msg := sms.Message{To: to, Body: body, Locale: locale, Ref: ref}
	if s.Sender == nil {
		// A provider-verified setup has no channel for free text.
		s.log().WarnContext(ctx, "notice SMS not sent: no plain SMS provider", "ref", ref, "msg", msg)
		return errors.New("mfa: no SMS provider for notices")
	}
	if err := s.Store.InTx(ctx, func(ctx context.Context) error { return s.countNotice(ctx, s.now(), to) }); err != nil {
		s.log().WarnContext(ctx, "notice SMS not sent", "ref", ref, "msg", msg, "err", err)
		return err
	}
	rcpt, err := s.Sender.Send(ctx, msg)
	now := s.now()
	d := Delivery{ID: s.Store.NewID(), ChallengeID: ref, Provider: rcpt.Provider, ProviderMessageID: rcpt.MessageID, Status: "sent", CreatedAt: now, UpdatedAt: now}
	if rcpt.Status != "" {
		d.Status = rcpt.Status
	}
	if err != nil {
		d.Status, d.Error = "failed", err.Error()
		s.log().ErrorContext(ctx, "notice SMS not sent", "ref", ref, "msg", msg, "err", err)
	}
	if d.Provider == "" {
		d.Provider = "unknown"
	}
	if rerr := s.Store.AddDelivery(ctx, &d); rerr != nil {
		s.log().ErrorContext(ctx, "record notice delivery", "ref", ref, "err", rerr)
	}
	return err
}
