package ui

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// MsgID is the key of a user-facing message in the catalogue. The set is closed:
// handlers pass one of the constants below, never text of their own, so that no
// error string from a lower layer can reach a page (an unknown MsgID renders as
// [MsgServerError]).
//
// Every MsgID has an explanation (the key itself) in every language. Except for
// the notices ([MsgPINSent], [MsgPINResent]) each also has a title (key + ".title")
// and a "what to do next" line (key + ".next"), so any of them can be shown on an
// [ErrorPage] as well as inline above a form.
type MsgID string

// Sign-in with username and password.
const (
	// MsgInvalidCredentials: wrong username or password. The same text serves an
	// unknown user, so the page does not reveal which accounts exist.
	MsgInvalidCredentials MsgID = "login.invalid_credentials"
	// MsgMissingCredentials: the form was posted with an empty field.
	MsgMissingCredentials MsgID = "login.missing_credentials"
	// MsgAccountLocked: sign-in for this account is paused after repeated failures.
	MsgAccountLocked MsgID = "login.account_locked"
	// MsgAccountDisabled: the operator disabled this account (said only
	// after the right password).
	MsgAccountDisabled MsgID = "login.account_disabled"
)

// The SMS PIN step.
const (
	// MsgPINInvalid: the code did not match. An unknown or already-used challenge
	// shows the same message.
	MsgPINInvalid MsgID = "pin.invalid"
	// MsgPINFormat: the code is not made of digits.
	MsgPINFormat MsgID = "pin.format"
	// MsgPINExpired: the code was right in shape but its challenge has expired.
	MsgPINExpired MsgID = "pin.expired"
	// MsgTooManyAttempts: the challenge ended after too many wrong codes.
	MsgTooManyAttempts MsgID = "pin.too_many_attempts"
	// MsgPINSent is a notice; it takes one argument, the masked phone number.
	MsgPINSent MsgID = "pin.sent"
	// MsgPINResent is a notice that a new code went out (the page says
	// to which number already).
	MsgPINResent MsgID = "pin.resent"
	// MsgResendTooSoon: a resend was asked for before the cooldown ended.
	MsgResendTooSoon MsgID = "pin.resend_too_soon"
	// MsgResendLimit: no more codes may be sent for this sign-in.
	MsgResendLimit MsgID = "pin.resend_limit"
	// MsgSMSRateLimited: a send limit (per phone, user, network or in all)
	// was reached; its next step takes the minutes to wait ([Common.WaitMinutes]).
	MsgSMSRateLimited MsgID = "sms.rate_limited"
	// MsgSMSUnavailable: every SMS provider failed.
	MsgSMSUnavailable MsgID = "sms.unavailable"
	// MsgSMSHeld: sends to the number are held (its range sends codes
	// nobody types, or the day's SMS budget is spent) until an operator
	// lifts the hold.
	MsgSMSHeld MsgID = "sms.held"
	// MsgPINRerouted is a notice; it takes one argument, the masked phone
	// number.
	MsgPINRerouted MsgID = "pin.rerouted"
)

// Phone enrolment.
const (
	// MsgPhoneInvalid: the number could not be parsed as a mobile number.
	MsgPhoneInvalid MsgID = "phone.invalid"
	// MsgPhoneNotMobile: a valid number that gets no SMS (a landline, a
	// toll-free or VoIP number...).
	MsgPhoneNotMobile MsgID = "phone.not_mobile"
	// MsgPhoneCountryNotAllowed: the number's country is not on the allow list.
	MsgPhoneCountryNotAllowed MsgID = "phone.country_not_allowed"
	// MsgPhoneChanged: the account's number was replaced; {0} is the new
	// number, masked. Shown on a [NoticePage].
	MsgPhoneChanged MsgID = "phone.changed"
	// MsgStillSignedIn: the user chose not to sign out. Shown on a [NoticePage].
	MsgStillSignedIn MsgID = "logout.cancelled"
	// MsgPhoneSame: the new number is the one already registered.
	MsgPhoneSame MsgID = "phone.same"
	// MsgNoPhone: the account has no phone and enrolment is not possible here.
	MsgNoPhone MsgID = "phone.missing"
	// MsgPhoneNotAllowed: codes may not be sent to the account's number
	// (its country or kind is not allowed any more).
	MsgPhoneNotAllowed MsgID = "phone.not_allowed"
	// MsgPhoneUnchanged: a phone change was given up; the number stays.
	// Shown on a [NoticePage].
	MsgPhoneUnchanged MsgID = "phone.unchanged"
	// MsgPhoneEnrolled: an invitation's enrolment is done; {0} is the
	// number, masked. Shown on a [NoticePage].
	MsgPhoneEnrolled MsgID = "phone.enrolled"
	// MsgPhoneNotEnrolled: an enrolment was given up. Shown on a [NoticePage].
	MsgPhoneNotEnrolled MsgID = "phone.not_enrolled"
)

