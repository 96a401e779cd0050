package ui

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	ttemplate "text/template"
	"text/template/parse"
)

var placeholder = regexp.MustCompile(`\{(\d+)\}`)

// placeholders returns the distinct placeholder indexes in s, sorted.
func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

func mustCatalogue(t *testing.T) catalogue {
	t.Helper()
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogueLanguagesHaveSameKeys(t *testing.T) {
	c := mustCatalogue(t)
	ref := c[defaultLang]
	for _, l := range langs {
		for k := range ref {
			if _, ok := c[l.tag][k]; !ok {
				t.Errorf("%s: missing %q", l.tag, k)
			}
		}
		for k, v := range c[l.tag] {
			if _, ok := ref[k]; !ok {
				t.Errorf("%s: %q is not in %s", l.tag, k, defaultLang)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %q is empty", l.tag, k)
			}
		}
	}
}

func TestCataloguePlaceholderParity(t *testing.T) {
	c := mustCatalogue(t)
	for k, en := range c[defaultLang] {
		want := placeholders(en)
		for _, l := range langs {
			if got := placeholders(c[l.tag][k]); !slices.Equal(got, want) {
				t.Errorf("%s %q: placeholders %v, %s has %v", l.tag, k, got, defaultLang, want)
			}
		}
		for i, p := range want {
			if p != string(rune('0'+i)) {
				t.Errorf("%q: placeholders %v do not count up from {0}", k, want)
				break
			}
		}
	}
}

// declaredMsgIDs returns the MsgID constants declared in messages.go.
func declaredMsgIDs(t *testing.T) map[string]MsgID {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "messages.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]MsgID{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "MsgID" {
				continue
			}
			for i, n := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				out[n.Name] = MsgID(strings.Trim(lit.Value, `"`))
			}
		}
	}
	return out
}

func TestEveryMessageInEveryLanguage(t *testing.T) {
	c := mustCatalogue(t)
	declared := declaredMsgIDs(t)
	if len(declared) != len(messages) {
		t.Errorf("%d MsgID constants, %d in the messages table", len(declared), len(messages))
	}
	seen := map[MsgID]string{}
	for name, id := range declared {
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s share key %q", name, other, id)
		}
		seen[id] = name
		info, ok := messages[id]
		if !ok {
			t.Errorf("%s (%q) is not in the messages table", name, id)
			continue
		}
		for _, l := range langs {
			text, ok := c[l.tag][string(id)]
			if !ok {
				t.Errorf("%s: no text for %s (%q)", l.tag, name, id)
			}
			if n := len(placeholders(text)); n != info.args {
				t.Errorf("%s %s: %d placeholders, callers pass %d", l.tag, name, n, info.args)
			}
			for _, suffix := range []string{".title", ".next"} {
				_, has := c[l.tag][string(id)+suffix]
				if want := info.kind != kindNotice; has != want {
					t.Errorf("%s %s: has %s = %v, want %v", l.tag, name, suffix, has, want)
				}
			}
		}
	}
}

// templateCall is a literal catalogue key used by a template through t.
type templateCall struct {
	file string
	key  string
	args int
}

// templateCalls walks every template and returns its t calls with literal keys.
func templateCalls(t *testing.T) []templateCall {
	t.Helper()
	stubs := ttemplate.FuncMap{}
	for name := range (&Renderer{}).funcs("en") {
		stubs[name] = func(...any) string { return "" }
	}
	var calls []templateCall
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, file := range files {
		src, err := fs.ReadFile(templateFS, file)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := ttemplate.New(file).Funcs(stubs).Parse(string(src))
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tmpl.Templates() {
			if tt.Tree == nil {
				continue
			}
			walk(tt.Tree.Root, func(cmd *parse.CommandNode) {
				if id, ok := cmd.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "t" || len(cmd.Args) < 2 {
					return
				}
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					calls = append(calls, templateCall{file, s.Text, len(cmd.Args) - 2})
				}
			})
		}
	}
	return calls
}

func walk(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, f)
			}
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walk(c, f)
			}
		}
	case *parse.CommandNode:
		f(n)
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.TemplateNode:
		walk(n.Pipe, f)
	}
}

func TestTemplateKeysExist(t *testing.T) {
	c := mustCatalogue(t)
	calls := templateCalls(t)
	if len(calls) < 30 {
		t.Fatalf("found only %d t calls; is the walker broken?", len(calls))
	}
	for _, call := range calls {
		for _, l := range langs {
			text, ok := c[l.tag][call.key]
			if !ok {
				t.Errorf("%s: %s uses %q, which %s lacks", call.file, call.key, call.key, l.tag)
				continue
			}
			if n := len(placeholders(text)); n != call.args {
				t.Errorf("%s: %q has %d placeholders in %s, the template passes %d", call.file, call.key, n, l.tag, call.args)
			}
		}
	}
}

