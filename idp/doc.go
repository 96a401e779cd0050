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
// recorded on the flow with the amr it carries.
//
// The table, one line a legal move (state --move--> state [purposes]):
//
//	new                    --password--> awaiting_pin  [login, phone_change]
//	new                    --password_enrol--> awaiting_phone  [login]
//	new                    --password_refused--> send_refused  [login, phone_change]
//	new                    --session--> awaiting_pin  [login]
//	new                    --session_enrol--> awaiting_phone  [login]
//	new                    --session_refused--> send_refused  [login]
//	new                    --session_remembered--> mfa_ok  [login]
//	awaiting_phone         --phone_entered--> awaiting_pin  [login]
//	send_refused           --retry_send--> awaiting_pin  [login, phone_change]
//	send_refused           --retry_refused--> send_refused  [login, phone_change]
//	awaiting_pin           --pin--> mfa_ok  [login]
//	awaiting_pin           --old_phone_pin--> awaiting_new_phone  [phone_change]
//	awaiting_new_phone     --new_phone_entered--> awaiting_new_phone_pin  [phone_change]
//	awaiting_new_phone_pin --new_phone_again--> awaiting_new_phone  [phone_change]
//	awaiting_new_phone_pin --new_phone_pin--> done  [phone_change]
//	mfa_ok                 --finish--> done  [login]
//	awaiting_phone         --restart--> new  [login, phone_change]
//	awaiting_pin           --restart--> new  [login, phone_change]
//	send_refused           --restart--> new  [login, phone_change]
//	awaiting_new_phone     --restart--> new  [login, phone_change]
//	awaiting_new_phone_pin --restart--> new  [login, phone_change]
//	new                    --cancel--> done  [login, phone_change]
//	awaiting_phone         --cancel--> done  [login, phone_change]
//	awaiting_pin           --cancel--> done  [login, phone_change]
//	send_refused           --cancel--> done  [login, phone_change]
//	mfa_ok                 --cancel--> done  [login, phone_change]
//	awaiting_new_phone     --cancel--> done  [login, phone_change]
//	awaiting_new_phone_pin --cancel--> done  [login, phone_change]
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
