package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// TestClassify maps driver errors to the kinds the handlers tell apart,
// whatever wraps them, and leaves everything else alone.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{&pgconn.PgError{Code: "22021"}, ErrBadInput},    // a NUL byte, bad UTF-8
		{&pgconn.PgError{Code: "22001"}, ErrBadInput},    // value too long
		{&pgconn.PgError{Code: "23505"}, ErrConflict},    // unique violation
		{&pgconn.PgError{Code: "57P01"}, ErrUnavailable}, // admin shutdown
		{&pgconn.PgError{Code: "57P03"}, ErrUnavailable}, // cannot connect now (starting up)
		{&pgconn.PgError{Code: "53300"}, ErrUnavailable}, // too many connections
		{&pgconn.PgError{Code: "25006"}, ErrUnavailable}, // a standby, mid-failover
		{&pgconn.PgError{Code: "40001"}, ErrUnavailable}, // serialization failure
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ErrUnavailable},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ErrUnavailable},
		{io.ErrUnexpectedEOF, ErrUnavailable},
		{context.DeadlineExceeded, ErrUnavailable},
		{pgx.ErrTxCommitRollback, ErrUnavailable},
		{gorm.ErrDuplicatedKey, ErrConflict},
		{&pgconn.PgError{Code: "42601"}, nil}, // a syntax error is ours: no kind
		{errors.New("something else"), nil},
	} {
		got := classify(fmt.Errorf("store: lookup: %w", tc.err))
		for _, kind := range []error{ErrUnavailable, ErrBadInput, ErrConflict} {
			if errors.Is(got, kind) != (kind == tc.want) {
				t.Errorf("classify(%v) = %v; is %v: %v, want kind %v", tc.err, got, kind, errors.Is(got, kind), tc.want)
			}
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) lost the original error", tc.err)
		}
		if again := classify(got); again != got {
			t.Errorf("classify is not idempotent on %v", tc.err)
		}
	}
	if classify(gorm.ErrRecordNotFound) != gorm.ErrRecordNotFound || classify(nil) != nil {
		t.Error("not found and nil must pass through")
	}
}