// TestActionLabelsExist: every action a page can offer has its label in
// every language.
func TestActionLabelsExist(t *testing.T) {
	c := mustCatalogue(t)
	for _, id := range actionIDs {
		for _, l := range langs {
			if text := c[l.tag][string(id)]; text == "" {
				t.Errorf("action %s has no label in %s", id, l.tag)
			}
		}
	}
}

// TestNoUnusedKeys keeps the catalogue free of typos and leftovers.
func TestNoUnusedKeys(t *testing.T) {
	used := map[string]bool{
		"app.default_name": true, // the product name when Options.ProductName is empty
		"error.reference":  true, // also in the fallback page
	}
	for id := range messages {
		used[string(id)], used[string(id)+".title"], used[string(id)+".next"] = true, true, true
	}
	for _, id := range actionIDs {
		used[string(id)] = true
	}
	for _, call := range templateCalls(t) {
		used[call.key] = true
	}
	for k := range mustCatalogue(t)[defaultLang] {
		if !used[k] && !strings.HasPrefix(k, "scope.") {
			t.Errorf("unused catalogue key %q", k)
		}
	}
	for _, s := range []string{"openid", "profile", "phone", "email", "offline_access"} {
		if _, ok := mustCatalogue(t)[defaultLang]["scope."+s]; !ok {
			t.Errorf("no plain words for scope %s", s)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		s    string
		args []any
		want string
	}{
		{"no placeholders", nil, "no placeholders"},
		{"{0} and {1}", []any{"a", 2}, "a and 2"},
		{"{1} then {0}", []any{"a", "b"}, "b then a"},
		{"{0}{0}", []any{"x"}, "xx"},
		{"missing {3}.", []any{"x"}, "missing ."},
		{"braces {x} {} {-1} {+1} { {", []any{"x"}, "braces {x} {} {-1} {+1} { {"},
		{"unclosed {0", []any{"x"}, "unclosed {0"},
	}
	for _, tc := range tests {
		if got := format(tc.s, tc.args); got != tc.want {
			t.Errorf("format(%q, %v) = %q, want %q", tc.s, tc.args, got, tc.want)
		}
	}
}

func TestRenderWritesNothingOnTemplateError(t *testing.T) {
	var logs bytes.Buffer
	r, err := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// A template that writes part of a page, then fails with a detail that must
	// stay in the log.
	broken := template.Must(template.New("login").Funcs(template.FuncMap{
		"fail": func() (string, error) { return "", errors.New("secret-detail: dial tcp 10.0.0.5:5432") },
	}).Parse(`{{define "layout"}}<p>partial output {{.Username}}</p>{{fail}}{{end}}`))
	r.pages["en"]["login"] = broken
	w := httptest.NewRecorder()
	w.Header().Set("Content-Length", "999")
	r.Render(w, http.StatusOK, LoginPage{Common: Common{Lang: "en", RequestID: "rid-<1>"}, Username: "bob"})
	body := w.Body.String()
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d", w.Code)
	}
	for _, leak := range []string{"partial output", "secret-detail", "10.0.0.5", "bob", "rid-<1>"} {
		if strings.Contains(body, leak) {
			t.Errorf("body has %q:\n%s", leak, body)
		}
	}
	if !strings.Contains(body, "<code>rid-&lt;1&gt;</code>") || !strings.Contains(body, `<html lang="en">`) {
		t.Errorf("fallback page lacks the escaped reference or lang:\n%s", body)
	}
	if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s for %d bytes", got, len(body))
	}
	if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Error("fallback without security headers")
	}
	if !strings.Contains(logs.String(), "secret-detail") {
		t.Errorf("error not logged: %s", logs.String())
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<script") {
		t.Error("fallback has inline code")
	}
}

func TestAccessibleAccent(t *testing.T) {
	for _, s := range []string{"#ffffff", "#ffff00", "#7dd3fc", "#3b82f6", "#ff0000", "#808080", "#1d4ed8", "#000"} {
		c, err := parseColor(s)
		if err != nil {
			t.Fatal(err)
		}
		got := accessibleAccent(c)
		// Check the colour as written in the stylesheet, not the float.
		written, _ := parseColor(got.String())
		if r := written.contrastWithWhite(); r < minContrast {
			t.Errorf("%s -> %s: contrast %.2f", s, got, r)
		}
		if c.contrastWithWhite() >= minContrast && got.String() != c.String() {
			t.Errorf("%s changed to %s although it passes", s, got)
		}
	}
	// Reference value: #1d4ed8 on white is about 6.7:1.
	c, _ := parseColor(defaultAccent)
	if r := c.contrastWithWhite(); r < 6.6 || r > 6.8 {
		t.Errorf("contrast of %s = %.2f", defaultAccent, r)
	}
}

func TestPagesListedAndParsed(t *testing.T) {
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name != "layout" && !slices.Contains(pageTemplates, name) {
			t.Errorf("template %s is not a page", f)
		}
	}
	r, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range langs {
		if len(r.pages[l.tag]) != len(pageTemplates) {
			t.Errorf("%s: %d pages parsed", l.tag, len(r.pages[l.tag]))
		}
	}
}
