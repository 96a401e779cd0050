package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
)

func testAuthorizeCodeRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-sig", want))

	sess := &openid.DefaultSession{}
	got, err := s.GetAuthorizeCodeSession(ctx, "code-sig", sess)
	noErr(t, "GetAuthorizeCodeSession", err)
	checkRequest(t, want, got, sess)

	// A second code of the same signature is refused, not overwritten.
	if err := s.CreateAuthorizeCodeSession(ctx, "code-sig", newRequest(s.Now())); err == nil {
		t.Error("second CreateAuthorizeCodeSession with the same signature succeeded")
	}
}

func testAuthorizeCodeNotFound(t *testing.T, s *store.Store) {
	createClient(t, s)
	noErr(t, "create", s.CreateAuthorizeCodeSession(t.Context(), "known", newRequest(s.Now())))
	got, err := s.GetAuthorizeCodeSession(t.Context(), "unknown", &openid.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession(unknown)", err, fosite.ErrNotFound)
	if got != nil {
		t.Errorf("unknown code returned a request: %v", got)
	}
	// Invalidating an unknown code must not succeed either.
	if err := s.InvalidateAuthorizeCodeSession(t.Context(), "unknown"); err == nil {
		t.Error("InvalidateAuthorizeCodeSession(unknown) succeeded")
	}
}

// A used code returns its request together with
// ErrInvalidatedAuthorizeCode: fosite needs the request id to revoke the
// tokens issued for it (RFC 6749 section 4.1.2).
func testAuthorizeCodeInvalidate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	noErr(t, "create", s.CreateAuthorizeCodeSession(ctx, "code-sig", want))
	noErr(t, "InvalidateAuthorizeCodeSession", s.InvalidateAuthorizeCodeSession(ctx, "code-sig"))

	sess := &openid.DefaultSession{}
	got, err := s.GetAuthorizeCodeSession(ctx, "code-sig", sess)
	wantErr(t, "GetAuthorizeCodeSession after use", err, fosite.ErrInvalidatedAuthorizeCode)
	checkRequest(t, want, got, sess)

	if err := s.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err == nil {
		t.Error("second InvalidateAuthorizeCodeSession succeeded")
	}
}

func testAuthorizeCodeConcurrentSingleUse(t *testing.T, s *store.Store) {
	createClient(t, s)
	noErr(t, "create", s.CreateAuthorizeCodeSession(t.Context(), "code-sig", newRequest(s.Now())))
	errs := race(racers, func(int) error {
		return s.InvalidateAuthorizeCodeSession(t.Context(), "code-sig")
	})
	exactlyOneWins(t, errs, fosite.ErrInvalidatedAuthorizeCode)
	_, err := s.GetAuthorizeCodeSession(t.Context(), "code-sig", &openid.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession after the race", err, fosite.ErrInvalidatedAuthorizeCode)
}

func testAccessTokenRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, "at-sig", want))

	sess := &openid.DefaultSession{}
	got, err := s.GetAccessTokenSession(ctx, "at-sig", sess)
	noErr(t, "GetAccessTokenSession", err)
	checkRequest(t, want, got, sess)

	// Revocation looks a token up without a session (handler/oauth2/revocation.go).
	got, err = s.GetAccessTokenSession(ctx, "at-sig", nil)
	noErr(t, "GetAccessTokenSession(nil session)", err)
	checkRequest(t, want, got, nil)

	_, err = s.GetAccessTokenSession(ctx, "other-sig", &openid.DefaultSession{})
	wantErr(t, "GetAccessTokenSession(unknown)", err, fosite.ErrNotFound)

	noErr(t, "DeleteAccessTokenSession", s.DeleteAccessTokenSession(ctx, "at-sig"))
	_, err = s.GetAccessTokenSession(ctx, "at-sig", &openid.DefaultSession{})
	wantErr(t, "GetAccessTokenSession after delete", err, fosite.ErrNotFound)
}

func testAccessTokenRevokeByRequest(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	a, b := newRequest(s.Now()), newRequest(s.Now())
	noErr(t, "create a1", s.CreateAccessTokenSession(ctx, "a1", a))
	noErr(t, "create a2", s.CreateAccessTokenSession(ctx, "a2", a))
	noErr(t, "create b1", s.CreateAccessTokenSession(ctx, "b1", b))

	noErr(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, a.ID))
	for _, sig := range []string{"a1", "a2"} {
		_, err := s.GetAccessTokenSession(ctx, sig, &openid.DefaultSession{})
		wantErr(t, "GetAccessTokenSession("+sig+") after revoke", err, fosite.ErrNotFound)
	}
	_, err := s.GetAccessTokenSession(ctx, "b1", &openid.DefaultSession{})
	noErr(t, "token of another request", err)

	// Nothing left to revoke: fosite accepts nil or ErrNotFound.
	if err := s.RevokeAccessToken(ctx, a.ID); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("RevokeAccessToken again: %v", err)
	}
}

func testRefreshTokenRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, "rt-sig", "at-sig", want))

	sess := &openid.DefaultSession{}
	got, err := s.GetRefreshTokenSession(ctx, "rt-sig", sess)
	noErr(t, "GetRefreshTokenSession", err)
	checkRequest(t, want, got, sess)

	got, err = s.GetRefreshTokenSession(ctx, "rt-sig", nil)
	noErr(t, "GetRefreshTokenSession(nil session)", err)
	checkRequest(t, want, got, nil)

	_, err = s.GetRefreshTokenSession(ctx, "unknown", &openid.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession(unknown)", err, fosite.ErrNotFound)

	noErr(t, "DeleteRefreshTokenSession", s.DeleteRefreshTokenSession(ctx, "rt-sig"))
	_, err = s.GetRefreshTokenSession(ctx, "rt-sig", &openid.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession after delete", err, fosite.ErrNotFound)
}

// A rotated refresh token stays readable but inactive, so its reuse is
// detected and the whole grant revoked (RFC 6819 section 5.2.2.3); the
// access tokens of its request go with it.
func testRefreshTokenRotate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	r, other := newRequest(s.Now()), newRequest(s.Now())
	noErr(t, "create access", s.CreateAccessTokenSession(ctx, "at-sig", r))
	noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, "rt-sig", "at-sig", r))
	noErr(t, "create other access", s.CreateAccessTokenSession(ctx, "other-at", other))

	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, r.ID, "rt-sig"))

	sess := &openid.DefaultSession{}
	got, err := s.GetRefreshTokenSession(ctx, "rt-sig", sess)
	wantErr(t, "GetRefreshTokenSession after rotation", err, fosite.ErrInactiveToken)
	checkRequest(t, r, got, sess)

	_, err = s.GetAccessTokenSession(ctx, "at-sig", &openid.DefaultSession{})
	wantErr(t, "access token of the rotated request", err, fosite.ErrNotFound)
	_, err = s.GetAccessTokenSession(ctx, "other-at", &openid.DefaultSession{})
	noErr(t, "access token of another request", err)

	err = s.RotateRefreshToken(ctx, r.ID, "rt-sig")
	wantErr(t, "second RotateRefreshToken", err, fosite.ErrSerializationFailure)
}

// Many refreshes of one token race; exactly one may rotate it, with and
// without the transaction fosite wraps the refresh in.
func testRefreshTokenConcurrentRotation(t *testing.T, s *store.Store) {
	createClient(t, s)
	for _, mode := range []struct {
		name   string
		rotate func(ctx context.Context, requestID, sig string) error
	}{
		{"autocommit", s.RotateRefreshToken},
		{"transaction", func(ctx context.Context, requestID, sig string) error {
			ctx, err := s.BeginTX(ctx)
			if err != nil {
				return err
			}
			if err := s.RotateRefreshToken(ctx, requestID, sig); err != nil {
				if rerr := s.Rollback(ctx); rerr != nil {
					return errors.Join(err, rerr)
				}
				return err
			}
			return s.Commit(ctx)
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			r := newRequest(s.Now())
			sig := "rt-" + mode.name
			noErr(t, "create refresh", s.CreateRefreshTokenSession(t.Context(), sig, "at-"+mode.name, r))
			errs := race(racers, func(int) error { return mode.rotate(t.Context(), r.ID, sig) })
			exactlyOneWins(t, errs, fosite.ErrSerializationFailure)
			_, err := s.GetRefreshTokenSession(t.Context(), sig, &openid.DefaultSession{})
			wantErr(t, "GetRefreshTokenSession after the race", err, fosite.ErrInactiveToken)
		})
	}
}

