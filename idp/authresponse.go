package idp

import (
	"context"
	"net/http"

	"github.com/ory/fosite"
)

// issuerProvider is the fosite provider with every authorization response,
// success or error, carrying the iss parameter (RFC 9207 section 2), in
// every response mode we serve. Every writer of authorize responses goes
// through it: the authorize endpoint, the login engine's finish, and our
// own refusals, so an RP talking to several providers can tell which one
// answered (the mix-up attack, OAuth 2.0 Security BCP 4.4).
type issuerProvider struct {
	fosite.OAuth2Provider
	issuer string
	// f is the concrete provider, for its form_post template.
	f *fosite.Fosite
}

// WriteAuthorizeResponse adds iss to a successful response (RFC 9207 2).
func (p issuerProvider) WriteAuthorizeResponse(ctx context.Context, rw http.ResponseWriter, ar fosite.AuthorizeRequester, resp fosite.AuthorizeResponder) {
	resp.AddParameter("iss", p.issuer)
	p.OAuth2Provider.WriteAuthorizeResponse(ctx, rw, ar, resp)
}

// WriteAuthorizeError adds iss to an error sent back to the RP (RFC 9207
// 2: "also in error responses"). An error that cannot go back to the RP
// (no valid redirect URI) is left to fosite, which answers it in place.
func (p issuerProvider) WriteAuthorizeError(ctx context.Context, rw http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	mode := fosite.ResponseModeDefault
	if ar != nil {
		mode = ar.GetResponseMode()
	}
	if ar == nil || !ar.IsRedirectURIValid() ||
		(mode != fosite.ResponseModeDefault && mode != fosite.ResponseModeQuery && mode != fosite.ResponseModeFormPost) {
		p.OAuth2Provider.WriteAuthorizeError(ctx, rw, ar, err)
		return
	}
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("Pragma", "no-cache")
	params := fosite.ErrorToRFC6749Error(err).WithExposeDebug(false).ToValues()
	if st := ar.GetState(); st != "" {
		params.Set("state", st)
	}
	params.Set("iss", p.issuer)
	u := *ar.GetRedirectURI()
	u.Fragment = ""
	if mode == fosite.ResponseModeFormPost {
		rw.Header().Set("Content-Type", "text/html;charset=UTF-8")
		fosite.WriteAuthorizeFormPostResponse(u.String(), params, fosite.GetPostFormHTMLTemplate(ctx, p.f), rw)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	rw.Header().Set("Location", u.String())
	rw.WriteHeader(http.StatusSeeOther)
}
