package store

import (
	"context"
	"fmt"
	"time"
)

// SpendDPoPProof records a DPoP proof (RFC 9449 section 11.1) by its key
// and ID until exp, and returns ErrConflict if it was recorded already:
// a proof is accepted once, by whichever instance sees it first (the
// primary key decides). Proofs older than the acceptance window are
// refused before they get here, so expired rows never matter and go with
// DeleteExpired.
func (s *Store) SpendDPoPProof(ctx context.Context, key string, exp time.Time) error {
	res := s.conn(ctx).Exec(`INSERT INTO dpop_proofs (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		hashKey(key), exp.UTC())
	if res.Error != nil {
		return fmt.Errorf("store: dpop proof: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: dpop proof used already: %w", ErrConflict)
	}
	return nil
}
