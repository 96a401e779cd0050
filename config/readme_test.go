package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/smspin/idp/config"
)

// Both READMEs document every setting; a new one cannot be forgotten there.
func TestREADMEListsEverySetting(t *testing.T) {
	for _, name := range []string{"README.md", "README.ja.md"} {
		readme, err := os.ReadFile("../" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range config.Settings() {
			if !strings.Contains(string(readme), "`"+s.Env+"`") {
				t.Errorf("%s does not document %s", name, s.Env)
			}
		}
	}
}
