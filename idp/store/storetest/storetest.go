// Package storetest is the conformance suite of store.Store, in the manner
// of dex's storage/conformance: named cases, each run on a freshly
// migrated store, so one suite checks every database the store supports.
//
// The cases pin down what fosite expects of its storage (a used code
// returns its request with fosite.ErrInvalidatedAuthorizeCode, a rotated
// refresh token returns its request with fosite.ErrInactiveToken, lookups
// wrap fosite.ErrNotFound, revocation by request id, single use under
// concurrency) and what our own handlers rely on (clients, users and
// phones, login flows, consents, signing keys, expiry and time zones).
package storetest

import (
	"errors"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/store"
)

// Run runs every case as a subtest, each on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *store.Store)
	}{
		{"AuthorizeCodeRoundTrip", testAuthorizeCodeRoundTrip},
		{"AuthorizeCodeNotFound", testAuthorizeCodeNotFound},
		{"AuthorizeCodeInvalidate", testAuthorizeCodeInvalidate},
		{"AuthorizeCodeConcurrentSingleUse", testAuthorizeCodeConcurrentSingleUse},
		{"AccessTokenRoundTrip", testAccessTokenRoundTrip},
		{"AccessTokenRevokeByRequest", testAccessTokenRevokeByRequest},
		{"RefreshTokenRoundTrip", testRefreshTokenRoundTrip},
		{"RefreshTokenRotate", testRefreshTokenRotate},
		{"RefreshTokenConcurrentRotation", testRefreshTokenConcurrentRotation},
		{"RefreshTokenRevokeByRequest", testRefreshTokenRevokeByRequest},
		{"TokenOfDeletedClient", testTokenOfDeletedClient},
		{"TransactionCommit", testTransactionCommit},
		{"TransactionRollback", testTransactionRollback},
		{"PKCERoundTrip", testPKCERoundTrip},
		{"OpenIDConnectSessionRoundTrip", testOpenIDConnectSessionRoundTrip},
		{"ClientAssertionJWT", testClientAssertionJWT},
		{"DPoPProofSpentOnce", testDPoPProofSpentOnce},
		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientPublic", testClientPublic},
		{"ClientDuplicate", testClientDuplicate},
		{"ClientNotFound", testClientNotFound},
		{"ClientProtocolSettings", testClientProtocolSettings},
		{"LogoutOutbox", testLogoutOutbox},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserDuplicateUsername", testUserDuplicateUsername},
		{"UserUsernameNormalised", testUserUsernameNormalised},
		{"ImportUsers", testImportUsers},
		{"ConfirmPhone", testConfirmPhone},
		{"UserList", testUserList},
		{"UserDisable", testUserDisable},
		{"UserDelete", testUserDelete},
		{"UserPhoneSetClear", testUserPhoneSetClear},
		{"ClientAdmin", testClientAdmin},
		{"UserLinks", testUserLinks},
		{"RecoveryCodes", testRecoveryCodes},
		{"TOTP", testTOTP},
		{"Passkeys", testPasskeys},
		{"Ceremonies", testCeremonies},
		{"TrustedDevices", testTrustedDevices},
		{"DeviceRequests", testDeviceRequests},
		{"FlowRoundTrip", testFlowRoundTrip},
		{"FlowMoves", testFlowMoves},
		{"FlowMoveColumns", testFlowMoveColumns},
		{"FlowMovesRecorded", testFlowMovesRecorded},
		{"FlowExpired", testFlowExpired},
		{"FlowConcurrentMove", testFlowConcurrentMove},
		{"ChallengeRoundTrip", testChallengeRoundTrip},
		{"ChallengeSupersede", testChallengeSupersede},
		{"ChallengeConcurrentAttempts", testChallengeConcurrentAttempts},
		{"ChallengeConcurrentConsume", testChallengeConcurrentConsume},
		{"ChallengeRenew", testChallengeRenew},
		{"ChallengeInTransaction", testChallengeInTransaction},
		{"SendCounterConcurrent", testSendCounterConcurrent},
		{"SendCounterUncountAndExpiry", testSendCounterUncountAndExpiry},
		{"SendCounterSlidingWindow", testSendCounterSlidingWindow},
		{"SendCounterAmounts", testSendCounterAmounts},
		{"Holds", testHolds},
		{"Deliveries", testDeliveries},
		{"DeliveryReceipts", testDeliveryReceipts},
		{"ThrottleConcurrentTries", testThrottleConcurrentTries},
		{"ThrottleBlocksAndForgets", testThrottleBlocksAndForgets},
		{"ThrottleSucceeded", testThrottleSucceeded},
		{"Sessions", testSessions},
		{"PARSingleUse", testPARSingleUse},
		{"ErrorsClassified", testErrorsClassified},
		{"Consents", testConsents},
		{"SigningKeyOnlyIfNone", testSigningKeyOnlyIfNone},
		{"SigningKeyConcurrentFirstStart", testSigningKeyConcurrentFirstStart},
		{"SigningKeyRotation", testSigningKeyRotation},
		{"TimeZoneRequestedAt", testTimeZoneRequestedAt},
		{"TimeZoneClock", testTimeZoneClock},
		{"DeleteExpired", testDeleteExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, open(t))
		})
	}
}