// Recovery codes.
const (
	// MsgRecoveryCodeInvalid: not a code, a wrong one, or one used already.
	MsgRecoveryCodeInvalid MsgID = "recovery.invalid"
)

// The authenticator app (TOTP).
const (
	// MsgTOTPInvalid: not a code, a wrong one, or one used already.
	MsgTOTPInvalid MsgID = "totp.invalid"
	// MsgTOTPUnreadable: the stored secret cannot be opened (sealed under
	// an IDP_SECRET no longer configured): another factor is the way on.
	MsgTOTPUnreadable MsgID = "totp.unreadable"
	// MsgTOTPAdded: a notice, an authenticator app was added.
	MsgTOTPAdded MsgID = "account.totp_added"
	// MsgTOTPRemoved: a notice, the authenticator app was removed.
	MsgTOTPRemoved MsgID = "account.totp_removed"
)

// Passkeys (WebAuthn).
const (
	// MsgPasskeyInvalid: the browser's answer was not a valid assertion of
	// one of this account's passkeys for this sign-in (or it was used).
	MsgPasskeyInvalid MsgID = "passkey.invalid"
	// MsgPasskeyUnverified: a passwordless sign-in's passkey did not
	// verify its user (no UV flag): it cannot stand for the password.
	MsgPasskeyUnverified MsgID = "passkey.unverified"
	// MsgPasskeyNotAdded: a passkey could not be added (no answer from
	// the browser, an expired or used ceremony, a credential not valid).
	MsgPasskeyNotAdded MsgID = "account.passkey_not_added"
	// MsgPasskeyAdded, MsgPasskeyRemoved, MsgPasskeyRenamed: notices.
	MsgPasskeyAdded   MsgID = "account.passkey_added"
	MsgPasskeyRemoved MsgID = "account.passkey_removed"
	MsgPasskeyRenamed MsgID = "account.passkey_renamed"
)

// Passwords: resets and changes.
const (
	// MsgResetRefused: a username and recovery code that do not match.
	MsgResetRefused MsgID = "reset.refused"
	// MsgResetNeedsOperator: the account has no verified phone for the
	// reset's second proof.
	MsgResetNeedsOperator MsgID = "reset.needs_operator"
	// MsgResetLinkInvalid: an operator's reset link used, replaced or expired.
	MsgResetLinkInvalid MsgID = "reset.link_invalid"
	// MsgPasswordReset: a reset is done. Shown on a [NoticePage].
	MsgPasswordReset MsgID = "reset.done"
	// MsgPasswordUnchanged: a reset was given up. Shown on a [NoticePage].
	MsgPasswordUnchanged MsgID = "reset.cancelled"
	// MsgPasswordMismatch: the new password and its confirmation differ.
	MsgPasswordMismatch MsgID = "password.mismatch"
	// MsgPasswordTooShort: under password.MinLength characters.
	MsgPasswordTooShort MsgID = "password.too_short"
	// MsgPasswordTooLong: over password.MaxLength characters.
	MsgPasswordTooLong MsgID = "password.too_long"
	// MsgPasswordCommon: among the most common passwords.
	MsgPasswordCommon MsgID = "password.common"
	// MsgPasswordWeak: the username, or one character repeated.
	MsgPasswordWeak MsgID = "password.weak"
	// MsgPasswordInvalid: characters a password may not have.
	MsgPasswordInvalid MsgID = "password.invalid"
)

