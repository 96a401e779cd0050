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
// Sends cost money and draw fraud, so each one is counted before it goes
// out, in the send log, against limits over sliding windows (per number,
// user, network, number prefix and in all), the daily budget, and the
// SMS-pumping guard, which holds sends to a country or prefix whose codes
// are not being typed (never to a number a user has verified). Providers'
// delivery receipts (ApplyReport) feed Reroute: a code that did not
// arrive is sent again at once through another provider of the chain.
//
// Every state change is a single statement, or a statement under a lock
// taken first, correct with many instances sharing one PostgreSQL.
package mfa
