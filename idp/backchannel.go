package idp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/keys"
	"github.com/smspin/idp/idp/store"
)

// logoutOutbox is what the notifier needs of the store.
type logoutOutbox interface {
	DueLogoutDeliveries(ctx context.Context, limit int) ([]store.LogoutDelivery, error)
	ClaimLogoutDelivery(ctx context.Context, d *store.LogoutDelivery, lease time.Duration) (bool, error)
	FinishLogoutAttempt(ctx context.Context, d *store.LogoutDelivery, httpStatus int, failure string, next time.Time) error
	Client(ctx context.Context, id string) (*store.Client, error)
}

// backchannelEvent is the event a logout token carries (OpenID Connect
// Back-Channel Logout 1.0 section 2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutRetries are the waits after each failed delivery; after the last
// the delivery is given up (status failed), about eight hours on.
var logoutRetries = []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}

// LogoutNotifier delivers logout tokens (OpenID Connect Back-Channel Logout
// 1.0) from the outbox that ending a session writes. Any instance may run
// one: each delivery is claimed by a conditional update before it is sent,
// and a claim lapses after a lease, so a crash mid-send means a retry, not
// a loss.
type LogoutNotifier struct {
	Store      logoutOutbox
	Keys       *keys.Manager
	Issuer     string
	DefaultAlg string
	HTTP       *http.Client
	Logger     *slog.Logger

	running, again atomic.Bool
}

// NewLogoutNotifier returns a notifier with a client that does not follow
// redirects (a redirect is no acknowledgement) and times out.
func NewLogoutNotifier(st logoutOutbox, km *keys.Manager, issuer, defaultAlg string, logger *slog.Logger) *LogoutNotifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LogoutNotifier{Store: st, Keys: km, Issuer: issuer, DefaultAlg: defaultAlg, Logger: logger,
		HTTP: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Run delivers what is due every interval until ctx ends.
func (n *LogoutNotifier) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Kick starts a delivery pass now, in the background, so RPs hear of a
// logout at once rather than at the next tick; a pass already running
// makes another after it.
func (n *LogoutNotifier) Kick() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.pass(ctx)
	}()
}

// pass runs RunOnce, one at a time in this process.
func (n *LogoutNotifier) pass(ctx context.Context) {
	if !n.running.CompareAndSwap(false, true) {
		n.again.Store(true)
		return
	}
	defer n.running.Store(false)
	for {
		if _, err := n.RunOnce(ctx); err != nil {
			n.Logger.WarnContext(ctx, "back-channel logout", "err", err)
		}
		if !n.again.CompareAndSwap(true, false) {
			return
		}
	}
}

// RunOnce sends every delivery due now and reports how many it sent
// successfully.
func (n *LogoutNotifier) RunOnce(ctx context.Context) (int, error) {
	due, err := n.Store.DueLogoutDeliveries(ctx, 100)
	if err != nil {
		return 0, err
	}
	ok := 0
	for i := range due {
		d := &due[i]
		claimed, err := n.Store.ClaimLogoutDelivery(ctx, d, 2*time.Minute)
		if err != nil {
			return ok, err
		}
		if !claimed {
			continue // another instance has it
		}
		status, failure := n.deliver(ctx, d)
		next := time.Time{}
		if failure != "" && d.Attempts <= len(logoutRetries) {
			next = time.Now().Add(logoutRetries[d.Attempts-1])
		}
		if err := n.Store.FinishLogoutAttempt(ctx, d, status, failure, next); err != nil {
			return ok, err
		}
		switch {
		case failure == "":
			ok++
			n.Logger.InfoContext(ctx, "back-channel logout delivered", "client_id", d.ClientID, "sid", d.SessionID, "attempt", d.Attempts)
		case next.IsZero():
			n.Logger.ErrorContext(ctx, "back-channel logout given up", "client_id", d.ClientID, "sid", d.SessionID, "attempts", d.Attempts, "error", failure)
		default:
			n.Logger.WarnContext(ctx, "back-channel logout failed; will retry", "client_id", d.ClientID, "sid", d.SessionID,
				"attempt", d.Attempts, "retry_at", next, "error", failure)
		}
	}
	return ok, nil
}

// deliver posts one logout token (section 2.5) and returns the RP's HTTP
// status and, if it failed, why.
func (n *LogoutNotifier) deliver(ctx context.Context, d *store.LogoutDelivery) (int, string) {
	token, err := n.logoutToken(ctx, d)
	if err != nil {
		return 0, "sign logout token: " + err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.HTTP.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// 200 is the answer the spec asks for; some frameworks send 204.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return resp.StatusCode, fmt.Sprintf("the RP answered %d", resp.StatusCode)
	}
	return resp.StatusCode, ""
}

// logoutToken is the signed Logout Token of section 2.4: sub and sid
// both (the spec allows both; an RP that keys its sessions on either
// finds its own), the back-channel event, no nonce, typ logout+jwt, signed
// with the algorithm of the client's ID tokens.
func (n *LogoutNotifier) logoutToken(ctx context.Context, d *store.LogoutDelivery) (string, error) {
	alg := n.DefaultAlg
	if c, err := n.Store.Client(ctx, d.ClientID); err == nil && c.IDTokenAlg != "" {
		alg = c.IDTokenAlg
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": n.Issuer, "aud": d.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": store.NewID(), "sub": d.Subject, "sid": d.SessionID,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	tok, _, err := (&keys.Signer{Keys: n.Keys, Alg: alg}).Generate(ctx, claims, &jwt.Headers{Extra: map[string]any{"typ": "logout+jwt"}})
	return tok, err
}