// The account page.
const (
	// MsgAccountSignInCancelled: a sign-in to the account page was given
	// up. Shown on a [NoticePage].
	MsgAccountSignInCancelled MsgID = "account.signin_cancelled"
	// MsgCurrentPasswordWrong: the current password typed to change it.
	MsgCurrentPasswordWrong MsgID = "account.current_password_wrong"
	// MsgPasswordChanged: a notice, the password was changed.
	MsgPasswordChanged MsgID = "account.password_changed"
	// MsgSessionEnded: a notice, a session was ended.
	MsgSessionEnded MsgID = "account.session_ended"
	// MsgDeviceForgotten: a notice, a trusted browser was forgotten.
	MsgDeviceForgotten MsgID = "account.device_forgotten"
	// Recent activity (notices, no arguments).
	MsgActivitySignedIn        MsgID = "activity.signed_in"
	MsgActivityWrongPassword   MsgID = "activity.wrong_password"
	MsgActivityThrottled       MsgID = "activity.throttled"
	MsgActivityRecoveryCode    MsgID = "activity.recovery_code"
	MsgActivityPasswordChanged MsgID = "activity.password_changed"
	MsgActivityPasswordReset   MsgID = "activity.password_reset"
	MsgActivityPhoneChanged    MsgID = "activity.phone_changed"
	MsgActivityRecoveryCodes   MsgID = "activity.recovery_codes"
	MsgActivityTOTPAdded       MsgID = "activity.totp_added"
	MsgActivityTOTPRemoved     MsgID = "activity.totp_removed"
	MsgActivityDeviceApproved  MsgID = "activity.device_approved"
	MsgActivityPasskeyAdded    MsgID = "activity.passkey_added"
	MsgActivityPasskeyRemoved  MsgID = "activity.passkey_removed"
)

// Invitations.
const (
	// MsgNeedInvitation: the account has no number, and a first one is
	// enrolled only through an invitation link.
	MsgNeedInvitation MsgID = "invitation.needed"
	// MsgInvitationInvalid: the invitation link was used, replaced or
	// has expired.
	MsgInvitationInvalid MsgID = "invitation.invalid"
	// MsgAlreadyHasPhone: an invitation for an account that has a number.
	MsgAlreadyHasPhone MsgID = "invitation.has_phone"
)

// Devices (RFC 8628): the code typed on /device, and what became of it.
const (
	// MsgDeviceCodeInvalid: no device waits for the code typed (wrong,
	// expired, or answered already).
	MsgDeviceCodeInvalid MsgID = "device.code_invalid"
	// MsgDeviceCodeThrottled: too many codes tried from the network; its
	// next step takes the minutes to wait ([Common.WaitMinutes]).
	MsgDeviceCodeThrottled MsgID = "device.throttled"
	// MsgDeviceApproved: the device may use the account; {0} is the
	// app's name. Shown on a [NoticePage].
	MsgDeviceApproved MsgID = "device.approved"
	// MsgDeviceDenied: the user refused the device; {0} is the app's
	// name. Shown on a [NoticePage].
	MsgDeviceDenied MsgID = "device.denied"
	// MsgDeviceNotConnected: the sign-in was given up, or the device's
	// code expired meanwhile. Shown on a [NoticePage].
	MsgDeviceNotConnected MsgID = "device.not_connected"
)

// Flow and request errors, mostly shown on an [ErrorPage].
const (
	// MsgRateLimited: too many attempts from this client address or for this
	// account or number.
	MsgRateLimited MsgID = "error.rate_limited"
	// MsgFlowExpired: the login flow outlived its expiry.
	MsgFlowExpired MsgID = "flow.expired"
	// MsgFlowNotFound: no such login flow, or it is already finished.
	MsgFlowNotFound MsgID = "flow.not_found"
	// MsgCSRF: the CSRF token or the cross-origin check failed.
	MsgCSRF MsgID = "error.csrf"
	// MsgInvalidRequest: a malformed authorize or form request.
	MsgInvalidRequest MsgID = "error.invalid_request"
	// MsgBadRedirectURI: no valid redirect URI to send an error to
	// (RFC 6749 §4.1.2.1: do not redirect, tell the user).
	MsgBadRedirectURI MsgID = "error.bad_redirect_uri"
	// MsgUnknownClient: the client_id is not registered.
	MsgUnknownClient MsgID = "error.unknown_client"
	// MsgServerError: anything unexpected; also what an unknown MsgID shows.
	MsgServerError MsgID = "error.server"
	// MsgTemporarilyUnavailable: the database or another dependency is down.
	MsgTemporarilyUnavailable MsgID = "error.temporarily_unavailable"
	// MsgAccessDenied: the user may not sign in to this client.
	MsgAccessDenied MsgID = "error.access_denied"
	// MsgNotFound: no page at this path.
	MsgNotFound MsgID = "error.not_found"
	// MsgRequestTooLarge: a form or request body over the size cap.
	MsgRequestTooLarge MsgID = "error.too_large"
)

