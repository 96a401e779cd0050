package storetest

import (
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

func signingKey(kid, alg string) store.SigningKey {
	return store.SigningKey{KID: kid, Alg: alg, PrivateEnc: "enc:" + kid, PublicJWK: `{"kid":"` + kid + `"}`}
}

// kids lists the key ids of keys, in order.
func kids(keys []store.SigningKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}

func publishedKIDs(t *testing.T, s *store.Store) []string {
	t.Helper()
	keys, err := s.PublishedKeys(t.Context())
	noErr(t, "PublishedKeys", err)
	return kids(keys)
}

func testSigningKeyOnlyIfNone(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	noErr(t, "first key", s.AddSigningKey(ctx, signingKey("rs-1", "RS256"), time.Time{}, true))
	clk.Advance(time.Second)
	wantErr(t, "second key, only if none", s.AddSigningKey(ctx, signingKey("rs-2", "RS256"), time.Time{}, true), store.ErrConflict)
	clk.Advance(time.Second)
	noErr(t, "first key of another algorithm", s.AddSigningKey(ctx, signingKey("es-1", "ES256"), time.Time{}, true))

	keys, err := s.PublishedKeys(ctx)
	noErr(t, "PublishedKeys", err)
	if got := kids(keys); len(got) != 2 || got[0] != "rs-1" || got[1] != "es-1" {
		t.Fatalf("published = %q, want [rs-1 es-1]", got)
	}
	k := keys[0]
	if !k.Active || k.Alg != "RS256" || k.PrivateEnc != "enc:rs-1" || k.PublicJWK != `{"kid":"rs-1"}` ||
		!k.CreatedAt.Equal(epoch()) || k.RetiredAt != nil || k.PublishUntil != nil {
		t.Errorf("key = %+v", k)
	}
}

// Instances starting together on an empty database make one key, not one each.
func testSigningKeyConcurrentFirstStart(t *testing.T, s *store.Store) {
	errs := race(racers, func(i int) error {
		return s.AddSigningKey(t.Context(), signingKey("rs-"+string(rune('a'+i)), "RS256"), time.Time{}, true)
	})
	exactlyOneWins(t, errs, store.ErrConflict)
	if got := publishedKIDs(t, s); len(got) != 1 {
		t.Errorf("published = %q, want one key", got)
	}
}

// A rotated-out key stays published until publishUntil, so tokens it
// signed still verify.
func testSigningKeyRotation(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s, clk := withClock(s, epoch())
	noErr(t, "first key", s.AddSigningKey(ctx, signingKey("rs-1", "RS256"), time.Time{}, true))
	noErr(t, "other algorithm", s.AddSigningKey(ctx, signingKey("es-1", "ES256"), time.Time{}, true))

	clk.Advance(time.Minute)
	rotatedAt := clk.Now()
	publishUntil := rotatedAt.Add(time.Hour)
	noErr(t, "rotate", s.AddSigningKey(ctx, signingKey("rs-2", "RS256"), publishUntil, false))

	keys, err := s.PublishedKeys(ctx)
	noErr(t, "PublishedKeys", err)
	byKID := map[string]store.SigningKey{}
	for _, k := range keys {
		byKID[k.KID] = k
	}
	if len(keys) != 3 || keys[len(keys)-1].KID != "rs-2" {
		t.Fatalf("published = %q, want rs-1, es-1, then rs-2", kids(keys))
	}
	old := byKID["rs-1"]
	if old.Active || old.RetiredAt == nil || !old.RetiredAt.Equal(rotatedAt) || old.PublishUntil == nil || !old.PublishUntil.Equal(publishUntil) {
		t.Errorf("retired key: active %v, retired %v, publish until %v; want inactive, %v, %v", old.Active, old.RetiredAt, old.PublishUntil, rotatedAt, publishUntil)
	}
	if !byKID["rs-2"].Active || !byKID["es-1"].Active || byKID["es-1"].RetiredAt != nil {
		t.Errorf("rotating RS256 touched other keys: %+v", keys)
	}

	clk.Advance(time.Hour - time.Second)
	if got := publishedKIDs(t, s); len(got) != 3 {
		t.Errorf("before publish_until: published = %q, want 3 keys", got)
	}
	clk.Advance(time.Second)
	if got := publishedKIDs(t, s); len(got) != 2 || got[0] != "es-1" || got[1] != "rs-2" {
		t.Errorf("at publish_until: published = %q, want [es-1 rs-2]", got)
	}
}
