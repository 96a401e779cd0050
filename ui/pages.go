package ui

import (
	"html/template"
	"strings"
)

// Page is the data of one hosted page. Only this package defines pages: each is
// a struct below that embeds [Common], filled by the handler and passed to
// [Renderer.Render].
type Page interface {
	// templateName names the template file (without .html) that renders the page.
	templateName() string
	// base returns the page's Common part.
	base() Common
}

// Common is the part every page shares.
type Common struct {
	// Lang is the page language, "en" or "ja" (see [MatchLang]); anything else
	// renders in English.
	Lang string
	// CSRFToken is put in a hidden input named csrf_token in every form.
	CSRFToken string
	// LangLinks is the language switch, from [LangLinks]; nil shows none.
	LangLinks []LangLink
	// RequestID is shown on error pages so that the user can quote it to support.
	RequestID string
	// RedirectURIs lists where posting a form on this page may end up sending
	// the browser: the client's redirect_uri on the PIN, consent and phone pages
	// (any step that can finish the authorize request, including with an error),
	// the post_logout_redirect_uri on the logout page. Chrome and Safari apply
	// the CSP form-action directive to the redirects that follow a form
	// submission, so without these origins in form-action the final redirect
	// back to the client is blocked. Leave it empty where forms lead only to
	// this server's own pages.
	RedirectURIs []string
	// WaitMinutes fills the {0} of a message that says when to try again
	// ([MsgSMSRateLimited]); zero otherwise.
	WaitMinutes int
}

func (c Common) base() Common { return c }

// Action is a way forward a page offers besides its form: a link, or a
// button that posts CSRFToken to URL.
type Action struct {
	Label     ActionID
	URL       string
	Post      bool
	CSRFToken string
	// RedirectsTo is where posting it may end (the RP's redirect URI):
	// the handler adds it to Common.RedirectURIs.
	RedirectsTo string
}

// ActionID is the catalogue key of an action's label.
type ActionID string

// The actions pages offer.
const (
	ActionTryAgain   ActionID = "action.try_again"    // the same page again
	ActionStartAgain ActionID = "action.start_again"  // back to the password
	ActionBackToApp  ActionID = "action.back_to_app"  // give up and return to the app
	ActionCancel     ActionID = "action.cancel"       // give up a change (no app to return to)
	ActionSendCode   ActionID = "action.send_code"    // ask for the code that could not be sent
	ActionNewCode    ActionID = "action.new_code"     // a new code, when the last can no longer be typed
	ActionOtherPhone ActionID = "action.other_number" // type another number

	// The other second factors a page of the second step may offer.
	ActionUseSMS          ActionID = "action.use_sms"           // the code sent by SMS
	ActionUseRecoveryCode ActionID = "action.use_recovery_code" // a recovery code instead
	ActionUseTOTP         ActionID = "action.use_totp"          // the code of an authenticator app
	ActionUsePasskey      ActionID = "action.use_passkey"       // a passkey

	ActionForgotPassword ActionID = "action.forgot_password" // set a new password with a recovery code
	ActionAccount        ActionID = "action.account"         // the account page
	ActionDeviceCode     ActionID = "action.device_code"     // type a device's code (/device)
)

// actionIDs lists every ActionID; the catalogue test checks each is in every language.
var actionIDs = []ActionID{ActionTryAgain, ActionStartAgain, ActionBackToApp, ActionCancel, ActionSendCode, ActionNewCode, ActionOtherPhone,
	ActionUseSMS, ActionUseRecoveryCode, ActionUseTOTP, ActionUsePasskey, ActionForgotPassword, ActionAccount, ActionDeviceCode}

// LoginPage asks for username and password. The form posts username,
// password and csrf_token to Action.
type LoginPage struct {
	Common
	Action   string
	Username string // prefilled after a failed attempt
	Error    MsgID  // zero: none
	Actions  []Action
	// For says what the sign-in is for, and so the page's heading: ""
	// (an app), LoginForPhoneChange, LoginForEnrol, LoginForAccount.
	For string
	// ForgotURL, when set, links to setting a new password.
	ForgotURL string
	// PasskeyAction and PasskeyOptionsURL (empty: not offered) are the
	// passwordless sign-in: passkey.js posts csrf_token to the options,
	// then passkey_assertion and csrf_token to the action.
	PasskeyAction     string
	PasskeyOptionsURL string
}

