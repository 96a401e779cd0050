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

// The notices below carry no code. Each fits one SMS segment: the
// English ones use only the GSM-7 alphabet (a single "•" would switch
// the whole text to UCS-2 and two segments) and take 160 septets while
// the product name has at most 40 characters; the Japanese ones 70 UCS-2
// characters while it has at most 10 (mfa/text_test.go checks both).

// PhoneChanged is the text sent to a user's old number when it was
// replaced by newNumber (E.164), named by its last four digits: if they
// did not do it, they learn at once.
func PhoneChanged(product, locale, newNumber string) string {
	last := newNumber[max(len(newNumber)-4, 0):]
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントの電話番号が末尾%sの番号に変更されました。心当たりがない場合はサポートにご連絡ください。", product, last)
	}
	return fmt.Sprintf("%s: the phone number of your account was changed to a number ending in %s. If this was not you, contact support.", product, last)
}

// RecoveryCodeUsed is the text sent to a user's phone when a recovery
// code stood in for its PIN: if they did not do it, they learn at once.
func RecoveryCodeUsed(product, locale string, left int) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントへのログインに回復コードが使われました（残り%d個）。心当たりがない場合はサポートにご連絡ください。", product, left)
	}
	return fmt.Sprintf("%s: a recovery code was used to sign in to your account (%d left). If this was not you, contact support.", product, left)
}

// PasswordReset is the text sent to a user's phone when their password
// was reset and their sessions ended.
func PasswordReset(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: パスワードが再設定され、すべてのログインが終了しました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: the password of your account was reset and every sign-in ended. If this was not you, contact support.", product)
}

// PasswordChanged is the text sent to a user's phone when they changed
// their password on the account page.
func PasswordChanged(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントのパスワードが変更されました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: the password of your account was changed. If this was not you, contact support.", product)
}

// TOTPAdded is the text sent to a user's phone when an authenticator app
// was added to the account: one more way in, which its owner should know of.
func TOTPAdded(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントに認証アプリが追加されました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: an authenticator app was added to your account. If this was not you, contact support.", product)
}

// TOTPRemoved is the text sent to a user's phone when the authenticator
// app was removed from the account.
func TOTPRemoved(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントから認証アプリが削除されました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: the authenticator app was removed from your account. If this was not you, contact support.", product)
}

// PasskeyAdded is the text sent to a user's phone when a passkey was
// added to the account.
func PasskeyAdded(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントにパスキーが追加されました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: a passkey was added to your account. If this was not you, contact support.", product)
}

// PasskeyRemoved is the text sent to a user's phone when a passkey was
// removed from the account.
func PasskeyRemoved(product, locale string) string {
	if locale == "ja" {
		return fmt.Sprintf("%s: アカウントからパスキーが削除されました。心当たりがない場合はサポートにご連絡ください。", product)
	}
	return fmt.Sprintf("%s: a passkey was removed from your account. If this was not you, contact support.", product)
}
