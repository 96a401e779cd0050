package mfa_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smspin/idp/mfa"
)

// e164 is ITU-T E.164 as the rest of the provider stores numbers.
var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

// FuzzNormalisePhone feeds PhonePolicy.Normalise what people type (and
// what bots send) under arbitrary policies. It must not panic; a number it
// accepts is E.164, of an allowed country, normalises to itself, and masks
// to no more than its country code and last four digits.
func FuzzNormalisePhone(f *testing.F) {
	for _, s := range []struct{ in, region, allowed string }{
		{"090-1234-5678", "JP", ""},
		{"０９０－１２３４－５６７８", "jp", "JP"},
		{"+81 90 1234 5678", "", ""},
		{"+1 201-555-0123", "JP", "JP,us"},
		{"+44 7400 123456", "GB", "JP"},
		{"03-1234-5678", "JP", ""},
		{"0120-123-456", "JP", ""},
		{"+44 909 876 5432", "JP", ""},
		{"tel:+81-90-1234-5678;ext=1", "JP", ""},
		{"(090) 1234 5678 ext. 99", "ZZ", ""},
		{"+800 1234 5678", "", ""},
		{"＋８１９０ー１２３４ー５６７８", "JP", ""},
		{"\x00\xff+819012345678", "JP", ""},
		{"call me", "JP", ""},
	} {
		f.Add(s.in, s.region, s.allowed)
	}
	f.Fuzz(func(t *testing.T, in, region, allowed string) {
		p := mfa.PhonePolicy{DefaultRegion: region}
		if allowed != "" {
			p.AllowedCountries = strings.Split(allowed, ",")
		}
		_ = mfa.Masked(in)
		_ = mfa.Country(in)
		got, err := p.Normalise(in)
		if err != nil {
			if got != "" {
				t.Fatalf("Normalise(%q) = %q with error %v; want no number", in, got, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("Normalise(%q) = %q, not E.164", in, got)
		}
		again, err := p.Normalise(got)
		if err != nil || again != got {
			t.Fatalf("Normalise(%q) = %q, but Normalise(%q) = %q, %v", in, got, got, again, err)
		}
		country := mfa.Country(got)
		if country == "" {
			t.Fatalf("Normalise(%q) = %q, of no country", in, got)
		}
		if len(p.AllowedCountries) > 0 && !slices.ContainsFunc(p.AllowedCountries, func(c string) bool { return strings.EqualFold(c, country) }) {
			t.Fatalf("Normalise(%q) = %q in %s, which %q does not allow", in, got, country, allowed)
		}
		masked := mfa.Masked(got)
		shown := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, masked)
		// Country codes have at most three digits (E.164 section 6.2.1).
		if len(shown) < 4 || len(shown) > 3+4 || !strings.HasSuffix(shown, got[len(got)-4:]) || !strings.HasPrefix(got, "+"+shown[:len(shown)-4]) {
			t.Fatalf("Masked(%q) = %q; want the country code and last four digits shown, nothing more", got, masked)
		}
	})
}
