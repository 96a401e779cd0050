package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/smspin/idp/idp/store"
)

// memStore keeps signing keys in memory for the manager.
type memStore struct {
	mu   sync.Mutex
	rows []store.SigningKey
}

func (s *memStore) PublishedKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.SigningKey(nil), s.rows...), nil
}

func (s *memStore) ResealSigningKey(_ context.Context, kid, oldEnc, newEnc string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rows {
		if r.KID == kid && r.PrivateEnc == oldEnc {
			s.rows[i].PrivateEnc = newEnc
		}
	}
	return nil
}

func (s *memStore) AddSigningKey(_ context.Context, k store.SigningKey, _ time.Time, onlyIfNone bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rows {
		if r.Alg == k.Alg && r.Active {
			if onlyIfNone {
				return store.ErrConflict
			}
			s.rows[i].Active = false
		}
	}
	k.Active = true
	s.rows = append(s.rows, k)
	return nil
}

// FuzzHeader feeds arbitrary tokens to the unverified header parser and
// then to the signers' Validate and Decode, which pick the key by the
// header's kid. "{rs}" and "{es}" in the input stand for tokens this
// process just signed with its RS256 and ES256 keys; "{kid}" makes the
// header name one of those keys. Nothing may panic, and a token is
// accepted only if its signed part (header and payload) is exactly that
// of a token the signer made: no alg "none", no key confusion.
func FuzzHeader(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		"{rs}", "{es}", "{rs}x", "{es}.", "x{rs}",
		enc([]byte(`{"alg":"none","kid":"{kid}"}`)) + "." + enc([]byte(`{"sub":"alice"}`)) + ".",
		enc([]byte(`{"alg":"HS256","kid":"{kid}"}`)) + "." + enc([]byte(`{"sub":"alice"}`)) + ".c2ln",
		enc([]byte(`{"alg":"ES256","kid":"{kid}"}`)) + "." + enc([]byte(`{}`)) + "." + enc(make([]byte, 64)),
		enc([]byte(`{"alg":"RS256","kid":7}`)) + ".e30.",
		enc([]byte(`null`)) + ".e30.e30",
		enc([]byte(`{"kid":"unknown"}`)) + ".e30.e30",
		"eyJ.", "....", "", "not a token", "eyJhbGciOiJSUzI1NiJ9",
	} {
		f.Add(s, true)
	}
	st := &memStore{}
	m := NewManager(st, [][]byte{[]byte("fuzz-secret-fuzz-secret-fuzz-secret!")}, time.Hour)
	ctx := context.Background()
	for _, alg := range []string{RS256, ES256} {
		if err := m.Init(ctx, alg); err != nil {
			f.Fatal(err)
		}
	}
	rs, es := &Signer{Keys: m, Alg: RS256}, &Signer{Keys: m, Alg: ES256}
	claims := jwt.MapClaims{"sub": "alice", "iss": "https://idp.example", "exp": time.Now().Add(24 * time.Hour).Unix()}
	rsTok, _, err := rs.Generate(ctx, claims, nil)
	if err != nil {
		f.Fatal(err)
	}
	esTok, _, err := es.Generate(ctx, claims, nil)
	if err != nil {
		f.Fatal(err)
	}
	rsKey, _ := m.Active(RS256)
	esKey, _ := m.Active(ES256)
	for _, s := range []*Signer{rs, es} {
		for _, tok := range []string{rsTok, esTok} {
			if _, err := s.Validate(ctx, tok); err != nil {
				f.Fatalf("a token signed here does not validate: %v", err)
			}
		}
	}
	signed := func(tok string) string { // the part the signature covers
		i := strings.LastIndex(tok, ".")
		if i < 0 {
			return tok
		}
		return tok[:i]
	}

	f.Fuzz(func(t *testing.T, token string, rsKID bool) {
		kid := esKey.KID
		if rsKID {
			kid = rsKey.KID
		}
		token = strings.NewReplacer("{rs}", rsTok, "{es}", esTok).Replace(token)
		if strings.Contains(token, "{kid}") {
			// Inside an encoded header: decode, name the key, encode again.
			if h, rest, ok := strings.Cut(token, "."); ok {
				if raw, err := base64.RawURLEncoding.DecodeString(h); err == nil {
					token = base64.RawURLEncoding.EncodeToString([]byte(strings.ReplaceAll(string(raw), "{kid}", kid))) + "." + rest
				}
			}
		}

		h, head, err := jwtParser{}.parseUnverified(token)
		if err == nil {
			if want, _, _ := strings.Cut(token, "."); head != want {
				t.Fatalf("parseUnverified(%q) header part %q, want %q", token, head, want)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(head)
			var again map[string]any
			if json.Unmarshal(raw, &again) != nil || len(again) != len(h) {
				t.Fatalf("parseUnverified(%q) = %v from %q", token, h, raw)
			}
		}

		for _, s := range []*Signer{rs, es} {
			_, verr := s.Validate(ctx, token)
			_, derr := s.Decode(ctx, token)
			for _, err := range []error{verr, derr} {
				if err == nil && signed(token) != signed(rsTok) && signed(token) != signed(esTok) {
					t.Fatalf("%s signer accepted a token it did not sign: %q", s.Alg, token)
				}
			}
		}
	})
}
