package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// field is one leaf setting of a Config, found by walking its struct tags.
type field struct {
	env    string
	help   string
	secret bool
	min    string
	max    string
	oneof  []string
	v      reflect.Value // settable when walked from a pointer
}

var durationType = reflect.TypeFor[time.Duration]()

// fields walks c in declaration order. A struct field without an env tag
// is a group and is walked in turn; any other field must carry an env tag.
func fields(c *Config) []field {
	var out []field
	walk(reflect.ValueOf(c).Elem(), &out)
	return out
}

func walk(v reflect.Value, out *[]field) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		env, ok := sf.Tag.Lookup("env")
		if !ok {
			if sf.Type.Kind() != reflect.Struct {
				panic("config: field " + t.Name() + "." + sf.Name + " has no env tag")
			}
			walk(v.Field(i), out)
			continue
		}
		f := field{
			env:    env,
			help:   sf.Tag.Get("help"),
			secret: sf.Tag.Get("secret") == "true",
			min:    sf.Tag.Get("min"),
			max:    sf.Tag.Get("max"),
			v:      v.Field(i),
		}
		if o := sf.Tag.Get("oneof"); o != "" {
			f.oneof = strings.Split(o, ",")
		}
		*out = append(*out, f)
	}
}

// kind names the value syntax of a field for docs and messages.
func (f field) kind() string {
	switch {
	case f.v.Type() == durationType:
		return "duration"
	case f.v.Kind() == reflect.String:
		return "string"
	case f.v.Kind() == reflect.Bool:
		return "bool"
	case f.v.Kind() == reflect.Slice && f.v.Type().Elem().Kind() == reflect.String:
		return "list"
	case f.v.CanInt():
		return "int"
	case f.v.CanUint():
		return "uint"
	}
	panic("config: " + f.env + " has unsupported type " + f.v.Type().String())
}

// yamlKey is the documented YAML key: the env name in lower case without
// its idp_ prefix.
func (f field) yamlKey() string {
	return strings.TrimPrefix(strings.ToLower(f.env), "idp_")
}

// set parses s into the field. Its error says what is wrong with s, not
// which setting it is: the caller adds that.
func (f field) set(s string) error {
	switch f.kind() {
	case "string":
		f.v.SetString(s)
	case "list":
		f.v.Set(reflect.ValueOf(splitList(s)))
	case "duration":
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%s is not a duration like 5m or 90s", f.quote(s))
		}
		f.v.SetInt(int64(d))
	case "bool":
		b, ok := parseBool(s)
		if !ok {
			return fmt.Errorf("%s is not true or false", f.quote(s))
		}
		f.v.SetBool(b)
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, f.v.Type().Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%s is too large", f.quote(s))
			}
			return fmt.Errorf("%s is not a whole number", f.quote(s))
		}
		f.v.SetInt(n)
	case "uint":
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, f.v.Type().Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%s is too large", f.quote(s))
			}
			return fmt.Errorf("%s is not a whole number of 0 or more", f.quote(s))
		}
		f.v.SetUint(n)
	}
	return nil
}

// setList sets a list field from YAML sequence items.
func (f field) setList(items []string) {
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	f.v.Set(reflect.ValueOf(out))
}

// quote renders a bad value for a message; secret values never appear.
func (f field) quote(s string) string {
	if f.secret {
		return "the value"
	}
	return strconv.Quote(s)
}

// String formats the field's value the way it is written in env and YAML.
func (f field) String() string {
	switch f.kind() {
	case "string":
		return f.v.String()
	case "list":
		return strings.Join(f.v.Interface().([]string), ",")
	case "duration":
		return formatDuration(time.Duration(f.v.Int()))
	case "bool":
		return strconv.FormatBool(f.v.Bool())
	case "int":
		return strconv.FormatInt(f.v.Int(), 10)
	default: // uint
		return strconv.FormatUint(f.v.Uint(), 10)
	}
}

// allowed describes the min/max/oneof tags, e.g. "1m..24h" or "en|ja".
func (f field) allowed() string {
	switch {
	case f.oneof != nil:
		return strings.Join(f.oneof, "|")
	case f.min != "" && f.max != "":
		return f.min + ".." + f.max
	case f.min != "":
		return ">= " + f.min
	case f.max != "":
		return "<= " + f.max
	}
	return ""
}

// checkBounds reports a value outside the field's min/max/oneof tags.
func (f field) checkBounds() string {
	if f.oneof != nil {
		s := f.v.String()
		for _, o := range f.oneof {
			if s == o {
				return ""
			}
		}
		return fmt.Sprintf("%q is not one of %s", s, strings.Join(f.oneof, ", "))
	}
	if f.min == "" && f.max == "" {
		return ""
	}
	var below, above bool
	switch f.kind() {
	case "duration", "int":
		n := f.v.Int()
		below = f.min != "" && n < f.boundInt(f.min)
		above = f.max != "" && n > f.boundInt(f.max)
	case "uint":
		n := f.v.Uint()
		below = f.min != "" && n < f.boundUint(f.min)
		above = f.max != "" && n > f.boundUint(f.max)
	}
	if below || above {
		return fmt.Sprintf("%s is outside %s", f.String(), f.allowed())
	}
	return ""
}

func (f field) boundInt(s string) int64 {
	if f.kind() == "duration" {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic("config: bad bound " + s + " on " + f.env)
		}
		return int64(d)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("config: bad bound " + s + " on " + f.env)
	}
	return n
}

func (f field) boundUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("config: bad bound " + s + " on " + f.env)
	}
	return n
}

// splitList splits a comma-separated value, trimming blanks and dropping
// empty items, so "a, b," is [a b] and "" is nil.
func splitList(s string) []string {
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

// formatDuration writes d in the largest whole unit: 720h, 5m, 90s, 0.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
