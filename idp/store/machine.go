package store

import (
	"fmt"
	"slices"
	"strings"
)

// The login state machine: every state a flow can be in, and the one table
// of moves between them. A flow is at exactly one page per state; the store
// makes a move only from a state the table lists for it (Store.Move), so
// no handler, however it is reached, can take a flow where the table does
// not go. idp/doc.go draws this table (a test keeps the two the same).

// FlowState is where a login flow is: one state per page.
type FlowState string

const (
	FlowNew               FlowState = "new"                    // waiting for username and password
	FlowAwaitingPhone     FlowState = "awaiting_phone"         // password checked, no number yet: enrol one
	FlowAwaitingPIN       FlowState = "awaiting_pin"           // a code was sent (or its send failed): waiting for it
	FlowSendRefused       FlowState = "send_refused"           // no code could be sent: waiting until retry_at
	FlowAwaitingRecovery  FlowState = "awaiting_recovery_code" // a recovery code instead of the PIN
	FlowAwaitingTOTP      FlowState = "awaiting_totp"          // the code of the user's authenticator app instead of the PIN
	FlowAwaitingPasskey   FlowState = "awaiting_passkey"       // the user's passkey (WebAuthn) instead of the PIN
	FlowRecoveryUsed      FlowState = "recovery_code_used"     // a recovery code was right: how many are left, before going on
	FlowAwaitingResetCode FlowState = "awaiting_reset_code"    // forgot password: waiting for the username and a recovery code
	FlowAwaitingPassword  FlowState = "awaiting_new_password"  // a reset proven (link, or recovery code and PIN): waiting for the new password
	FlowMFAOK             FlowState = "mfa_ok"                 // password and PIN checked: consent, then the code
	FlowAwaitingNewPhone  FlowState = "awaiting_new_phone"     // phone change, old number proven: waiting for the new one
	FlowAwaitingNewPIN    FlowState = "awaiting_new_phone_pin" // phone change: waiting for the new number's code
	FlowDone              FlowState = "done"                   // answered: the RP has its response, or the change is made
)

// States lists every state, in the order a login meets them.
var States = []FlowState{FlowNew, FlowAwaitingResetCode, FlowAwaitingPhone, FlowAwaitingPIN, FlowSendRefused, FlowAwaitingTOTP,
	FlowAwaitingPasskey, FlowAwaitingRecovery, FlowRecoveryUsed, FlowMFAOK, FlowAwaitingNewPhone, FlowAwaitingNewPIN, FlowAwaitingPassword, FlowDone}

// Flow purposes.
const (
	PurposeLogin       = "login"          // answers an RP's authorize request
	PurposePhoneChange = "phone_change"   // the account's own phone change; no client
	PurposeEnrol       = "enrol"          // a first phone, enrolled through an invitation link; no client
	PurposeReset       = "password_reset" // a new password, through an operator's link or a recovery code and a PIN; no client
	PurposeAccount     = "account"        // a full sign-in to the account page; no client
	PurposeDevice      = "device"         // approves a device's request (RFC 8628) whose user code was typed
)

// Purposes lists every purpose a flow can have.
var Purposes = []string{PurposeLogin, PurposePhoneChange, PurposeEnrol, PurposeReset, PurposeAccount, PurposeDevice}

// MoveName names a move of the table.
type MoveName string

