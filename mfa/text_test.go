package mfa_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smspin/idp/mfa"
)

// The GSM 03.38 default alphabet: the basic set costs one septet a
// character, the extension table two (an escape and the character).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// gsmSeptets is the length of s in GSM-7 septets, or false if s has a
// character outside the GSM-7 alphabet (which forces UCS-2).
func gsmSeptets(s string) (int, bool) {
	n := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			n++
		case strings.ContainsRune(gsmExtension, r):
			n += 2
		default:
			return 0, false
		}
	}
	return n, true
}

// ucs2Units is the length of s in UCS-2 code units, or false if s has a
// character outside the Basic Multilingual Plane.
func ucs2Units(s string) (int, bool) {
	n := 0
	for _, r := range s {
		if utf16.RuneLen(r) != 1 {
			return 0, false
		}
		n++
	}
	return n, true
}

func TestMessagesFitOneSegment(t *testing.T) {
	tests := []struct {
		name          string
		locale        string
		product, host string
		ttl           time.Duration
		code          string
	}{
		{"en, realistic", "en", "Acme Account", "login.acme-corp.example.com", 5 * time.Minute, "123456"},
		{"en, longest code and TTL", "en", "Northwind Traders ID", "accounts.northwind-traders.example.com", 10 * time.Minute, "12345678"},
		{"en, at the documented budget", "en", strings.Repeat("P", 20), strings.Repeat("h", 60), 9 * time.Minute, "123456"},
		{"ja, realistic", "ja", "IDP", "login.example.jp", 5 * time.Minute, "123456"},
		{"ja, at the documented budget", "ja", "IDP", strings.Repeat("h", 20), 9 * time.Minute, "123456"},
		{"other locale falls back to en", "fr", "Acme Account", "login.acme-corp.example.com", 5 * time.Minute, "123456"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := mfa.Messages(tc.product, tc.host, tc.ttl)(tc.locale, tc.code)
			last := body[strings.LastIndex(body, "\n")+1:]
			if want := "@" + tc.host + " #" + tc.code; last != want {
				t.Errorf("last line = %q, want the origin-bound %q; body %q", last, want, body)
			}
			if strings.Count(body, tc.code) < 2 {
				t.Errorf("body %q shows the code only in the origin-bound line", body)
			}
			switch tc.locale {
			case "ja":
				n, ok := ucs2Units(body)
				if !ok || n > 70 || n != utf8.RuneCountInString(body) {
					t.Errorf("body %q: %d UCS-2 units (ok %v), want at most 70", body, n, ok)
				}
			default:
				n, ok := gsmSeptets(body)
				if !ok {
					t.Errorf("body %q is not GSM-7 only", body)
				}
				if n > 160 {
					t.Errorf("body %q: %d septets, want at most 160", body, n)
				}
			}
		})
	}
}

func TestMessagesValidity(t *testing.T) {
	tests := []struct {
		ttl time.Duration
		en  string
		ja  string
	}{
		{30 * time.Second, "Valid 1 min.", "(1分間有効)"},
		{5 * time.Minute, "Valid 5 min.", "(5分間有効)"},
		{10 * time.Minute, "Valid 10 min.", "(10分間有効)"},
	}
	for _, tc := range tests {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			text := mfa.Messages("IDP", "login.example.jp", tc.ttl)
			if got := text("en", "123456"); !strings.Contains(got, tc.en) {
				t.Errorf("en %q does not say %q", got, tc.en)
			}
			if got := text("ja", "123456"); !strings.Contains(got, tc.ja) {
				t.Errorf("ja %q does not say %q", got, tc.ja)
			}
		})
	}
}
