package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"time"

	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/mfa"
)

// Password throttling: every try is counted, before its hash is computed,
// against the account (by the username typed, so an unknown name behaves
// like a known one) and against the client network, and stands as a
// failure until it succeeds. After a few, each next try must wait longer,
// up to a temporary lock of 15 minutes; `idp users unlock` lifts it.
// Counts live in the database, so every instance sees them, and fade
// after a day without tries.
var (
	accountRule = store.ThrottleRule{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}
	// A shared address (an office, a carrier NAT) gets more.
	networkRule = store.ThrottleRule{Free: 30, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}
)

// AccountThrottleKey is the throttle key of a username, in its normal
// form (store.NormalizeUsername); a name with none is keyed as typed.
func AccountThrottleKey(username string) string {
	if n, err := store.NormalizeUsername(username); err == nil {
		username = n
	}
	sum := sha256.Sum256([]byte("account\x00" + username))
	return "acct:" + hex.EncodeToString(sum[:16])
}

// UserThrottleKeys are every throttle key of a username's own tries: the
// password, recovery codes, the authenticator app and passkeys. An
// operator's unlock (or a reset) forgets them all.
func UserThrottleKeys(username string) []string {
	if n, err := store.NormalizeUsername(username); err == nil {
		username = n
	}
	return []string{AccountThrottleKey(username), recoveryThrottleKey(username), totpThrottleKey(username), passkeyThrottleKey(username)}
}

// networkThrottleKey is the throttle key of a client network, grouped as
// the SMS send limits group them.
func networkThrottleKey(ip netip.Addr) string {
	sum := sha256.Sum256([]byte("network\x00" + mfa.Network(ip)))
	return "net:" + hex.EncodeToString(sum[:16])
}

// auditIn records a security event with the request's address and agent
// in the transaction ctx carries: it commits with its step.
func (s *Server) auditIn(ctx context.Context, r *http.Request, e store.AuditEvent) error {
	if ip := s.clientIP(r); ip.IsValid() {
		e.IP = ip.String()
	}
	e.UserAgent = r.UserAgent()
	return s.store.Audit(ctx, e)
}

// audit records an event outside any step: a failure to record is
// logged, never shown, since the user's action already stands.
func (s *Server) audit(r *http.Request, e store.AuditEvent) {
	if err := s.auditIn(r.Context(), r, e); err != nil {
		s.log.ErrorContext(r.Context(), "audit event not recorded", "event", e.Event, "err", err)
	}
}
