package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

//go:embed static
var staticFS embed.FS

// staticPrefix is the URL path under which StaticHandler serves assets.
const staticPrefix = "/static/"

// asset is one file served by StaticHandler.
type asset struct {
	body        []byte
	contentType string
}

// assets holds the static files, keyed both ways.
type assets struct {
	byPath map[string]asset  // "app.3f2a9c1b.css" -> file
	byName map[string]string // "app.css" -> "/static/app.3f2a9c1b.css"
}

var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/vnd.microsoft.icon",
	".woff2": "font/woff2",
}

func (a *assets) add(name string, body []byte) error {
	ext := path.Ext(name)
	ct, ok := contentTypes[ext]
	if !ok {
		return fmt.Errorf("ui: static %s: no content type for %q", name, ext)
	}
	sum := sha256.Sum256(body)
	// The fingerprint changes with the content, so a file can be cached for
	// ever: a new release links new names.
	fp := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext
	a.byPath[fp] = asset{body: body, contentType: ct}
	a.byName[name] = staticPrefix + fp
	return nil
}

// loadAssets fingerprints the embedded static files and the generated theme.
func loadAssets(theme []byte) (*assets, error) {
	a := &assets{byPath: map[string]asset{}, byName: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		return a.add(strings.TrimPrefix(p, "static/"), b)
	})
	if err != nil {
		return nil, err
	}
	if _, ok := a.byName[themeName]; ok {
		return nil, fmt.Errorf("ui: static/%s clashes with the generated theme", themeName)
	}
	if err := a.add(themeName, theme); err != nil {
		return nil, err
	}
	return a, nil
}

// StaticHandler serves the embedded stylesheet, script and the generated theme
// under /static/ with fingerprinted names (/static/app.3f2a9c1b.css), cached
// for a year as immutable. Any other name, including an unfingerprinted or
// stale one, is 404. Mount it as mux.Handle("GET /static/", r.StaticHandler());
// a handler wrapped in http.StripPrefix("/static/", ...) works too.
func (r *Renderer) StaticHandler() http.Handler {
	return http.HandlerFunc(r.serveStatic)
}

func (r *Renderer) serveStatic(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(req.URL.Path, staticPrefix), "/")
	a, ok := r.assets.byPath[name]
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, req)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(a.body)
	}
}

// themeName is the logical name of the stylesheet generated from Options.
const themeName = "theme.css"

// defaultAccent is used when Options.AccentColor is empty (7.4:1 on white).
const defaultAccent = "#1d4ed8"

// minContrast is WCAG 2.x AA for normal text: white button labels on the
// accent, and accent-coloured links on white, both need it.
const minContrast = 4.5

type rgb [3]float64 // 0..255 per channel

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func parseColor(s string) (rgb, error) {
	if !hexColor.MatchString(s) {
		return rgb{}, fmt.Errorf("ui: accent colour %q: want #rgb or #rrggbb", s)
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var c rgb
	for i := range 3 {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		c[i] = float64(v)
	}
	return c, nil
}

func (c rgb) String() string {
	var b [3]byte
	for i, v := range c {
		b[i] = byte(math.Round(math.Max(0, math.Min(255, v))))
	}
	return "#" + hex.EncodeToString(b[:])
}

// luminance is the WCAG 2.x relative luminance.
func (c rgb) luminance() float64 {
	var l [3]float64
	for i, v := range c {
		s := math.Round(v) / 255
		if s <= 0.04045 {
			l[i] = s / 12.92
		} else {
			l[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

// contrastWithWhite is the WCAG contrast ratio of c against #ffffff.
func (c rgb) contrastWithWhite() float64 {
	return 1.05 / (c.luminance() + 0.05)
}

func (c rgb) scale(f float64) rgb {
	return rgb{c[0] * f, c[1] * f, c[2] * f}
}

// accessibleAccent darkens c, keeping its hue, until white text on it (and
// it as text on white) reaches minContrast.
func accessibleAccent(c rgb) rgb {
	for c.contrastWithWhite() < minContrast {
		c = c.scale(0.97)
	}
	return c
}

// themeCSS builds the stylesheet that carries the operator's accent colour;
// there is no inline style anywhere, so the colour cannot be put in the page.
func themeCSS(accent string) (css []byte, used string, err error) {
	if accent == "" {
		accent = defaultAccent
	}
	c, err := parseColor(accent)
	if err != nil {
		return nil, "", err
	}
	c = accessibleAccent(c)
	hover := c.scale(0.82)
	used = c.String()
	return fmt.Appendf(nil, ":root{--accent:%s;--accent-hover:%s}\n", used, hover), used, nil
}

// cspHost matches a host[:port] that a CSP host-source can express (CSP has
// no syntax for IPv6 literals).
var cspHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// uriScheme is RFC 3986 §3.1 scheme syntax (lower-cased).
var uriScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)

// imageURL checks an image URL for use in <img src>. A path on this server
// ("/x.png") is fine and needs no CSP source; an absolute https URL (or http
// when allowHTTP) needs its origin in img-src, returned as src. ok is false for
// anything else, which is then not shown.
func imageURL(raw string, allowHTTP bool) (u string, src string, ok bool) {
	if raw == "" || len(raw) > 2048 {
		return "", "", false
	}
	p, err := url.Parse(raw)
	if err != nil || p.User != nil {
		return "", "", false
	}
	if p.Scheme == "" && p.Host == "" {
		if strings.HasPrefix(p.Path, "/") && !strings.HasPrefix(raw, "//") && !strings.Contains(raw, `\`) {
			return raw, "", true
		}
		return "", "", false
	}
	scheme := strings.ToLower(p.Scheme)
	if (scheme != "https" && !(allowHTTP && scheme == "http")) || !cspHost.MatchString(p.Host) {
		return "", "", false
	}
	return raw, scheme + "://" + strings.ToLower(p.Host), true
}

// formActionSource returns the CSP source that lets a form submission be
// redirected to raw: its origin, or for a private-use URI scheme of a native
// app (RFC 8252 §7.1) the scheme. ok is false for a URL that must not be
// allowed.
func formActionSource(raw string) (src string, ok bool) {
	p, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", false
	}
	scheme := strings.ToLower(p.Scheme)
	switch scheme {
	case "":
		return "", false // relative: 'self' covers it
	case "http", "https":
		if cspHost.MatchString(p.Host) {
			return scheme + "://" + strings.ToLower(p.Host), true
		}
		if strings.HasPrefix(p.Host, "[") {
			// An IPv6 loopback redirect (RFC 8252 §7.3) cannot be written as a
			// host-source; allow the scheme rather than break the login.
			return scheme + ":", true
		}
		return "", false
	case "javascript", "data", "blob", "filesystem", "file", "about", "vbscript":
		return "", false
	}
	if !uriScheme.MatchString(scheme) {
		return "", false
	}
	return scheme + ":", true
}
