package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
)

// zones are the time zones the time cases run in: one east and one west of
// UTC, so a comparison that ignores the offset fails in one direction or
// the other.
func zones() []*time.Location {
	load := func(name string, offset int) *time.Location {
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
		return time.FixedZone(name, offset) // no zone database on this machine
	}
	return []*time.Location{load("Asia/Tokyo", 9*3600), load("America/New_York", -5*3600)}
}

// requestExpiring is newRequest with every token expiring ttl after now.
func requestExpiring(now time.Time, ttl time.Duration) *fosite.Request {
	r := newRequest(now)
	sess := r.Session.(*openid.DefaultSession)
	for k := range sess.ExpiresAt {
		sess.ExpiresAt[k] = now.Add(ttl)
	}
	return r
}

// A request's time given in any zone comes back as the same instant.
func testTimeZoneRequestedAt(t *testing.T, s *store.Store) {
	createClient(t, s)
	for _, loc := range zones() {
		t.Run(loc.String(), func(t *testing.T) {
			ctx := t.Context()
			now := s.Now().In(loc)
			want := newRequest(now)
			sig := "sig-" + loc.String()
			noErr(t, "create code", s.CreateAuthorizeCodeSession(ctx, sig, want))
			noErr(t, "create access", s.CreateAccessTokenSession(ctx, sig, want))
			noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, sig, sig, want))
			for _, get := range []struct {
				name string
				get  func(fosite.Session) (fosite.Requester, error)
			}{
				{"code", func(se fosite.Session) (fosite.Requester, error) { return s.GetAuthorizeCodeSession(ctx, sig, se) }},
				{"access", func(se fosite.Session) (fosite.Requester, error) { return s.GetAccessTokenSession(ctx, sig, se) }},
				{"refresh", func(se fosite.Session) (fosite.Requester, error) { return s.GetRefreshTokenSession(ctx, sig, se) }},
			} {
				sess := &openid.DefaultSession{}
				got, err := get.get(sess)
				noErr(t, get.name, err)
				if !got.GetRequestedAt().Equal(now) {
					t.Errorf("%s: RequestedAt = %v, want the instant %v", get.name, got.GetRequestedAt(), now)
				}
				checkRequest(t, want, got, sess)
			}

			f := newFlow(t, s, now, 10*time.Minute)
			u := createUser(t, s, "tz-"+store.NewID())
			noErr(t, "Move", s.Move(ctx, f, store.MoveSessionMFA, map[string]any{"user_id": u.ID, "amr": "pwd sms mfa", "session_id": "s", "auth_time": now}))
			got, err := s.Flow(ctx, f.ID)
			noErr(t, "Flow", err)
			if !got.RequestedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(10*time.Minute)) || got.AuthTime == nil || !got.AuthTime.Equal(now) {
				t.Errorf("flow times = %v, %v, %v; want the instants %v, %v, %v",
					got.RequestedAt, got.ExpiresAt, got.AuthTime, now, now.Add(10*time.Minute), now)
			}
		})
	}
}

// Expiry is decided on instants whatever zone the clock and the given
// times are in (on SQLite times are text, compared as text).
func testTimeZoneClock(t *testing.T, s *store.Store) {
	createClient(t, s)
	for _, loc := range zones() {
		t.Run(loc.String(), func(t *testing.T) {
			ctx := t.Context()
			s, clk := withClock(s, epoch().In(loc))
			// Rows of an earlier subtest would be counted by DeleteExpired.
			if n, err := s.DeleteExpired(ctx); err != nil || n != 0 {
				t.Fatalf("DeleteExpired before: %d, %v", n, err)
			}
			now := clk.Now()
			id := func(name string) string { return loc.String() + "/" + name }
			code, refresh := requestExpiring(now, 10*time.Minute), requestExpiring(now, 24*time.Hour)
			access := requestExpiring(now, time.Hour)
			noTTL := newRequest(now)
			noTTL.Session.(*openid.DefaultSession).ExpiresAt = nil // the store's lifespans apply
			noErr(t, "create code", s.CreateAuthorizeCodeSession(ctx, id("code"), code))
			noErr(t, "create access", s.CreateAccessTokenSession(ctx, id("access"), access))
			noErr(t, "create access (store TTL)", s.CreateAccessTokenSession(ctx, id("access-ttl"), noTTL))
			noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, id("refresh"), "access", refresh))
			f := newFlow(t, s, now, 30*time.Minute)
			noErr(t, "set jti", s.SetClientAssertionJWT(ctx, id("jti"), now.Add(30*time.Minute)))

			// Nothing has expired yet.
			n, err := s.DeleteExpired(ctx)
			noErr(t, "DeleteExpired", err)
			if n != 0 {
				t.Errorf("DeleteExpired removed %d live rows", n)
			}
			_, err = s.GetAuthorizeCodeSession(ctx, id("code"), &openid.DefaultSession{})
			noErr(t, "live code", err)
			_, err = s.GetAccessTokenSession(ctx, id("access-ttl"), &openid.DefaultSession{})
			noErr(t, "live access token", err)
			_, err = s.Flow(ctx, f.ID)
			noErr(t, "live flow", err)
			noErr(t, "set another jti", s.SetClientAssertionJWT(ctx, id("jti-2"), now.Add(time.Minute)))
			wantErr(t, "live jti", s.ClientAssertionJWTValid(ctx, id("jti")), fosite.ErrJTIKnown)

			// After two hours: the code, both access tokens and the flow are gone.
			clk.Advance(2 * time.Hour)
			_, err = s.Flow(ctx, f.ID)
			wantErr(t, "expired flow", err, store.ErrNotFound)
			noErr(t, "expired jti", s.ClientAssertionJWTValid(ctx, id("jti")))
			n, err = s.DeleteExpired(ctx)
			noErr(t, "DeleteExpired", err)
			if n != 6 {
				t.Errorf("DeleteExpired removed %d rows, want 6 (code, two access tokens, flow, two client assertion ids)", n)
			}
			_, err = s.GetRefreshTokenSession(ctx, id("refresh"), &openid.DefaultSession{})
			noErr(t, "live refresh token", err)
			noErr(t, "cleanup", s.DeleteRefreshTokenSession(ctx, id("refresh")))
		})
	}
}