// msgKind says how a message may be shown.
type msgKind int

const (
	// kindPage messages have a title, an explanation and a next step.
	kindPage msgKind = iota
	// kindField messages are kindPage messages that, shown above a form, mark
	// its input as invalid (aria-invalid).
	kindField
	// kindNotice messages are good news: an explanation only, in a status region.
	kindNotice
)

type msgInfo struct {
	kind msgKind
	args int // placeholders {0}..{args-1} in every language
}

// messages is the closed set of [MsgID] values with how each is shown. It is
// read-only after package initialisation.
var messages = map[MsgID]msgInfo{
	MsgInvalidCredentials:      {kind: kindField},
	MsgMissingCredentials:      {kind: kindField},
	MsgAccountLocked:           {kind: kindPage},
	MsgAccountDisabled:         {kind: kindPage},
	MsgPINInvalid:              {kind: kindField},
	MsgPINFormat:               {kind: kindField},
	MsgPINExpired:              {kind: kindPage},
	MsgTooManyAttempts:         {kind: kindPage},
	MsgPINSent:                 {kind: kindNotice, args: 1},
	MsgPINResent:               {kind: kindNotice},
	MsgResendTooSoon:           {kind: kindPage},
	MsgResendLimit:             {kind: kindPage},
	MsgSMSUnavailable:          {kind: kindPage},
	MsgSMSRateLimited:          {kind: kindPage},
	MsgSMSHeld:                 {kind: kindPage},
	MsgPINRerouted:             {kind: kindNotice, args: 1},
	MsgPhoneInvalid:            {kind: kindField},
	MsgPhoneCountryNotAllowed:  {kind: kindField},
	MsgPhoneNotMobile:          {kind: kindField},
	MsgNoPhone:                 {kind: kindPage},
	MsgPhoneChanged:            {kind: kindPage, args: 1},
	MsgPhoneSame:               {kind: kindField},
	MsgStillSignedIn:           {kind: kindPage},
	MsgRateLimited:             {kind: kindPage},
	MsgFlowExpired:             {kind: kindPage},
	MsgFlowNotFound:            {kind: kindPage},
	MsgCSRF:                    {kind: kindPage},
	MsgInvalidRequest:          {kind: kindPage},
	MsgBadRedirectURI:          {kind: kindPage},
	MsgUnknownClient:           {kind: kindPage},
	MsgServerError:             {kind: kindPage},
	MsgTemporarilyUnavailable:  {kind: kindPage},
	MsgAccessDenied:            {kind: kindPage},
	MsgNotFound:                {kind: kindPage},
	MsgRequestTooLarge:         {kind: kindPage},
	MsgPhoneNotAllowed:         {kind: kindPage},
	MsgPhoneUnchanged:          {kind: kindPage},
	MsgPhoneEnrolled:           {kind: kindPage, args: 1},
	MsgPhoneNotEnrolled:        {kind: kindPage},
	MsgNeedInvitation:          {kind: kindPage},
	MsgRecoveryCodeInvalid:     {kind: kindField},
	MsgTOTPInvalid:             {kind: kindField},
	MsgTOTPUnreadable:          {kind: kindField},
	MsgTOTPAdded:               {kind: kindNotice},
	MsgTOTPRemoved:             {kind: kindNotice},
	MsgActivityTOTPAdded:       {kind: kindNotice},
	MsgActivityTOTPRemoved:     {kind: kindNotice},
	MsgPasskeyInvalid:          {kind: kindField},
	MsgPasskeyUnverified:       {kind: kindField},
	MsgPasskeyNotAdded:         {kind: kindPage},
	MsgPasskeyAdded:            {kind: kindNotice},
	MsgPasskeyRemoved:          {kind: kindNotice},
	MsgPasskeyRenamed:          {kind: kindNotice},
	MsgActivityPasskeyAdded:    {kind: kindNotice},
	MsgActivityPasskeyRemoved:  {kind: kindNotice},
	MsgResetRefused:            {kind: kindField},
	MsgAccountSignInCancelled:  {kind: kindPage},
	MsgCurrentPasswordWrong:    {kind: kindField},
	MsgPasswordChanged:         {kind: kindNotice},
	MsgSessionEnded:            {kind: kindNotice},
	MsgDeviceForgotten:         {kind: kindNotice},
	MsgActivitySignedIn:        {kind: kindNotice},
	MsgActivityWrongPassword:   {kind: kindNotice},
	MsgActivityThrottled:       {kind: kindNotice},
	MsgActivityRecoveryCode:    {kind: kindNotice},
	MsgActivityPasswordChanged: {kind: kindNotice},
	MsgActivityPasswordReset:   {kind: kindNotice},
	MsgActivityPhoneChanged:    {kind: kindNotice},
	MsgActivityRecoveryCodes:   {kind: kindNotice},
	MsgActivityDeviceApproved:  {kind: kindNotice},
	MsgResetNeedsOperator:      {kind: kindPage},
	MsgResetLinkInvalid:        {kind: kindPage},
	MsgPasswordReset:           {kind: kindPage},
	MsgPasswordUnchanged:       {kind: kindPage},
	MsgPasswordMismatch:        {kind: kindField},
	MsgPasswordTooShort:        {kind: kindField},
	MsgPasswordTooLong:         {kind: kindField},
	MsgPasswordCommon:          {kind: kindField},
	MsgPasswordWeak:            {kind: kindField},
	MsgPasswordInvalid:         {kind: kindField},
	MsgInvitationInvalid:       {kind: kindPage},
	MsgAlreadyHasPhone:         {kind: kindPage},
	MsgDeviceCodeInvalid:       {kind: kindField},
	MsgDeviceCodeThrottled:     {kind: kindPage},
	MsgDeviceApproved:          {kind: kindPage, args: 1},
	MsgDeviceDenied:            {kind: kindPage, args: 1},
	MsgDeviceNotConnected:      {kind: kindPage},
}

