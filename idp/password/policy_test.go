package password

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestCheckNew(t *testing.T) {
	for _, tc := range []struct {
		pw, user string
		want     error
	}{
		{"correct horse battery", "alice", nil},
		{"短いけれど十分な長さの合言葉です", "alice", nil},
		{"1234567", "alice", ErrTooShort},
		{string(make([]byte, 257)), "alice", ErrTooLong},
		{"password", "alice", ErrCommon},
		{"Password", "alice", ErrCommon},
		{"iloveyou", "alice", ErrCommon},
		{"qwertyuiop", "alice", ErrCommon},
		{"alice123", "alice", ErrCommon},
		{"carol1234", "carol", ErrContext},
		{"carol-carol", "carol", ErrContext},
		{"Carol.CAROL.carol", "carol", ErrContext},
		{"carolcarolcarol", "carol", ErrContext},
		{"carol!!!!!!!!!", "carol", ErrContext},
		{"carol sings in the choir", "carol", nil},
		{"zzzzzzzzzz", "alice", ErrContext},
		{"alice in a long passphrase", "alice", nil},
	} {
		if err := CheckNew(tc.pw, tc.user); !errors.Is(err, tc.want) {
			t.Errorf("CheckNew(%q, %q) = %v, want %v", tc.pw, tc.user, err, tc.want)
		}
	}
}

// Hashes from other systems verify as they are, then ask to be replaced.
func TestImportedHashes(t *testing.T) {
	h := New(fast, 1)
	ctx := context.Background()
	bc, _ := bcrypt.GenerateFromPassword([]byte("imported secret"), bcrypt.MinCost)
	i := "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$"
	{
		key := argon2.Key([]byte("imported secret"), []byte("saltsaltsalt"), 1, 64, 1, 32)
		i += base64.RawStdEncoding.EncodeToString(key)
	}
	for name, enc := range map[string]string{"bcrypt": string(bc), "argon2i": i} {
		if err := Importable(enc); err != nil {
			t.Fatalf("%s: Importable: %v", name, err)
		}
		if err := h.Verify(ctx, enc, "imported secret"); err != nil {
			t.Errorf("%s: right password: %v", name, err)
		}
		if err := h.Verify(ctx, enc, "wrong"); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: wrong password: %v", name, err)
		}
		if !h.NeedsRehash(enc) {
			t.Errorf("%s: an imported hash does not ask to be replaced by argon2id", name)
		}
	}
	costly, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	costly[4], costly[5] = '2', '0' // claim cost 20
	if Importable(string(costly)) == nil {
		t.Error("a bcrypt hash of cost 20 is importable")
	}
}