// What a sign-in is for, besides an app (LoginPage.For).
const (
	LoginForPhoneChange = "phone_change"
	LoginForEnrol       = "enrol"
	LoginForAccount     = "account"
	LoginForDevice      = "device"
)

func (LoginPage) fetchesSelf()         {}
func (LoginPage) templateName() string { return "login" }

// PINPage asks for the code sent by SMS. The form posts code and csrf_token to
// Action; a second form posts csrf_token to ResendAction.
type PINPage struct {
	Common
	Action          string
	ResendAction    string
	MaskedPhone     string // e.g. "+81 ••• ••• 5678"; shown as given
	CodeLength      int    // digits in the code; zero or less means 6
	ResendInSeconds int    // seconds until a resend is allowed; zero: now
	ResendsLeft     int    // zero or less hides the resend form
	AttemptsLeft    int    // wrong codes the code still takes; one shows a warning
	// Closed: the code can no longer be typed (wrong too often, expired):
	// the page offers a new code instead of the form.
	Closed  bool
	Error   MsgID // zero: none
	Notice  MsgID // zero: none; MsgPINSent gets MaskedPhone
	Actions []Action
	// OtherNumberAction, when set, posts to type another number (a phone
	// change's new number).
	OtherNumberAction string
	// RerouteAction, when set, posts to send a new code by another route
	// at once: a delivery receipt said the last one did not arrive.
	RerouteAction string
	// Factors are the other second factors the user may take instead
	// (a recovery code, ...), each a button that posts.
	Factors []Action
	// TrustDays, when not 0, offers a checkbox trust_device=yes: "don't
	// ask for a code on this browser for TrustDays days".
	TrustDays int
}

func (PINPage) templateName() string { return "pin" }

// RecoveryPage asks for a recovery code instead of the SMS PIN. The form
// posts recovery_code and csrf_token to Action.
type RecoveryPage struct {
	Common
	Action  string
	Error   MsgID // zero: none
	Factors []Action
	Actions []Action
}

func (RecoveryPage) templateName() string { return "recovery" }

// TOTPPage asks for the code of the user's authenticator app instead of
// the SMS PIN. The form posts totp_code and csrf_token to Action.
type TOTPPage struct {
	Common
	Action  string
	Error   MsgID // zero: none
	Factors []Action
	Actions []Action
}

func (TOTPPage) templateName() string { return "totp" }

// PasskeyPage asks for the user's passkey instead of the SMS PIN. Its
// script (passkey.js) posts csrf_token to OptionsURL for the ceremony's
// options, asks the browser for an assertion, and posts it as
// passkey_assertion with csrf_token to Action.
type PasskeyPage struct {
	Common
	Action     string
	OptionsURL string
	Error      MsgID // zero: none
	Factors    []Action
	Actions    []Action
}

func (PasskeyPage) templateName() string { return "passkey" }
func (PasskeyPage) fetchesSelf()         {}

// TOTPSetupPage adds an authenticator app on the account page: a QR code
// of the otpauth URL (QR, a PNG data: URL) and the same secret as text
// (Secret), then a form that posts totp_code and csrf_token to Action.
type TOTPSetupPage struct {
	Common
	QRCode     string // data:image/png;base64,...
	Secret     string
	Action     string
	Error      MsgID
	AccountURL string
}

func (TOTPSetupPage) templateName() string { return "totp_setup" }

// QR is the QR code as a URL the template may put in src: only a PNG
// data: URL is one (anything else shows no image).
func (p TOTPSetupPage) QR() template.URL {
	if strings.HasPrefix(p.QRCode, "data:image/png;base64,") {
		return template.URL(p.QRCode) //nolint:gosec // a PNG this server drew, checked above
	}
	return ""
}

