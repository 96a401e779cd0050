package idp

import (
	"errors"

	"github.com/ory/fosite"

	"github.com/smspin/idp/idp/store"
)

// unavailable turns an error caused by an unreachable database into
// fosite's temporarily_unavailable (RFC 6749 section 4.1.2.1), leaving
// every other error as it is. fosite reports a client it could not load
// as invalid_client; when the cause was the database, that would tell an
// RP its credentials are wrong, so it is replaced too. The store has
// already classified the driver's error (store.ErrUnavailable).
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrUnavailable) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(fosite.ErrorToRFC6749Error(err).DebugField)
	}
	return err
}
