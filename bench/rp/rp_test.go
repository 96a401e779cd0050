package rp_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smspin/idp/bench/rp"
	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

const redirect = "http://localhost:9/callback"

// provider starts a provider with one user and one third-party client,
// and returns an RP for it with transport t (nil for the default).
func provider(t *testing.T, tr http.RoundTripper) (*rp.RP, *rp.Outbox, idptest.User) {
	e := idptest.New(t, dbtest.SQLite(t), idptest.Options{})
	user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
	c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", redirect, false)
	codes, err := rp.TailOutbox(t.Context(), e.Outbox)
	if err != nil {
		t.Fatal(err)
	}
	r := &rp.RP{Issuer: e.Issuer, ClientID: c.ID, ClientSecret: c.Secret, RedirectURI: redirect,
		Timeout: 10 * time.Second, RetryFor: 5 * time.Second, Transport: tr}
	return r, codes, user
}

func TestLoginCompletes(t *testing.T) {
	r, codes, u := provider(t, nil)
	l := r.NewLogin(u.Username, u.Password, u.Phone, codes)
	l.Run(t.Context(), "")
	if l.Outcome != rp.Completed {
		t.Fatalf("outcome %s: %s\n%s", l.Outcome, l.Reason, strings.Join(l.Trace, "\n"))
	}
	if !slices.Equal(l.Tokens.AMR, []string{"pwd", "sms", "mfa"}) || l.Reloads != 0 {
		t.Errorf("amr %v, reloads %d", l.Tokens.AMR, l.Reloads)
	}
	if active, err := r.Introspect(t.Context(), l.Tokens.Access); err != nil || !active {
		t.Errorf("introspection: %v %v", active, err)
	}
	// The flow is over: its PIN page is not served again, its code not
	// redeemed twice.
	if path, status, err := l.PINPage(t.Context()); err != nil || (path == "/login/pin" && status == http.StatusOK) {
		t.Errorf("PIN page after the login: %s %d %v", path, status, err)
	}
	if status, code, err := l.Redeem(t.Context()); err != nil || status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("second redemption: %d %s %v", status, code, err)
	}
}

func TestLoginStopsAndResumes(t *testing.T) {
	r, codes, u := provider(t, nil)
	l := r.NewLogin(u.Username, u.Password, u.Phone, codes)
	if !l.Run(t.Context(), "/login/consent") {
		t.Fatalf("did not stop at consent: %s %s", l.Outcome, l.Reason)
	}
	if path, status, _ := l.PINPage(t.Context()); path != "/login/consent" || status != http.StatusOK {
		t.Errorf("the PIN page of a flow at consent answers %d at %s, want the consent page", status, path)
	}
	if l.Run(t.Context(), ""); l.Outcome != rp.Completed {
		t.Fatalf("resumed: %s %s", l.Outcome, l.Reason)
	}
}

// cutOnce loses the answer to the first request that matches, after the
// provider has handled it: what a browser sees of an instance killed
// mid-request.
type cutOnce struct {
	match func(*http.Request) bool
	done  atomic.Bool
}

func (c *cutOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && c.match(req) && c.done.CompareAndSwap(false, true) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

func TestLoginReloadsAfterALostAnswer(t *testing.T) {
	cut := &cutOnce{match: func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/login/pin" }}
	r, codes, u := provider(t, cut)
	l := r.NewLogin(u.Username, u.Password, u.Phone, codes)
	l.Run(t.Context(), "")
	if l.Outcome != rp.Completed || l.Reloads != 1 {
		t.Fatalf("outcome %s (%s) after %d reloads, want completed after one\n%s", l.Outcome, l.Reason, l.Reloads, strings.Join(l.Trace, "\n"))
	}
}

// status500 answers 500 for the token endpoint.
type status500 struct{}

func (status500) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/oauth2/token" {
		return &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader("boom")), Header: http.Header{}, Request: req}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestLoginOutcomes(t *testing.T) {
	t.Run("wrong password fails cleanly", func(t *testing.T) {
		r, codes, u := provider(t, nil)
		l := r.NewLogin(u.Username, "not the password", u.Phone, codes)
		l.Run(t.Context(), "")
		if l.Outcome != rp.FailedCleanly || !strings.Contains(l.Reason, "401 at /login") {
			t.Errorf("outcome %s: %s", l.Outcome, l.Reason)
		}
	})
	t.Run("a 500 fails badly", func(t *testing.T) {
		r, codes, u := provider(t, status500{})
		l := r.NewLogin(u.Username, u.Password, u.Phone, codes)
		l.Run(t.Context(), "")
		if l.Outcome != rp.FailedBadly || !strings.Contains(l.Reason, "token: 500") {
			t.Errorf("outcome %s: %s", l.Outcome, l.Reason)
		}
	})
}
