package idp

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authRequest is an RP's authorize request as the login needs it (OIDC
// Core 3.1.2.1), read once from the parameters fosite validated or from
// those a flow stored.
type authRequest struct {
	Scopes      []string
	Prompt      []string
	RedirectURI string
	State       string
	UILocales   string
	LoginHint   string
	IDTokenHint string
	ACRValues   []string
	MaxAge      time.Duration // -1: not given
	Claims      string        // the claims parameter, JSON
}

// parseAuthRequest reads a flow's stored parameters.
func parseAuthRequest(rawQuery string) authRequest {
	q, _ := url.ParseQuery(rawQuery)
	return authRequestOf(q)
}

func authRequestOf(q url.Values) authRequest {
	a := authRequest{
		Scopes:      strings.Fields(q.Get("scope")),
		Prompt:      strings.Fields(q.Get("prompt")),
		RedirectURI: q.Get("redirect_uri"),
		State:       q.Get("state"),
		UILocales:   q.Get("ui_locales"),
		LoginHint:   q.Get("login_hint"),
		IDTokenHint: q.Get("id_token_hint"),
		ACRValues:   strings.Fields(q.Get("acr_values")),
		MaxAge:      -1,
		Claims:      q.Get("claims"),
	}
	if v := q.Get("max_age"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			a.MaxAge = time.Duration(n) * time.Second
		}
	}
	return a
}

// prompts reports whether the RP asked for prompt value v.
func (a authRequest) prompts(v string) bool { return slices.Contains(a.Prompt, v) }

// asksACR reports whether the RP listed an authentication context class.
func (a authRequest) asksACR(acr string) bool { return slices.Contains(a.ACRValues, acr) }
