package mfa

import (
	"fmt"
	"time"
)

// Messages returns the SMS text of a code in English or Japanese. Each
// ends with the origin-bound line "@host #code", so browsers (WebOTP) and
// phones can offer the code for this site only. Both fit one SMS segment
// for a product name up to 20 characters: 160 GSM-7 characters in
// English, 70 UCS-2 characters in Japanese.
func Messages(product, host string, ttl time.Duration) Text {
	mins := int(ttl.Round(time.Minute) / time.Minute)
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
