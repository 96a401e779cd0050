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
	case errors.Is(err, mfa.ErrPhoneType):
		return ui.MsgPhoneNotMobile
	case errors.Is(err, mfa.ErrPhoneInvalid):
		return ui.MsgPhoneInvalid
	case errors.Is(err, mfa.ErrPermanentFailure):
		return ui.MsgPhoneInvalid
	case errors.Is(err, mfa.ErrProviderUnavailable):
		return ui.MsgTemporarilyUnavailable
	case errors.Is(err, mfa.ErrSendFailed), errors.Is(err, mfa.ErrSendUnknown):
		return ui.MsgSMSUnavailable
	case errors.Is(err, store.ErrFlowMoved), errors.Is(err, store.ErrNotFound):
		return ui.MsgFlowNotFound
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, fosite.ErrTemporarilyUnavailable):
		return ui.MsgTemporarilyUnavailable
	case errors.Is(err, store.ErrBadInput):
		return ui.MsgInvalidRequest
	case errors.Is(err, errNoPhone):
		return ui.MsgNoPhone
	case errors.Is(err, errLinkUsed):
		return ui.MsgInvitationInvalid
	case errors.Is(err, errResetLinkUsed):
		return ui.MsgResetLinkInvalid
	}
	return ui.MsgServerError
}

// statusOf is the HTTP status and the message of an error a step failed
// with: the database unreachable is 503, a value it refused 400, a move
// the table refuses 409, anything unknown 500.
func statusOf(ctx context.Context, err error) (int, ui.MsgID) {
	msg := messageFor(err)
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ui.MsgTemporarilyUnavailable
	case errors.Is(err, store.ErrBadInput):
		return http.StatusBadRequest, msg
	case errors.Is(err, store.ErrIllegalMove), errors.Is(err, store.ErrFlowMoved), errors.Is(err, errNoPhone):
		return http.StatusConflict, msg
	case errors.Is(err, errLinkUsed), errors.Is(err, errResetLinkUsed):
		return http.StatusGone, msg
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, msg
	case msg == ui.MsgTemporarilyUnavailable, msg == ui.MsgSMSUnavailable:
		return http.StatusServiceUnavailable, msg
	case msg == ui.MsgServerError:
		return http.StatusInternalServerError, msg
	}
	return http.StatusBadRequest, msg
}

func slogLevelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// errorPage renders the error page in the request's language, with the
// ways forward there are (with none, the page still says what to do).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg ui.MsgID, actions ...ui.Action) {
	lang := s.langFor(r, "")
	common := ui.Common{Lang: lang, LangLinks: ui.LangLinks(r, lang), RequestID: requestID(r)}
	for _, a := range actions {
		if a.Post && a.RedirectsTo != "" {
			// Posting it may end at the RP (see commonToRP).
			common.RedirectURIs = append(common.RedirectURIs, a.RedirectsTo)
		}
	}
	s.opt.UI.Render(w, status, ui.ErrorPage{Common: common, Msg: msg, Status: status, Actions: actions})
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
