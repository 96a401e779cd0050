package main

import (
	"errors"
	"testing"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/mfa"
)

// With IDP_SMS_ALLOWED_COUNTRIES unset, codes go only to numbers of the
// default region's country: a foreign number is refused until the
// operator lists its country or asks for every country with *.
func TestDefaultCountryPolicy(t *testing.T) {
	const jp, us = "+819012345678", "+14155550123"
	for _, tc := range []struct {
		env        map[string]string
		jpOK, usOK bool
	}{
		{map[string]string{}, true, false},
		{map[string]string{"IDP_SMS_DEFAULT_REGION": "US"}, false, true},
		{map[string]string{"IDP_SMS_ALLOWED_COUNTRIES": "*"}, true, true},
		{map[string]string{"IDP_SMS_ALLOWED_COUNTRIES": "JP,US"}, true, true},
		{map[string]string{"IDP_SMS_ALLOWED_COUNTRIES": "US"}, false, true},
	} {
		cfg, err := config.Load("", func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		p := phonePolicy(cfg)
		for number, want := range map[string]bool{jp: tc.jpOK, us: tc.usOK} {
			_, err := p.Normalise(number)
			if got := err == nil; got != want {
				t.Errorf("%v: %s allowed = %v (%v), want %v", tc.env, number, got, err, want)
			}
			if err != nil && !errors.Is(err, mfa.ErrPhoneCountry) {
				t.Errorf("%v: %s refused with %v, want ErrPhoneCountry", tc.env, number, err)
			}
		}
	}
}