// racers is how many goroutines the concurrency cases start at once.
const racers = 16

// race runs f in n goroutines released together by one barrier, and
// returns what each returned.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOneWins fails unless exactly one of errs is nil and every other
// one wraps loser.
func exactlyOneWins(t *testing.T, errs []error, loser error) {
	t.Helper()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("racer %d: err = %v, want nil or %v", i, err, loser)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racers won, want exactly 1", wins, len(errs))
	}
}

// clock is a clock the test sets; a store built on it sees only its time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock returns a store on the same database as s whose clock starts
// at start and moves only when told to.
func withClock(s *store.Store, start time.Time) (*store.Store, *clock) {
	c := &clock{now: start}
	return store.New(s.DB(), c.Now), c
}

// epoch is where the fixed clocks start: a time with microseconds, so
// precision loss would show.
func epoch() time.Time { return time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC) }

// Fixtures.
const (
	clientID     = "conformance-client"
	clientSecret = "conformance-secret-0123456789abcdef"
)

func redirectURIs() []string { return []string{"https://rp.example/cb", "https://rp.example/cb2"} }

// createClient registers the confidential client the token cases use.
func createClient(t *testing.T, s *store.Store) {
	t.Helper()
	err := s.CreateClient(t.Context(), store.NewClient{
		ID:                      clientID,
		Name:                    "Conformance RP",
		Secret:                  clientSecret,
		RedirectURIs:            redirectURIs(),
		PostLogoutRedirectURIs:  []string{"https://rp.example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "profile", "offline_access"},
		TokenEndpointAuthMethod: "client_secret_basic",
	})
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
}

// newRequest returns a full request as fosite would store it after the
// login, requested at now, with every token expiring after now. Its client
// carries only an id: a stored request must reload the registered one.
func newRequest(now time.Time) *fosite.Request {
	authTime := now.Add(-time.Minute).Truncate(time.Second)
	return &fosite.Request{
		ID:                store.NewID(),
		RequestedAt:       now,
		Client:            &fosite.DefaultClient{ID: clientID},
		RequestedScope:    fosite.Arguments{"openid", "profile", "offline_access"},
		GrantedScope:      fosite.Arguments{"openid", "offline_access"},
		RequestedAudience: fosite.Arguments{"https://api.example", "https://other.example"},
		GrantedAudience:   fosite.Arguments{"https://api.example"},
		Form: url.Values{
			"redirect_uri":  {"https://rp.example/cb"},
			"response_type": {"code"},
			"scope":         {"openid profile offline_access"},
			"state":         {"af0ifjsldkj"},
			"nonce":         {"n-0S6_WzA2Mj"},
		},
		Session: &openid.DefaultSession{
			Subject:  "user-1",
			Username: "alice",
			Claims: &jwt.IDTokenClaims{
				Issuer:                              "https://idp.example",
				Subject:                             "user-1",
				Audience:                            []string{clientID},
				Nonce:                               "n-0S6_WzA2Mj",
				RequestedAt:                         now.Truncate(time.Second),
				AuthTime:                            authTime,
				AuthenticationMethodsReferences:     []string{"pwd", "sms"},
				AuthenticationContextClassReference: "urn:smspin:acr:mfa",
				Extra:                               map[string]any{"locale": "ja"},
			},
			Headers: &jwt.Headers{Extra: map[string]any{"kid": "key-1"}},
			ExpiresAt: map[fosite.TokenType]time.Time{
				fosite.AuthorizeCode: now.Add(10 * time.Minute),
				fosite.AccessToken:   now.Add(time.Hour),
				fosite.RefreshToken:  now.Add(30 * 24 * time.Hour),
			},
		},
	}
}

// checkRequest compares a request read back with the one stored. sess is
// the session passed to the getter: the stored one must be decoded into it.
func checkRequest(t *testing.T, want *fosite.Request, got fosite.Requester, sess *openid.DefaultSession) {
	t.Helper()
	if got == nil {
		t.Fatal("request is nil")
	}
	if got.GetID() != want.ID {
		t.Errorf("ID = %q, want %q", got.GetID(), want.ID)
	}
	if d := got.GetRequestedAt().Sub(want.RequestedAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("RequestedAt = %v, want %v (off by %v)", got.GetRequestedAt(), want.RequestedAt, d)
	}
	c := got.GetClient()
	if c == nil || c.GetID() != clientID {
		t.Fatalf("client = %v, want %q", c, clientID)
	}
	if !reflect.DeepEqual(c.GetRedirectURIs(), redirectURIs()) {
		t.Errorf("client redirect URIs = %v, want the registered %v (client not reloaded?)", c.GetRedirectURIs(), redirectURIs())
	}
	for _, f := range []struct {
		name      string
		got, want fosite.Arguments
	}{
		{"requested scopes", got.GetRequestedScopes(), want.RequestedScope},
		{"granted scopes", got.GetGrantedScopes(), want.GrantedScope},
		{"requested audience", got.GetRequestedAudience(), want.RequestedAudience},
		{"granted audience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !reflect.DeepEqual([]string(f.got), []string(f.want)) {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !reflect.DeepEqual(got.GetRequestForm(), want.Form) {
		t.Errorf("form = %v, want %v", got.GetRequestForm(), want.Form)
	}
	if sess == nil {
		return
	}
	if got.GetSession() != fosite.Session(sess) {
		t.Errorf("session is %T %p, want the session passed in (%p)", got.GetSession(), got.GetSession(), sess)
	}
	checkSession(t, want.Session.(*openid.DefaultSession), sess)
}

func checkSession(t *testing.T, want, got *openid.DefaultSession) {
	t.Helper()
	if got.Subject != want.Subject || got.Username != want.Username {
		t.Errorf("session subject, username = %q, %q; want %q, %q", got.Subject, got.Username, want.Subject, want.Username)
	}
	for k, w := range want.ExpiresAt {
		if g := got.ExpiresAt[k]; !g.Equal(w) {
			t.Errorf("session expiry of %s = %v, want %v", k, g, w)
		}
	}
	wc, gc := want.Claims, got.Claims
	if gc == nil {
		t.Fatal("session lost its ID token claims")
	}
	if gc.Subject != wc.Subject || gc.Issuer != wc.Issuer || gc.Nonce != wc.Nonce || gc.AuthenticationContextClassReference != wc.AuthenticationContextClassReference {
		t.Errorf("claims sub, iss, nonce, acr = %q, %q, %q, %q; want %q, %q, %q, %q",
			gc.Subject, gc.Issuer, gc.Nonce, gc.AuthenticationContextClassReference,
			wc.Subject, wc.Issuer, wc.Nonce, wc.AuthenticationContextClassReference)
	}
	if !reflect.DeepEqual(gc.Audience, wc.Audience) {
		t.Errorf("claims aud = %q, want %q", gc.Audience, wc.Audience)
	}
	if !reflect.DeepEqual(gc.AuthenticationMethodsReferences, wc.AuthenticationMethodsReferences) {
		t.Errorf("claims amr = %q, want %q", gc.AuthenticationMethodsReferences, wc.AuthenticationMethodsReferences)
	}
	if !gc.AuthTime.Equal(wc.AuthTime) {
		t.Errorf("claims auth_time = %v, want %v", gc.AuthTime, wc.AuthTime)
	}
	if !gc.RequestedAt.Equal(wc.RequestedAt) {
		t.Errorf("claims rat = %v, want %v", gc.RequestedAt, wc.RequestedAt)
	}
	if gc.Extra["locale"] != wc.Extra["locale"] {
		t.Errorf("claims ext locale = %v, want %v", gc.Extra["locale"], wc.Extra["locale"])
	}
	if got.Headers == nil || got.Headers.Extra["kid"] != want.Headers.Extra["kid"] {
		t.Errorf("headers = %+v, want kid %v", got.Headers, want.Headers.Extra["kid"])
	}
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// noErr fails on err.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