func testRefreshTokenRevokeByRequest(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	a, b := newRequest(s.Now()), newRequest(s.Now())
	noErr(t, "create a1", s.CreateRefreshTokenSession(ctx, "a1", "at-a1", a))
	noErr(t, "create a2", s.CreateRefreshTokenSession(ctx, "a2", "at-a2", a))
	noErr(t, "create b1", s.CreateRefreshTokenSession(ctx, "b1", "at-b1", b))

	noErr(t, "RevokeRefreshToken", s.RevokeRefreshToken(ctx, a.ID))
	for _, sig := range []string{"a1", "a2"} {
		got, err := s.GetRefreshTokenSession(ctx, sig, &openid.DefaultSession{})
		wantErr(t, "GetRefreshTokenSession("+sig+") after revoke", err, fosite.ErrInactiveToken)
		if got == nil || got.GetID() != a.ID {
			t.Errorf("revoked token %s: request = %v, want request %s", sig, got, a.ID)
		}
		if err := s.RotateRefreshToken(ctx, a.ID, sig); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Errorf("rotating revoked token %s: err = %v, want ErrSerializationFailure", sig, err)
		}
	}
	_, err := s.GetRefreshTokenSession(ctx, "b1", &openid.DefaultSession{})
	noErr(t, "refresh token of another request", err)

	if err := s.RevokeRefreshToken(ctx, "no-such-request"); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("RevokeRefreshToken(unknown): %v", err)
	}
}

// A token whose client is gone is not found, and comes with no request:
// a nil interface, never a nil *fosite.Request inside one.
func testTokenOfDeletedClient(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	r := newRequest(s.Now())
	noErr(t, "create code", s.CreateAuthorizeCodeSession(ctx, "sig", r))
	noErr(t, "create access", s.CreateAccessTokenSession(ctx, "sig", r))
	noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, "sig", "sig", r))
	noErr(t, "create pkce", s.CreatePKCERequestSession(ctx, "sig", r))
	noErr(t, "create oidc", s.CreateOpenIDConnectSession(ctx, "sig", r))
	noErr(t, "delete client", s.DB().WithContext(ctx).Exec("DELETE FROM clients WHERE id = ?", clientID).Error)

	for _, get := range []struct {
		name string
		get  func() (fosite.Requester, error)
	}{
		{"code", func() (fosite.Requester, error) {
			return s.GetAuthorizeCodeSession(ctx, "sig", &openid.DefaultSession{})
		}},
		{"access", func() (fosite.Requester, error) { return s.GetAccessTokenSession(ctx, "sig", &openid.DefaultSession{}) }},
		{"refresh", func() (fosite.Requester, error) {
			return s.GetRefreshTokenSession(ctx, "sig", &openid.DefaultSession{})
		}},
		{"pkce", func() (fosite.Requester, error) { return s.GetPKCERequestSession(ctx, "sig", &openid.DefaultSession{}) }},
		{"oidc", func() (fosite.Requester, error) {
			return s.GetOpenIDConnectSession(ctx, "sig", &fosite.Request{Session: &openid.DefaultSession{}})
		}},
	} {
		got, err := get.get()
		if !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", get.name, err)
		}
		if got != nil {
			t.Errorf("%s: request = %#v, want nil", get.name, got)
		}
	}
}

func testTransactionCommit(t *testing.T, s *store.Store) {
	createClient(t, s)
	r := newRequest(s.Now())
	ctx, err := s.BeginTX(t.Context())
	noErr(t, "BeginTX", err)
	t.Cleanup(func() { s.Rollback(ctx) }) // a no-op once committed

	// fosite beginning its own transaction inside ours joins it: its
	// commit is ours to make.
	joined, err := s.BeginTX(ctx)
	noErr(t, "nested BeginTX", err)
	noErr(t, "create in tx", s.CreateAccessTokenSession(joined, "at-sig", r))
	noErr(t, "joined Commit", s.Commit(joined))
	if _, err := s.GetAccessTokenSession(t.Context(), "at-sig", &openid.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("visible before the outer commit: %v", err)
	}
	_, err = s.GetAccessTokenSession(ctx, "at-sig", &openid.DefaultSession{})
	noErr(t, "get in tx", err)
	noErr(t, "Commit", s.Commit(ctx))

	got, err := s.GetAccessTokenSession(t.Context(), "at-sig", &openid.DefaultSession{})
	noErr(t, "get after commit", err)
	checkRequest(t, r, got, nil)

	if err := s.Commit(t.Context()); err == nil {
		t.Error("Commit without a transaction succeeded")
	}
	if err := s.Rollback(t.Context()); err == nil {
		t.Error("Rollback without a transaction succeeded")
	}
}

