package idp

import "net/http"

// notify sends a notice by SMS to a user's phone, in the user's language
// (their own, else the page's), once the step it tells of has committed.
// ref names the event in the delivery records. A notice that cannot be
// sent is logged: the action it tells of stands.
func (s *Server) notify(r *http.Request, userID, ref string, text func(lang string) string) {
	ctx := r.Context()
	user, err := s.store.UserByID(ctx, userID)
	if err != nil {
		s.log.WarnContext(ctx, "notice not sent", "ref", ref, "err", err)
		return
	}
	phone, err := s.store.PhoneOf(ctx, userID)
	if err != nil || phone == nil {
		if err != nil {
			s.log.WarnContext(ctx, "notice not sent", "ref", ref, "err", err)
		}
		return
	}
	lang := s.userLang(r, user.Locale)
	if err := s.opt.MFA.Notify(ctx, ref, phone.Number, text(lang), lang); err != nil {
		s.log.WarnContext(ctx, "notice not sent", "ref", ref, "err", err)
	}
}