// DeleteExpired removes every kind of row past its expiry and nothing else;
// a rotated refresh token is kept until it expires, so reuse stays visible.
func testDeleteExpired(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	createClient(t, s)
	now := clk.Now()
	old, live := requestExpiring(now, time.Minute), requestExpiring(now, time.Hour)

	type kind struct {
		name   string
		create func(sig string, r fosite.Requester) error
		get    func(sig string) error
	}
	getter := func(get func(string, fosite.Session) (fosite.Requester, error)) func(string) error {
		return func(sig string) error {
			_, err := get(sig, &openid.DefaultSession{})
			return err
		}
	}
	kinds := []kind{
		{"code", func(sig string, r fosite.Requester) error { return s.CreateAuthorizeCodeSession(ctx, sig, r) },
			getter(func(sig string, se fosite.Session) (fosite.Requester, error) {
				return s.GetAuthorizeCodeSession(ctx, sig, se)
			})},
		{"access", func(sig string, r fosite.Requester) error { return s.CreateAccessTokenSession(ctx, sig, r) },
			getter(func(sig string, se fosite.Session) (fosite.Requester, error) {
				return s.GetAccessTokenSession(ctx, sig, se)
			})},
		{"refresh", func(sig string, r fosite.Requester) error { return s.CreateRefreshTokenSession(ctx, sig, "at-"+sig, r) },
			getter(func(sig string, se fosite.Session) (fosite.Requester, error) {
				return s.GetRefreshTokenSession(ctx, sig, se)
			})},
		{"pkce", func(sig string, r fosite.Requester) error { return s.CreatePKCERequestSession(ctx, sig, r) },
			getter(func(sig string, se fosite.Session) (fosite.Requester, error) {
				return s.GetPKCERequestSession(ctx, sig, se)
			})},
		{"oidc", func(sig string, r fosite.Requester) error { return s.CreateOpenIDConnectSession(ctx, sig, r) },
			getter(func(sig string, se fosite.Session) (fosite.Requester, error) {
				return s.GetOpenIDConnectSession(ctx, sig, &fosite.Request{Session: se})
			})},
	}
	for _, k := range kinds {
		noErr(t, "create old "+k.name, k.create("old-"+k.name, old))
		noErr(t, "create live "+k.name, k.create("live-"+k.name, live))
	}
	rotated := requestExpiring(now, time.Hour) // its own request: rotation revokes the request's access tokens
	noErr(t, "create rotated refresh", s.CreateRefreshTokenSession(ctx, "rotated", "at-rotated", rotated))
	noErr(t, "rotate", s.RotateRefreshToken(ctx, rotated.ID, "rotated"))
	oldFlow, liveFlow := newFlow(t, s, now, time.Minute), newFlow(t, s, now, time.Hour)

	clk.Advance(10 * time.Minute)
	n, err := s.DeleteExpired(ctx)
	noErr(t, "DeleteExpired", err)
	if want := int64(len(kinds) + 1); n != want {
		t.Errorf("DeleteExpired removed %d rows, want %d", n, want)
	}
	for _, k := range kinds {
		wantErr(t, "expired "+k.name, k.get("old-"+k.name), fosite.ErrNotFound)
		noErr(t, "live "+k.name, k.get("live-"+k.name))
	}
	if err := kinds[2].get("rotated"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("rotated refresh token: err = %v, want ErrInactiveToken (kept for reuse detection)", err)
	}
	// DeleteExpired removes the row itself, not only its visibility.
	clk.Advance(-10 * time.Minute)
	_, err = s.Flow(ctx, oldFlow.ID)
	wantErr(t, "deleted flow", err, store.ErrNotFound)
	_, err = s.Flow(ctx, liveFlow.ID)
	noErr(t, "live flow", err)

	clk.Advance(10 * time.Minute)
	if n, err := s.DeleteExpired(ctx); n != 0 || err != nil {
		t.Errorf("second DeleteExpired = %d, %v; want 0, nil", n, err)
	}
}
