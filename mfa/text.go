package mfa

import (
	"fmt"
	"time"
)

// Messages returns the SMS text of a code in English or Japanese. Each
// ends with the origin-bound line "@host #code", so browsers (WebOTP) and
// phones can offer the code for this site only. With a 6-digit code and a
// validity under 10 minutes, the English text fits one SMS segment (160
// GSM-7 characters) while the product name and host together take at most
// 80 characters, the Japanese one (70 UCS-2 characters) only while they
// take at most 23, e.g. "IDP" and "login.example.jp". A longer code
// takes two characters of that budget a digit (it appears twice), a
// validity of 10 minutes one more; past the budget the SMS goes out in
// two segments.
func Messages(product, host string, ttl time.Duration) Text {
	mins := int(ttl / time.Minute) // rounded down: never promise more time than there is
	if mins < 1 {
		mins = 1
	}
	return func(locale, code string) string {
		switch locale {
		case "ja":
			return fmt.Sprintf("%s 確認コード: %s (%d分間有効)。他人に教えないでください。\n\n@%s #%s", product, code, mins, host, code)
		default:
			return fmt.Sprintf("%s code: %s. Valid %d min. Never share it; we will never ask for it.\n\n@%s #%s", product, code, mins, host, code)
		}
	}
}

// PhoneChanged is the text sent to a user's old number when it was
// replaced: if they did not do it, they learn at once.
func PhoneChanged(product, locale, newMasked string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントの電話番号が %s に変更されました。心当たりがない場合はサポートにご連絡ください。", product, newMasked)
	}
	return fmt.Sprintf("%s: the phone number of your account was changed to %s. If this was not you, contact support.", product, newMasked)
}
