// Package password hashes and checks user passwords with argon2id.
//
// Hashes are PHC strings ($argon2id$v=19$m=19456,t=2,p=1$salt$hash), so a
// change of parameters applies to new hashes while old ones still verify
// (and NeedsRehash says when to replace them). Each hash allocates its
// memory cost, so a semaphore bounds how many run at once: a burst of
// logins cannot exhaust memory or starve PIN and token requests of CPU.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id setting:
// 19 MiB, two passes, one lane.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// ErrMismatch is returned by Verify for a wrong password.
var ErrMismatch = errors.New("password: mismatch")

// Hasher hashes and verifies passwords.
type Hasher struct {
	Params Params
	sem    chan struct{}
	dummy  string
}

// New returns a hasher running at most concurrency hashes at once.
func New(p Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{Params: p, sem: make(chan struct{}, concurrency)}
	h.dummy = h.encode(make([]byte, 16), "not a password")
	return h
}

// Hash returns the PHC string of a new hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, 16)
	rand.Read(salt)
	return h.encode(salt, pw), nil
}

func (h *Hasher) encode(salt []byte, pw string) string {
	key := argon2.IDKey([]byte(pw), salt, h.Params.Time, h.Params.Memory, h.Params.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Params.Memory, h.Params.Time, h.Params.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify checks pw against a stored hash: nil when it matches,
// ErrMismatch when not, another error when the hash is unreadable.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) error {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return err
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// VerifyNothing spends the time of one verification and fails. It is used
// for unknown usernames, so they cost what a wrong password costs and
// cannot be told apart by timing.
func (h *Hasher) VerifyNothing(ctx context.Context, pw string) error {
	if err := h.Verify(ctx, h.dummy, pw); err != nil && !errors.Is(err, ErrMismatch) {
		return err
	}
	return ErrMismatch
}

// NeedsRehash reports whether a hash was made with other parameters.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.Params
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errors.New("password: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errors.New("password: unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, errors.New("password: malformed argon2 parameters")
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4<<20 {
		return Params{}, nil, nil, errors.New("password: argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return Params{}, nil, nil, errors.New("password: malformed salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, errors.New("password: malformed hash")
	}
	return p, salt, key, nil
}
