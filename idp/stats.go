package idp

import (
	"sync"
	"sync/atomic"
)

// counters count protocol and login events for metrics.
type counters struct{ m sync.Map }

func (c *counters) add(event string) {
	v, _ := c.m.LoadOrStore(event, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Counters returns how often each event happened since start:
// authorize_accepted, authorize_refused, password_failed, login_completed,
// token_issued.<grant>, token_refused.<error>.
func (s *Server) Counters() map[string]int64 {
	out := map[string]int64{}
	s.stats.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}
