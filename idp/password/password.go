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
	"golang.org/x/crypto/bcrypt"
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
// ErrMismatch when not, another error when the hash is unreadable. Hashes
// imported from other systems (bcrypt, argon2i) verify too; NeedsRehash
// then says to replace them with argon2id.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) error {
	if isBcrypt(encoded) {
		if err := Importable(encoded); err != nil {
			return err
		}
		if err := h.acquire(ctx); err != nil {
			return err
		}
		defer h.release()
		switch err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw)); {
		case err == nil:
			return nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return ErrMismatch
		default:
			return fmt.Errorf("password: bcrypt hash: %w", err)
		}
	}
	variant, p, salt, want, err := decodeAny(encoded)
	if err != nil {
		return err
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	var got []byte
	if variant == "argon2i" {
		got = argon2.Key([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	} else {
		got = argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	}
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

// NeedsRehash reports whether a hash was made otherwise than the hasher
// makes them now: other parameters, or an imported algorithm.
func (h *Hasher) NeedsRehash(encoded string) bool {
	variant, p, _, _, err := decodeAny(encoded)
	return err != nil || variant != "argon2id" || p != h.Params
}

// Importable reports whether a hash from another system can be stored as
// it is: argon2id, argon2i (PHC strings) or bcrypt ($2a$, $2b$, $2y$).
func Importable(encoded string) error {
	if isBcrypt(encoded) {
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return fmt.Errorf("password: bcrypt hash: %w", err)
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("password: bcrypt cost %d is above %d", cost, maxBcryptCost)
		}
		return nil
	}
	_, _, _, _, err := decodeAny(encoded)
	return err
}

// maxBcryptCost bounds imported bcrypt hashes: cost 14 is about a second.
const maxBcryptCost = 14

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
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
	_, p, salt, key, err := decodeAny(encoded)
	return p, salt, key, err
}

// decodeAny reads an argon2id or argon2i PHC string.
func decodeAny(encoded string) (string, Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return "", Params{}, nil, nil, errors.New("password: not an argon2 hash")
	}
	p, salt, key, err := decodeParts(parts)
	return parts[1], p, salt, key, err
}

func decodeParts(parts []string) (Params, []byte, []byte, error) {
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errors.New("password: unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, errors.New("password: malformed argon2 parameters")
	}
	// Bounded like the settings (IDP_ARGON2_*): an imported or tampered hash
	// must not make one verification take minutes or gigabytes.
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<20 || p.Time > 10 || p.Threads > 16 {
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
