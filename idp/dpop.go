package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/dpop"
	"github.com/smspin/idp/idp/store"
)

// session is the fosite session of every grant: OpenID Connect's, and
// the thumbprint of the DPoP key (RFC 9449) its tokens are bound to. It
// is stored with each token, so a refresh keeps the binding.
type session struct {
	*openid.DefaultSession
	JKT string `json:"dpop_jkt,omitempty"`
}

// Clone implements fosite.Session: fosite clones the session of a
// refresh token into the new tokens, and the key must come along.
func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := &session{JKT: s.JKT}
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	}
	return c
}

// GetExtraClaims adds to introspection what a resource server needs: the
// key a bound token is bound to (RFC 9449 section 6.2), and who acts in a
// token exchanged by delegation (RFC 8693 section 4.1).
func (s *session) GetExtraClaims() map[string]any {
	if s == nil {
		return nil
	}
	extra := map[string]any{}
	if s.JKT != "" {
		extra["cnf"] = map[string]string{"jkt": s.JKT}
		extra["token_type"] = "DPoP"
	}
	if s.DefaultSession != nil && s.Claims != nil && s.Claims.Extra["act"] != nil {
		extra["act"] = s.Claims.Extra["act"]
	}
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// oidcSession is the OpenID Connect session of a token's session: ours
// (which wraps one) or fosite's own.
func oidcSession(s fosite.Session) *openid.DefaultSession {
	switch v := s.(type) {
	case *session:
		if v != nil {
			return v.DefaultSession
		}
	case *openid.DefaultSession:
		return v
	}
	return nil
}

// boundKey is the DPoP key a token's session is bound to, or "".
func boundKey(s fosite.Session) string {
	if ss, ok := s.(*session); ok && ss != nil {
		return ss.JKT
	}
	return ""
}

func bindKey(s fosite.Session, jkt string) {
	if ss, ok := s.(*session); ok && ss != nil {
		ss.JKT = jkt
	}
}

// The errors of RFC 9449 sections 5 and 8.
var (
	errInvalidDPoPProof = &fosite.RFC6749Error{ErrorField: "invalid_dpop_proof", CodeField: http.StatusBadRequest,
		DescriptionField: "The DPoP proof is invalid."}
	errUseDPoPNonce = &fosite.RFC6749Error{ErrorField: "use_dpop_nonce", CodeField: http.StatusBadRequest,
		DescriptionField: "The DPoP proof must carry the nonce of the DPoP-Nonce header."}
)

// checkProof checks the DPoP proof of a request to path, if it has one
// (nil, nil if not), and spends it: a proof is accepted once. token is
// the access token the proof must name at a resource; "" at the token
// endpoint. When nonces are required, the answer carries a fresh one.
func (s *Server) checkProof(w http.ResponseWriter, r *http.Request, path, token string) (*dpop.Proof, error) {
	now := s.now()
	if s.opt.DPoPNonce {
		w.Header().Set("DPoP-Nonce", s.nonces.New(now))
		w.Header().Add("Access-Control-Expose-Headers", "DPoP-Nonce")
	}
	proofs := r.Header.Values(dpop.Header)
	switch len(proofs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errInvalidDPoPProof.WithHint("Send one DPoP header.")
	}
	want := dpop.Expect{Method: r.Method, URL: s.url(path), AccessToken: token, Now: now}
	if s.opt.DPoPNonce {
		want.Nonce = func(n string) bool { return s.nonces.Valid(n, now) }
	}
	p, err := dpop.Check(proofs[0], want)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		return nil, errUseDPoPNonce
	case err != nil:
		return nil, errInvalidDPoPProof.WithHint(strings.TrimPrefix(err.Error(), dpop.ErrInvalid.Error()+": ") + ".")
	}
	// Spent outside any transaction of the request: a refused request
	// still used its proof.
	ctx := context.WithoutCancel(r.Context())
	if err := s.store.SpendDPoPProof(ctx, p.ReplayKey(), p.IAT.Add(2*dpop.Window)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errInvalidDPoPProof.WithHint("This proof was used already; make a new one (new jti) for each request.")
		}
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return p, nil
}

