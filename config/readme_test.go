package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/smspin/idp/config"
)

// README.md documents every setting; a new one cannot be forgotten there.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !strings.Contains(string(readme), "`"+s.Env+"`") {
			t.Errorf("README.md does not document %s", s.Env)
		}
	}
}
