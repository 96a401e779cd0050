package mfa

import (
	"context"
	"errors"
	"fmt"

	"github.com/smspin/idp/mfa/otp"
)

// ErrProviderUnavailable is returned by Verify when the provider that
// checks codes could not be asked; the attempt is counted all the same.
var ErrProviderUnavailable = errors.New("mfa: the code could not be checked with the provider")

// check asks the Verifier whether code is right for a counted attempt.
// A verification the provider no longer knows (approved, expired, deleted)
// is an expired challenge to the user; the provider's own check limit is
// ours too.
func (s *Service) check(ctx context.Context, c *Challenge, code string) (bool, error) {
	if c.VerifierRef == "" {
		return false, ErrExpired // the send never reached the provider
	}
	res, err := s.Verifier.Check(ctx, otp.Started{ID: c.VerifierRef}, c.Phone, normalise(code))
	switch {
	case errors.Is(err, otp.ErrNotFound):
		return false, ErrExpired
	case errors.Is(err, otp.ErrTooManyChecks):
		return false, ErrTooManyAttempts
	case err != nil:
		s.log().ErrorContext(ctx, "check code with provider", "challenge", c.ID, "err", err)
		return false, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	case res.OK:
		return true, nil
	case res.Final:
		return false, ErrExpired
	}
	return false, nil
}
