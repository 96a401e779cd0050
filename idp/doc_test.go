package idp_test

import (
	"os"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// TestDocDrawsTheTable keeps idp/doc.go's drawing of the state machine
// the same as the transition table the store enforces.
func TestDocDrawsTheTable(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var drawn []string
	for _, line := range strings.Split(string(b), "\n") {
		if l, ok := strings.CutPrefix(line, "//\t"); ok && strings.Contains(l, "--") {
			drawn = append(drawn, l)
		}
	}
	want := strings.Split(strings.TrimRight(store.Diagram(), "\n"), "\n")
	if strings.Join(drawn, "\n") != strings.Join(want, "\n") {
		t.Errorf("idp/doc.go draws another machine than store.Moves; draw this:\n%s", store.Diagram())
	}
}
