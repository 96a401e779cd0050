package idp

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
)

// parPrefix starts every request_uri we hand out (RFC 9126 section 2.2).
const parPrefix = "urn:ietf:params:oauth:request_uri:"

// handlePAR is the pushed authorization request endpoint (RFC 9126): the
// client authenticates and posts the authorize parameters, and gets a
// request_uri to send the browser with instead.
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.ParseForm() == nil {
		if err := requestObjectError(r); err != nil {
			s.oauth.WritePushedAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), err)
			return
		}
		dropUnknownScopes(r)
	}
	ar, err := s.oauth.NewPushedAuthorizeRequest(ctx, r)
	if err == nil {
		err = checkPKCE(ar)
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		s.log.InfoContext(ctx, "pushed authorization request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	resp, err := s.oauth.NewPushedAuthorizeResponse(ctx, ar, newSession())
	if err != nil {
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	s.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// fromPAR reports whether an authorize request came through PAR.
func fromPAR(r *http.Request) bool {
	return strings.HasPrefix(r.Form.Get("request_uri"), parPrefix)
}

// requirePAR refuses a plain authorize request from a client that must
// push its requests.
func requirePAR(r *http.Request, ar fosite.AuthorizeRequester) error {
	if c, ok := ar.GetClient().(*store.Client); ok && c.RequirePAR && !fromPAR(r) {
		return fosite.ErrInvalidRequest.WithHint("This client must use pushed authorization requests (RFC 9126).")
	}
	return nil
}

// idTokenStrategy signs each client's ID tokens with the algorithm it
// registered (id_token_signed_response_alg), or the provider's default.
type idTokenStrategy struct {
	defaultAlg string
	byAlg      map[string]*openid.DefaultStrategy
}

func (s *idTokenStrategy) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	alg := s.defaultAlg
	if c, ok := r.GetClient().(*store.Client); ok && c.IDTokenAlg != "" {
		alg = c.IDTokenAlg
	}
	strategy, ok := s.byAlg[alg]
	if !ok {
		return "", fosite.ErrServerError.WithDebugf("no signer for %s", alg)
	}
	return strategy.GenerateIDToken(ctx, lifespan, r)
}
