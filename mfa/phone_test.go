package mfa_test

import (
	"errors"
	"testing"

	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/migrations/database/dbtest"
)

func TestPhonePolicy(t *testing.T) {
	jp := mfa.PhonePolicy{DefaultRegion: "JP"}
	jpUS := mfa.PhonePolicy{DefaultRegion: "JP", AllowedCountries: []string{"JP", "us"}}
	cases := []struct {
		name   string
		policy mfa.PhonePolicy
		in     string
		want   string
		err    error
	}{
		{"national Japanese mobile", jp, "090-1234-5678", "+819012345678", nil},
		{"full-width digits", jp, "０９０－１２３４－５６７８", "+819012345678", nil},
		{"E.164 with spaces", jp, "+81 90 1234 5678", "+819012345678", nil},
		{"US mobile or fixed", jpUS, "+1 201-555-0123", "+12015550123", nil},
		{"country not allowed", jpUS, "+44 7400 123456", "", mfa.ErrPhoneCountry},
		{"Japanese landline", jp, "03-1234-5678", "", mfa.ErrPhoneType},
		{"Japanese toll free", jp, "0120-123-456", "", mfa.ErrPhoneType},
		{"UK premium rate", jp, "+44 909 876 5432", "", mfa.ErrPhoneType},
		{"garbage", jp, "call me", "", mfa.ErrPhoneInvalid},
		{"too short", jp, "090-12", "", mfa.ErrPhoneInvalid},
		{"national input without a default region", mfa.PhonePolicy{}, "090-1234-5678", "", mfa.ErrPhoneInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.policy.Normalise(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Normalise(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestMasked(t *testing.T) {
	for in, want := range map[string]string{
		"+819012345678": "+81 •• •••• 5678",
		"+12015550123":  "+1 ••• ••• 0123",
		"+447400123456": "+44 •••• ••3456",
	} {
		if got := mfa.Masked(in); got != want {
			t.Errorf("Masked(%s) = %q, want %q", in, got, want)
		}
	}
}

// Start vets every number, whichever page asked for the send.
func TestStartRefusesNumbersOutsideThePolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		e.svc.Phones = mfa.PhonePolicy{DefaultRegion: "JP", AllowedCountries: []string{"JP"}}
		for _, number := range []string{"+447400123456", "+81312345678", "090-1234-5678"} {
			if _, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "f", UserID: "u", Phone: number, Locale: "en"}); !errors.Is(err, mfa.ErrPhoneInvalid) {
				t.Errorf("Start to %s: %v, want a refusal", number, err)
			}
		}
		if e.sender.Tries() != 0 {
			t.Fatalf("%d sends to refused numbers", e.sender.Tries())
		}
	})
}
