package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// tokensOf stores a code, an access token and an offline refresh token
// whose subject is userID, and returns their signature.
func tokensOf(t *testing.T, s *store.Store, userID string) string {
	t.Helper()
	ctx := t.Context()
	r := newRequest(s.Now())
	r.Session.(*openid.DefaultSession).Subject = userID
	sig := "sig-" + userID
	noErr(t, "create code", s.CreateAuthorizeCodeSession(ctx, sig, r))
	noErr(t, "create access", s.CreateAccessTokenSession(ctx, sig, r))
	noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, sig, sig, r))
	return sig
}

func testUserList(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for i := range 5 {
		u := &store.User{Username: fmt.Sprintf("user%d", i), PasswordHash: "h"}
		var p *store.Phone
		if i%2 == 0 {
			p = &store.Phone{Number: fmt.Sprintf("+8190123456%02d", i)}
		}
		noErr(t, "CreateUser", s.CreateUser(ctx, u, p))
	}
	createUser(t, s, "under_score")
	page, err := s.ListUsers(ctx, store.UserQuery{Limit: 2})
	noErr(t, "ListUsers", err)
	if len(page) != 2 || page[0].Username != "under_score" || page[1].Username != "user0" || page[1].Number != "+819012345600" {
		t.Fatalf("first page = %+v", page)
	}
	page, err = s.ListUsers(ctx, store.UserQuery{Limit: 2, After: page[1].Username})
	noErr(t, "ListUsers", err)
	if len(page) != 2 || page[0].Username != "user1" || page[0].Number != "" || page[1].Username != "user2" {
		t.Fatalf("second page = %+v", page)
	}
	for q, want := range map[string]int{"USER": 5, "user3": 1, "45604": 1, "_": 1, "%": 0, "+81901": 3, page[0].ID: 1} {
		got, err := s.ListUsers(ctx, store.UserQuery{Search: q})
		noErr(t, "ListUsers", err)
		if len(got) != want {
			t.Errorf("search %q: %d users, want %d", q, len(got), want)
		}
	}
}

func testUserDisable(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	u := createUser(t, s, "alice")
	other := createUser(t, s, "bob")
	now := s.Now()
	sess := &store.Session{UserID: u.ID, AMR: "pwd sms", AuthTime: now, MFATime: now, ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateSession", s.CreateSession(ctx, sess, "cookie"))
	sig, otherSig := tokensOf(t, s, u.ID), tokensOf(t, s, other.ID)

	changed, n, err := s.DisableUser(ctx, u.ID)
	noErr(t, "DisableUser", err)
	if !changed || n != 1 {
		t.Errorf("DisableUser = %v, %d sessions; want true, 1", changed, n)
	}
	got, _ := s.UserByID(ctx, u.ID)
	if !got.Disabled() {
		t.Error("user not disabled")
	}
	if live, _ := s.SessionLive(ctx, sess.ID); live {
		t.Error("session still live")
	}
	if _, err := s.GetAccessTokenSession(ctx, sig, &openid.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("access token: %v, want not found", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, sig, &openid.DefaultSession{}); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("offline refresh token: %v, want inactive", err)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, sig, &openid.DefaultSession{}); err == nil {
		t.Error("unused code still works")
	}
	if _, err := s.GetRefreshTokenSession(ctx, otherSig, &openid.DefaultSession{}); err != nil {
		t.Errorf("another user's refresh token: %v", err)
	}
	if changed, _, err := s.DisableUser(ctx, u.ID); err != nil || changed {
		t.Errorf("second DisableUser = %v, %v; want false, nil", changed, err)
	}
	if _, _, err := s.DisableUser(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DisableUser(unknown) = %v", err)
	}
	changed, err = s.EnableUser(ctx, u.ID)
	if err != nil || !changed {
		t.Errorf("EnableUser = %v, %v", changed, err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.Disabled() {
		t.Error("user still disabled")
	}
	if changed, err := s.EnableUser(ctx, u.ID); err != nil || changed {
		t.Errorf("second EnableUser = %v, %v", changed, err)
	}
	if _, err := s.EnableUser(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnableUser(unknown) = %v", err)
	}
}

func testUserDelete(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)
	u := &store.User{Username: "carol", PasswordHash: "h"}
	noErr(t, "CreateUser", s.CreateUser(ctx, u, &store.Phone{Number: "+819012345678"}))
	now := s.Now()
	sess := &store.Session{UserID: u.ID, AMR: "pwd sms", AuthTime: now, MFATime: now, ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateSession", s.CreateSession(ctx, sess, "cookie"))
	sig := tokensOf(t, s, u.ID)
	c := newChallenge(t, s, "flow-1", now)
	noErr(t, "move challenge", s.DB().Exec("UPDATE sms_challenges SET user_id = ? WHERE id = ?", u.ID, c.ID).Error)
	_, _, err := s.CreateLink(ctx, u.ID, store.LinkInvitation, time.Hour)
	noErr(t, "CreateLink", err)

	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user: %v", err)
	}
	if p, _ := s.PhoneOf(ctx, u.ID); p != nil {
		t.Error("phone kept")
	}
	if _, err := s.Challenge(ctx, c.ID); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("challenge: %v", err)
	}
	if _, err := s.Session(ctx, sess.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, sig, &openid.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("refresh token: %v", err)
	}
	var n int64
	s.DB().Model(&store.UserLink{}).Where("user_id = ?", u.ID).Count(&n)
	if n != 0 {
		t.Errorf("%d links kept", n)
	}
	if err := s.DeleteUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser = %v", err)
	}
}

