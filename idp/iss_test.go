package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// TestAuthorizationResponseIssuer is the mix-up defence of RFC 9207: an RP
// that talks to several providers checks that the answer it got names the
// provider it sent the user to. Every authorization response, success and
// error, in the query and in form_post, from every path that writes one,
// carries iss; discovery says so.
func TestAuthorizationResponseIssuer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		o := newOC(t, open, idptest.Options{})
		if got := o.discovery()["authorization_response_iss_parameter_supported"]; got != true {
			t.Errorf("discovery: authorization_response_iss_parameter_supported = %v, want true", got)
		}
		thirdParty := o.register("rp3", "client_secret_basic", false)
		signedIn := o.e.NewBrowser()
		o.signedIn(signedIn, o.client)

		cases := []struct {
			name      string
			browser   *idptest.Browser
			a         *ocAuth
			consent   string // the answer on the consent page, if one shows
			wantError string // "" for a code
		}{
			{"success in the query", o.e.NewBrowser(), o.auth(o.client, "openid"), "", ""},
			{"success in form_post", o.e.NewBrowser(), o.auth(o.client, "openid", "response_mode", "form_post"), "", ""},
			{"success from the session, prompt=none", signedIn, o.auth(o.client, "openid", "prompt", "none"), "", ""},
			{"login_required in the query", o.e.NewBrowser(), o.auth(o.client, "openid", "prompt", "none"), "", "login_required"},
			{"login_required in form_post", o.e.NewBrowser(), o.auth(o.client, "openid", "prompt", "none", "response_mode", "form_post"), "", "login_required"},
			{"consent_required", signedIn, o.auth(thirdParty, "openid", "prompt", "none"), "", "consent_required"},
			{"access_denied by the user", signedIn, o.auth(thirdParty, "openid"), "deny", "access_denied"},
			{"access_denied in form_post", signedIn, o.auth(thirdParty, "openid", "response_mode", "form_post"), "deny", "access_denied"},
			{"invalid_request before any page", o.e.NewBrowser(), o.auth(o.client, "openid", "code_challenge_method", "plain", "code_challenge", "plain-challenge-plain-challenge-plain-challenge"), "", "invalid_request"},
			{"request object refused", o.e.NewBrowser(), o.auth(o.client, "openid", "request", "e30.e30."), "", "request_not_supported"},
			{"request object refused in form_post", o.e.NewBrowser(), o.auth(o.client, "openid", "request", "e30.e30.", "response_mode", "form_post"), "", "request_not_supported"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := c.browser.Get(o.url(c.a))
				if c.consent != "" {
					p = c.browser.Fill(p, url.Values{"consent": {c.consent}})
				} else {
					p, _ = o.drive(c.browser, p)
				}
				params := authorizationAnswer(t, p, c.a)
				if params.Get("iss") != o.e.Issuer {
					t.Errorf("answer %v: iss = %q, want %q (RFC 9207)", params, params.Get("iss"), o.e.Issuer)
				}
				if got := params.Get("error"); got != c.wantError {
					t.Errorf("answer %v: error = %q, want %q", params, got, c.wantError)
				}
				if c.wantError == "" && params.Get("code") == "" {
					t.Errorf("answer %v has no code", params)
				}
				if params.Get("state") != c.a.state {
					t.Errorf("answer %v: state = %q, want %q", params, params.Get("state"), c.a.state)
				}
			})
		}
	})
}

var (
	formPostAction = regexp.MustCompile(`(?is)<form[^>]*method="post"[^>]*action="([^"]+)"`)
	formPostInput  = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// authorizationAnswer reads an answer to the RP: the query of a redirect,
// or the fields of a form_post page, checking it goes to a's redirect URI.
func authorizationAnswer(t *testing.T, p *idptest.Page, a *ocAuth) url.Values {
	t.Helper()
	if a.q.Get("response_mode") == "form_post" {
		form := formPostAction.FindStringSubmatch(p.Body)
		if p.Status != http.StatusOK || form == nil || html.UnescapeString(form[1]) != a.c.RedirectURI {
			t.Fatalf("want a form_post page posting to %s, got %d at %s:\n%.800s", a.c.RedirectURI, p.Status, p.URL, p.Body)
		}
		fields := url.Values{}
		for _, m := range formPostInput.FindAllStringSubmatch(p.Body, -1) {
			fields.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return fields
	}
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("want a redirect to %s, got %d at %s:\n%.800s", a.c.RedirectURI, p.Status, p.URL, p.Body)
	}
	loc := p.Location()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != a.c.RedirectURI {
		t.Fatalf("redirected to %s, want %s", loc, a.c.RedirectURI)
	}
	return loc.Query()
}
