package browsertest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/ui"
)

// TestErrorPage opens authorize requests that no one may be redirected
// for, an unregistered redirect URI and an unknown client, in English and
// in Japanese (by Accept-Language): the provider shows its error page,
// saying what happened and what to do next, and sends the browser nowhere.
func TestErrorPage(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, idptest.Options{})
	client := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", e.callback(), false)
	shots := screenshotDir(t)

	for _, l := range ui.Langs() {
		t.Run(l, func(t *testing.T) {
			ctx := newTab(t, browser, map[string]string{"en": "en-US,en;q=0.9", "ja": "ja,en-US;q=0.8"}[l])
			for _, tc := range []struct {
				name string
				msg  string
				c    idptest.Client
				shot string
			}{
				{"UnregisteredRedirectURI", "error.bad_redirect_uri",
					idptest.Client{ID: client.ID, RedirectURI: e.rp.URL + "/elsewhere"}, "error-" + l + ".png"},
				{"UnknownClient", "error.unknown_client",
					idptest.Client{ID: "no-such-app", RedirectURI: e.callback()}, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := e.hits.count()
					u := newAuthRequest(tc.c, nil).url(e.Issuer)
					navigate(t, ctx, u)
					if got := location(t, ctx); got.String() != u {
						t.Errorf("the browser went on to %s", got)
					}
					if n := e.hits.count() - before; n != 0 {
						t.Errorf("the RP got %d requests", n)
					}
					checkPage(t, ctx, l, tr(l, tc.msg+".title"))
					body := text(t, ctx, "main")
					for _, key := range []string{tc.msg, tc.msg + ".next"} {
						if !strings.Contains(body, tr(l, key)) {
							t.Errorf("the page lacks %s %q:\n%s", key, tr(l, key), body)
						}
					}
					if ref := text(t, ctx, ".reference code"); ref == "" {
						t.Errorf("the page shows no reference to quote to support")
					}
					if got := eval[int](t, ctx, `document.forms.length`); got != 0 {
						t.Errorf("the error page has %d forms", got)
					}
					// The language switch keeps the request, so the page
					// can be read in the other language.
					if href := eval[string](t, ctx, `document.querySelector(".langs a")?.getAttribute("href") ?? ""`); !strings.Contains(href, url.QueryEscape(tc.c.RedirectURI)) {
						t.Errorf("language switch link %q loses the request", href)
					}
					checkA11y(t, ctx, "error")
					if tc.shot != "" {
						screenshot(t, ctx, shots, tc.shot)
					}
				})
			}
		})
	}
}
