package config

import (
	"log/slog"
	"net/url"
	"strings"
)

// Setting documents one setting, for the README and "idp config".
type Setting struct {
	// Env is the environment variable, e.g. IDP_PIN_TTL.
	Env string
	// Key is the YAML key, e.g. pin_ttl (idp_pin_ttl works too).
	Key string
	// Type is the value syntax: string, bool, int, uint, duration (Go
	// syntax: 90s, 5m, 720h) or list (comma-separated; a YAML list also
	// works).
	Type string
	// Default is the value in Default(), in env syntax; "" when none.
	Default string
	// Allowed states the bounds Validate enforces from the field's tags,
	// e.g. "30s..10m" or "debug|info|warn|error"; "" when the rule is
	// only in Help or there is none.
	Allowed string
	// Help is a one-line description.
	Help string
	// Secret settings are never printed and can also be read from the
	// file named by Env+"_FILE".
	Secret bool
}

// Settings lists every setting in declaration order.
func Settings() []Setting {
	c := Default()
	fs := fields(&c)
	out := make([]Setting, len(fs))
	for i, f := range fs {
		out[i] = Setting{
			Env:     f.env,
			Key:     f.yamlKey(),
			Type:    f.kind(),
			Default: f.String(),
			Allowed: f.allowed(),
			Help:    f.help,
			Secret:  f.secret,
		}
	}
	return out
}

// mask replaces a secret that is set. An empty secret shows as empty, so
// the output still tells set from unset.
const mask = "********"

// Redacted maps each setting's env name to its value in env syntax, with
// secrets masked and the password in IDP_DATABASE_URL hidden. Print it in
// the order of Settings.
func (c Config) Redacted() map[string]string {
	fs := fields(&c)
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		v := f.String()
		switch {
		case f.secret && f.kind() == "list":
			items := strings.Split(v, ",")
			for i := range items {
				items[i] = mask
			}
			if v == "" {
				items = nil
			}
			v = strings.Join(items, ",")
		case f.secret && v != "":
			v = mask
		case f.env == "IDP_DATABASE_URL":
			v = redactURL(v)
		}
		out[f.env] = v
	}
	return out
}

// redactURL hides the password of a URL, in its user info or in a
// password query parameter; an unparsable one is hidden whole since it may
// still hold one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return mask
	}
	q := u.Query()
	if u.User == nil && !q.Has("password") {
		return s
	}
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// LogValue logs the configuration as Redacted does, so a Config handed to
// slog never writes a secret.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	attrs := make([]slog.Attr, 0, len(r))
	for _, s := range Settings() {
		attrs = append(attrs, slog.String(s.Env, r[s.Env]))
	}
	return slog.GroupValue(attrs...)
}
