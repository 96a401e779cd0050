package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

// env is a fake environment for Load.
type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

// valid is the smallest configuration that passes Validate.
func valid() Config {
	c := Default()
	c.Secret = testSecret
	c.SMS.Providers = []string{"console"}
	return c
}

// get reads a setting's value in env syntax.
func get(t *testing.T, c Config, name string) string {
	t.Helper()
	for _, f := range fields(&c) {
		if f.env == name {
			return f.String()
		}
	}
	t.Fatalf("no setting %s", name)
	return ""
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// errEnvs lists the Env of every *Error joined in err.
func errEnvs(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *Error
		if errors.As(err, &ce) {
			out = append(out, ce.Env)
		}
	}
	if err != nil {
		walk(err)
	}
	slices.Sort(out)
	return out
}

func TestDefault(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid() does not validate: %v", err)
	}
	got := errEnvs(Default().Validate())
	want := []string{"IDP_SECRET", "IDP_SMS_PROVIDER"}
	if !slices.Equal(got, want) {
		t.Errorf("Default().Validate() problems = %v, want %v", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "idp.yaml", "listen: 127.0.0.1:1001\npin_length: 7\n")
	tests := []struct {
		name string
		file string
		env  env
		flag string
		want string
	}{
		{"default", "", nil, "", "127.0.0.1:8080"},
		{"file over default", file, nil, "", "127.0.0.1:1001"},
		{"env over file", file, env{"IDP_LISTEN": "127.0.0.1:1002"}, "", "127.0.0.1:1002"},
		{"flag over env", file, env{"IDP_LISTEN": "127.0.0.1:1002"}, "127.0.0.1:1003", "127.0.0.1:1003"},
		{"IDP_CONFIG names the file", "", env{"IDP_CONFIG": file}, "", "127.0.0.1:1001"},
		{"env without file", "", env{"IDP_LISTEN": "127.0.0.1:1002"}, "", "127.0.0.1:1002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.file, tt.env.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if tt.flag != "" {
				if err := c.Set("IDP_LISTEN", tt.flag); err != nil {
					t.Fatal(err)
				}
			}
			if c.Listen != tt.want {
				t.Errorf("Listen = %q, want %q", c.Listen, tt.want)
			}
			// Settings the file does not mention keep their defaults.
			if c.PIN.TTL != 5*time.Minute {
				t.Errorf("PIN.TTL = %v, want the default", c.PIN.TTL)
			}
		})
	}

	t.Run("explicit file wins over IDP_CONFIG", func(t *testing.T) {
		other := writeFile(t, "other.yaml", "listen: 127.0.0.1:1009\n")
		c, err := Load(file, env{"IDP_CONFIG": other}.lookup)
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:1001" {
			t.Errorf("Listen = %q, want the explicit file's", c.Listen)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), env{}.lookup)
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Errorf("err = %v, want one naming the file", err)
		}
	})
}

// sample returns a value for s that differs from its default, in env
// syntax.
func sample(t *testing.T, s Setting) string {
	t.Helper()
	switch s.Type {
	case "string":
		return "v-" + strings.ToLower(s.Env)
	case "list":
		return "a,b"
	case "bool":
		b, _ := strconv.ParseBool(s.Default)
		return strconv.FormatBool(!b)
	case "int", "uint":
		n, err := strconv.Atoi(s.Default)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(n + 1)
	case "duration":
		d, err := time.ParseDuration(s.Default)
		if err != nil {
			t.Fatal(err)
		}
		return formatDuration(d + time.Second)
	}
	t.Fatalf("%s: no sample for type %s", s.Env, s.Type)
	return ""
}

// TestEverySetting walks Settings, so a new field is covered as soon as
// it has its tags.
func TestEverySetting(t *testing.T) {
	for _, s := range Settings() {
		want := sample(t, s)
		t.Run(s.Env, func(t *testing.T) {
			t.Run("env", func(t *testing.T) {
				c, err := Load("", env{s.Env: want}.lookup)
				if err != nil {
					t.Fatal(err)
				}
				if got := get(t, c, s.Env); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			})
			keys := []string{s.Key, strings.ToLower(s.Env)}
			for _, key := range slices.Compact(keys) {
				t.Run("yaml "+key, func(t *testing.T) {
					file := writeFile(t, "idp.yaml", fmt.Sprintf("%s: %q\n", key, want))
					c, err := Load(file, env{}.lookup)
					if err != nil {
						t.Fatal(err)
					}
					if got := get(t, c, s.Env); got != want {
						t.Errorf("got %q, want %q", got, want)
					}
				})
			}
			if s.Type == "list" {
				t.Run("yaml list", func(t *testing.T) {
					file := writeFile(t, "idp.yaml", s.Key+":\n  - a\n  - b\n")
					c, err := Load(file, env{}.lookup)
					if err != nil {
						t.Fatal(err)
					}
					if got := get(t, c, s.Env); got != want {
						t.Errorf("got %q, want %q", got, want)
					}
				})
			}
			t.Run("flag", func(t *testing.T) {
				c := Default()
				if err := c.Set(s.Env, want); err != nil {
					t.Fatal(err)
				}
				if got := get(t, c, s.Env); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			})
		})
	}
}

