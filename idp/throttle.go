package idp

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/smspin/idp/idp/store"
)

// Password throttling: each failure counts against the account (by the
// username typed, so an unknown name behaves like a known one) and against
// the client network. After a few, each next try must wait longer, up to
// a temporary lock of 15 minutes; `idp users unlock` lifts it. Counts live
// in the database, so every instance sees them, and fade after a day
// without failures.
const (
	throttleForget  = 24 * time.Hour
	throttleMaxWait = 15 * time.Minute
)

// accountDelay: four free tries, then 30 s, doubling, to the lock.
func accountDelay(failures int) time.Duration {
	return backoff(failures, 5, 30*time.Second)
}

// networkDelay: a shared address (an office, a carrier NAT) gets more.
func networkDelay(failures int) time.Duration {
	return backoff(failures, 30, 30*time.Second)
}

func backoff(failures, free int, first time.Duration) time.Duration {
	if failures < free {
		return 0
	}
	d := first
	for i := free; i < failures && d < throttleMaxWait; i++ {
		d *= 2
	}
	return min(d, throttleMaxWait)
}

// AccountThrottleKey is the throttle key of a username.
func AccountThrottleKey(username string) string {
	sum := sha256.Sum256([]byte("account\x00" + strings.ToLower(strings.TrimSpace(username))))
	return "acct:" + hex.EncodeToString(sum[:16])
}

func networkThrottleKey(ip netip.Addr) string {
	n := ip.String()
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		n = p.String()
	}
	sum := sha256.Sum256([]byte("network\x00" + n))
	return "net:" + hex.EncodeToString(sum[:16])
}

// audit records a security event with the request's address and agent.
// A failure to record is logged, never shown: the user's action stands.
func (s *Server) audit(r *http.Request, e store.AuditEvent) {
	if ip := s.clientIP(r); ip.IsValid() {
		e.IP = ip.String()
	}
	e.UserAgent = r.UserAgent()
	if err := s.store.Audit(r.Context(), e); err != nil {
		s.log.ErrorContext(r.Context(), "audit event not recorded", "event", e.Event, "err", err)
	}
}
