// Package idp is the OAuth 2.0 authorization server and OpenID Provider:
// the fosite composition, its HTTP endpoints, and the hosted login.
//
// # The login state machine
//
// An authorize request that fosite accepts becomes a login flow row
// (store.Flow), bound to the browser that sent it by a cookie. The flow
// moves through fixed states, each move a conditional update so that two
// requests racing on one flow cannot both move it:
//
//	new          -> password_ok  the password was right           (POST /login)
//	password_ok  -> mfa_ok       the SMS PIN was right             (POST /login/pin)
//	mfa_ok       -> done         consent given or not needed;
//	                             the authorize response is issued  (finish)
//
// A user with no phone (or an unverified one) proves a number with the
// same PIN step; its success marks the number verified. All state lives
// in the database, so any instance can serve any step.
//
// One function, finish, issues authorization codes, and it does so only
// for a flow it has itself moved from mfa_ok to done.
package idp