const (
	MovePassword            MoveName = "password"                // the password was right; a code is on its way
	MovePasswordEnrol       MoveName = "password_enrol"          // an invitation's password was right; the user has no number yet
	MovePasswordRefused     MoveName = "password_refused"        // the password was right; its code could not be sent
	MovePasswordTOTP        MoveName = "password_totp"           // the password was right; the user last used an authenticator app: no SMS yet
	MovePasswordPasskey     MoveName = "password_passkey"        // the password was right; the user's passkey is asked first: no SMS yet
	MoveSession             MoveName = "session"                 // a live session spared the password; a code is on its way
	MoveSessionRefused      MoveName = "session_refused"         // a live session spared the password; no code could be sent
	MoveSessionTOTP         MoveName = "session_totp"            // a live session spared the password; the authenticator app is asked, no SMS yet
	MoveSessionPasskey      MoveName = "session_passkey"         // a live session spared the password; the passkey is asked, no SMS yet
	MoveSessionMFA          MoveName = "session_remembered"      // a live session's PIN is still remembered: nothing to ask
	MovePasswordTrusted     MoveName = "password_trusted"        // the password was right, on a browser its user trusted: no second factor
	MoveSessionTrusted      MoveName = "session_trusted"         // a live session, on a browser its user trusted: no second factor
	MovePhoneEntered        MoveName = "phone_entered"           // a number to enrol was typed; its code is on its way
	MoveRetrySend           MoveName = "retry_send"              // after a refusal, a code went out
	MoveRetryRefused        MoveName = "retry_refused"           // after a refusal, refused again
	MovePIN                 MoveName = "pin"                     // the code was right
	MoveEnrolPIN            MoveName = "enrol_pin"               // an invitation: the first number's code was right, the link used up
	MoveOldPhonePIN         MoveName = "old_phone_pin"           // phone change: the current number's code was right
	MoveChooseRecovery      MoveName = "choose_recovery_code"    // the user will type a recovery code instead of the PIN
	MoveChooseSMS           MoveName = "choose_sms"              // to the PIN: the one sent already, or one sent now
	MoveChooseSMSRefused    MoveName = "choose_sms_refused"      // to the PIN, whose code could not be sent now
	MoveChooseTOTP          MoveName = "choose_totp"             // the user will type the authenticator app's code instead
	MoveChoosePasskey       MoveName = "choose_passkey"          // the user will use a passkey instead
	MovePasskey             MoveName = "passkey"                 // the passkey's assertion was verified
	MovePasskeyPasswordless MoveName = "passkey_passwordless"    // a passkey that verified its user stood for the password and the second factor
	MoveOldPhonePasskey     MoveName = "old_phone_passkey"       // phone change: the passkey stood for the current number's PIN
	MoveTOTP                MoveName = "totp"                    // the authenticator app's code was right
	MoveOldPhoneTOTP        MoveName = "old_phone_totp"          // phone change: the authenticator app stood for the current number's PIN
	MoveRecoveryCode        MoveName = "recovery_code"           // a recovery code was right (and is used up)
	MoveOldPhoneRecovery    MoveName = "old_phone_recovery_code" // phone change: a recovery code stood for the current number's PIN
	MoveContinue            MoveName = "continue"                // on from the codes-left page
	MoveForgot              MoveName = "forgot"                  // forgot password: the reset begins with a recovery code or an authenticator code
	MoveResetCode           MoveName = "reset_code"              // the username's recovery code (or authenticator code) was right; a code is on its way to the phone
	MoveResetRefused        MoveName = "reset_code_refused"      // the recovery code was right; the phone's code could not be sent
	MoveResetPIN            MoveName = "reset_pin"               // and the phone's code was right: both proofs are in
	MoveResetLink           MoveName = "reset_link"              // an operator's reset link was opened
	MoveResetPasskey        MoveName = "reset_passkey"           // the username's passkey answered; a code is on its way to the phone
	MoveResetPasskeyRefused MoveName = "reset_passkey_refused"   // the passkey answered; the phone's code could not be sent
	MoveNewPassword         MoveName = "new_password"            // the new password was set
	MoveOpenAccount         MoveName = "open_account"            // a full sign-in to the account page is done: the page opens
	MoveDeviceApprove       MoveName = "device_approved"         // the user allowed the device: it gets its tokens at its next poll
	MoveDeviceDeny          MoveName = "device_denied"           // the user refused the device: it is told access_denied
	MoveSessionFresh        MoveName = "session_fresh"           // phone change: a full sign-in minutes ago spares the password and the current number's PIN
	MoveNewPhoneEntered     MoveName = "new_phone_entered"       // phone change: a new number was typed; its code is on its way
	MoveNewPhoneAgain       MoveName = "new_phone_again"         // phone change: back to type another new number
	MoveNewPhonePIN         MoveName = "new_phone_pin"           // phone change: the new number's code was right
	MoveFinish              MoveName = "finish"                  // the authorize response (code or refusal) was issued
	MoveRestart             MoveName = "restart"                 // the user starts again from the password
	MoveCancel              MoveName = "cancel"                  // the user gave up: the RP is told access_denied
)

