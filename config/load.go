package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileEnv names the environment variable that gives the YAML file's path
// when Load is called without one.
const FileEnv = "IDP_CONFIG"

// fileSuffix turns a secret's env name into the name of the variable (or
// YAML key) that gives a file holding it: IDP_SECRET_FILE.
const fileSuffix = "_FILE"

// Error is a problem with one setting. Load, Set and Validate return these,
// joined with errors.Join when there are several.
type Error struct {
	// Env is the setting's environment variable name, e.g. IDP_PIN_TTL.
	Env string
	// Source says where the bad value came from: "env", "flag",
	// "file idp.yaml, key pin_ttl"; empty for Validate, which checks the
	// merged result.
	Source string
	// Problem says what is wrong, e.g. `"5 minutes" is not a duration
	// like 5m or 90s`. It never contains a secret's value.
	Problem string
}

func (e *Error) Error() string {
	if e.Source == "" {
		return e.Env + ": " + e.Problem
	}
	return e.Env + " (" + e.Source + "): " + e.Problem
}

// Load builds the configuration from Default, then the YAML file, then the
// environment as seen through lookupEnv (os.LookupEnv when nil). file ""
// means the path in IDP_CONFIG, if any. Flags come after, through Set, and
// Validate last. Every bad value is reported at once.
//
// For each secret setting NAME, NAME_FILE (in the environment, or
// name_file in YAML) reads the value from a file instead, without its
// trailing newline; for a secret list, each line (or comma item) of the
// file is one element. Relative paths are relative to the working
// directory. Setting both NAME and NAME_FILE in one source is an error.
func Load(file string, lookupEnv func(string) (string, bool)) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	c := Default()
	if file == "" {
		file, _ = lookupEnv(FileEnv)
	}
	var errs []error
	if file != "" {
		errs = append(errs, c.loadFile(file)...)
	}
	errs = append(errs, c.loadEnv(lookupEnv)...)
	c.normalize()
	return c, errors.Join(errs...)
}

// Set sets the setting named envName (such as "IDP_LISTEN") from its
// string form, as for a command-line flag; the value has the environment
// syntax (comma lists, Go durations), and a list is replaced, not
// appended to. NAME_FILE names of secrets read the value from the file
// given.
func (c *Config) Set(envName, value string) error {
	err := c.setNamed(envName, value, "flag")
	c.normalize()
	return err
}

func (c *Config) setNamed(envName, value, source string) error {
	f, fromFile, ok := c.lookup(envName)
	if !ok {
		return &Error{Env: envName, Source: source, Problem: "no such setting"}
	}
	if fromFile {
		return f.setFromFile(value, source)
	}
	if err := f.set(value); err != nil {
		return &Error{Env: f.env, Source: source, Problem: err.Error()}
	}
	return nil
}

// lookup finds the field named env, or the secret field whose NAME_FILE
// env is (fromFile true).
func (c *Config) lookup(env string) (f field, fromFile, ok bool) {
	fs := fields(c)
	for _, f := range fs {
		if f.env == env {
			return f, false, true
		}
	}
	if base, cut := strings.CutSuffix(env, fileSuffix); cut {
		for _, f := range fs {
			if f.env == base && f.secret {
				return f, true, true
			}
		}
	}
	return field{}, false, false
}

// setFromFile sets a secret from the file at path; source names where the
// path came from, and the error names NAME_FILE.
func (f field) setFromFile(path, source string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{Env: f.env + fileSuffix, Source: source, Problem: err.Error()}
	}
	s := string(b)
	if f.kind() == "list" {
		// One secret a line (or comma item), as in the environment.
		s = strings.NewReplacer("\r\n", ",", "\n", ",").Replace(s)
	} else {
		s = strings.TrimRight(s, "\r\n")
	}
	if err := f.set(s); err != nil {
		return &Error{Env: f.env + fileSuffix, Source: source, Problem: err.Error()}
	}
	return nil
}

