// Package mfa is the SMS second factor: it issues one-time codes, sends
// them through an sms.Sender, and verifies what the user types. It knows
// nothing of OAuth; the login flow in package idp calls Start, Resend and
// Verify.
//
// A challenge is defensive by construction:
//   - the code comes from crypto/rand and only an HMAC of it, keyed from
//     IDP_SECRET and bound to the challenge id, is stored;
//   - every attempt is counted by a conditional UPDATE before the code is
//     compared (in constant time), so parallel guesses cannot exceed the
//     limit;
//   - a right answer consumes the challenge with a second conditional
//     UPDATE, so of N parallel right answers exactly one wins;
//   - a resend replaces the code (the old one dies), after a cooldown, a
//     bounded number of times; a new challenge for the same login
//     supersedes any older one.
//
// Every state change is a single statement, correct with many instances
// sharing one PostgreSQL.
package mfa
