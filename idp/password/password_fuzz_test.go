package password

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The most an operator can configure (config's IDP_ARGON2_MEMORY and
// IDP_ARGON2_TIME bounds): no hash this provider writes costs more, so a
// stored string asking for more is not one of ours, and honouring it lets
// one database row spend gigabytes or hours on every login attempt of
// that user. (Lanes cost little: argon2 gives each at least 8 KiB of the
// memory already counted.)
const (
	maxMemory = 1 << 20 // KiB
	maxTime   = 10
)

// FuzzVerify checks arbitrary stored strings against passwords. "{hash}"
// in the stored string stands for a genuine hash of pw, so mutations also
// explore damaged real hashes. Nothing may panic; a stored string's cost
// stays within what can be configured; Verify answers nil, ErrMismatch or
// a format error; and no stored string matches two different passwords.
func FuzzVerify(f *testing.F) {
	for _, s := range []struct{ stored, pw, other string }{
		{"{hash}", "correct horse battery staple", "correct horse battery stapler"},
		{"{hash}", "", "x"},
		{"{hash}x", "pw-123456", "pw-123457"},
		{"x{hash}", "pw", "pw\x00"},
		{strings.Repeat("a", 80) + "{hash}", strings.Repeat("a", 73), strings.Repeat("a", 72)},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1$$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$", "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "x", "y"},
		{"$argon2id$v=19$m=8,t=1,p=255$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1garbage$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$argon2id$v=16$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "x", "y"},
		{"$argon2id$v=19$m=-1,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "x", "y"},
		{"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "x", "y"},
		{"", "", "x"},
	} {
		f.Add(s.stored, s.pw, s.other)
	}
	h := New(fast, 2)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, stored, pw, other string) {
		if strings.Contains(stored, "{hash}") {
			genuine, err := h.Hash(ctx, pw)
			if err != nil {
				t.Fatal(err)
			}
			stored = strings.ReplaceAll(stored, "{hash}", genuine)
		}
		_ = h.NeedsRehash(stored)
		if isBcrypt(stored) {
			// Imported bcrypt hashes: any answer but a panic, and a match
			// only for a hash bcrypt itself accepts.
			if err := h.Verify(ctx, stored, pw); err == nil && Importable(stored) != nil {
				t.Fatalf("Verify(%q) matched a hash bcrypt refuses", stored)
			}
			return
		}
		p, _, key, err := decode(stored)
		if err != nil {
			if verr := h.Verify(ctx, stored, pw); verr == nil || errors.Is(verr, ErrMismatch) {
				t.Fatalf("Verify(%q) = %v, but decode refused it: %v", stored, verr, err)
			}
			return
		}
		// Seeds testdata/fuzz/FuzzVerify/known-bug-* once showed decode
		// taking any t and m up to 4 GiB.
		if p.Memory > maxMemory || p.Time > maxTime {
			t.Fatalf("decode(%q) accepts m=%d t=%d; a stored hash may ask for at most m=%d t=%d",
				stored, p.Memory, p.Time, maxMemory, maxTime)
		}
		if p.Memory > 4096 || p.Time > 4 || p.Threads > 16 || len(key) > 4096 {
			t.Skip("valid but too slow to run thousands of times a second")
		}
		matches := 0
		for _, candidate := range []string{pw, other} {
			switch err := h.Verify(ctx, stored, candidate); {
			case err == nil:
				matches++
			case errors.Is(err, ErrMismatch):
			default:
				t.Fatalf("Verify(%q, %q) = %v after decode accepted it", stored, candidate, err)
			}
			if pw == other {
				break
			}
		}
		if matches > 1 {
			t.Fatalf("stored %q matches both %q and %q", stored, pw, other)
		}
	})
}
