package config_test

import (
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/smspin/idp/config"
)

// FuzzLoad feeds Load arbitrary YAML and two environment variables (a
// name that is no setting's stands for one picked by its hash). Load must
// not panic, and each problem it reports must name what is wrong: a
// setting (as an *Error with a known env name) or the config file. Secrets
// set in the environment never appear in a message.
func FuzzLoad(f *testing.F) {
	f.Add("issuer: https://id.example.com/\npin_ttl: 90s\nsms_provider: [console, xoxzo]\n", "IDP_ISSUER", "https://x.example", "IDP_LISTEN", "0.0.0.0:8080")
	f.Add("pin_length: six\nisuer: x\nlisten: {a: b}\n", "IDP_PIN_TTL", "5 minutes", "IDP_MIGRATE_ON_START", "yes")
	f.Add("a: &x [1, 2]\nsms_allowed_countries: *x\nlisten: *x\n", "", "", "", "")
	f.Add("- not\n- a mapping\n", "IDP_PIN_LENGTH", "-1", "IDP_ARGON2_MEMORY", "99999999999999999999")
	f.Add("secret_file: secret\nsecret: also\n", "IDP_SECRET", "hunter2-hunter2-hunter2", "IDP_SECRET_FILE", "secret")
	f.Add("issuer: [\n", "IDP_ISSUER", "\x00", "IDP_SMS_PROVIDER", "\xff")
	f.Add("# only a comment\n", "IDP_SECRET_OLD_FILE", "secret", "IDP_SMS_WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef")
	f.Add("argon2_threads: 300\nargon2_memory: -1\nmfa_remember: 1y\n", "IDP_SMS_ALLOWED_COUNTRIES", "a,b,,c", "IDP_KEY_ROTATION", " , ")

	settings := config.Settings()
	known := map[string]bool{}
	for _, s := range settings {
		known[s.Env] = true
		if s.Secret {
			known[s.Env+"_FILE"] = true
		}
	}
	// Relative *_FILE paths resolve here; one file exists to be found.
	dir := f.TempDir()
	f.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(dir, "idp.yaml")

	f.Fuzz(func(t *testing.T, doc, name1, v1, name2, v2 string) {
		if mayReadOutside(doc) {
			t.Skip("a *_FILE path could leave the test directory (/dev/zero, /proc ...)")
		}
		env := map[string]string{}
		for _, p := range [][2]string{{name1, v1}, {name2, v2}} {
			name := p[0]
			if !known[name] {
				// Any other name stands for some setting, so that every
				// input sets one.
				h := fnv.New32a()
				h.Write([]byte(name))
				name = settings[int(h.Sum32()%uint32(len(settings)))].Env
			}
			if strings.HasSuffix(name, "_FILE") && strings.ContainsAny(p[1], `/\`) {
				t.Skip("a *_FILE path could leave the test directory")
			}
			env[name] = p[1]
		}
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		for _, e := range leaves(err) {
			var ce *config.Error
			switch {
			case errors.As(e, &ce):
				if !known[ce.Env] {
					t.Errorf("error names no setting: %q (Env %q)", e, ce.Env)
				}
			case !strings.HasPrefix(e.Error(), "config file"):
				t.Errorf("error names neither a setting nor the file: %q", e)
			}
		}
		verr := c.Validate()
		for _, e := range leaves(verr) {
			var ce *config.Error
			if !errors.As(e, &ce) || !known[ce.Env] {
				t.Errorf("Validate: error names no setting: %q", e)
			}
		}
		_ = c.Warnings()
		red := c.Redacted()
		_ = c.LogValue().Resolve()

		public := doc // what may be quoted back
		for _, s := range settings {
			if v, ok := env[s.Env]; ok && !s.Secret {
				public += "\n" + v
			}
		}
		for _, s := range settings {
			v, ok := env[s.Env]
			if !s.Secret || !ok || len(v) < 12 || strings.Contains(public, v) || known[v] {
				continue
			}
			for _, text := range []string{errText(err), errText(verr), strings.Join(c.Warnings(), "\n"), red[s.Env]} {
				if strings.Contains(text, v) && !innocent(v) {
					t.Errorf("the value of secret %s shows in %q", s.Env, text)
				}
			}
		}
	})
}

// innocent reports whether v, found in a message, may be there as part
// of the wording (a setting name, "config file" ...) rather than as the
// secret itself: messages made with no value set show it too.
func innocent(v string) bool {
	_, err := config.Load("", func(string) (string, bool) { return "", false })
	base := errText(err) + errText(config.Default().Validate()) + strings.Join(config.Default().Warnings(), "\n")
	for _, s := range config.Settings() {
		base += " " + s.Env + " " + s.Key + " " + s.Help
	}
	return strings.Contains(base, v)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// leaves flattens errors.Join trees into their parts.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// mayReadOutside reports whether a YAML document could name a file
// outside the working directory for a *_FILE key: a key mentioning "file"
// together with a value holding a path separator. The document is read
// the way Load reads it, so escapes and aliases count.
func mayReadOutside(doc string) bool {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		return false
	}
	fileKey, sep := false, false
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode {
			if strings.Contains(strings.ToUpper(n.Value), "FILE") {
				fileKey = true
			}
			if strings.ContainsAny(n.Value, `/\`) {
				sep = true
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&n)
	return fileKey && sep
}
