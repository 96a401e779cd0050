// Package demo is a small OpenID Connect relying party that `idp serve --dev`
// mounts on the provider itself, so that a newcomer can watch a whole
// sign-in in a browser: the authorization request with state, nonce and PKCE
// (S256), the password and SMS PIN pages, the code exchange, the ID token's
// verification, and the userinfo call.
//
// It is a demo for development mode only and must not be exposed in
// production: it is a public client that anyone who reaches it can use to
// start sign-ins, and it shows the signed-in user's claims to the browser.
//
// The demo talks to the provider only over HTTP, through the standard
// libraries an ordinary Go RP would use (golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3), and imports no other package of this
// module: whatever works here works for any RP. Because the provider is the
// same process, [New] contacts nobody; the discovery document is fetched on
// first use.
//
// Routes, registered by [Handler.Mount]:
//
//	GET /demo                  the start page and its "Sign in" button
//	GET /demo/login            starts a sign-in and redirects to the provider
//	GET /demo/callback         the redirect URI: exchanges the code, shows the result
//	GET /demo/static/demo.css  the stylesheet
package demo
