package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smspin/idp/ui"
)

// FuzzLang feeds the language choosers arbitrary ui_locales values,
// Accept-Language headers, lang parameters and request URLs. Nothing may
// panic; every answer is "en" or "ja"; and each language link stays on
// this host: it starts with a single "/" and holds nothing a browser
// would read as another host (a second slash, a backslash, a control
// character it strips).
func FuzzLang(f *testing.F) {
	for _, s := range []struct{ uiLocales, accept, lang, target, rawPath string }{
		{"ja en", "en-US,en;q=0.9", "ja-JP", "/login?flow=abc&lang=en", ""},
		{"fr de-CH", "ja;q=0.8, *;q=0.1", "EN-gb", "/login/pin?flow=x&sent=1", ""},
		{"", "da, en-gb;q=0.8, en;q=0.7", "zh", "//evil.example/x?y=1", ""},
		{"x-klingon " + strings.Repeat("en ", 20), "en;q=0, ja;q=0", "", "/%2F%2Fevil.example", "//evil.example"},
		{"und", "ja;q=abc,en", "i-klingon", "/\\evil.example", "/\\evil.example"},
		{"ja-Latn-JP-u-ca-japanese", "*", "ja-", "/a\tb/%09/", "/\t/evil"},
		{"", strings.Repeat("en-US,", 200), strings.Repeat("a", 36), "http://evil.example/login?lang=ja", ""},
		{"\xff\xfe", "\x00", "\u3000ja", "*", ""},
	} {
		f.Add(s.uiLocales, s.accept, s.lang, s.target, s.rawPath)
	}
	supported := func(l string) bool { return l == "en" || l == "ja" }
	f.Fuzz(func(t *testing.T, uiLocales, accept, lang, target, rawPath string) {
		if l, ok := ui.ParseLang(lang); ok {
			if !supported(l) {
				t.Fatalf("ParseLang(%q) = %q", lang, l)
			}
			if again, ok := ui.ParseLang(l); !ok || again != l {
				t.Fatalf("ParseLang(%q) = %q, but ParseLang(%q) = %q, %v", lang, l, l, again, ok)
			}
		} else if l != "" {
			t.Fatalf("ParseLang(%q) = %q without ok", lang, l)
		}
		chosen := ui.MatchLang(uiLocales, accept, lang)
		if !supported(chosen) {
			t.Fatalf("MatchLang(%q, %q, %q) = %q", uiLocales, accept, lang, chosen)
		}

		var reqs []*http.Request
		if u, err := url.ParseRequestURI(target); err == nil {
			reqs = append(reqs, &http.Request{Method: http.MethodGet, URL: u})
		}
		path, query, _ := strings.Cut(target, "?")
		reqs = append(reqs, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path, RawPath: rawPath, RawQuery: query}}, nil)
		for _, r := range reqs {
			links := ui.LangLinks(r, lang)
			if len(links) != 2 {
				t.Fatalf("LangLinks: %d links", len(links))
			}
			current := 0
			for _, l := range links {
				if !supported(l.Lang) {
					t.Fatalf("LangLinks: language %q", l.Lang)
				}
				if l.Current {
					current++
				}
				checkOnHost(t, l.URL)
				u, err := url.Parse(l.URL)
				if err != nil {
					t.Fatalf("LangLinks: %q does not parse: %v", l.URL, err)
				}
				if got := u.Query()["lang"]; len(got) != 1 || got[0] != l.Lang {
					t.Fatalf("LangLinks: %q sets lang to %q, want %q", l.URL, got, l.Lang)
				}
			}
			if current != 1 {
				t.Fatalf("LangLinks(%q): %d links marked current", lang, current)
			}
		}
	})
}

// checkOnHost fails unless link is a path on the current host, as a
// browser resolves it.
func checkOnHost(t *testing.T, link string) {
	t.Helper()
	if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") {
		t.Fatalf("link %q does not start with a single slash", link)
	}
	for _, c := range []byte(link) {
		// Browsers read "\" as "/" and drop tabs and newlines, so
		// "/\evil" and "/\t/evil" lead to another host.
		if c == '\\' || c < 0x20 || c == 0x7f || c == ' ' {
			t.Fatalf("link %q holds %q", link, c)
		}
	}
	base, _ := url.Parse("https://idp.example/login")
	ref, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q does not parse: %v", link, err)
	}
	if got := base.ResolveReference(ref); got.Host != "idp.example" || got.Scheme != "https" {
		t.Fatalf("link %q leads to %s", link, got)
	}
}
