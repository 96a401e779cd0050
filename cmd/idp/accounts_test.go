package main

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// tokenOf reads the token of a link the CLI printed.
func tokenOf(t *testing.T, link any) string {
	t.Helper()
	s, _ := link.(string)
	u, err := url.Parse(s)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("not a link with a token: %v", link)
	}
	return u.Query().Get("token")
}

func TestUsersInvitation(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("a long enough password\n", "users", "create", "--username", "bob", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	first := tokenOf(t, m["invitation_url"])
	if !strings.HasPrefix(m["invitation_url"].(string), "http://localhost:8080/invitation?token=") {
		t.Errorf("invitation_url = %v, want a link on the issuer", m["invitation_url"])
	}
	until, err := time.Parse(time.RFC3339, m["invitation_expires_at"].(string))
	if err != nil || until.Sub(time.Now()) < 7*24*time.Hour-time.Minute || until.Sub(time.Now()) > 7*24*time.Hour {
		t.Errorf("invitation_expires_at = %v, want a week from now", m["invitation_expires_at"])
	}
	// A user with a number gets no invitation.
	out, _, err = c.run("a long enough password\n", "users", "create", "--username", "alice", "--phone", "+819012345678", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); m["invitation_url"] != nil {
		t.Errorf("a user with a phone got an invitation: %v", m)
	}
	st := c.store()
	if _, err := st.LinkByToken(t.Context(), store.LinkInvitation, first); err != nil {
		t.Fatalf("the printed invitation opens nothing: %v", err)
	}
	var stored int64
	st.DB().Model(&store.UserLink{}).Where("token_hash LIKE ?", "%"+first+"%").Count(&stored)
	if stored != 0 {
		t.Error("the token itself is stored")
	}

	// A new invitation, valid two days, replaces the first.
	out, _, err = c.run("", "users", "invite", "--username", "BOB", "--valid-for", "2d")
	if err != nil {
		t.Fatal(err)
	}
	m = decode(t, out)
	second := tokenOf(t, m["invitation_url"])
	if _, err := st.LinkByToken(t.Context(), store.LinkInvitation, first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the first invitation still opens after a new one: %v", err)
	}
	l, err := st.LinkByToken(t.Context(), store.LinkInvitation, second)
	if err != nil || l.ExpiresAt.Sub(time.Now()) > 48*time.Hour || l.ExpiresAt.Sub(time.Now()) < 47*time.Hour {
		t.Errorf("the new invitation: %+v, %v; want one valid two days", l, err)
	}
	ev, _ := st.AuditEvents(t.Context(), store.AuditFilter{Event: "invitation.created"})
	if len(ev) != 2 || ev[0].Username != "bob" {
		t.Errorf("invitations in the audit log: %+v", ev)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--username", "alice"}, "has a phone already"},
		{[]string{"--username", "nobody"}, "no user"},
		{[]string{}, "--username is required"},
		{[]string{"--username", "bob", "--valid-for", "soon"}, "length of time"},
	} {
		if _, _, err := c.run("", append([]string{"users", "invite"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("users invite %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

func TestUsersResetPassword(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("a long enough password\n", "users", "create", "--username", "alice", "--phone", "+819012345678", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.run("", "users", "reset-password", "--username", "alice")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	if !strings.HasPrefix(m["reset_url"].(string), "http://localhost:8080/password/reset?token=") {
		t.Errorf("reset_url = %v", m["reset_url"])
	}
	st := c.store()
	l, err := st.LinkByToken(t.Context(), store.LinkPasswordReset, tokenOf(t, m["reset_url"]))
	if err != nil || l.ExpiresAt.Sub(time.Now()) > time.Hour || l.ExpiresAt.Sub(time.Now()) < 59*time.Minute {
		t.Fatalf("the reset link: %+v, %v; want one valid an hour", l, err)
	}
	// An invitation link does not open a reset, nor the other way round.
	if _, err := st.LinkByToken(t.Context(), store.LinkInvitation, tokenOf(t, m["reset_url"])); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a reset token opens an invitation: %v", err)
	}
	if ev, _ := st.AuditEvents(t.Context(), store.AuditFilter{Event: "password_reset.created"}); len(ev) != 1 || ev[0].Username != "alice" {
		t.Errorf("audit: %+v", ev)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--username", "nobody"}, "no user"},
		{[]string{}, "--username is required"},
		{[]string{"--username", "alice", "--valid-for", "2d"}, "at most 24h"},
	} {
		if _, _, err := c.run("", append([]string{"users", "reset-password"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("users reset-password %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