func TestSettingsTable(t *testing.T) {
	envs := map[string]bool{}
	keys := map[string]bool{}
	for _, s := range Settings() {
		if envs[s.Env] || keys[s.Key] {
			t.Errorf("%s: env or YAML key %q used twice", s.Env, s.Key)
		}
		envs[s.Env], keys[s.Key] = true, true
		if s.Help == "" {
			t.Errorf("%s: no help", s.Env)
		}
		if s.Secret && s.Default != "" {
			t.Errorf("%s: a secret has a default", s.Env)
		}
	}
	// NAME_FILE of a secret must not shadow a real setting.
	for _, s := range Settings() {
		if s.Secret && envs[s.Env+"_FILE"] {
			t.Errorf("%s_FILE is both a setting and the file of secret %s", s.Env, s.Env)
		}
	}

	byEnv := map[string]Setting{}
	for _, s := range Settings() {
		byEnv[s.Env] = s
	}
	for env, want := range map[string]Setting{
		"IDP_PIN_TTL":              {Key: "pin_ttl", Type: "duration", Default: "5m", Allowed: "30s..10m"},
		"IDP_REFRESH_TOKEN_TTL":    {Key: "refresh_token_ttl", Type: "duration", Default: "720h", Allowed: "1h..8760h"},
		"IDP_LOG_LEVEL":            {Key: "log_level", Type: "string", Default: "info", Allowed: "debug|info|warn|error"},
		"XOXZO_API_SID":            {Key: "xoxzo_api_sid", Type: "string"},
		"IDP_SECRET":               {Key: "secret", Type: "string", Secret: true},
		"IDP_SECRET_OLD":           {Key: "secret_old", Type: "list", Secret: true},
		"IDP_ARGON2_MEMORY":        {Key: "argon2_memory", Type: "uint", Default: "19456", Allowed: "8192..1048576"},
		"IDP_MIGRATE_ON_START":     {Key: "migrate_on_start", Type: "bool", Default: "true"},
		"IDP_PASSKEY_PASSWORDLESS": {Key: "passkey_passwordless", Type: "bool", Default: "false"},
		"IDP_KEY_ROTATION":         {Key: "key_rotation", Type: "duration", Default: "0"},
	} {
		got := byEnv[env]
		got.Env, got.Help = "", ""
		if got != want {
			t.Errorf("%s = %+v, want %+v", env, got, want)
		}
	}
}

