package recovery

import (
	"strings"
	"testing"
)

func TestNewCodesAreDistinctAndReadBack(t *testing.T) {
	set := New(Count)
	if len(set) != Count {
		t.Fatalf("%d codes, want %d", len(set), Count)
	}
	ids := map[string]bool{}
	for _, c := range set {
		if ids[c.ID] {
			t.Fatalf("two codes share the id %s", c.ID)
		}
		ids[c.ID] = true
		s := c.String()
		if len(s) != 19 || strings.Count(s, "-") != 3 {
			t.Errorf("code shown as %q, want four groups of four", s)
		}
		for _, typed := range []string{s, strings.ToUpper(s), strings.ReplaceAll(s, "-", ""), strings.ReplaceAll(s, "-", " "), toFullWidth(strings.ToUpper(s))} {
			got, ok := Parse(typed)
			if !ok || got != c {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", typed, got, ok, c)
			}
		}
	}
}

func TestParseReadsLookAlikesAndRefusesJunk(t *testing.T) {
	got, ok := Parse("OIL0-abcd-efgh-jkmn")
	if !ok || got.ID != "0110" {
		t.Errorf("look-alike letters: %+v, %v; want the id 0110", got, ok)
	}
	for _, bad := range []string{"", "abcd-efgh-jkmn", "abcd-efgh-jkmn-pqrs-t", "abcd-efgh-jkmn-pqru", "abcd-efgh-jkmn-pqr!", "ａｂｃｄ-ｅｆｇｈ-ｊｋｍｎ-ｐｑｒ\x00", strings.Repeat("a", 1000)} {
		if c, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) = %+v, want no code", bad, c)
		}
	}
}

// Over many codes every character of the alphabet turns up, in each
// position: nothing is stuck.
func TestCodesUseTheWholeAlphabet(t *testing.T) {
	seen := make([]map[byte]bool, IDLength+SecretLength)
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range 200 {
		for _, c := range New(Count) {
			s := c.ID + c.Secret
			for i := range s {
				seen[i][s[i]] = true
			}
		}
	}
	for i, m := range seen {
		if len(m) != len(alphabet) {
			t.Errorf("position %d: %d of %d characters seen", i, len(m), len(alphabet))
		}
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '!' && r <= '~':
			b.WriteRune(r - '!' + '！')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
