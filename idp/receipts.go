package idp

import (
	"errors"
	"net/http"

	"github.com/smspin/idp/mfa/sms"
)

// handleReceipt takes a delivery report a provider pushed: its reader
// authenticates it (a signature, or a token in the URL we gave), and
// only the status it reports is recorded. A forgery gets 403, a report
// that cannot be read 400, and a failure on our side 503 so the provider
// tries again; everything else, repeats and unknown messages included,
// 204: a provider learns nothing about which messages exist.
func (s *Server) handleReceipt(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	rd, ok := s.opt.Receipts[name]
	if !ok {
		writeJSONError(w, http.StatusNotFound, "not_found", "No delivery reports are taken for this provider.")
		return
	}
	rep, err := rd.ReadReport(r.Context(), r)
	switch {
	case errors.Is(err, sms.ErrForged):
		s.stats.add("sms_receipt_forged")
		s.log.WarnContext(r.Context(), "delivery report refused: not authentic", "provider", name, "client_ip", s.clientIP(r).String())
		writeJSONError(w, http.StatusForbidden, "access_denied", "The report is not authenticated as the provider's.")
		return
	case errors.Is(err, sms.ErrBadReport):
		s.log.InfoContext(r.Context(), "delivery report refused: unreadable", "provider", name, "err", err)
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "The report cannot be read.")
		return
	case err != nil:
		s.log.WarnContext(r.Context(), "delivery report not read", "provider", name, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The report could not be taken now; send it again later.")
		return
	}
	if _, err := s.opt.MFA.ApplyReport(r.Context(), name, rep); err != nil {
		s.log.ErrorContext(r.Context(), "delivery report not recorded", "provider", name, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The report could not be taken now; send it again later.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
