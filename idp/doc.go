// Package idp is the OAuth 2.0 authorization server and OpenID Provider:
// the fosite composition, its HTTP endpoints, and the hosted login.
//
// # The login state machine
//
// An authorize request that fosite accepts becomes a login flow row
// (store.Flow), born in state new and bound by a cookie to the browser
// that sent it. Each state is one page (pageOf); the moves between them
// are one table (store.Moves), and the store makes a move only from a
// state the table lists for it, by a conditional update on that state, so
// two requests racing on one flow cannot both move it and no handler can
// take a flow where the table does not go. All state lives in the
// database: any instance can serve any step.
//
// Every handler loads its flow at its page, parses its form and makes its
// one move inside run, which then makes the moves that need nothing from
// the user (auto: a login at mfa_ok whose consent is not needed is
// answered at once), commits once, hands a reserved SMS to its provider
// after the commit, and answers by the state the flow is in (respond).
// A live sign-in session is a move too (session, session_remembered),
// recorded on the flow with the amr it carries; so is a browser its user
// trusted (password_trusted, session_trusted).
//
// A flow's purpose says what it is for: login answers an RP; the others
// have no client: phone_change, enrol (a first phone, through an
// invitation link), password_reset (an operator's link, or a recovery
// code and a PIN), account (a full sign-in to the account page) and
// device (a device's request, RFC 8628: its user code typed on /device,
// then the password, the PIN and a consent always asked). A
// second factor other than the SMS PIN is a state of its own reached by a
// move that chooses it (choose_recovery_code, choose_totp,
// choose_passkey); the factors a page offers are the table's moves from
// its state (otherFactors). The
// factor a user signed in with last is asked first: a user of an
// authenticator app goes from the password to awaiting_totp
// (password_totp, session_totp) and no SMS is sent until they choose it
// (choose_sms sends it then, or choose_sms_refused says why not); a user
// of a passkey likewise goes to awaiting_passkey (password_passkey,
// session_passkey), and so does one whose RP asks for the
// phishing-resistant class. When the operator turns passwordless sign-in
// on (IDP_PASSKEY_PASSWORDLESS), a passkey that verified its user stands
// for the password and the second factor at once (passkey_passwordless,
// passwordless.go).
//
// The table, one line a legal move (state --move--> state [purposes]):
//
//	new                    --password--> awaiting_pin  [login, phone_change, account, device]
//	new                    --password_enrol--> awaiting_phone  [enrol]
//	new                    --password_refused--> send_refused  [login, phone_change, account, device]
//	new                    --password_totp--> awaiting_totp  [login, phone_change, account, device]
//	new                    --password_passkey--> awaiting_passkey  [login, phone_change, account, device]
//	new                    --session--> awaiting_pin  [login]
//	new                    --session_refused--> send_refused  [login]
//	new                    --session_totp--> awaiting_totp  [login]
//	new                    --session_passkey--> awaiting_passkey  [login]
//	new                    --passkey_passwordless--> mfa_ok  [login, account, device]
//	new                    --session_remembered--> mfa_ok  [login]
//	new                    --password_trusted--> mfa_ok  [login]
//	new                    --session_trusted--> mfa_ok  [login]
//	awaiting_phone         --phone_entered--> awaiting_pin  [enrol]
//	send_refused           --retry_send--> awaiting_pin  [login, phone_change, password_reset, account, device]
//	send_refused           --retry_refused--> send_refused  [login, phone_change, password_reset, account, device]
//	awaiting_pin           --pin--> mfa_ok  [login, account, device]
//	awaiting_pin           --enrol_pin--> done  [enrol]
//	awaiting_pin           --old_phone_pin--> awaiting_new_phone  [phone_change]
//	awaiting_pin           --choose_recovery_code--> awaiting_recovery_code  [login, phone_change, account, device]
//	send_refused           --choose_recovery_code--> awaiting_recovery_code  [login, phone_change, account, device]
//	awaiting_totp          --choose_recovery_code--> awaiting_recovery_code  [login, phone_change, account, device]
//	awaiting_passkey       --choose_recovery_code--> awaiting_recovery_code  [login, phone_change, account, device]
//	awaiting_recovery_code --choose_sms--> awaiting_pin  [login, phone_change, account, device]
//	awaiting_totp          --choose_sms--> awaiting_pin  [login, phone_change, account, device]
//	awaiting_passkey       --choose_sms--> awaiting_pin  [login, phone_change, account, device]
//	awaiting_recovery_code --choose_sms_refused--> send_refused  [login, phone_change, account, device]
//	awaiting_totp          --choose_sms_refused--> send_refused  [login, phone_change, account, device]
//	awaiting_passkey       --choose_sms_refused--> send_refused  [login, phone_change, account, device]
//	awaiting_pin           --choose_totp--> awaiting_totp  [login, phone_change, account, device]
//	send_refused           --choose_totp--> awaiting_totp  [login, phone_change, account, device]
//	awaiting_recovery_code --choose_totp--> awaiting_totp  [login, phone_change, account, device]
//	awaiting_passkey       --choose_totp--> awaiting_totp  [login, phone_change, account, device]
//	awaiting_pin           --choose_passkey--> awaiting_passkey  [login, phone_change, account, device]
//	send_refused           --choose_passkey--> awaiting_passkey  [login, phone_change, account, device]
//	awaiting_totp          --choose_passkey--> awaiting_passkey  [login, phone_change, account, device]
//	awaiting_recovery_code --choose_passkey--> awaiting_passkey  [login, phone_change, account, device]
//	awaiting_passkey       --passkey--> mfa_ok  [login, account, device]
//	awaiting_passkey       --old_phone_passkey--> awaiting_new_phone  [phone_change]
//	awaiting_totp          --totp--> mfa_ok  [login, account, device]
//	awaiting_totp          --old_phone_totp--> awaiting_new_phone  [phone_change]
//	awaiting_recovery_code --recovery_code--> recovery_code_used  [login, account, device]
//	awaiting_recovery_code --old_phone_recovery_code--> awaiting_new_phone  [phone_change]
//	recovery_code_used     --continue--> mfa_ok  [login, account, device]
//	new                    --forgot--> awaiting_reset_code  [password_reset]
//	awaiting_reset_code    --reset_code--> awaiting_pin  [password_reset]
//	awaiting_reset_code    --reset_code_refused--> send_refused  [password_reset]
//	awaiting_pin           --reset_pin--> awaiting_new_password  [password_reset]
//	new                    --reset_link--> awaiting_new_password  [password_reset]
//	awaiting_reset_code    --reset_passkey--> awaiting_pin  [password_reset]
//	awaiting_reset_code    --reset_passkey_refused--> send_refused  [password_reset]
//	awaiting_new_password  --new_password--> done  [password_reset]
//	awaiting_new_phone     --new_phone_entered--> awaiting_new_phone_pin  [phone_change]
//	awaiting_new_phone_pin --new_phone_again--> awaiting_new_phone  [phone_change]
//	awaiting_new_phone_pin --new_phone_pin--> done  [phone_change]
//	mfa_ok                 --finish--> done  [login]
//	mfa_ok                 --open_account--> done  [account]
//	mfa_ok                 --device_approved--> done  [device]
//	mfa_ok                 --device_denied--> done  [device]
//	new                    --session_fresh--> awaiting_new_phone  [phone_change]
//	awaiting_phone         --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_pin           --restart--> new  [login, phone_change, enrol, account, device]
//	send_refused           --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_totp          --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_passkey       --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_recovery_code --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_new_phone     --restart--> new  [login, phone_change, enrol, account, device]
//	awaiting_new_phone_pin --restart--> new  [login, phone_change, enrol, account, device]
//	new                    --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_reset_code    --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_phone         --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_pin           --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	send_refused           --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_totp          --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_passkey       --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_recovery_code --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	recovery_code_used     --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	mfa_ok                 --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_new_phone     --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_new_phone_pin --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//	awaiting_new_password  --cancel--> done  [login, phone_change, enrol, password_reset, account, device]
//
// A new code on a PIN page is no move: a resend (after the cooldown) and
// a reroute (at once, by another provider, when a delivery receipt says
// the last code did not arrive) renew the flow's challenge in the step
// and send after the commit; the flow stays where it is. Providers'
// delivery receipts come in at /sms/receipts/{provider}, outside any flow.
//
// One function, issue, answers the RP's authorize request with a code,
// and only for a flow it moves from mfa_ok to done (finish): no other
// state yields a code, and no page's GET issues one.
package idp
