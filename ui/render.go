package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options brands the pages. The zero value is usable.
type Options struct {
	// ProductName is shown in the header and in every <title>. Empty: a
	// localised "Secure sign-in".
	ProductName string
	// LogoURL is shown beside the product name: an http(s) URL, whose origin
	// is then allowed by the CSP img-src directive, or a path on this server.
	LogoURL string
	// AccentColor colours buttons, links and focus rings: "#rgb" or
	// "#rrggbb". Button labels on it are white, so it must be dark enough for
	// 4.5:1 contrast with white (WCAG AA); a lighter colour is darkened, hue
	// kept, until it is. Empty: #1d4ed8.
	AccentColor string
	// Logger receives template errors, which never reach the page. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Renderer renders the hosted pages and serves their static files. It is safe
// for concurrent use.
type Renderer struct {
	opts   Options
	logger *slog.Logger
	logo   string // checked Options.LogoURL, or ""
	accent string // the accent colour in use
	assets *assets
	// pages maps language -> template name -> template, each page parsed with
	// the layout and functions bound to its language.
	pages map[string]map[string]*template.Template
	// imgSrc is the CSP img-src of every page: 'self' and the logo's origin.
	imgSrc []string
}

// New checks the options, loads the catalogue, and parses every page
// template for every language. It fails if a template or catalogue is missing
// or invalid, so that a broken build stops at start, not at a user's request.
func New(opts Options) (*Renderer, error) {
	r := &Renderer{opts: opts, logger: opts.Logger, imgSrc: []string{"'self'"}}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	var errs []error
	if opts.LogoURL != "" {
		u, src, ok := imageURL(opts.LogoURL, true)
		if !ok {
			errs = append(errs, fmt.Errorf("ui: logo URL %q: want an http(s) URL or a path starting with /", opts.LogoURL))
		}
		r.logo = u
		if src != "" {
			r.imgSrc = append(r.imgSrc, src)
		}
	}
	theme, accent, err := themeCSS(opts.AccentColor)
	if err != nil {
		errs = append(errs, err)
	}
	r.accent = accent
	if _, err := loadCatalogue(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if r.assets, err = loadAssets(theme); err != nil {
		return nil, err
	}
	r.pages = make(map[string]map[string]*template.Template, len(langs))
	for _, l := range langs {
		r.pages[l.tag] = make(map[string]*template.Template, len(pageTemplates))
		for _, name := range pageTemplates {
			t, err := template.New(name).Funcs(r.funcs(l.tag)).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("ui: template %s: %w", name, err)
			}
			for _, def := range []string{"layout", "title", "content"} {
				if t.Lookup(def) == nil {
					return nil, fmt.Errorf("ui: template %s: %q not defined", name, def)
				}
			}
			r.pages[l.tag][name] = t
		}
	}
	return r, nil
}

// AccentColor returns the accent colour in use, after any darkening for
// contrast (see [Options]).
func (r *Renderer) AccentColor() string { return r.accent }

// funcs returns the template functions for pages in lang.
func (r *Renderer) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		// t renders a catalogue entry; templates name entries literally, so a
		// test can check that each exists.
		"t":       func(key MsgID, args ...any) string { return T(lang, key, args...) },
		"act":     func(id ActionID) string { return T(lang, MsgID(id)) },
		"lang":    func() string { return lang },
		"title":   func(id MsgID) string { return msgTitle(lang, id) },
		"next":    func(id MsgID, args ...any) string { return format(msgNext(lang, id), args) },
		"alert":   func(id MsgID, wait int) alertView { return alertView{ID: id, Wait: wait} },
		"invalid": isFieldError,
		"scope": func(s string) string {
			if text, ok := lookup(lang, "scope."+s); ok {
				return text
			}
			return s
		},
		"product": func() string {
			if r.opts.ProductName != "" {
				return r.opts.ProductName
			}
			return T(lang, "app.default_name")
		},
		"logo": func() string { return r.logo },
		"clientLogo": func(raw string) string {
			u, _, _ := imageURL(raw, false)
			return u
		},
		"asset": func(name string) (string, error) {
			if p, ok := r.assets.byName[name]; ok {
				return p, nil
			}
			return "", fmt.Errorf("ui: unknown asset %q", name)
		},
		"theme":    func() string { return r.assets.byName[themeName] },
		"codeLen":  codeLen,
		"codeRule": func(n int) string { return "[0-9]{" + strconv.Itoa(codeLen(n)) + "}" },
	}
}

// alertView is what the "alert" template shows: a message and, for
// messages that say when to try again, the minutes to wait.
type alertView struct {
	ID   MsgID
	Wait int
}

// codeLen is the PIN length to show; 6 (the default of the mfa package) when
// the handler left it unset.
func codeLen(n int) int {
	if n <= 0 || n > 12 {
		return 6
	}
	return n
}

