// Package otp is the provider-verified mode of the SMS second factor: the
// provider makes the code, sends it and checks what the user typed, so the
// IdP never sees the code (Twilio Verify, Xoxzo's OTP API). Our own mode,
// where package mfa makes and checks the code and an sms.Sender carries it,
// stays the default; this package is the one small interface the two
// provider clients share.
//
// The provider's limits (attempts, sends, lifetime) are not ours. The
// caller still keeps its own challenge row and counts attempts, cooldowns
// and rate limits before calling Check or Start, and treats the provider's
// answer as one more reason to stop, never as the only one.
//
// Failures reuse *sms.Error, with the same Kinds as a send, so the caller
// can log, count and fail over the same way: a timeout after the request
// left is sms.Unknown (the code may be on its way, or the check may have
// used up an attempt), a 5xx or throttle before acceptance is
// sms.Transient, a bad number is sms.Permanent, bad credentials or set-up
// are sms.Config. The outcomes that only a verification has (it is gone,
// too many checks, too many sends) are also reachable with errors.Is
// through the sentinels below.
package otp

import (
	"context"
	"errors"
)

// Verifier is a provider that generates, sends and checks the code itself.
// Implementations must honour ctx, never log credentials or the code, and
// mask the number (sms.MaskNumber) in anything they log or put in an error.
type Verifier interface {
	// Start asks the provider to send a code to an E.164 number; ref is
	// our challenge id, for the caller's logs (providers may ignore it).
	// Locale is a BCP 47 language ("ja", "en") the provider may use for
	// its own text.
	Start(ctx context.Context, to, locale, ref string) (Started, error)
	// Check asks whether code is right for a started verification. A wrong
	// code is not an error: it is Result{OK: false}. On an error, Result
	// still says through Final whether another check could help.
	Check(ctx context.Context, s Started, to, code string) (Result, error)
}

// Started is what the caller stores with its challenge to check the code
// later. None of it is secret.
type Started struct {
	Provider string // provider name, e.g. "twilio-verify"
	ID       string // the provider's verification or message id
	Channel  string // how the code went out, e.g. "sms"
}

// Result is the provider's verdict on one check.
type Result struct {
	// OK is true only when the provider approved the code.
	OK bool
	// Final means the provider will accept no more checks for this
	// verification: approved, expired, gone, or too many tries. The
	// caller should end its challenge; a new code needs a new Start.
	Final bool
	// Status is the provider's word for the state, for logs; callers
	// decide on OK and Final, not on Status.
	Status string
}

// Sentinel errors. Providers wrap them inside an *sms.Error, so both
// errors.Is(err, otp.ErrNotFound) and sms.KindOf(err) work.
var (
	// ErrNotFound: the provider no longer knows the verification: it
	// expired, was approved already, was cancelled or deleted. A Check that
	// returns it has Result.Final set.
	ErrNotFound = errors.New("otp: verification not found (expired, used or cancelled)")
	// ErrTooManyChecks: the provider refuses further checks of this
	// verification. Result.Final is set; the user needs a new code once the
	// provider's window has passed.
	ErrTooManyChecks = errors.New("otp: too many checks")
	// ErrTooManySends: the provider refuses to send another code to this
	// number for now. It is a refusal about the number, not a fault of the
	// provider, so it is sms.Permanent: failing over to another provider
	// would only get around a limit that guards against SMS pumping.
	ErrTooManySends = errors.New("otp: too many sends")
)
