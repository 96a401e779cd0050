package mfa

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/smspin/idp/mfa/sms"
)

// Why a phone number cannot receive PINs.
var (
	ErrPhoneInvalid = errors.New("mfa: not a valid phone number")
	ErrPhoneCountry = errors.New("mfa: phone number's country is not allowed")
	ErrPhoneType    = errors.New("mfa: phone number cannot receive SMS codes")
)

// PhonePolicy parses and vets numbers before any SMS is sent to them.
type PhonePolicy struct {
	// DefaultRegion (ISO 3166 alpha-2) reads national input such as
	// 090-1234-5678.
	DefaultRegion string
	// AllowedCountries (ISO 3166 alpha-2); empty allows every country.
	AllowedCountries []string
}

// Normalise parses a number as people type it and returns it in E.164
// form (+819012345678). It refuses numbers that are not valid, that belong
// to a country not allowed, and those of a type that does not receive SMS
// or that SMS-pumping fraud targets (premium rate, shared cost, toll free,
// VoIP, pagers, landlines).
func (p PhonePolicy) Normalise(input string) (string, error) {
	in := strings.TrimSpace(input)
	in = strings.Map(func(r rune) rune { // full-width digits and plus from Japanese IMEs
		switch {
		case r >= '０' && r <= '９':
			return '0' + (r - '０')
		case r == '＋':
			return '+'
		case r == 'ー' || r == '－' || r == '‐':
			return '-'
		}
		return r
	}, in)
	region := strings.ToUpper(p.DefaultRegion)
	if region == "" {
		region = "ZZ" // international form required
	}
	num, err := phonenumbers.Parse(in, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: %q", ErrPhoneInvalid, maskInput(in))
	}
	country := phonenumbers.GetRegionCodeForNumber(num)
	if len(p.AllowedCountries) > 0 && !slices.ContainsFunc(p.AllowedCountries, func(c string) bool { return strings.EqualFold(c, country) }) {
		return "", fmt.Errorf("%w: %s", ErrPhoneCountry, country)
	}
	switch kind := phonenumbers.GetNumberType(num); kind {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", fmt.Errorf("%w: %s", ErrPhoneType, numberKinds[kind])
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// numberKinds name the kinds of number that get no codes, as an
// operator reads them in an error.
var numberKinds = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.FIXED_LINE:      "a landline",
	phonenumbers.TOLL_FREE:       "a toll-free number",
	phonenumbers.PREMIUM_RATE:    "a premium-rate number",
	phonenumbers.SHARED_COST:     "a shared-cost number",
	phonenumbers.VOIP:            "an internet (VoIP) number",
	phonenumbers.PERSONAL_NUMBER: "a personal (forwarding) number",
	phonenumbers.PAGER:           "a pager",
	phonenumbers.UAN:             "a company-wide number (UAN)",
	phonenumbers.VOICEMAIL:       "a voicemail number",
	phonenumbers.UNKNOWN:         "a number of unknown kind",
}

// Country returns the ISO 3166 alpha-2 region of an E.164 number, or "".
func Country(e164 string) string {
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

func maskInput(s string) string {
	if len(s) <= 4 {
		return "…"
	}
	return "…" + s[len(s)-4:]
}

// Masked shows a number the way the PIN page does: the country code and
// the last four digits, the rest hidden but keeping the number's grouping,
// so people recognise their own phone ("+81 •• •••• 5678").
func Masked(e164 string) string {
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return sms.MaskNumber(e164)
	}
	intl := strings.ReplaceAll(phonenumbers.Format(num, phonenumbers.INTERNATIONAL), "-", " ")
	cc, rest, ok := strings.Cut(intl, " ")
	if !ok {
		return sms.MaskNumber(e164)
	}
	digits := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	var b strings.Builder
	b.WriteString(cc + " ")
	seen := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-4 {
				b.WriteRune('•')
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}