// Render writes page p with HTTP status (0 means 200, or ErrorPage.Status for
// an error page). It executes the template into a buffer and writes only on
// success; if execution fails it logs the error and writes a minimal 500 page
// that says nothing of the cause. It sets Content-Type, Cache-Control: no-store
// and the security headers, including a Content-Security-Policy that allows no
// inline script or style.
func (r *Renderer) Render(w http.ResponseWriter, status int, p Page) {
	if p == nil {
		p = ErrorPage{Msg: MsgServerError}
	}
	if status == 0 {
		switch ep := p.(type) {
		case ErrorPage:
			status = ep.Status
		case *ErrorPage:
			if ep != nil {
				status = ep.Status
			}
		}
	}
	if status < 100 || status > 999 {
		status = http.StatusOK
	}
	var buf bytes.Buffer
	c, name, img, err := r.execute(&buf, p)
	csp := r.csp(c, img)
	if fs, ok := p.(frameSourcer); ok && err == nil {
		if frames := dedupe(fs.frameSources()); len(frames) > 0 {
			csp += "; frame-src " + strings.Join(frames, " ")
		}
	}
	if _, ok := p.(fetcher); ok && err == nil {
		// The passkey script asks this server for a ceremony's options.
		csp += "; connect-src 'self'"
	}
	setPageHeaders(w.Header(), csp)
	if err != nil {
		r.logger.Error("ui: render page", "template", name, "request_id", c.RequestID, "err", err)
		r.writeFallback(w, c)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// execute runs the template of p, turning a panic (a nil page pointer, say)
// into an error.
func (r *Renderer) execute(buf *bytes.Buffer, p Page) (c Common, name string, img []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("ui: panic: %v", v)
		}
	}()
	c = p.base()
	name = p.templateName()
	t := r.pages[normLang(c.Lang)][name]
	if t == nil {
		return c, name, nil, fmt.Errorf("ui: no template %q", name)
	}
	if is, ok := p.(imageSourcer); ok {
		img = is.imageSources()
	}
	return c, name, img, t.ExecuteTemplate(buf, "layout", p)
}

// writeFallback writes the 500 page used when a template fails. It is built by
// hand, escapes everything it prints, and links only the stylesheet.
func (r *Renderer) writeFallback(w http.ResponseWriter, c Common) {
	lang := normLang(c.Lang)
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html lang=\"" + lang + "\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	b.WriteString("<title>" + html.EscapeString(msgTitle(lang, MsgServerError)) + "</title>\n")
	b.WriteString("<link rel=\"stylesheet\" href=\"" + html.EscapeString(r.assets.byName["app.css"]) + "\">\n")
	b.WriteString("<link rel=\"stylesheet\" href=\"" + html.EscapeString(r.assets.byName[themeName]) + "\">\n")
	b.WriteString("</head>\n<body>\n<div class=\"page\">\n<main class=\"card\">\n")
	b.WriteString("<h1>" + html.EscapeString(msgTitle(lang, MsgServerError)) + "</h1>\n")
	b.WriteString("<p>" + html.EscapeString(T(lang, MsgServerError)) + "</p>\n")
	b.WriteString("<p>" + html.EscapeString(msgNext(lang, MsgServerError)) + "</p>\n")
	if c.RequestID != "" {
		b.WriteString("<p class=\"reference\">" + html.EscapeString(T(lang, "error.reference")) +
			" <code>" + html.EscapeString(c.RequestID) + "</code></p>\n")
	}
	b.WriteString("</main>\n</div>\n</body>\n</html>\n")
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(b.String()))
}

// setPageHeaders sets the headers of every rendered page.
func setPageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry CSRF tokens and flow state; no cache may keep them.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	// X-Frame-Options for browsers without frame-ancestors: a login page in a
	// frame invites clickjacking.
	h.Set("X-Frame-Options", "DENY")
	// The URL holds the flow id; do not send it to logo hosts or the client.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
}

// imageSourcer is implemented by pages that show images from other origins.
type imageSourcer interface{ imageSources() []string }

// frameSourcer is implemented by the one page that frames other origins
// (the signed-out page, for front-channel logout); every other page allows
// no frames at all (default-src 'none').
type frameSourcer interface{ frameSources() []string }

// fetcher is implemented by the pages whose script fetches from this
// origin (the passkey pages: a WebAuthn ceremony's options); every other
// page may connect nowhere.
type fetcher interface{ fetchesSelf() }

// csp builds the Content-Security-Policy for a page with Common c that shows
// images from pageImg. Everything is denied by
// default; scripts and styles come only from this origin (no inline code, so
// an injection cannot run), images also from the logo hosts, forms post only
// here (plus the redirect targets in Common.RedirectURIs, see there), and no
// one may frame the page.
func (r *Renderer) csp(c Common, pageImg []string) string {
	img := append(slices.Clone(r.imgSrc), pageImg...)
	form := []string{"'self'"}
	for _, u := range c.RedirectURIs {
		if src, ok := formActionSource(u); ok {
			form = append(form, src)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + strings.Join(dedupe(img), " "),
		"form-action " + strings.Join(dedupe(form), " "),
		"frame-ancestors 'none'",
		"base-uri 'none'",
	}, "; ")
}

func dedupe(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