func (c *Config) loadEnv(lookupEnv func(string) (string, bool)) []error {
	var errs []error
	for _, f := range fields(c) {
		v, ok := lookupEnv(f.env)
		var path string
		var fromFile bool
		if f.secret {
			path, fromFile = lookupEnv(f.env + fileSuffix)
			// An empty variable is an unset one: IDP_SECRET= left in an
			// env file beside IDP_SECRET_FILE is not a second value.
			switch {
			case ok && fromFile && v == "":
				ok = false
			case ok && fromFile && path == "":
				fromFile = false
			}
		}
		switch {
		case ok && fromFile:
			errs = append(errs, &Error{Env: f.env, Source: "env", Problem: "set both " + f.env + " and " + f.env + fileSuffix + "; set one"})
		case fromFile:
			if err := f.setFromFile(path, "env"); err != nil {
				errs = append(errs, err)
			}
		case ok:
			if err := f.set(v); err != nil {
				errs = append(errs, &Error{Env: f.env, Source: "env", Problem: err.Error()})
			}
		}
	}
	return errs
}

// loadFile applies a YAML file: a mapping from setting keys (the env name
// in lower case, idp_ optional) to scalars, or to lists for list settings.
func (c *Config) loadFile(path string) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return []error{fmt.Errorf("config file %s: %w", path, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // a file of comments only
	}
	if root.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("config file %s: line %d: want a mapping of setting: value", path, root.Line)}
	}

	var errs []error
	seen := map[string]string{} // setting env name -> key that set it
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		key := k.Value
		f, fromFile, ok := c.lookupKey(key)
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s: line %d: unknown key %q%s", path, k.Line, key, c.suggest(key)))
			continue
		}
		name := f.env
		if fromFile {
			name += fileSuffix
		}
		if prev, dup := seen[f.env]; dup {
			errs = append(errs, fmt.Errorf("config file %s: line %d: key %q sets %s again (already set by %q)", path, k.Line, key, f.env, prev))
			continue
		}
		seen[f.env] = key
		source := fmt.Sprintf("file %s, key %s", path, key)

		switch {
		case v.Kind == yaml.SequenceNode && f.kind() == "list" && !fromFile:
			items := make([]string, 0, len(v.Content))
			bad := false
			for _, it := range v.Content {
				it = resolveAlias(it)
				if it.Kind != yaml.ScalarNode {
					errs = append(errs, &Error{Env: name, Source: source, Problem: fmt.Sprintf("line %d: list items must be plain values", it.Line)})
					bad = true
					break
				}
				items = append(items, it.Value)
			}
			if !bad {
				f.setList(items)
			}
		case v.Kind != yaml.ScalarNode:
			errs = append(errs, &Error{Env: name, Source: source, Problem: fmt.Sprintf("line %d: want a single value, not a %s", v.Line, nodeKind(v))})
		default:
			s := v.Value
			if v.Tag == "!!null" {
				s = "" // "key:" with nothing after it
			}
			var err error
			if fromFile {
				err = f.setFromFile(s, source)
			} else if perr := f.set(s); perr != nil {
				err = &Error{Env: name, Source: source, Problem: perr.Error()}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// lookupKey maps a YAML key to its field: the env name in lower case, with
// the idp_ prefix optional (issuer, idp_issuer and IDP_ISSUER all name
// IDP_ISSUER; xoxzo_api_sid names XOXZO_API_SID).
func (c *Config) lookupKey(key string) (f field, fromFile, ok bool) {
	up := strings.ToUpper(strings.TrimSpace(key))
	if up == "" {
		return field{}, false, false
	}
	if f, fromFile, ok := c.lookup(up); ok {
		return f, fromFile, true
	}
	if strings.HasPrefix(up, "IDP_") {
		return field{}, false, false
	}
	return c.lookup("IDP_" + up)
}

// suggest offers the closest known key for a misspelt one.
func (c *Config) suggest(key string) string {
	key = strings.TrimPrefix(strings.ToLower(key), "idp_")
	best, bestDist := "", 3 // suggest only within two edits
	for _, f := range fields(c) {
		if d := editDistance(key, f.yamlKey()); d < bestDist {
			best, bestDist = f.yamlKey(), d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	}
	return "value"
}

// normalize brings values to their canonical form after any change.
func (c *Config) normalize() {
	// The issuer is compared byte for byte by relying parties (OpenID
	// Connect Discovery 1.0 §4.3), so it has one spelling: no trailing slash.
	c.Issuer = strings.TrimRight(c.Issuer, "/")
}
