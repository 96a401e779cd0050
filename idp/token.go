package idp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
)

// exchangeCode is the authorization code grant (RFC 6749 section 4.1.3),
// and the device code grant (RFC 8628 section 3.4), in one transaction: fosite's reads and writes (the PKCE session spent,
// the code invalidated, the tokens stored, the OpenID Connect session
// spent) commit once. fosite's own transactions become savepoints in it,
// so each of its units still rolls back alone; what fosite keeps when it
// refuses (the tokens of a replayed code revoked, RFC 6749 section
// 4.1.2) commits with the refusal, as it would without us.
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request) {
	var (
		ar   fosite.AccessRequester
		resp fosite.AccessResponder
		ferr error
	)
	err := s.store.InTx(store.WithCodeMemo(r.Context()), func(ctx context.Context) error {
		if ar, ferr = s.oauth.NewAccessRequest(ctx, r, newSession()); ferr == nil {
			if ferr = bindTokens(ar, proofOf(ctx)); ferr == nil {
				resp, ferr = s.oauth.NewAccessResponse(ctx, ar)
			}
		}
		if errors.Is(ferr, store.ErrUnavailable) {
			return ferr // the database failed under fosite: nothing of it stands
		}
		return nil
	})
	switch {
	case err != nil:
		s.accessError(w, r, ar, err) // nothing was stored: no tokens go out
	case ferr != nil:
		s.accessError(w, r, ar, ferr)
	default:
		resp.SetTokenType(tokenType(ar))
		s.stats.add("token_issued." + strings.Join(ar.GetGrantTypes(), "+"))
		s.oauth.WriteAccessResponse(r.Context(), w, ar, resp)
	}
}