func TestBadValues(t *testing.T) {
	bad := map[string]string{
		"bool":     "maybe",
		"int":      "six",
		"uint":     "-1",
		"duration": "5 minutes",
	}
	for _, s := range Settings() {
		v, ok := bad[s.Type]
		if !ok {
			continue // strings and lists take any text; Validate judges them
		}
		t.Run(s.Env, func(t *testing.T) {
			for _, tc := range []struct {
				source string
				load   func() error
			}{
				{"(env)", func() error {
					_, err := Load("", env{s.Env: v}.lookup)
					return err
				}},
				{"(file ", func() error {
					_, err := Load(writeFile(t, "idp.yaml", s.Key+": "+v+"\n"), env{}.lookup)
					return err
				}},
				{"(flag)", func() error {
					c := Default()
					return c.Set(s.Env, v)
				}},
			} {
				err := tc.load()
				if err == nil {
					t.Fatalf("%s: no error for %q", tc.source, v)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, s.Env+" "+tc.source) || !strings.Contains(msg, strconv.Quote(v)) {
					t.Errorf("error %q does not name %s, its source %s and the value", msg, s.Env, tc.source)
				}
				var ce *Error
				if !errors.As(err, &ce) || ce.Env != s.Env {
					t.Errorf("error %v is not an *Error for %s", err, s.Env)
				}
			}
		})
	}

	t.Run("message", func(t *testing.T) {
		_, err := Load("", env{"IDP_PIN_TTL": "5 minutes"}.lookup)
		want := `IDP_PIN_TTL (env): "5 minutes" is not a duration like 5m or 90s`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
	t.Run("all reported at once", func(t *testing.T) {
		_, err := Load("", env{"IDP_PIN_TTL": "x", "IDP_PIN_LENGTH": "x", "IDP_MIGRATE_ON_START": "x"}.lookup)
		got := errEnvs(err)
		want := []string{"IDP_MIGRATE_ON_START", "IDP_PIN_LENGTH", "IDP_PIN_TTL"}
		if !slices.Equal(got, want) {
			t.Errorf("problems = %v, want %v", got, want)
		}
	})
	t.Run("unknown flag", func(t *testing.T) {
		c := Default()
		if err := c.Set("IDP_NOPE", "1"); err == nil || !strings.Contains(err.Error(), "IDP_NOPE") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("uint overflow", func(t *testing.T) {
		c := Default()
		if err := c.Set("IDP_ARGON2_THREADS", "300"); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; nil = no error
		check   func(t *testing.T, c Config)
	}{
		{
			name: "both key spellings and types",
			yaml: `
issuer: https://id.example.com/
idp_listen: "0.0.0.0:8080"
xoxzo_api_sid: abc
migrate_on_start: false
argon2_memory: 65536
pin_ttl: 90s
sms_provider: console, xoxzo
sms_allowed_countries: [JP, US]
logo_url:
accent_color: "#112233"
`,
			check: func(t *testing.T, c Config) {
				if c.Issuer != "https://id.example.com" || c.Listen != "0.0.0.0:8080" || c.SMS.Xoxzo.SID != "abc" ||
					c.Database.MigrateOnStart || c.Password.Memory != 65536 || c.PIN.TTL != 90*time.Second ||
					!slices.Equal(c.SMS.Providers, []string{"console", "xoxzo"}) ||
					!slices.Equal(c.SMS.AllowedCountries, []string{"JP", "US"}) || c.UI.LogoURL != "" || c.UI.AccentColor != "#112233" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{name: "empty file", yaml: ""},
		{name: "comments only", yaml: "# nothing\n"},
		{name: "unknown key", yaml: "issuer: https://x.example\nisuer: x\n", wantErr: []string{"idp.yaml", `unknown key "isuer"`, "line 2", `did you mean "issuer"`}},
		{name: "unknown key far from any", yaml: "colour_scheme: dark\n", wantErr: []string{"idp.yaml", `unknown key "colour_scheme"`}},
		{name: "no idp_ before a foreign name", yaml: "idp_xoxzo_api_sid: x\n", wantErr: []string{`unknown key "idp_xoxzo_api_sid"`}},
		{name: "set twice", yaml: "issuer: https://a.example\nidp_issuer: https://b.example\n", wantErr: []string{"IDP_ISSUER again", `"issuer"`}},
		{name: "list for a scalar", yaml: "listen: [a, b]\n", wantErr: []string{"IDP_LISTEN", "idp.yaml", "not a list"}},
		{name: "mapping for a scalar", yaml: "listen: {a: b}\n", wantErr: []string{"IDP_LISTEN", "not a mapping"}},
		{name: "not a mapping", yaml: "- a\n- b\n", wantErr: []string{"idp.yaml", "mapping"}},
		{name: "syntax error", yaml: "issuer: [\n", wantErr: []string{"idp.yaml"}},
		{name: "bad value", yaml: "pin_length: six\n", wantErr: []string{`IDP_PIN_LENGTH (file `, "key pin_length", `"six" is not a whole number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeFile(t, "idp.yaml", tt.yaml), env{}.lookup)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretPath, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old1, old2 := strings.Repeat("a", 32), strings.Repeat("b", 40)
	oldPath := filepath.Join(dir, "old")
	if err := os.WriteFile(oldPath, []byte(old1+"\r\n"+old2+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		file    string // YAML content, "" for none
		env     env
		set     [2]string // a flag, if any
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name:  "env _FILE, newline trimmed",
			env:   env{"IDP_SECRET_FILE": secretPath},
			check: func(t *testing.T, c Config) { eq(t, c.Secret, testSecret) },
		},
		{
			name: "list secret file, one a line",
			env:  env{"IDP_SECRET_OLD_FILE": oldPath},
			check: func(t *testing.T, c Config) {
				if !slices.Equal(c.SecretOld, []string{old1, old2}) {
					t.Errorf("SecretOld = %q", c.SecretOld)
				}
			},
		},
		{
			name:  "provider token",
			env:   env{"XOXZO_API_AUTH_TOKEN_FILE": secretPath},
			check: func(t *testing.T, c Config) { eq(t, c.SMS.Xoxzo.AuthToken, testSecret) },
		},
		{
			name:  "yaml _file key",
			file:  "secret_file: " + secretPath + "\n",
			check: func(t *testing.T, c Config) { eq(t, c.Secret, testSecret) },
		},
		{
			name:  "env value over yaml _file",
			file:  "secret_file: " + secretPath + "\n",
			env:   env{"IDP_SECRET": strings.Repeat("z", 32)},
			check: func(t *testing.T, c Config) { eq(t, c.Secret, strings.Repeat("z", 32)) },
		},
		{
			name:  "flag _FILE",
			set:   [2]string{"IDP_SECRET_FILE", secretPath},
			check: func(t *testing.T, c Config) { eq(t, c.Secret, testSecret) },
		},
		{
			name:    "both NAME and NAME_FILE",
			env:     env{"IDP_SECRET": testSecret, "IDP_SECRET_FILE": secretPath},
			wantErr: "IDP_SECRET (env): set both",
		},
		{
			name:  "empty NAME beside NAME_FILE is unset",
			env:   env{"IDP_SECRET": "", "IDP_SECRET_FILE": secretPath},
			check: func(t *testing.T, c Config) { eq(t, c.Secret, testSecret) },
		},
		{
			name:  "empty NAME_FILE beside NAME is unset",
			env:   env{"IDP_SECRET": strings.Repeat("z", 32), "IDP_SECRET_FILE": ""},
			check: func(t *testing.T, c Config) { eq(t, c.Secret, strings.Repeat("z", 32)) },
		},
		{
			name:    "both in yaml",
			file:    "secret: x\nsecret_file: " + secretPath + "\n",
			wantErr: "IDP_SECRET again",
		},
		{
			name:    "missing file",
			env:     env{"IDP_SECRET_FILE": missing},
			wantErr: "IDP_SECRET_FILE (env): open " + missing,
		},
		{
			name:    "only secrets have _FILE",
			env:     env{},
			set:     [2]string{"IDP_LISTEN_FILE", secretPath},
			wantErr: "IDP_LISTEN_FILE (flag): no such setting",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, "idp.yaml", tt.file)
			}
			c, err := Load(path, tt.env.lookup)
			if err == nil && tt.set[0] != "" {
				err = c.Set(tt.set[0], tt.set[1])
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // env names with a problem; nil = valid
	}{
		{"valid", func(c *Config) {}, nil},

		{"https issuer", func(c *Config) { c.Issuer = "https://id.example.com/tenant" }, nil},
		{"http on 127.0.0.1", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }, nil},
		{"http on ::1", func(c *Config) { c.Issuer = "http://[::1]:8080" }, nil},
		{"http elsewhere", func(c *Config) { c.Issuer = "http://id.example.com" }, []string{"IDP_ISSUER"}},
		{"issuer query", func(c *Config) { c.Issuer = "https://id.example.com?a=b" }, []string{"IDP_ISSUER"}},
		{"issuer fragment", func(c *Config) { c.Issuer = "https://id.example.com#x" }, []string{"IDP_ISSUER"}},
		{"issuer relative", func(c *Config) { c.Issuer = "/idp" }, []string{"IDP_ISSUER"}},
		{"issuer ftp", func(c *Config) { c.Issuer = "ftp://id.example.com" }, []string{"IDP_ISSUER"}},
		{"issuer slash", func(c *Config) { c.Issuer = "https://id.example.com/" }, []string{"IDP_ISSUER"}},

		{"listen no port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{"IDP_LISTEN"}},
		{"listen all interfaces", func(c *Config) { c.Listen = ":8080" }, nil},
		{"listen named port", func(c *Config) { c.Listen = ":http" }, []string{"IDP_LISTEN"}},
		{"admin off", func(c *Config) { c.Admin.Listen = "" }, nil},
		{"admin bad", func(c *Config) { c.Admin.Listen = "nope" }, []string{"IDP_ADMIN_LISTEN"}},
		{"admin same as public", func(c *Config) { c.Admin.Listen = c.Listen }, []string{"IDP_ADMIN_LISTEN"}},
		{"admin token short", func(c *Config) { c.Admin.Token = "short" }, []string{"IDP_ADMIN_TOKEN"}},
		{"registration token short", func(c *Config) { c.RegistrationToken = strings.Repeat("r", 31) }, []string{"IDP_REGISTRATION_TOKEN"}},
		{"admin token ok", func(c *Config) { c.Admin.Token = strings.Repeat("t", 16) }, nil},

		{"postgres", func(c *Config) { c.Database.URL = "postgres://u:p@db/idp?sslmode=disable" }, nil},
		{"postgresql", func(c *Config) { c.Database.URL = "postgresql://db/idp" }, nil},
		{"behind a pooler", func(c *Config) { c.Database.URL = "postgres://db/idp?default_query_exec_mode=exec" }, nil},
		{"exec mode typo", func(c *Config) { c.Database.URL = "postgres://db/idp?default_query_exec_mode=exex" }, []string{"IDP_DATABASE_URL"}},
		{"sqlite no path", func(c *Config) { c.Database.URL = "sqlite:" }, []string{"IDP_DATABASE_URL"}},
		{"mysql", func(c *Config) { c.Database.URL = "mysql://db/idp" }, []string{"IDP_DATABASE_URL"}},
		{"max open 0", func(c *Config) { c.Database.MaxOpenConns = 0 }, []string{"IDP_DATABASE_MAX_OPEN_CONNS"}},
		{"idle over open", func(c *Config) { c.Database.MaxOpenConns, c.Database.MaxIdleConns = 5, 6 }, []string{"IDP_DATABASE_MAX_IDLE_CONNS"}},

		{"secret short", func(c *Config) { c.Secret = "short" }, []string{"IDP_SECRET"}},
		{"old secrets", func(c *Config) { c.SecretOld = []string{testSecret, "short"} }, []string{"IDP_SECRET_OLD"}},

		{"log level", func(c *Config) { c.Log.Level = "verbose" }, []string{"IDP_LOG_LEVEL"}},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, []string{"IDP_LOG_FORMAT"}},
		{"product name empty", func(c *Config) { c.UI.ProductName = " " }, []string{"IDP_PRODUCT_NAME"}},
		{"product name 40 runes", func(c *Config) { c.UI.ProductName = strings.Repeat("認", 40) }, nil},
		{"product name 41", func(c *Config) { c.UI.ProductName = strings.Repeat("x", 41) }, []string{"IDP_PRODUCT_NAME"}},
		{"product name newline", func(c *Config) { c.UI.ProductName = "a\nb" }, []string{"IDP_PRODUCT_NAME"}},
		{"logo path", func(c *Config) { c.UI.LogoURL = "/static/logo.svg" }, nil},
		{"logo url", func(c *Config) { c.UI.LogoURL = "https://cdn.example.com/logo.svg" }, nil},
		{"logo scheme-relative", func(c *Config) { c.UI.LogoURL = "//cdn.example.com/logo.svg" }, []string{"IDP_LOGO_URL"}},
		{"logo javascript", func(c *Config) { c.UI.LogoURL = "javascript:alert(1)" }, []string{"IDP_LOGO_URL"}},
		{"accent", func(c *Config) { c.UI.AccentColor = "blue" }, []string{"IDP_ACCENT_COLOR"}},
		{"accent short", func(c *Config) { c.UI.AccentColor = "#fff" }, []string{"IDP_ACCENT_COLOR"}},
		{"locale", func(c *Config) { c.UI.DefaultLocale = "fr" }, []string{"IDP_DEFAULT_LOCALE"}},

		{"access ttl low", func(c *Config) { c.TTL.AccessToken = 59 * time.Second }, []string{"IDP_ACCESS_TOKEN_TTL"}},
		{"refresh ttl high", func(c *Config) { c.TTL.RefreshToken = 8761 * time.Hour }, []string{"IDP_REFRESH_TOKEN_TTL"}},
		{"auth code at bounds", func(c *Config) { c.TTL.AuthCode = 10 * time.Minute }, nil},
		{"login flow 0", func(c *Config) { c.TTL.LoginFlow = 0 }, []string{"IDP_LOGIN_FLOW_TTL"}},
		{"alg", func(c *Config) { c.Keys.SigningAlg = "HS256" }, []string{"IDP_SIGNING_ALG"}},
		{"ES256", func(c *Config) { c.Keys.SigningAlg = "ES256" }, nil},
		{"rotation 1h", func(c *Config) { c.Keys.Rotation = time.Hour }, []string{"IDP_KEY_ROTATION"}},
		{"rotation negative", func(c *Config) { c.Keys.Rotation = -time.Hour }, []string{"IDP_KEY_ROTATION"}},
		{"rotation 24h", func(c *Config) { c.Keys.Rotation = 24 * time.Hour }, nil},

		{"argon2 memory", func(c *Config) { c.Password.Memory = 1024 }, []string{"IDP_ARGON2_MEMORY"}},
		{"argon2 time", func(c *Config) { c.Password.Time = 0 }, []string{"IDP_ARGON2_TIME"}},
		{"argon2 threads", func(c *Config) { c.Password.Threads = 17 }, []string{"IDP_ARGON2_THREADS"}},
		{"hash concurrency", func(c *Config) { c.Password.HashConcurrency = 65 }, []string{"IDP_PASSWORD_HASH_CONCURRENCY"}},

		{"sms timeout", func(c *Config) { c.SMS.Timeout = 500 * time.Millisecond }, []string{"IDP_SMS_TIMEOUT"}},
		{"region", func(c *Config) { c.SMS.DefaultRegion = "jp" }, []string{"IDP_SMS_DEFAULT_REGION"}},
		{"region JPN", func(c *Config) { c.SMS.DefaultRegion = "JPN" }, []string{"IDP_SMS_DEFAULT_REGION"}},
		{"allowed countries", func(c *Config) { c.SMS.AllowedCountries = []string{"JP", "Japan", "JP"} }, []string{"IDP_SMS_ALLOWED_COUNTRIES", "IDP_SMS_ALLOWED_COUNTRIES"}},
		{"every country", func(c *Config) { c.SMS.AllowedCountries = []string{"*"} }, nil},
		{"every country and one", func(c *Config) { c.SMS.AllowedCountries = []string{"*", "JP"} }, []string{"IDP_SMS_ALLOWED_COUNTRIES"}},
		{"prices", func(c *Config) {
			c.SMS.Budget = SMSBudget{Currency: "JPY", Prices: []string{"xoxzo:+81=3", "twilio:*=12.5"}, Daily: "5000"}
		}, nil},
		{"price without currency", func(c *Config) { c.SMS.Budget.Prices = []string{"xoxzo:+81=3"} }, []string{"IDP_SMS_CURRENCY"}},
		{"price malformed", func(c *Config) {
			c.SMS.Budget = SMSBudget{Currency: "JPY", Prices: []string{"xoxzo+81=3", "twilio:81=1", "xoxzo:+81=cheap"}}
		}, []string{"IDP_SMS_PRICES"}},
		{"budget without prices", func(c *Config) { c.SMS.Budget = SMSBudget{Currency: "USD", Daily: "100"} }, []string{"IDP_SMS_DAILY_BUDGET"}},
		{"budget not money", func(c *Config) {
			c.SMS.Budget = SMSBudget{Currency: "USD", Prices: []string{"twilio:+1=0.0079"}, Daily: "-3"}
		}, []string{"IDP_SMS_DAILY_BUDGET"}},
		{"pumping percent", func(c *Config) { c.SMS.Pumping.MinConversion = 101 }, []string{"IDP_SMS_PUMPING_MIN_CONVERSION"}},
		{"pumping window", func(c *Config) { c.SMS.Pumping.Window = time.Minute }, []string{"IDP_SMS_PUMPING_WINDOW"}},
		{"xoxzo sender format checked when unused", func(c *Config) { c.SMS.Xoxzo.Sender = "ELEVENCHARS" }, []string{"IDP_XOXZO_SENDER"}},
		{"xoxzo numeric sender", func(c *Config) { c.SMS.Xoxzo.Sender = "123456789012345" }, nil},
		{"xoxzo sender space", func(c *Config) { c.SMS.Xoxzo.Sender = "MY APP" }, []string{"IDP_XOXZO_SENDER"}},
		{"xoxzo template", func(c *Config) { c.SMS.Xoxzo.TemplateID = "t-1" }, []string{"IDP_XOXZO_TEMPLATE_ID"}},
		{"xoxzo api url", func(c *Config) { c.SMS.Xoxzo.APIURL = "api.xoxzo.com" }, []string{"IDP_XOXZO_API_URL"}},
		{"twilio sid", func(c *Config) { c.SMS.Twilio.AccountSID = "AC123" }, []string{"TWILIO_ACCOUNT_SID"}},
		{"twilio api url", func(c *Config) { c.SMS.Twilio.APIURL = "" }, []string{"IDP_TWILIO_API_URL"}},
		{"webhook secret short", func(c *Config) { c.SMS.Webhook.Secret = "short" }, []string{"IDP_SMS_WEBHOOK_SECRET"}},

		{"pin length", func(c *Config) { c.PIN.Length = 3 }, []string{"IDP_PIN_LENGTH"}},
		{"pin ttl", func(c *Config) { c.PIN.TTL = 11 * time.Minute }, []string{"IDP_PIN_TTL"}},
		{"pin attempts", func(c *Config) { c.PIN.MaxAttempts = 0 }, []string{"IDP_PIN_MAX_ATTEMPTS"}},
		{"pin cooldown 0", func(c *Config) { c.PIN.ResendCooldown = 0 }, nil},
		{"pin resends", func(c *Config) { c.PIN.MaxResends = 11 }, []string{"IDP_PIN_MAX_RESENDS"}},
		{"mfa remember", func(c *Config) { c.MFARemember = 721 * time.Hour }, []string{"IDP_MFA_REMEMBER"}},

		{"several at once", func(c *Config) {
			c.Secret = ""
			c.Listen = "x"
			c.PIN.Length = 9
			c.Log.Format = "xml"
		}, []string{"IDP_LISTEN", "IDP_LOG_FORMAT", "IDP_PIN_LENGTH", "IDP_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			got := errEnvs(err)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("problems %v, want %v; error:\n%v", got, want, err)
			}
			if err == nil {
				return
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !slices.ContainsFunc(want, func(env string) bool { return strings.HasPrefix(line, env+": ") }) {
					t.Errorf("line %q does not start with its setting", line)
				}
			}
		})
	}
}

func TestValidateProviders(t *testing.T) {
	tests := []struct {
		name      string
		providers []string
		set       func(c *Config)
		want      []string
	}{
		{"none", nil, nil, []string{"IDP_SMS_PROVIDER"}},
		{"unknown", []string{"console", "sns"}, nil, []string{"IDP_SMS_PROVIDER"}},
		{"duplicate", []string{"console", "console"}, nil, []string{"IDP_SMS_PROVIDER"}},
		{"console", []string{"console"}, nil, nil},
		{"file bare", []string{"file"}, nil, []string{"IDP_SMS_FILE"}},
		{"file", []string{"file"}, func(c *Config) { c.SMS.File = "outbox.jsonl" }, nil},
		{"xoxzo bare", []string{"xoxzo"}, nil, []string{"IDP_XOXZO_SENDER", "XOXZO_API_AUTH_TOKEN", "XOXZO_API_SID"}},
		{"xoxzo", []string{"xoxzo"}, func(c *Config) {
			c.SMS.Xoxzo = Xoxzo{SID: "sid", AuthToken: "tok", Sender: "XOXZO", APIURL: "https://api.xoxzo.com", TemplateID: "7"}
		}, nil},
		{"twilio bare", []string{"twilio"}, nil, []string{"IDP_TWILIO_FROM", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}},
		{"twilio", []string{"twilio"}, func(c *Config) {
			c.SMS.Twilio = Twilio{AccountSID: "AC" + strings.Repeat("0f", 16), AuthToken: "tok", From: "+15005550006", APIURL: "https://api.twilio.com"}
		}, nil},
		{"webhook bare", []string{"webhook"}, nil, []string{"IDP_SMS_WEBHOOK_SECRET", "IDP_SMS_WEBHOOK_URL"}},
		{"webhook bad url", []string{"webhook"}, func(c *Config) {
			c.SMS.Webhook = Webhook{URL: "ftp://hook.example", Secret: testSecret}
		}, []string{"IDP_SMS_WEBHOOK_URL"}},
		{"webhook", []string{"webhook"}, func(c *Config) {
			c.SMS.Webhook = Webhook{URL: "http://hook.internal:9000/sms", Secret: testSecret}
		}, nil},
		{"twilio-verify bare", []string{"twilio-verify"}, nil,
			[]string{"IDP_TWILIO_VERIFY_SERVICE_SID", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}},
		{"twilio-verify", []string{"twilio-verify"}, func(c *Config) {
			c.SMS.Twilio = Twilio{AccountSID: "AC" + strings.Repeat("0f", 16), AuthToken: "tok",
				VerifyServiceSID: "VA" + strings.Repeat("0f", 16), VerifyAPIURL: "https://verify.twilio.com", APIURL: "https://api.twilio.com"}
		}, nil},
		{"xoxzo-otp bare", []string{"xoxzo-otp"}, nil, []string{"IDP_XOXZO_OTP_WEBSITE", "XOXZO_API_AUTH_TOKEN", "XOXZO_API_SID"}},
		{"verify provider with another", []string{"xoxzo-otp", "console"}, func(c *Config) {
			c.SMS.Xoxzo = Xoxzo{SID: "sid", AuthToken: "tok", OTPWebsite: "https://login.example.com", APIURL: "https://api.xoxzo.com"}
		}, []string{"IDP_SMS_PROVIDER"}},
		{"chain needs each", []string{"xoxzo", "file"}, func(c *Config) { c.SMS.File = "outbox.jsonl" },
			[]string{"IDP_XOXZO_SENDER", "XOXZO_API_AUTH_TOKEN", "XOXZO_API_SID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.SMS.Providers = tt.providers
			if tt.set != nil {
				tt.set(&c)
			}
			err := c.Validate()
			if got := errEnvs(err); !slices.Equal(got, tt.want) {
				t.Errorf("problems %v, want %v; error:\n%v", got, tt.want, err)
			}
		})
	}

	t.Run("unknown lists the valid ones", func(t *testing.T) {
		c := valid()
		c.SMS.Providers = []string{"sns"}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "console, file, xoxzo, twilio, webhook") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSecretsNeverInMessages(t *testing.T) {
	const short = "hunter2-hunter2"
	c := valid()
	c.Secret = short
	c.Admin.Token = short[:8]
	c.SecretOld = []string{short}
	c.SMS.Webhook.Secret = short
	c.Database.URL = "mysql://u:" + short + "@db/idp"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), short[:8]) {
		t.Errorf("error shows a secret: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c := valid()
	c.Admin.Token = "admin-token-0123456789"
	c.SecretOld = []string{strings.Repeat("a", 32), strings.Repeat("b", 32)}
	c.SMS.Xoxzo.SID = "visible-sid"
	c.SMS.Xoxzo.AuthToken = "xoxzo-token"
	c.RegistrationToken = strings.Repeat("r", 32)
	c.Database.URL = "postgres://idp:db-password@db:5432/idp?sslmode=disable"
	r := c.Redacted()

	if len(r) != len(Settings()) {
		t.Errorf("Redacted has %d settings, Settings %d", len(r), len(Settings()))
	}
	for k, want := range map[string]string{
		"IDP_SECRET":             mask,
		"IDP_SECRET_OLD":         mask + "," + mask,
		"IDP_ADMIN_TOKEN":        mask,
		"IDP_REGISTRATION_TOKEN": mask,
		"XOXZO_API_AUTH_TOKEN":   mask,
		"TWILIO_AUTH_TOKEN":      "", // unset stays visibly unset
		"XOXZO_API_SID":          "visible-sid",
		"IDP_DATABASE_URL":       "postgres://idp:xxxxx@db:5432/idp?sslmode=disable",
		"IDP_PIN_TTL":            "5m",
		"IDP_SMS_PROVIDER":       "console",
		"IDP_SMS_WEBHOOK_SECRET": "",
	} {
		if r[k] != want {
			t.Errorf("%s = %q, want %q", k, r[k], want)
		}
	}

	t.Run("password query parameter", func(t *testing.T) {
		c := valid()
		c.Database.URL = "postgres://db/idp?password=db-password"
		if got := c.Redacted()["IDP_DATABASE_URL"]; strings.Contains(got, "db-password") {
			t.Errorf("got %q", got)
		}
	})

	t.Run("slog", func(t *testing.T) {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
		out := buf.String()
		for _, secret := range []string{testSecret, "admin-token", "xoxzo-token", "db-password", strings.Repeat("a", 32)} {
			if strings.Contains(out, secret) {
				t.Errorf("log shows %q: %s", secret, out)
			}
		}
		if !strings.Contains(out, "visible-sid") {
			t.Errorf("log lacks ordinary settings: %s", out)
		}
	})
}

func TestIssuerNormalized(t *testing.T) {
	c, err := Load("", env{"IDP_ISSUER": "https://id.example.com/"}.lookup)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Issuer, "https://id.example.com")
	if err := c.Set("IDP_ISSUER", "https://id.example.com/t//"); err != nil {
		t.Fatal(err)
	}
	eq(t, c.Issuer, "https://id.example.com/t")
}

func TestEmptyEnvValues(t *testing.T) {
	// An env var set to "" is set: it turns the admin listener off, and it
	// is not a number.
	c, err := Load("", env{"IDP_ADMIN_LISTEN": ""}.lookup)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Admin.Listen, "")
	if _, err := Load("", env{"IDP_PIN_LENGTH": ""}.lookup); err == nil {
		t.Error("empty IDP_PIN_LENGTH accepted")
	}
	c, err = Load("", env{"IDP_SMS_PROVIDER": " console , ,file "}.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.SMS.Providers, []string{"console", "file"}) {
		t.Errorf("Providers = %q", c.SMS.Providers)
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct{ url, dialect, path string }{
		{"sqlite:idp.db", "sqlite", "idp.db"},
		{"sqlite:/var/lib/idp/idp.db", "sqlite", "/var/lib/idp/idp.db"},
		{"sqlite::memory:", "sqlite", ":memory:"},
		{"postgres://db/idp", "postgres", ""},
		{"postgresql://db/idp", "postgres", ""},
		{"mysql://db/idp", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			d := Database{URL: tt.url}
			eq(t, d.Dialect(), tt.dialect)
			eq(t, d.SQLitePath(), tt.path)
		})
	}
}

func TestWarnings(t *testing.T) {
	prod := func(c *Config) {
		c.Issuer = "https://id.example.com"
		c.SMS.Providers = []string{"twilio"}
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // env names warned about
	}{
		{"development defaults", func(c *Config) {}, nil},
		{"production", prod, nil},
		{"console in production", func(c *Config) { prod(c); c.SMS.Providers = []string{"console"} }, []string{"IDP_SMS_PROVIDER"}},
		{"short pin", func(c *Config) { c.PIN.Length = 4 }, []string{"IDP_PIN_LENGTH"}},
		{"many tries", func(c *Config) { c.PIN.MaxAttempts, c.PIN.MaxResends = 10, 10 }, []string{"IDP_PIN_MAX_ATTEMPTS"}},
		{"short cooldown", func(c *Config) { c.PIN.ResendCooldown = 10 * time.Second }, []string{"IDP_PIN_RESEND_COOLDOWN"}},
		{"flow shorter than pin", func(c *Config) { c.TTL.LoginFlow = 2 * time.Minute }, []string{"IDP_LOGIN_FLOW_TTL"}},
		{"weak argon2", func(c *Config) { c.Password.Memory, c.Password.Time = 8192, 1 }, []string{"IDP_ARGON2_MEMORY"}},
		{"admin on all interfaces", func(c *Config) { c.Admin.Listen = ":8081" }, []string{"IDP_ADMIN_LISTEN"}},
		{"admin token unused", func(c *Config) { c.Admin.Listen, c.Admin.Token = "", strings.Repeat("t", 16) }, []string{"IDP_ADMIN_TOKEN"}},
		{"xoxzo without template", func(c *Config) {
			c.SMS.Providers = []string{"xoxzo"}
			c.SMS.Xoxzo.Sender = "XOXZO"
		}, []string{"IDP_XOXZO_TEMPLATE_ID"}},
		{"xoxzo domestic-looking sender", func(c *Config) {
			c.SMS.Providers = []string{"xoxzo"}
			c.SMS.Xoxzo.Sender, c.SMS.Xoxzo.TemplateID = "0312345678", "7"
		}, []string{"IDP_XOXZO_SENDER"}},
		{"http webhook off-host", func(c *Config) {
			c.SMS.Providers = []string{"webhook"}
			c.SMS.Webhook.URL = "http://hook.example.com"
		}, []string{"IDP_SMS_WEBHOOK_URL"}},
		{"region not allowed", func(c *Config) { c.SMS.AllowedCountries = []string{"US"} }, []string{"IDP_SMS_DEFAULT_REGION"}},
		{"old secret is current", func(c *Config) { c.SecretOld = []string{testSecret} }, []string{"IDP_SECRET_OLD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			var got []string
			for _, w := range c.Warnings() {
				env, _, _ := strings.Cut(w, ":")
				got = append(got, env)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings %q, want %v", c.Warnings(), tt.want)
			}
		})
	}
}

func TestWarnsWhenJapaneseSMSTakesTwoSegments(t *testing.T) {
	c := Default()
	c.UI.ProductName = "IDP"
	c.Issuer = "https://login.example.jp"
	for _, w := range c.Warnings() {
		if strings.HasPrefix(w, "IDP_PRODUCT_NAME") {
			t.Fatalf("short name and host warned: %s", w)
		}
	}
	c.UI.ProductName = "Example Corporation Sign-in"
	found := false
	for _, w := range c.Warnings() {
		found = found || strings.HasPrefix(w, "IDP_PRODUCT_NAME") && strings.Contains(w, "two segments")
	}
	if !found {
		t.Fatalf("no warning for a long product name: %v", c.Warnings())
	}
}
