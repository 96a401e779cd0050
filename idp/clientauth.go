package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"
)

// clientAuthentication wraps fosite's client authentication (RFC 6749
// section 2.3, RFC 7523 section 3) so that every failure to authenticate
// answers invalid_client (RFC 6749 section 5.2): no credentials, unknown
// client, wrong secret, an expired or replayed assertion. fosite answers
// an expired assertion with an untyped error (a 500) and a replayed one
// with jti_known. A database that cannot be reached stays
// temporarily_unavailable, so a client is not told its credentials are
// wrong when they are not.
func clientAuthentication(f *fosite.Fosite) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
		if err == nil {
			return c, nil
		}
		if u := unavailable(err); errors.Is(u, fosite.ErrTemporarilyUnavailable) {
			return nil, u
		}
		var rfc *fosite.RFC6749Error
		switch {
		case errors.Is(err, fosite.ErrMisconfiguration):
			return nil, err
		case errors.Is(err, fosite.ErrJTIKnown):
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion was used before (RFC 7523 section 3: jti is single use).").WithWrap(err)
		case !errors.As(err, &rfc):
			// fosite hands back the JWT library's own error for an
			// expired or not yet valid assertion.
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion is expired, not yet valid or malformed.").WithWrap(err).WithDebug(err.Error())
		case !errors.Is(err, fosite.ErrInvalidClient):
			return nil, fosite.ErrInvalidClient.WithHint(rfc.GetDescription()).WithWrap(err).WithDebug(rfc.DebugField)
		}
		return nil, err
	}
}

// writeEndpointError answers a request to the introspection or revocation
// endpoint with an RFC 6749 section 5.2 error. A failed client
// authentication is 401 invalid_client, with a Basic challenge when the
// client tried the Authorization header.
func writeEndpointError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := fosite.ErrorToRFC6749Error(unavailable(err))
	status := rfc.CodeField
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		status = http.StatusUnauthorized
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "basic ") {
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
		}
	}
	if status < 400 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": rfc.ErrorField, "error_description": rfc.GetDescription()})
}
