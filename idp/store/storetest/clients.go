package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
)

func testClientRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createClient(t, s)

	fc, err := s.GetClient(ctx, clientID)
	noErr(t, "GetClient", err)
	oc, ok := fc.(fosite.OpenIDConnectClient)
	if !ok {
		t.Fatalf("GetClient returned %T, not a fosite.OpenIDConnectClient", fc)
	}
	if fc.GetID() != clientID {
		t.Errorf("ID = %q, want %q", fc.GetID(), clientID)
	}
	for _, f := range []struct {
		name      string
		got, want []string
	}{
		{"redirect URIs", fc.GetRedirectURIs(), redirectURIs()},
		{"grant types", fc.GetGrantTypes(), []string{"authorization_code", "refresh_token"}},
		{"response types", fc.GetResponseTypes(), []string{"code"}},
		{"scopes", fc.GetScopes(), []string{"openid", "profile", "offline_access"}},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if fc.IsPublic() {
		t.Error("confidential client reads back as public")
	}
	if m := oc.GetTokenEndpointAuthMethod(); m != "client_secret_basic" {
		t.Errorf("token endpoint auth method = %q, want client_secret_basic", m)
	}

	hash := fc.GetHashedSecret()
	if string(hash) == clientSecret {
		t.Fatal("the client secret is stored in the clear")
	}
	h := store.ClientSecretHasher{}
	noErr(t, "Compare(right secret)", h.Compare(ctx, hash, []byte(clientSecret)))
	if err := h.Compare(ctx, hash, []byte(clientSecret+"x")); err == nil {
		t.Error("Compare accepted a wrong secret")
	}
	if err := h.Compare(ctx, hash, nil); err == nil {
		t.Error("Compare accepted an empty secret")
	}

	c, err := s.Client(ctx, clientID)
	noErr(t, "Client", err)
	if c.Name != "Conformance RP" || c.FirstParty {
		t.Errorf("Name, FirstParty = %q, %v; want %q, false", c.Name, c.FirstParty, "Conformance RP")
	}
	if !reflect.DeepEqual(c.PostLogoutRedirectURIs, []string{"https://rp.example/bye"}) {
		t.Errorf("post-logout redirect URIs = %q", c.PostLogoutRedirectURIs)
	}
	if c.CreatedAt.IsZero() {
		t.Error("CreatedAt not set")
	}
}

func testClientPublic(t *testing.T, s *store.Store) {
	ctx := t.Context()
	err := s.CreateClient(ctx, store.NewClient{
		ID: "spa", Public: true, FirstParty: true,
		RedirectURIs:  []string{"http://127.0.0.1:8080/cb"},
		GrantTypes:    []string{"authorization_code"},
		ResponseTypes: []string{"code"},
		Scopes:        []string{"openid"}, TokenEndpointAuthMethod: "none",
	})
	noErr(t, "CreateClient(public)", err)
	c, err := s.Client(ctx, "spa")
	noErr(t, "Client", err)
	if !c.IsPublic() || !c.FirstParty || c.GetTokenEndpointAuthMethod() != "none" || len(c.GetHashedSecret()) != 0 {
		t.Errorf("public client = public %v, first party %v, auth %q, secret %q", c.IsPublic(), c.FirstParty, c.GetTokenEndpointAuthMethod(), c.GetHashedSecret())
	}
	if len(c.PostLogoutRedirectURIs) != 0 {
		t.Errorf("post-logout redirect URIs = %q, want none", c.PostLogoutRedirectURIs)
	}

	// A public client has no secret; a confidential one needs one.
	if err := s.CreateClient(ctx, store.NewClient{ID: "bad1", Public: true, Secret: "x", RedirectURIs: []string{"https://a.example/cb"}}); err == nil {
		t.Error("public client with a secret accepted")
	}
	if err := s.CreateClient(ctx, store.NewClient{ID: "bad2", RedirectURIs: []string{"https://a.example/cb"}}); err == nil {
		t.Error("confidential client without a secret accepted")
	}
	if err := s.CreateClient(ctx, store.NewClient{ID: "bad3", Secret: "x", GrantTypes: []string{"authorization_code"}}); err == nil {
		t.Error("authorization_code client without a redirect URI accepted")
	}
	if err := s.CreateClient(ctx, store.NewClient{Secret: "x", RedirectURIs: []string{"https://a.example/cb"}}); err == nil {
		t.Error("client without an id accepted")
	}
	for _, id := range []string{"bad1", "bad2", "bad3"} {
		_, err := s.Client(ctx, id)
		wantErr(t, "refused client "+id, err, store.ErrNotFound)
	}
}

