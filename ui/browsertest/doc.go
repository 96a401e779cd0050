// Package browsertest checks the hosted pages in a real browser: headless
// Chromium (Debian's chromium package) driven from Go with chromedp, against
// a whole provider on httptest (idp/idptest).
//
// The tests sign in in English and in Japanese, watch the PIN page's resend
// countdown (the pages' one piece of JavaScript), open the error page that an
// unregistered redirect URI gets, sign in with the keyboard alone, use the
// account page and a recovery code (TestAccountAndRecoveryCodes), and run
// axe-core (testdata/axe.min.js) on every page in both languages, failing on
// any serious or critical violation. Each saves screenshots to the directory
// named by IDP_SCREENSHOTS, or to a temporary one; with IDP_SCREENSHOTS set,
// TestDemoScreenshots also builds the idp binary, runs `serve --dev` and
// photographs the demo relying party, which is how the README's pictures are
// made, from the module's root (a relative IDP_SCREENSHOTS is taken from
// there):
//
//	IDP_SCREENSHOTS=docs/screenshots go test ./ui/browsertest
//
// Without /usr/bin/chromium (or IDP_CHROMIUM) the tests skip.
//
// The package has no code of its own outside its tests.
package browsertest
