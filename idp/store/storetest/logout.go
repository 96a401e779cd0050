package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite/handler/openid"

	"github.com/smspin/idp/idp/store"
)

var errLost = errors.New("claim lost")

// testLogoutOutbox: a code issued in a session records its client; ending
// the session writes one delivery for each client with a back-channel
// URI, in the same transaction; of instances racing to send it, exactly
// one claims it; outcomes are recorded; the record goes at its expiry.
func testLogoutOutbox(t *testing.T, s *store.Store) {
	ctx := t.Context()
	noErr(t, "CreateClient", s.CreateClient(ctx, store.NewClient{
		ID: "bc", Secret: "s", RedirectURIs: []string{"https://bc.example/cb"}, GrantTypes: []string{"authorization_code"},
		TokenEndpointAuthMethod: "client_secret_basic", BackchannelLogoutURI: "https://bc.example/logout",
		FrontchannelLogoutURI: "https://bc.example/fc", FrontchannelLogoutSessionRequired: true,
	}))
	createClient(t, s) // no logout URIs
	u := createUser(t, s, "alice")
	now := s.Now()
	sess := &store.Session{UserID: u.ID, AMR: "pwd sms", AuthTime: now, MFATime: now, ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateSession", s.CreateSession(ctx, sess, "cookie-token"))
	for i, client := range []string{"bc", clientID, "bc"} {
		r := newRequest(now)
		r.Client, _ = s.GetClient(ctx, client)
		r.Session.(*openid.DefaultSession).Claims.Extra["sid"] = sess.ID
		noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-"+string(rune('a'+i)), r))
	}
	clients, err := s.SessionClients(ctx, sess.ID)
	noErr(t, "SessionClients", err)
	if len(clients) != 2 {
		t.Fatalf("session clients = %+v, want bc and %s once each", clients, clientID)
	}
	for _, c := range clients {
		if c.ClientID == "bc" && (c.FrontchannelLogoutURI != "https://bc.example/fc" || !c.FrontchannelLogoutSessionRequired) {
			t.Errorf("session client bc = %+v", c)
		}
	}

	ended, err := s.RevokeSession(ctx, sess.ID)
	noErr(t, "RevokeSession", err)
	if !ended {
		t.Fatal("RevokeSession did not end a live session")
	}
	if again, _ := s.RevokeSession(ctx, sess.ID); again {
		t.Error("a session ended twice")
	}
	due, err := s.DueLogoutDeliveries(ctx, 10)
	noErr(t, "DueLogoutDeliveries", err)
	if len(due) != 1 || due[0].ClientID != "bc" || due[0].SessionID != sess.ID || due[0].Subject != u.ID || due[0].URI != "https://bc.example/logout" {
		t.Fatalf("due deliveries = %+v, want one to bc for the session", due)
	}

	errs := race(16, func(int) error {
		d := due[0]
		ok, err := s.ClaimLogoutDelivery(ctx, &d, time.Minute)
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	exactlyOneWins(t, errs, errLost)
	if again, _ := s.DueLogoutDeliveries(ctx, 10); len(again) != 0 {
		t.Errorf("a claimed delivery is still due: %+v", again)
	}

	d := due[0]
	d.Attempts = 1
	noErr(t, "FinishLogoutAttempt", s.FinishLogoutAttempt(ctx, &d, 200, "", time.Time{}))
	list, err := s.LogoutDeliveries(ctx, store.DeliveryDelivered, "bc", 10)
	noErr(t, "LogoutDeliveries", err)
	if len(list) != 1 || list[0].Attempts != 1 || list[0].LastStatus != 200 || list[0].DeliveredAt == nil {
		t.Errorf("delivered record = %+v", list)
	}
}