// Move is one legal move of the table.
type Move struct {
	Name     MoveName
	From     []FlowState
	To       FlowState
	Purposes []string // the purposes whose flows may make it
	// Needs are the columns the move must set (non-empty): what it proves.
	Needs []string
	// Clears are the columns the move empties (a restart forgets the user).
	Clears []string
}

var (
	login      = []string{PurposeLogin}
	change     = []string{PurposePhoneChange}
	enrol      = []string{PurposeEnrol}
	reset      = []string{PurposeReset}
	secondStep = []string{PurposeLogin, PurposePhoneChange, PurposeAccount, PurposeDevice}               // sign-ins with a password and a second factor
	signIn     = []string{PurposeLogin, PurposeAccount, PurposeDevice}                                   // sign-ins that make a session
	sending    = []string{PurposeLogin, PurposePhoneChange, PurposeReset, PurposeAccount, PurposeDevice} // flows that send a code to a known number
	restarting = []string{PurposeLogin, PurposePhoneChange, PurposeEnrol, PurposeAccount, PurposeDevice} // flows whose first page is the password
	account    = []string{PurposeAccount}
	device     = []string{PurposeDevice}
	all        = Purposes
	inProgress = []FlowState{FlowNew, FlowAwaitingResetCode, FlowAwaitingPhone, FlowAwaitingPIN, FlowSendRefused, FlowAwaitingTOTP,
		FlowAwaitingPasskey, FlowAwaitingRecovery, FlowRecoveryUsed, FlowMFAOK, FlowAwaitingNewPhone, FlowAwaitingNewPIN, FlowAwaitingPassword}
)