// A failed token exchange rolls back: no token appears and the code stays
// usable.
func testTransactionRollback(t *testing.T, s *store.Store) {
	createClient(t, s)
	r := newRequest(s.Now())
	noErr(t, "create code", s.CreateAuthorizeCodeSession(t.Context(), "code-sig", r))

	ctx, err := s.BeginTX(t.Context())
	noErr(t, "BeginTX", err)
	noErr(t, "invalidate in tx", s.InvalidateAuthorizeCodeSession(ctx, "code-sig"))
	noErr(t, "create access in tx", s.CreateAccessTokenSession(ctx, "at-sig", r))
	noErr(t, "create refresh in tx", s.CreateRefreshTokenSession(ctx, "rt-sig", "at-sig", r))
	noErr(t, "Rollback", s.Rollback(ctx))

	_, err = s.GetAccessTokenSession(t.Context(), "at-sig", &openid.DefaultSession{})
	wantErr(t, "access token after rollback", err, fosite.ErrNotFound)
	_, err = s.GetRefreshTokenSession(t.Context(), "rt-sig", &openid.DefaultSession{})
	wantErr(t, "refresh token after rollback", err, fosite.ErrNotFound)
	_, err = s.GetAuthorizeCodeSession(t.Context(), "code-sig", &openid.DefaultSession{})
	noErr(t, "code after rollback", err)
}

func testPKCERoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	want.Form.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	want.Form.Set("code_challenge_method", "S256")
	noErr(t, "CreatePKCERequestSession", s.CreatePKCERequestSession(ctx, "code-sig", want))

	sess := &openid.DefaultSession{}
	got, err := s.GetPKCERequestSession(ctx, "code-sig", sess)
	noErr(t, "GetPKCERequestSession", err)
	checkRequest(t, want, got, sess)

	_, err = s.GetPKCERequestSession(ctx, "unknown", &openid.DefaultSession{})
	wantErr(t, "GetPKCERequestSession(unknown)", err, fosite.ErrNotFound)

	noErr(t, "DeletePKCERequestSession", s.DeletePKCERequestSession(ctx, "code-sig"))
	_, err = s.GetPKCERequestSession(ctx, "code-sig", &openid.DefaultSession{})
	wantErr(t, "GetPKCERequestSession after delete", err, fosite.ErrNotFound)
}

func testOpenIDConnectSessionRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	want := newRequest(s.Now())
	noErr(t, "CreateOpenIDConnectSession", s.CreateOpenIDConnectSession(ctx, "code-sig", want))

	// fosite passes the token request; the stored session is decoded into its session.
	sess := &openid.DefaultSession{}
	got, err := s.GetOpenIDConnectSession(ctx, "code-sig", &fosite.Request{Session: sess})
	noErr(t, "GetOpenIDConnectSession", err)
	checkRequest(t, want, got, sess)

	_, err = s.GetOpenIDConnectSession(ctx, "unknown", &fosite.Request{Session: &openid.DefaultSession{}})
	wantErr(t, "GetOpenIDConnectSession(unknown)", err, openid.ErrNoSessionFound)

	noErr(t, "DeleteOpenIDConnectSession", s.DeleteOpenIDConnectSession(ctx, "code-sig"))
	_, err = s.GetOpenIDConnectSession(ctx, "code-sig", &fosite.Request{Session: &openid.DefaultSession{}})
	wantErr(t, "GetOpenIDConnectSession after delete", err, openid.ErrNoSessionFound)
}

// An assertion id is known until it expires (RFC 7523 section 3).
func testClientAssertionJWT(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())

	noErr(t, "unknown jti", s.ClientAssertionJWTValid(ctx, "jti-1"))
	noErr(t, "SetClientAssertionJWT", s.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(5*time.Minute)))
	wantErr(t, "ClientAssertionJWTValid after set", s.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
	wantErr(t, "SetClientAssertionJWT twice", s.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(5*time.Minute)), fosite.ErrJTIKnown)
	noErr(t, "another jti", s.ClientAssertionJWTValid(ctx, "jti-2"))

	clk.Advance(4 * time.Minute)
	wantErr(t, "before expiry", s.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
	// Recording another id cleans up expired ones only.
	noErr(t, "set jti-2", s.SetClientAssertionJWT(ctx, "jti-2", clk.Now().Add(5*time.Minute)))
	wantErr(t, "jti-1 after cleanup", s.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)

	clk.Advance(2 * time.Minute)
	noErr(t, "expired jti", s.ClientAssertionJWTValid(ctx, "jti-1"))
	noErr(t, "set expired jti again", s.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(5*time.Minute)))
	wantErr(t, "jti-1 set again", s.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
}