// SecretGroups is the secret in groups of four, easier to type.
func (p TOTPSetupPage) SecretGroups() string {
	var b strings.Builder
	for i, r := range p.Secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (TOTPSetupPage) imageSources() []string { return []string{"data:"} }

// RecoveryUsedPage says a recovery code was used and how many are left,
// and links to the phone change (a lost phone); its form posts
// csrf_token to Action to go on.
type RecoveryUsedPage struct {
	Common
	Action         string
	Left           int
	PhoneChangeURL string
}

func (RecoveryUsedPage) templateName() string { return "recovery_used" }

// ForgotPage begins a self-service password reset: the form posts
// username, recovery_code and csrf_token to Action. It says what the
// reset takes (a recovery code and the phone), and whom to ask without.
type ForgotPage struct {
	Common
	Action   string
	Username string // prefilled after a failed attempt
	Error    MsgID
	Actions  []Action
	// PasskeyAction and PasskeyOptionsURL (empty: passkeys are off) are
	// the other first proof: passkey.js posts csrf_token and username to
	// the options, then username and passkey_assertion to the action.
	PasskeyAction     string
	PasskeyOptionsURL string
}

func (ForgotPage) templateName() string { return "forgot" }
func (ForgotPage) fetchesSelf()         {}

// NewPasswordPage sets a new password: the form posts new_password,
// confirm_password and csrf_token to Action. Username is for password
// managers (a hidden username field beside the new password).
type NewPasswordPage struct {
	Common
	Action   string
	Username string
	Error    MsgID
	Actions  []Action
}

func (NewPasswordPage) templateName() string { return "new_password" }

// AccountPage is the signed-in user's own account: what it has, and the
// ways to change it. Each change is a form that posts csrf_token (bound
// to the session); while Fresh is false the page first asks to confirm
// it is the user (ConfirmURL), and the changes send there.
type AccountPage struct {
	Common
	Username       string
	Phone          string // masked; empty: none
	Fresh          bool
	ConfirmURL     string
	Notice         MsgID // a change just made; zero: none
	PhoneChangeURL string
	PasswordURL    string
	// RecoveryLeft unused recovery codes of a set made RecoveryMade
	// (empty: never); RecoveryAction makes a new set.
	RecoveryLeft   int
	RecoveryMade   string
	RecoveryAction string
	// TOTPAdded is when the authenticator app was added (empty: none),
	// TOTPLastUsed when its code last signed in; TOTPAddAction begins
	// adding one, TOTPRemoveAction removes it (forms with csrf_token).
	TOTPAdded        string
	TOTPLastUsed     string
	TOTPAddAction    string
	TOTPRemoveAction string
	// Passkeys are the user's passkeys. PasskeyAddAction takes the form
	// (csrf_token, passkey_name, passkey_credential) whose script gets the
	// options from PasskeyOptionsURL (empty: passkeys are off, no form);
	// each passkey has a rename form
	// (credential, passkey_name) and a remove form (credential).
	Passkeys            []AccountPasskey
	PasskeyAddAction    string
	PasskeyOptionsURL   string
	PasskeyRenameAction string
	PasskeyRemoveAction string
	// Sessions are the user's sign-ins; each has a button that posts
	// session=ID to SessionRevokeAction.
	Sessions            []AccountSession
	SessionRevokeAction string
	// Devices are the browsers the user trusted to skip the second
	// factor, shown when Trusting (the operator offers it) or when there
	// are some; each has a button that posts device=ID to DeviceForgetAction.
	Trusting           bool
	Devices            []AccountDevice
	DeviceForgetAction string
	Activity           []AccountActivity
	SignOutURL         string
}

// AccountPasskey is one passkey on the account page.
type AccountPasskey struct {
	ID, Name, Added, LastUsed string // LastUsed empty: never
	Synced                    bool   // backed up by its provider (a synced passkey)
}

// AccountDevice is one trusted browser on the account page.
type AccountDevice struct {
	ID, Agent, IP, Created, LastUsed, Until string
	Current                                 bool // this browser
}

// AccountSession is one sign-in session on the account page.
type AccountSession struct {
	ID, Agent, IP, Created, LastSeen string
	Current                          bool // this browser
}

// AccountActivity is one recent event on the account page.
type AccountActivity struct {
	When, IP, Agent, App string
	What                 MsgID // a kindNotice message without arguments
	Warning              bool  // a failure worth a look
}

func (AccountPage) templateName() string { return "account" }
func (AccountPage) fetchesSelf()         {}

// RecoveryCodesPage shows a new set of recovery codes, this once.
type RecoveryCodesPage struct {
	Common
	Codes      []string
	AccountURL string
}

func (RecoveryCodesPage) templateName() string { return "recovery_codes" }

// PasswordChangePage changes the signed-in user's password: the form
// posts current_password, new_password, confirm_password and csrf_token
// to Action.
type PasswordChangePage struct {
	Common
	Action     string
	Username   string
	Error      MsgID
	AccountURL string
	Fresh      bool
	ConfirmURL string
}

func (PasswordChangePage) templateName() string { return "password_change" }

// PhonePage enrols a phone number. The form posts phone and csrf_token to Action.
type PhonePage struct {
	Common
	Action string
	Phone  string // prefilled after a failed attempt
	Error  MsgID  // zero: none
	// Change: the account has a number and this is the new one.
	Change  bool
	Actions []Action
	// National: numbers typed without a country code are read as
	// Japanese (IDP_SMS_DEFAULT_REGION=JP), and the hint says so.
	National bool
}

func (PhonePage) templateName() string { return "phone" }

// ConsentPage asks the user to allow a client the scopes it requested. The
// form posts consent=allow or consent=deny, and csrf_token, to Action.
type ConsentPage struct {
	Common
	Action     string
	ClientName string // empty: ClientID is shown instead
	ClientID   string
	LogoURL    string // the client's logo; shown only if it is an https URL (or a path on this server)
	Scopes     []string
	Username   string // who is signed in
	// Device: the request comes from a device whose code the user typed
	// (RFC 8628), and the page warns against codes from someone else.
	Device bool
}

func (ConsentPage) templateName() string { return "consent" }

// DevicePage asks for the code a device shows (RFC 8628 section 3.3).
// The form posts user_code and csrf_token to Action.
type DevicePage struct {
	Common
	Action   string
	UserCode string // prefilled: from verification_uri_complete, or as typed
	Error    MsgID  // zero: none
}

func (DevicePage) templateName() string { return "device" }

func (p ConsentPage) imageSources() []string {
	if _, src, ok := imageURL(p.LogoURL, false); ok && src != "" {
		return []string{src}
	}
	return nil
}

// ErrorPage explains what went wrong and what to do next, from the catalogue
// entry of Msg, and shows RequestID. Status is used by [Renderer.Render] when
// it is given status 0.
type ErrorPage struct {
	Common
	Msg     MsgID
	Status  int
	Actions []Action
}

func (ErrorPage) templateName() string { return "error" }

// WaitPage says that no code could be sent yet and why (Msg): a send
// limit, with the wait in Common.WaitMinutes and, once WaitSeconds have
// passed, a button that posts csrf_token to RetryAction; or a number that
// cannot get codes, with no retry.
type WaitPage struct {
	Common
	Msg         MsgID
	Error       MsgID // a further refusal, zero: none
	RetryAction string
	WaitSeconds int
	Actions     []Action
	Factors     []Action // other second factors, as on the PIN page
}

func (WaitPage) templateName() string { return "wait" }

// LogoutPage asks the user to confirm signing out (OpenID Connect RP-Initiated
// Logout 1.0 §2). The form posts logout=yes or logout=no, and csrf_token, to
// Action.
type LogoutPage struct {
	Common
	Action     string
	ClientName string // the client that asked, if known
}

func (LogoutPage) templateName() string { return "logout" }

// LoggedOutPage says the user has signed out. It loads each
// FrontchannelLogoutURIs in a hidden frame (OpenID Connect Front-Channel
// Logout 1.0 section 3), and only this page allows frames, from those
// origins alone. ContinueURI, when set, is the way back to the app.
type LoggedOutPage struct {
	Common
	FrontchannelLogoutURIs []string
	ContinueURI            string
}

func (p LoggedOutPage) frameSources() []string {
	var out []string
	for _, u := range p.FrontchannelLogoutURIs {
		if src, ok := formActionSource(u); ok {
			out = append(out, src)
		}
	}
	return out
}

func (LoggedOutPage) templateName() string { return "loggedout" }

// NoticePage says that something the user asked for is done, from the
// catalogue entry of Msg (title, text with Arg as {0}, next step).
type NoticePage struct {
	Common
	Msg     MsgID
	Arg     string
	Actions []Action
}

func (NoticePage) templateName() string { return "notice" }

// pageTemplates lists every page template; New fails if one is missing.
var pageTemplates = []string{
	LoginPage{}.templateName(),
	PINPage{}.templateName(),
	PhonePage{}.templateName(),
	ConsentPage{}.templateName(),
	ErrorPage{}.templateName(),
	LogoutPage{}.templateName(),
	LoggedOutPage{}.templateName(),
	NoticePage{}.templateName(),
	WaitPage{}.templateName(),
	RecoveryPage{}.templateName(),
	RecoveryUsedPage{}.templateName(),
	ForgotPage{}.templateName(),
	NewPasswordPage{}.templateName(),
	AccountPage{}.templateName(),
	RecoveryCodesPage{}.templateName(),
	PasswordChangePage{}.templateName(),
	TOTPPage{}.templateName(),
	PasskeyPage{}.templateName(),
	TOTPSetupPage{}.templateName(),
	DevicePage{}.templateName(),
}
