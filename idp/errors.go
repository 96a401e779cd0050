package idp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/ui"
)

// messageFor maps a domain error to the message a person sees. It is the
// one place errors become words; the error itself goes to the log only.
func messageFor(err error) ui.MsgID {
	switch {
	case errors.Is(err, mfa.ErrCodeMismatch), errors.Is(err, mfa.ErrNotFound), errors.Is(err, mfa.ErrUsed):
		return ui.MsgPINInvalid
	case errors.Is(err, mfa.ErrExpired):
		return ui.MsgPINExpired
	case errors.Is(err, mfa.ErrTooManyAttempts):
		return ui.MsgTooManyAttempts
	case errors.Is(err, mfa.ErrResendTooSoon):
		return ui.MsgResendTooSoon
	case errors.Is(err, mfa.ErrResendLimit):
		return ui.MsgResendLimit
	case errors.Is(err, mfa.ErrPhoneCountry):
		return ui.MsgPhoneCountryNotAllowed
	case errors.Is(err, mfa.ErrPhoneInvalid), errors.Is(err, mfa.ErrPhoneType):
		return ui.MsgPhoneInvalid
	case errors.Is(err, mfa.ErrPermanentFailure):
		return ui.MsgPhoneInvalid
	case errors.Is(err, mfa.ErrProviderUnavailable):
		return ui.MsgTemporarilyUnavailable
	case errors.Is(err, mfa.ErrSendFailed), errors.Is(err, mfa.ErrSendUnknown):
		return ui.MsgSMSUnavailable
	case errors.Is(err, store.ErrFlowMoved):
		return ui.MsgFlowNotFound
	case errors.Is(err, store.ErrNotFound):
		return ui.MsgFlowNotFound
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, fosite.ErrTemporarilyUnavailable):
		return ui.MsgTemporarilyUnavailable
	}
	return ui.MsgServerError
}

func slogLevelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// errorPage renders the error page in the request's language.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg ui.MsgID) {
	lang := s.lang(r, nil)
	s.opt.UI.Render(w, status, ui.ErrorPage{
		Common: ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)},
		Msg:    msg,
		Status: status,
	})
}

// requestID is the id a user can quote to support; the access log carries
// the same.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		return id
	}
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	return ""
}

type requestIDKey struct{}