// bindTokens binds the tokens a token request is about to get to the
// key of its proof (RFC 9449 section 5), after fosite has checked the
// grant and before anything is issued: a client registered for DPoP must
// send a proof, and a public client's refresh token only works with a
// proof of the key it is bound to (confidential clients authenticate,
// so theirs are not bound, section 5.0).
func bindTokens(ar fosite.AccessRequester, proof *dpop.Proof) error {
	c, _ := ar.GetClient().(*store.Client)
	if proof == nil && c != nil && c.DPoPBound {
		return errInvalidDPoPProof.WithHint("This client must send a DPoP proof with every token request.")
	}
	bound := boundKey(ar.GetSession())
	if ar.GetGrantTypes().ExactOne("refresh_token") && bound != "" && ar.GetClient().IsPublic() &&
		(proof == nil || proof.JKT != bound) {
		return errInvalidDPoPProof.WithHint("The refresh token is bound to a DPoP key: sign the proof with that key.")
	}
	jkt := ""
	if proof != nil {
		jkt = proof.JKT
	}
	if _, ok := ar.GetSession().(*session); !ok && jkt != "" {
		return fmt.Errorf("dpop: session %T cannot be bound", ar.GetSession())
	}
	bindKey(ar.GetSession(), jkt)
	return nil
}

// tokenType is the token_type of a token response: DPoP for bound tokens.
func tokenType(ar fosite.AccessRequester) string {
	if boundKey(ar.GetSession()) != "" {
		return "DPoP"
	}
	return "bearer"
}

// resourceToken reads the access token of a request to a resource and
// its scheme, "dpop" or "bearer" (RFC 6750 section 2.1, RFC 9449 section
// 7.1; the schemes are case-insensitive), or from a form body (RFC 6750
// section 2.2; bearer).
func resourceToken(r *http.Request) (token, scheme string) {
	if h := r.Header.Get("Authorization"); h != "" {
		sch, tok, _ := strings.Cut(h, " ")
		return strings.TrimSpace(tok), strings.ToLower(sch)
	}
	if r.Method == http.MethodPost {
		return r.PostFormValue("access_token"), "bearer"
	}
	return "", ""
}

// checkBinding enforces a token's DPoP binding at a resource at path: a
// bound token comes with the DPoP scheme and a proof of its key that
// names it; an unbound one as a bearer token. It answers the refusal
// itself (RFC 9449 section 7.1) and reports whether the request may go on.
func (s *Server) checkBinding(w http.ResponseWriter, r *http.Request, path, realm, token, scheme string, ar fosite.AccessRequester) bool {
	jkt := boundKey(ar.GetSession())
	refuse := func(code, desc string) bool {
		challenge := fmt.Sprintf(`DPoP realm=%q, algs="%s", error=%q, error_description=%q`, realm, strings.Join(dpop.Algs, " "), code, desc)
		if jkt == "" {
			challenge = fmt.Sprintf(`Bearer realm=%q, error=%q, error_description=%q`, realm, code, desc)
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeJSONError(w, http.StatusUnauthorized, code, desc)
		return false
	}
	switch {
	case jkt == "" && scheme == "dpop":
		return refuse("invalid_token", "The access token is not bound to a DPoP key; send it as a Bearer token.")
	case jkt == "" && scheme == "bearer":
		return true
	case jkt == "":
		return refuse("invalid_request", "Send the access token in the Authorization header.")
	case scheme != "dpop":
		return refuse("invalid_token", "The access token is bound to a DPoP key: send it with the DPoP scheme and a proof.")
	}
	proof, err := s.checkProof(w, r, path, token)
	var rfc *fosite.RFC6749Error
	switch {
	case errors.As(err, &rfc):
		return refuse(rfc.ErrorField, rfc.DescriptionField+" "+rfc.HintField)
	case err != nil:
		s.log.ErrorContext(r.Context(), "dpop proof at a resource", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return false
	case proof == nil:
		return refuse("invalid_dpop_proof", "A DPoP proof is required with a DPoP-bound token.")
	case proof.JKT != jkt:
		return refuse("invalid_dpop_proof", "The DPoP proof is signed by another key than the token is bound to.")
	}
	return true
}

type proofKey struct{}

// withProof carries a token request's checked proof to the grant that
// handles it.
func withProof(ctx context.Context, p *dpop.Proof) context.Context {
	return context.WithValue(ctx, proofKey{}, p)
}

func proofOf(ctx context.Context) *dpop.Proof {
	p, _ := ctx.Value(proofKey{}).(*dpop.Proof)
	return p
}
