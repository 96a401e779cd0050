package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// defaultLang is the language of last resort; its catalogue is the reference.
const defaultLang = "en"

// langs lists the supported languages in the order the switch shows them.
// Each label is written in its own language.
var langs = []struct {
	tag   string
	label string
	base  language.Tag
}{
	{"en", "English", language.English},
	{"ja", "日本語", language.Japanese},
}

// matcher matches requested language tags against langs. A language.Matcher
// is safe for concurrent use.
var matcher = language.NewMatcher([]language.Tag{language.English, language.Japanese})

// Langs returns the supported language codes, "en" first.
func Langs() []string {
	out := make([]string, len(langs))
	for i, l := range langs {
		out[i] = l.tag
	}
	return out
}

// ParseLang returns the supported language code that s names ("ja", "ja-JP",
// "EN-gb" ...), for an explicit lang query parameter or cookie. ok is false
// when s names no supported language.
func ParseLang(s string) (lang string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 35 {
		return "", false
	}
	t, err := language.Parse(s)
	if err != nil {
		return "", false
	}
	b, _ := t.Base()
	for _, l := range langs {
		if lb, _ := l.base.Base(); lb == b {
			return l.tag, true
		}
	}
	return "", false
}

// normLang returns lang if it is supported, else the default language.
func normLang(lang string) string {
	for _, l := range langs {
		if l.tag == lang {
			return lang
		}
	}
	if l, ok := ParseLang(lang); ok {
		return l
	}
	return defaultLang
}

// MatchLang picks the page language: the first supported entry of uiLocales
// (the space-separated BCP 47 list of the OIDC ui_locales parameter, OpenID
// Connect Core 1.0 §3.1.2.1), else the best match of the Accept-Language
// header (RFC 9110 §12.5.4, q-values honoured), else fallback if it is
// supported, else "en". The result is always "en" or "ja".
//
// An explicit choice (a lang query parameter or cookie) is the caller's to
// check first, with [ParseLang].
func MatchLang(uiLocales, acceptLanguage, fallback string) string {
	if l, ok := matchTags(parseList(uiLocales)); ok {
		return l
	}
	if l, ok := matchTags(parseAcceptLanguage(acceptLanguage)); ok {
		return l
	}
	return normLang(fallback)
}

func matchTags(tags []language.Tag) (string, bool) {
	if len(tags) == 0 {
		return "", false
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "", false
	}
	return langs[i].tag, true
}

// parseList parses a space-separated list of tags, skipping bad entries.
func parseList(s string) []language.Tag {
	f := strings.Fields(s)
	if len(f) > 16 {
		f = f[:16] // a bound on work for a hostile parameter
	}
	var tags []language.Tag
	for _, v := range f {
		if t, err := language.Parse(v); err == nil {
			tags = append(tags, t)
		}
	}
	return tags
}

// parseAcceptLanguage parses the header in q order; a malformed header is
// read leniently, entry by entry, in the order written.
func parseAcceptLanguage(h string) []language.Tag {
	if h == "" || len(h) > 1024 {
		return nil
	}
	if tags, _, err := language.ParseAcceptLanguage(h); err == nil {
		return tags
	}
	var tags []language.Tag
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(part, ";")
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && v <= 0 {
				continue // q=0 means "not acceptable"
			}
		}
		if t, err := language.Parse(strings.TrimSpace(tag)); err == nil {
			tags = append(tags, t)
		}
	}
	return tags
}

// LangLink is one entry of the language switch shown on every page.
type LangLink struct {
	Lang    string // "en", "ja"
	Label   string // the language's name in that language: "English", "日本語"
	URL     string // the current path and query with lang set; relative to the host
	Current bool   // the page is in this language
}

// LangLinks returns the language switch for a page built for request r in
// language current: one link per supported language, each the request's path
// and query with the lang parameter set (other parameters, such as flow, kept).
// The URLs are host-relative and always start with a single "/".
//
// The links are GET requests; on a page answering a POST they lead to the
// GET form of the same path.
func LangLinks(r *http.Request, current string) []LangLink {
	current = normLang(current)
	var u url.URL
	if r != nil && r.URL != nil {
		u = *r.URL
	}
	path := u.EscapedPath()
	// A path starting with "//" would make a scheme-relative URL pointing at
	// another host; keep the link on this one.
	path = "/" + strings.TrimLeft(path, "/")
	q := u.Query()
	out := make([]LangLink, 0, len(langs))
	for _, l := range langs {
		q.Set("lang", l.tag)
		out = append(out, LangLink{
			Lang:    l.tag,
			Label:   l.label,
			URL:     path + "?" + q.Encode(),
			Current: l.tag == current,
		})
	}
	return out
}
