package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/store"
)

func TestNormalizeUsername(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"ALICE", "alice"},
		{"  alice\n", "alice"},
		{"ａｌｉｃｅ", "alice"}, // full width
		{"Ａｌｉｃｅ", "alice"}, // full width, capital
		{"alice.smith+idp@example.com", "alice.smith+idp@example.com"},
		{"Bob_O-Neil", "bob_o-neil"},
		{"やまだ", "やまだ"},
		{"ﾔﾏﾀﾞ", "ヤマダ"}, // half-width katakana, with its voicing mark composed
		{"山田太郎", "山田太郎"},
		{"Ölaf", "ölaf"},
		{"O\u0308laf", "ölaf"}, // decomposed: NFC
		{strings.Repeat("a", store.MaxUsernameLength), strings.Repeat("a", store.MaxUsernameLength)},
	} {
		got, err := store.NormalizeUsername(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// The normal form is its own normal form.
		if again, err := store.NormalizeUsername(got); err != nil || again != got {
			t.Errorf("NormalizeUsername(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "empty"},
		{"   ", "empty"},
		{"alice smith", "space"},
		{"alice\u3000smith", "space"}, // ideographic space
		{"alice\tsmith", "control"},
		{"alice\x00", "control"},
		{"alice\u200bsmith", "character"}, // zero-width space
		{"alice☃", "character"},
		{"\xff\xfe", "UTF-8"},
		{strings.Repeat("a", store.MaxUsernameLength+1), "more than"},
	} {
		got, err := store.NormalizeUsername(tc.in)
		if !errors.Is(err, store.ErrInvalidUsername) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want an error about %q", tc.in, got, err, tc.why)
		}
	}
}