func testClientDuplicate(t *testing.T, s *store.Store) {
	createClient(t, s)
	err := s.CreateClient(t.Context(), store.NewClient{
		ID: clientID, Secret: "another", RedirectURIs: []string{"https://evil.example/cb"},
	})
	wantErr(t, "CreateClient(duplicate id)", err, store.ErrConflict)
	c, err := s.GetClient(t.Context(), clientID)
	noErr(t, "GetClient", err)
	if !reflect.DeepEqual(c.GetRedirectURIs(), redirectURIs()) {
		t.Errorf("duplicate overwrote the client: redirect URIs = %q", c.GetRedirectURIs())
	}
}

func testClientNotFound(t *testing.T, s *store.Store) {
	c, err := s.GetClient(t.Context(), "nobody")
	wantErr(t, "GetClient(unknown)", err, fosite.ErrNotFound)
	if c != nil {
		t.Errorf("unknown client returned %#v, want a nil fosite.Client", c)
	}
	_, err = s.Client(t.Context(), "nobody")
	wantErr(t, "Client(unknown)", err, store.ErrNotFound)
}

// testClientProtocolSettings: the settings of introspection, logout and
// access tokens read back as written, and default to off.
func testClientProtocolSettings(t *testing.T, s *store.Store) {
	ctx := t.Context()
	noErr(t, "CreateClient", s.CreateClient(ctx, store.NewClient{
		ID: "api", Secret: "s", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic",
		ResourceServerFor: []string{"rp1", "rp2"}, TokenExchangeAudiences: []string{"rp2", "https://api.example/orders"}, AccessTokenFormat: store.AccessTokenJWT, AccessTokenLifespan: 5 * time.Minute,
		BackchannelLogoutURI: "https://api.example/bc", BackchannelLogoutSessionRequired: true,
		FrontchannelLogoutURI: "https://api.example/fc", FrontchannelLogoutSessionRequired: true,
		DPoPBound: true,
	}))
	c, err := s.Client(ctx, "api")
	if !c.DPoPBound {
		t.Error("DPoPBound not kept")
	}
	noErr(t, "Client", err)
	if !reflect.DeepEqual(c.ResourceServerFor, []string{"rp1", "rp2"}) {
		t.Errorf("ResourceServerFor = %q, want [rp1 rp2]", c.ResourceServerFor)
	}
	if !reflect.DeepEqual(c.TokenExchangeAudiences, []string{"rp2", "https://api.example/orders"}) {
		t.Errorf("TokenExchangeAudiences = %q", c.TokenExchangeAudiences)
	}
	aud := []string{"rp1"}
	noErr(t, "UpdateClient", s.UpdateClient(ctx, "api", store.ClientChange{TokenExchangeAudiences: &aud}))
	if c, err = s.Client(ctx, "api"); err != nil || !reflect.DeepEqual(c.TokenExchangeAudiences, aud) {
		t.Errorf("TokenExchangeAudiences after the update = %q, %v", c.TokenExchangeAudiences, err)
	}
	if c.AccessTokenFormat != store.AccessTokenJWT || c.AccessTokenLifespan != 5*time.Minute {
		t.Errorf("access tokens: %q for %v, want jwt for 5m", c.AccessTokenFormat, c.AccessTokenLifespan)
	}
	if got := c.GetEffectiveLifespan("client_credentials", fosite.AccessToken, time.Hour); got != 5*time.Minute {
		t.Errorf("effective access token lifespan %v, want the client's 5m", got)
	}
	if c.BackchannelLogoutURI != "https://api.example/bc" || !c.BackchannelLogoutSessionRequired ||
		c.FrontchannelLogoutURI != "https://api.example/fc" || !c.FrontchannelLogoutSessionRequired {
		t.Errorf("logout channels read back as %q %v %q %v", c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired)
	}
	if err := s.CreateClient(ctx, store.NewClient{ID: "bad-format", Secret: "s", GrantTypes: []string{"client_credentials"},
		AccessTokenFormat: "paseto"}); err == nil {
		t.Error("an unknown access token format was accepted")
	}
	createClient(t, s)
	plain, err := s.Client(ctx, clientID)
	noErr(t, "Client", err)
	if plain.DPoPBound {
		t.Error("a client registered without settings is DPoP-bound")
	}
	if len(plain.ResourceServerFor) != 0 || len(plain.TokenExchangeAudiences) != 0 || plain.AccessTokenFormat != store.AccessTokenOpaque || plain.BackchannelLogoutURI != "" {
		t.Errorf("a client registered without settings: %q %q %q", plain.ResourceServerFor, plain.AccessTokenFormat, plain.BackchannelLogoutURI)
	}
}