// Moves is the transition table. It is the only description of which
// moves are legal; Store.Move consults it before every update.
var Moves = []Move{
	{MovePassword, []FlowState{FlowNew}, FlowAwaitingPIN, secondStep, []string{"user_id", "amr", "challenge_id"}, nil},
	{MovePasswordEnrol, []FlowState{FlowNew}, FlowAwaitingPhone, enrol, []string{"user_id", "amr"}, nil},
	{MovePasswordRefused, []FlowState{FlowNew}, FlowSendRefused, secondStep, []string{"user_id", "amr", "refusal"}, nil},
	{MovePasswordTOTP, []FlowState{FlowNew}, FlowAwaitingTOTP, secondStep, []string{"user_id", "amr"}, nil},
	{MovePasswordPasskey, []FlowState{FlowNew}, FlowAwaitingPasskey, secondStep, []string{"user_id", "amr"}, nil},
	{MoveSession, []FlowState{FlowNew}, FlowAwaitingPIN, login, []string{"user_id", "amr", "session_id", "challenge_id"}, nil},
	{MoveSessionRefused, []FlowState{FlowNew}, FlowSendRefused, login, []string{"user_id", "amr", "session_id", "refusal"}, nil},
	{MoveSessionTOTP, []FlowState{FlowNew}, FlowAwaitingTOTP, login, []string{"user_id", "amr", "session_id"}, nil},
	{MoveSessionPasskey, []FlowState{FlowNew}, FlowAwaitingPasskey, login, []string{"user_id", "amr", "session_id"}, nil},
	{MovePasskeyPasswordless, []FlowState{FlowNew}, FlowMFAOK, signIn, []string{"user_id", "amr", "session_id", "auth_time"}, nil},
	{MoveSessionMFA, []FlowState{FlowNew}, FlowMFAOK, login, []string{"user_id", "amr", "session_id", "auth_time"}, nil},
	{MovePasswordTrusted, []FlowState{FlowNew}, FlowMFAOK, login, []string{"user_id", "amr", "session_id", "auth_time"}, nil},
	{MoveSessionTrusted, []FlowState{FlowNew}, FlowMFAOK, login, []string{"user_id", "amr", "session_id", "auth_time"}, nil},
	{MovePhoneEntered, []FlowState{FlowAwaitingPhone}, FlowAwaitingPIN, enrol, []string{"challenge_id"}, nil},
	{MoveRetrySend, []FlowState{FlowSendRefused}, FlowAwaitingPIN, sending, []string{"challenge_id"}, []string{"retry_at", "refusal"}},
	{MoveRetryRefused, []FlowState{FlowSendRefused}, FlowSendRefused, sending, []string{"refusal"}, nil},
	{MovePIN, []FlowState{FlowAwaitingPIN}, FlowMFAOK, signIn, []string{"amr", "auth_time", "session_id"}, nil},
	{MoveEnrolPIN, []FlowState{FlowAwaitingPIN}, FlowDone, enrol, []string{"amr", "auth_time", "session_id"}, nil},
	{MoveOldPhonePIN, []FlowState{FlowAwaitingPIN}, FlowAwaitingNewPhone, change, []string{"amr", "auth_time"}, nil},
	{MoveChooseRecovery, []FlowState{FlowAwaitingPIN, FlowSendRefused, FlowAwaitingTOTP, FlowAwaitingPasskey}, FlowAwaitingRecovery, secondStep, nil, nil},
	{MoveChooseSMS, []FlowState{FlowAwaitingRecovery, FlowAwaitingTOTP, FlowAwaitingPasskey}, FlowAwaitingPIN, secondStep, []string{"challenge_id"}, nil},
	{MoveChooseSMSRefused, []FlowState{FlowAwaitingRecovery, FlowAwaitingTOTP, FlowAwaitingPasskey}, FlowSendRefused, secondStep, []string{"refusal"}, nil},
	{MoveChooseTOTP, []FlowState{FlowAwaitingPIN, FlowSendRefused, FlowAwaitingRecovery, FlowAwaitingPasskey}, FlowAwaitingTOTP, secondStep, nil, nil},
	{MoveChoosePasskey, []FlowState{FlowAwaitingPIN, FlowSendRefused, FlowAwaitingTOTP, FlowAwaitingRecovery}, FlowAwaitingPasskey, secondStep, nil, nil},
	{MovePasskey, []FlowState{FlowAwaitingPasskey}, FlowMFAOK, signIn, []string{"amr", "auth_time", "session_id"}, nil},
	{MoveOldPhonePasskey, []FlowState{FlowAwaitingPasskey}, FlowAwaitingNewPhone, change, []string{"amr", "auth_time"}, nil},
	{MoveTOTP, []FlowState{FlowAwaitingTOTP}, FlowMFAOK, signIn, []string{"amr", "auth_time", "session_id"}, nil},
	{MoveOldPhoneTOTP, []FlowState{FlowAwaitingTOTP}, FlowAwaitingNewPhone, change, []string{"amr", "auth_time"}, nil},
	{MoveRecoveryCode, []FlowState{FlowAwaitingRecovery}, FlowRecoveryUsed, signIn, []string{"amr", "auth_time", "session_id"}, nil},
	{MoveOldPhoneRecovery, []FlowState{FlowAwaitingRecovery}, FlowAwaitingNewPhone, change, []string{"amr", "auth_time"}, nil},
	{MoveContinue, []FlowState{FlowRecoveryUsed}, FlowMFAOK, signIn, nil, nil},
	{MoveForgot, []FlowState{FlowNew}, FlowAwaitingResetCode, reset, nil, nil},
	{MoveResetCode, []FlowState{FlowAwaitingResetCode}, FlowAwaitingPIN, reset, []string{"user_id", "amr", "challenge_id"}, nil},
	{MoveResetRefused, []FlowState{FlowAwaitingResetCode}, FlowSendRefused, reset, []string{"user_id", "amr", "refusal"}, nil},
	{MoveResetPIN, []FlowState{FlowAwaitingPIN}, FlowAwaitingPassword, reset, []string{"amr", "auth_time"}, nil},
	{MoveResetLink, []FlowState{FlowNew}, FlowAwaitingPassword, reset, []string{"user_id"}, nil},
	{MoveResetPasskey, []FlowState{FlowAwaitingResetCode}, FlowAwaitingPIN, reset, []string{"user_id", "amr", "challenge_id"}, nil},
	{MoveResetPasskeyRefused, []FlowState{FlowAwaitingResetCode}, FlowSendRefused, reset, []string{"user_id", "amr", "refusal"}, nil},
	{MoveNewPassword, []FlowState{FlowAwaitingPassword}, FlowDone, reset, nil, nil},
	{MoveNewPhoneEntered, []FlowState{FlowAwaitingNewPhone}, FlowAwaitingNewPIN, change, []string{"challenge_id"}, nil},
	{MoveNewPhoneAgain, []FlowState{FlowAwaitingNewPIN}, FlowAwaitingNewPhone, change, nil, []string{"challenge_id"}},
	{MoveNewPhonePIN, []FlowState{FlowAwaitingNewPIN}, FlowDone, change, nil, nil},
	{MoveFinish, []FlowState{FlowMFAOK}, FlowDone, login, nil, nil},
	{MoveOpenAccount, []FlowState{FlowMFAOK}, FlowDone, account, nil, nil},
	{MoveDeviceApprove, []FlowState{FlowMFAOK}, FlowDone, device, nil, nil},
	{MoveDeviceDeny, []FlowState{FlowMFAOK}, FlowDone, device, nil, nil},
	{MoveSessionFresh, []FlowState{FlowNew}, FlowAwaitingNewPhone, change, []string{"user_id", "session_id", "amr", "auth_time"}, nil},
	{MoveRestart, []FlowState{FlowAwaitingPhone, FlowAwaitingPIN, FlowSendRefused, FlowAwaitingTOTP, FlowAwaitingPasskey, FlowAwaitingRecovery, FlowAwaitingNewPhone,
		FlowAwaitingNewPIN}, FlowNew, restarting,
		nil, []string{"user_id", "challenge_id", "session_id", "amr", "auth_time", "retry_at", "refusal"}},
	{MoveCancel, inProgress, FlowDone, all, nil, nil},
}

