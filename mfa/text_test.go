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

// segments is how many SMS parts a body takes, and in which encoding:
// GSM-7 when every character is in its alphabet (160 septets, or 153 a
// part once split), else UCS-2 (70 characters, or 67 a part).
func segments(body string) (string, int) {
	if n, ok := gsmSeptets(body); ok {
		if n <= 160 {
			return "GSM-7", 1
		}
		return "GSM-7", (n + 152) / 153
	}
	n, _ := ucs2Units(body)
	if n <= 70 {
		return "UCS-2", 1
	}
	return "UCS-2", (n + 66) / 67
}

// Every text sent by SMS, in both languages: English in GSM-7, and every
// one in a single segment, with the longest product names the doc
// comments promise (40 characters in English, 10 in Japanese).
func TestEveryTextItsEncodingAndSegments(t *testing.T) {
	for _, lang := range []struct {
		locale, product, encoding string
	}{
		{"en", strings.Repeat("P", 40), "GSM-7"},
		{"en", "IDP", "GSM-7"},
		{"ja", strings.Repeat("製", 10), "UCS-2"},
		{"ja", "IDP", "UCS-2"},
	} {
		texts := map[string]string{
			"pin (its own budget, above)": mfa.Messages("IDP", "login.example.jp", 5*time.Minute)(lang.locale, "123456"),
			"phone changed":               mfa.PhoneChanged(lang.product, lang.locale, "+819099990000"),
			"recovery code used":          mfa.RecoveryCodeUsed(lang.product, lang.locale, 10),
			"password reset":              mfa.PasswordReset(lang.product, lang.locale),
			"password changed":            mfa.PasswordChanged(lang.product, lang.locale),
			"totp added":                  mfa.TOTPAdded(lang.product, lang.locale),
			"totp removed":                mfa.TOTPRemoved(lang.product, lang.locale),
			"passkey added":               mfa.PasskeyAdded(lang.product, lang.locale),
			"passkey removed":             mfa.PasskeyRemoved(lang.product, lang.locale),
		}
		for name, body := range texts {
			enc, n := segments(body)
			t.Logf("%s, %s (product %d characters): %s, %d segment(s), %d characters", lang.locale, name, utf8.RuneCountInString(lang.product), enc, n, utf8.RuneCountInString(body))
			if enc != lang.encoding || n != 1 {
				t.Errorf("%s %s: %s in %d segments, want %s in one: %q", lang.locale, name, enc, n, lang.encoding, body)
			}
		}
	}
	// The segment count itself: a "•" turns a short English text into
	// UCS-2, a long one takes parts of 153 septets.
	for _, tc := range []struct {
		body string
		enc  string
		n    int
	}{
		{"changed to +81 •• •••• 0000", "UCS-2", 1},
		{strings.Repeat("a", 160), "GSM-7", 1},
		{strings.Repeat("a", 161), "GSM-7", 2},
		{strings.Repeat("{", 80), "GSM-7", 1},
		{strings.Repeat("{", 81), "GSM-7", 2},
		{strings.Repeat("あ", 70), "UCS-2", 1},
		{strings.Repeat("あ", 71), "UCS-2", 2},
		{strings.Repeat("•", 100), "UCS-2", 2},
	} {
		if enc, n := segments(tc.body); enc != tc.enc || n != tc.n {
			t.Errorf("segments(%.20q…) = %s, %d; want %s, %d", tc.body, enc, n, tc.enc, tc.n)
		}
	}
}

// The notices say what happened in the user's language, and carry no
// code line a phone could mistake for a sign-in code.
func TestNoticesSayWhatHappened(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{mfa.PhoneChanged("IDP", "en", "+819099990000"), "ending in 0000"},
		{mfa.PhoneChanged("IDP", "ja", "+819099990000"), "末尾0000の番号"},
		{mfa.RecoveryCodeUsed("IDP", "en", 7), "(7 left)"},
		{mfa.RecoveryCodeUsed("IDP", "ja", 7), "残り7個"},
		{mfa.PasswordReset("IDP", "en"), "was reset"},
		{mfa.PasswordReset("IDP", "ja"), "再設定"},
		{mfa.PasswordChanged("IDP", "en"), "was changed"},
		{mfa.PasswordChanged("IDP", "ja"), "変更されました"},
		{mfa.TOTPAdded("IDP", "en"), "authenticator app was added"},
		{mfa.TOTPAdded("IDP", "ja"), "認証アプリが追加"},
		{mfa.TOTPRemoved("IDP", "en"), "authenticator app was removed"},
		{mfa.TOTPRemoved("IDP", "ja"), "認証アプリが削除"},
		{mfa.PasskeyAdded("IDP", "en"), "passkey was added"},
		{mfa.PasskeyAdded("IDP", "ja"), "パスキーが追加"},
		{mfa.PasskeyRemoved("IDP", "en"), "passkey was removed"},
		{mfa.PasskeyRemoved("IDP", "ja"), "パスキーが削除"},
	} {
		if !strings.Contains(tc.body, tc.want) || strings.Contains(tc.body, "#") || !strings.HasPrefix(tc.body, "IDP: ") {
			t.Errorf("%q does not say %q (or has a code line)", tc.body, tc.want)
		}
	}
}
