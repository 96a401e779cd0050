package storetest

import (
	"reflect"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// Consent accumulates: a later grant adds scopes, never drops earlier ones.
func testConsents(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	noErr(t, "second client", s.CreateClient(ctx, store.NewClient{
		ID: "other-client", Secret: "other-secret", RedirectURIs: []string{"https://other.example/cb"},
	}))
	u := createUser(t, s, "alice")

	scopes := func(clientID string) []string {
		t.Helper()
		got, err := s.ConsentedScopes(ctx, u.ID, clientID)
		noErr(t, "ConsentedScopes", err)
		return got
	}
	if got := scopes(clientID); len(got) != 0 {
		t.Errorf("before any grant: %q, want none", got)
	}
	noErr(t, "GrantConsent", s.GrantConsent(ctx, u.ID, clientID, []string{"openid", "profile"}))
	if got, want := scopes(clientID), []string{"openid", "profile"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after first grant: %q, want %q", got, want)
	}
	noErr(t, "GrantConsent again", s.GrantConsent(ctx, u.ID, clientID, []string{"profile", "offline_access"}))
	if got, want := scopes(clientID), []string{"openid", "profile", "offline_access"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after second grant: %q, want %q", got, want)
	}
	if got := scopes("other-client"); len(got) != 0 {
		t.Errorf("another client: %q, want none", got)
	}
	if got, err := s.ConsentedScopes(ctx, "nobody", clientID); err != nil || len(got) != 0 {
		t.Errorf("unknown user: %q, %v; want none", got, err)
	}
}
