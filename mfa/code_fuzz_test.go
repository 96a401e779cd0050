package mfa

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormaliseCode feeds the PIN normalisation of Verify arbitrary
// input. It must not panic, and its output follows the rules: ASCII
// digits stay, full-width digits become ASCII, spaces (ASCII and
// ideographic) and ASCII dashes go, anything else stays as it was, so a
// code with a stray letter still fails to match.
func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{
		"123456", " 123-456 ", "１２３４５６", "１２３　４５６", "12345a", "１２３-４５６\t",
		"", "------", "\xff\xfe123", "０１２３４５６７８９", "12 34 56 78", "123－456", "١٢٣٤٥٦",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := normalise(in)
		if again := normalise(got); again != got {
			t.Fatalf("normalise(%q) = %q, but normalise of that = %q", in, got, again)
		}
		var wantDigits, kept []rune
		onlyCodeChars := true
		for _, r := range in { // invalid bytes read as U+FFFD, as normalise reads them
			switch {
			case r >= '0' && r <= '9':
				wantDigits = append(wantDigits, r)
				kept = append(kept, r)
			case r >= '０' && r <= '９':
				wantDigits = append(wantDigits, '0'+(r-'０'))
				kept = append(kept, '0'+(r-'０'))
			case r == ' ' || r == '-' || r == '　' || r == '－' || r == '‐' || r == '\u00a0' || r == '\t':
			default:
				onlyCodeChars = false
				kept = append(kept, r)
			}
		}
		if got != string(kept) {
			t.Fatalf("normalise(%q) = %q, want %q", in, got, string(kept))
		}
		if strings.ContainsAny(got, " -　０１２３４５６７８９") {
			t.Fatalf("normalise(%q) = %q still holds a space, a dash or a full-width digit", in, got)
		}
		if onlyCodeChars {
			if got != string(wantDigits) || !utf8.ValidString(got) {
				t.Fatalf("normalise(%q) = %q, want the digits %q alone", in, got, string(wantDigits))
			}
		}
	})
}
