package password

import (
	"errors"
	"strings"
	"testing"
)

var fast = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h := New(fast, 2)
	enc, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	if err := h.Verify(t.Context(), enc, "correct horse battery staple"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := h.Verify(t.Context(), enc, "correct horse battery stapler"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v, want ErrMismatch", err)
	}
	other, _ := h.Hash(t.Context(), "correct horse battery staple")
	if other == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestNeedsRehash(t *testing.T) {
	old := New(fast, 1)
	enc, _ := old.Hash(t.Context(), "pw-123456")
	if old.NeedsRehash(enc) {
		t.Fatal("fresh hash needs rehash")
	}
	stronger := New(Params{Memory: 128, Time: 1, Threads: 1}, 1)
	if !stronger.NeedsRehash(enc) {
		t.Fatal("hash with old parameters does not need rehash")
	}
	if err := stronger.Verify(t.Context(), enc, "pw-123456"); err != nil {
		t.Fatalf("old hash no longer verifies: %v", err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := New(fast, 1)
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if err := h.Verify(t.Context(), enc, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%q) = %v, want a format error", enc, err)
		}
	}
}

func TestVerifyNothingFails(t *testing.T) {
	h := New(fast, 1)
	if err := h.VerifyNothing(t.Context(), "not a password"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("VerifyNothing = %v, want ErrMismatch even for the dummy's own text", err)
	}
}

func BenchmarkVerifyOWASP(b *testing.B) {
	h := New(OWASP, 2)
	enc, _ := h.Hash(b.Context(), "benchmark password")
	for b.Loop() {
		h.Verify(b.Context(), enc, "benchmark password")
	}
}
