// Package ui renders the hosted pages of the identity provider: sign-in,
// SMS PIN, phone enrolment, consent, logout and errors. It owns the
// user-facing text, in English and Japanese, and the static files the pages
// use. It imports no other package of the project; handlers in idp fill a
// typed page and call [Renderer.Render].
//
// # Pages
//
// Each page is a struct ([LoginPage], [PINPage], [PhonePage], [ConsentPage],
// [ErrorPage], [LogoutPage], [LoggedOutPage]) that embeds [Common]; only this
// package can define pages. The templates are embedded, parsed for every
// language by [New], which fails if one is missing or broken, and executed
// into a buffer: the response is written only when the page rendered
// completely. If a template fails, Render logs the error and writes a minimal
// 500 page that says nothing about the cause.
//
// The form contract (DESIGN.md) is kept by the templates and checked by the
// tests: the login form posts username and password; the PIN form posts code
// (autocomplete="one-time-code", inputmode="numeric"); the phone form posts
// phone; consent posts consent=allow|deny; logout posts logout=yes|no; every
// form carries its own hidden csrf_token.
//
// # Messages
//
// Everything a user reads comes from the catalogues in locales/en.json and
// locales/ja.json. Handlers choose a message by a [MsgID] constant, never by
// text, so an error string from a lower layer cannot reach a page; an
// unknown MsgID renders as [MsgServerError]. A message has an explanation (its
// key), and unless it is a notice a title (key.title) and a next step
// (key.next), so each can appear above a form or on an [ErrorPage].
// Placeholders are {0}, {1}, ... so that a translation can reorder them. The
// tests fail when a key is missing from a language, when the placeholders of
// the languages differ, when a template names an unknown key or passes the
// wrong number of arguments, and when a key is unused.
//
// To add a message: add the constant to messages.go and to the messages
// table, then its three entries (or one, for a notice) to every catalogue.
//
// # Language
//
// [MatchLang] picks "en" or "ja" from the OIDC ui_locales parameter, then
// Accept-Language, then a fallback. An explicit choice (a lang query
// parameter or cookie, checked with [ParseLang]) is the caller's to apply
// first. [LangLinks] builds the language switch shown on every page.
//
// # Security headers
//
// Render sets Cache-Control: no-store and a Content-Security-Policy with
// default-src 'none', scripts and styles from this origin only (the pages have
// no inline script, inline style or event attribute), images from this origin
// and the logo hosts, form-action 'self', frame-ancestors 'none' and
// base-uri 'none'; plus X-Frame-Options: DENY, Referrer-Policy: no-referrer
// and X-Content-Type-Options: nosniff.
//
// Chrome and Safari also check form-action against the redirects that follow
// a form submission. A POST that finishes the authorize request redirects to
// the client, so the handler must list that redirect_uri (or the
// post_logout_redirect_uri) in [Common].RedirectURIs on every page whose form
// can end there; Render adds its origin to form-action.
//
// # Static files and branding
//
// [Renderer.StaticHandler] serves the embedded static/ files under /static/
// with a content hash in the name (/static/app.3f2a9c1b.css), cached as
// immutable for a year; templates link them with {{asset "app.css"}}. The
// accent colour from [Options] cannot be put in the page (no inline style), so
// New builds a small stylesheet from it, served the same way as
// /static/theme.<hash>.css. White text sits on the accent colour, so a colour
// with less than 4.5:1 contrast with white (WCAG 2 AA) is darkened, keeping its
// hue, until it passes.
//
// Mount the handler with:
//
//	mux.Handle("GET /static/", renderer.StaticHandler())
package ui