// Known reports whether id is one of the MsgID constants.
func (id MsgID) Known() bool {
	_, ok := messages[id]
	return ok
}

//go:embed locales/*.json
var localeFS embed.FS

// catalogue maps language -> key -> text. It is loaded once from the embedded
// locales and never modified.
type catalogue map[string]map[string]string

var loadCatalogue = sync.OnceValues(func() (catalogue, error) {
	c := make(catalogue, len(langs))
	for _, l := range langs {
		b, err := localeFS.ReadFile("locales/" + l.tag + ".json")
		if err != nil {
			return nil, fmt.Errorf("ui: catalogue %s: %w", l.tag, err)
		}
		m := make(map[string]string)
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("ui: catalogue %s: %w", l.tag, err)
		}
		c[l.tag] = m
	}
	return c, nil
})

// lookup returns the text of key in lang, else in English.
func lookup(lang, key string) (string, bool) {
	c, err := loadCatalogue()
	if err != nil {
		return "", false
	}
	if s, ok := c[normLang(lang)][key]; ok {
		return s, true
	}
	s, ok := c[defaultLang][key]
	return s, ok
}

// T returns the text of message id in lang ("en" or "ja"; anything else means
// English), with the placeholders {0}, {1}, ... replaced by args in order
// (fmt.Sprint of each; a placeholder without an argument becomes empty). An id
// that is not in the catalogue yields the text of [MsgServerError], never the id.
// The result is plain text: html/template escapes it where it is used.
func T(lang string, id MsgID, args ...any) string {
	s, ok := lookup(lang, string(id))
	if !ok {
		s, _ = lookup(lang, string(MsgServerError))
	}
	return format(s, args)
}

// msgTitle returns the title of id for an error page or an alert heading.
func msgTitle(lang string, id MsgID) string {
	if s, ok := lookup(lang, string(id)+".title"); ok {
		return s
	}
	s, _ := lookup(lang, string(MsgServerError)+".title")
	return s
}

// msgNext returns what the user can do about id, or "" for a notice.
func msgNext(lang string, id MsgID) string {
	if s, ok := lookup(lang, string(id)+".next"); ok {
		return s
	}
	if _, ok := lookup(lang, string(id)); ok {
		return "" // a notice
	}
	s, _ := lookup(lang, string(MsgServerError)+".next")
	return s
}

// isFieldError reports whether id, shown above a form, marks its input invalid.
func isFieldError(id MsgID) bool {
	return messages[id].kind == kindField
}

// format replaces {N} in s by fmt.Sprint(args[N]).
func format(s string, args []any) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		n, err := strconv.Atoi(s[i+1 : i+j])
		if err != nil || n < 0 || s[i+1] == '+' {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		if n < len(args) {
			fmt.Fprint(&b, args[n])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}