func testUserPhoneSetClear(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := createUser(t, s, "dave")
	noErr(t, "SetPhone", s.SetPhone(ctx, u.ID, "+819012345678", false))
	p, _ := s.PhoneOf(ctx, u.ID)
	if p == nil || p.Number != "+819012345678" || p.Verified() {
		t.Fatalf("phone = %+v", p)
	}
	noErr(t, "SetPhone", s.SetPhone(ctx, u.ID, "+819087654321", true))
	if p, _ = s.PhoneOf(ctx, u.ID); p == nil || p.Number != "+819087654321" || !p.Verified() {
		t.Fatalf("phone = %+v", p)
	}
	had, err := s.ClearPhone(ctx, u.ID)
	if err != nil || !had {
		t.Fatalf("ClearPhone = %v, %v", had, err)
	}
	if p, _ = s.PhoneOf(ctx, u.ID); p != nil {
		t.Fatalf("phone after clear = %+v", p)
	}
	if had, err := s.ClearPhone(ctx, u.ID); err != nil || had {
		t.Errorf("second ClearPhone = %v, %v", had, err)
	}
	if err := s.SetPhone(ctx, "no-such-user", "+819012345678", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPhone(unknown) = %v", err)
	}
	if _, err := s.ClearPhone(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClearPhone(unknown) = %v", err)
	}
}

func testClientAdmin(t *testing.T, s *store.Store) {
	ctx := t.Context()
	s.ClientCacheTTL = time.Hour // a change must not wait for the cache
	createClient(t, s)
	if _, err := s.Client(ctx, clientID); err != nil {
		t.Fatal(err)
	}
	name, uris, scopes, grants := "Renamed", []string{"https://rp.example/new"}, []string{"openid"}, []string{"client_credentials"}
	noErr(t, "UpdateClient", s.UpdateClient(ctx, clientID, store.ClientChange{Name: &name, RedirectURIs: &uris, Scopes: &scopes, GrantTypes: &grants}))
	c, err := s.Client(ctx, clientID)
	noErr(t, "Client", err)
	if c.Name != name || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != uris[0] || len(c.Scopes) != 1 ||
		len(c.GrantTypes) != 1 || c.GrantTypes[0] != "client_credentials" || len(c.ResponseTypes) != 0 {
		t.Errorf("after update: %+v", c.DefaultClient)
	}
	if err := s.UpdateClient(ctx, "no-such-client", store.ClientChange{Name: &name}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown) = %v", err)
	}
	old := c.GetHashedSecret()
	noErr(t, "SetClientSecret", s.SetClientSecret(ctx, clientID, "a-new-secret"))
	c, _ = s.Client(ctx, clientID)
	if string(c.GetHashedSecret()) == string(old) || (store.ClientSecretHasher{}).Compare(ctx, c.GetHashedSecret(), []byte("a-new-secret")) != nil {
		t.Error("secret not replaced")
	}
	list, err := s.ListClients(ctx)
	noErr(t, "ListClients", err)
	if len(list) != 1 || list[0].GetID() != clientID {
		t.Errorf("ListClients = %v", list)
	}
	r := newRequest(s.Now())
	noErr(t, "create refresh", s.CreateRefreshTokenSession(ctx, "sig", "sig", r))
	noErr(t, "DeleteClient", s.DeleteClient(ctx, clientID))
	if _, err := s.Client(ctx, clientID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted client: %v", err)
	}
	var n int64
	s.DB().Table("oauth_refresh_tokens").Where("client_id = ?", clientID).Count(&n)
	if n != 0 {
		t.Errorf("%d refresh tokens of the deleted client kept", n)
	}
	if err := s.DeleteClient(ctx, clientID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient = %v", err)
	}
}