// LookupMove returns the move name makes from a state of a flow of
// purpose, if the table has it.
func LookupMove(name MoveName, from FlowState, purpose string) (Move, bool) {
	for _, m := range Moves {
		if m.Name == name && slices.Contains(m.From, from) && slices.Contains(m.Purposes, purpose) {
			return m, true
		}
	}
	return Move{}, false
}

// flowColumns are the columns a move may set or clear.
var flowColumns = []string{"user_id", "challenge_id", "session_id", "amr", "auth_time", "retry_at", "refusal", "browser_hash"}

// check reports what is wrong with set for the move, or nil.
func (m Move) check(set map[string]any) error {
	for k := range set {
		if !slices.Contains(flowColumns, k) {
			return fmt.Errorf("move %s may not set %s", m.Name, k)
		}
		if slices.Contains(m.Clears, k) {
			return fmt.Errorf("move %s clears %s", m.Name, k)
		}
	}
	for _, k := range m.Needs {
		if empty(set[k]) {
			return fmt.Errorf("move %s needs %s", m.Name, k)
		}
	}
	return nil
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case *string:
		return x == nil || *x == ""
	}
	return false
}

// Diagram draws the table, one line a legal (state, move), as idp/doc.go
// shows it.
func Diagram() string {
	var b strings.Builder
	for _, m := range Moves {
		for _, from := range m.From {
			fmt.Fprintf(&b, "%-22s --%s--> %s  [%s]\n", from, m.Name, m.To, strings.Join(m.Purposes, ", "))
		}
	}
	return b.String()
}
