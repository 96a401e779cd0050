package idp

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/ory/fosite"
)

// isDBUnavailable reports errors that mean "the database cannot be
// reached now, try again": a connection refused, lost or timed out, or a
// server shutting down or starting. They become 503 and
// temporarily_unavailable, never a 500, so clients retry.
func isDBUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	text := err.Error()
	if rfc := new(fosite.RFC6749Error); errors.As(err, &rfc) {
		text += " " + rfc.DebugField
	}
	for _, p := range []string{"connection refused", "failed to connect", "broken pipe", "connection reset", "conn closed",
		"database is locked", "the database system is", "terminating connection", "dial tcp", "unexpected EOF", "i/o timeout"} {
		if strings.Contains(text, p) {
			return true
		}
	}
	return false
}

// unavailable turns an error caused by an unreachable database into
// fosite's temporarily_unavailable (RFC 6749 section 4.1.2.1), leaving
// every other error as it is. fosite reports a client it could not load
// as invalid_client; when the cause was the database, that would tell an
// RP its credentials are wrong, so it is replaced too.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if rfc := fosite.ErrorToRFC6749Error(err); isDBUnavailable(err) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(rfc.DebugField)
	}
	return err
}
