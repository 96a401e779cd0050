package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smspin/idp/idp/store"
)

// A DPoP proof is accepted once (RFC 9449 section 11.1), even when
// several instances see it at the same moment.
func testDPoPProofSpentOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	exp := time.Now().Add(2 * time.Minute)
	noErr(t, "first use", s.SpendDPoPProof(ctx, "jkt-a jti-1", exp))
	wantErr(t, "second use", s.SpendDPoPProof(ctx, "jkt-a jti-1", exp), store.ErrConflict)
	noErr(t, "same jti, another key", s.SpendDPoPProof(ctx, "jkt-b jti-1", exp))

	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.SpendDPoPProof(ctx, "jkt-a jti-race", exp) == nil {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("a proof sent 8 times at once was accepted %d times, want 1", won.Load())
	}
}
