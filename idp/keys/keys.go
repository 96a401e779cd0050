// Package keys keeps the provider's signing keys: generated on first
// start, stored encrypted in the database, loaded and parsed once into
// memory, published as a JWKS, and rotated on demand.
//
// Keys are read from memory on every signature and JWKS request; the
// database is read only at start, after a rotation and on Refresh, and no
// lock is ever held while waiting for it.
package keys

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smspin/idp/idp/store"
)

// Algorithms we sign with.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Store is what the manager needs from storage.
type Store interface {
	PublishedKeys(ctx context.Context) ([]store.SigningKey, error)
	AddSigningKey(ctx context.Context, k store.SigningKey, publishUntil time.Time, onlyIfNone bool) error
	ResealSigningKey(ctx context.Context, kid, oldEnc, newEnc string) error
}

// Key is a parsed signing key.
type Key struct {
	KID       string
	Alg       string
	Private   crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	Active    bool
	CreatedAt time.Time
}

type state struct {
	active map[string]*Key // by alg
	byKID  map[string]*Key
	jwks   []byte
	etag   string
}

// Manager holds the keys in memory.
type Manager struct {
	store   Store
	secrets [][]byte // the first encrypts; all decrypt (secret rotation)
	// RetireAfter is how long a replaced key stays published: at least
	// the life of the ID tokens it signed.
	RetireAfter time.Duration
	Now         func() time.Time

	cur atomic.Pointer[state]
}

// NewManager returns a manager; call Init before use. secrets[0] is the
// current IDP_SECRET, the rest older ones still accepted for reading.
func NewManager(st Store, secrets [][]byte, retireAfter time.Duration) *Manager {
	return &Manager{store: st, secrets: secrets, RetireAfter: retireAfter, Now: time.Now}
}

// Init loads the keys and, when alg has no active key yet, makes one. Of
// several instances starting at once on an empty database, one creates
// the key and the others load it.
func (m *Manager) Init(ctx context.Context, alg string) error {
	if err := m.Refresh(ctx); err != nil {
		return err
	}
	if _, ok := m.cur.Load().active[alg]; ok {
		return nil
	}
	k, err := m.generate(alg)
	if err != nil {
		return err
	}
	if err := m.store.AddSigningKey(ctx, k, time.Time{}, true); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("keys: store new %s key: %w", alg, err)
	}
	return m.Refresh(ctx)
}

// Rotate makes a new active key for alg. The previous key stays in the
// JWKS for RetireAfter, so tokens it signed still verify.
func (m *Manager) Rotate(ctx context.Context, alg string) (string, error) {
	k, err := m.generate(alg)
	if err != nil {
		return "", err
	}
	if err := m.store.AddSigningKey(ctx, k, m.Now().Add(m.RetireAfter), false); err != nil {
		return "", fmt.Errorf("keys: rotate: %w", err)
	}
	return k.KID, m.Refresh(ctx)
}

// Refresh reloads the keys from the database (another instance, or the
// keys rotate command, may have rotated them).
func (m *Manager) Refresh(ctx context.Context) error {
	rows, err := m.store.PublishedKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	st := &state{active: map[string]*Key{}, byKID: map[string]*Key{}}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, row := range rows {
		priv, current, err := m.decrypt(row)
		if err != nil {
			return fmt.Errorf("keys: key %s: %w", row.KID, err)
		}
		if !current {
			// Sealed under an old IDP_SECRET: seal it anew under the
			// current one, so the old secret can be dropped later.
			if err := m.reseal(ctx, row); err != nil {
				return fmt.Errorf("keys: reseal key %s: %w", row.KID, err)
			}
		}
		k := &Key{KID: row.KID, Alg: row.Alg, Private: priv, Active: row.Active, CreatedAt: row.CreatedAt}
		st.byKID[k.KID] = k
		if k.Active {
			st.active[k.Alg] = k
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: priv.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	}
	st.jwks, err = json.Marshal(set)
	if err != nil {
		return fmt.Errorf("keys: encode JWKS: %w", err)
	}
	sum := sha256.Sum256(st.jwks)
	st.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	m.cur.Store(st)
	return nil
}

// Active returns the active key for alg.
func (m *Manager) Active(alg string) (*Key, error) {
	st := m.cur.Load()
	if st == nil {
		return nil, errors.New("keys: not initialised")
	}
	k, ok := st.active[alg]
	if !ok {
		return nil, fmt.Errorf("keys: no active %s key", alg)
	}
	return k, nil
}

// ByKID returns a published key.
func (m *Manager) ByKID(kid string) (*Key, bool) {
	st := m.cur.Load()
	if st == nil {
		return nil, false
	}
	k, ok := st.byKID[kid]
	return k, ok
}

// JWKS returns the public key set as JSON and its entity tag.
func (m *Manager) JWKS() ([]byte, string) {
	st := m.cur.Load()
	if st == nil {
		return []byte(`{"keys":[]}`), ""
	}
	return st.jwks, st.etag
}

func (m *Manager) generate(alg string) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		// 2048 bits: 0.7 ms a signature, against 4.6 ms at 4096.
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.SigningKey{}, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: generate %s: %w", alg, err)
	}
	kid := store.NewID()[:16]
	privJSON, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	pubJSON, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	enc, err := seal(m.secrets[0], privJSON)
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{KID: kid, Alg: alg, PrivateEnc: enc, PublicJWK: string(pubJSON)}, nil
}

// decrypt opens a stored key with the current secret or an old one, and
// says whether it was the current.
func (m *Manager) decrypt(row store.SigningKey) (crypto.Signer, bool, error) {
	var lastErr error
	for i, secret := range m.secrets {
		plain, err := open(secret, row.PrivateEnc)
		if err != nil {
			lastErr = err
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(plain); err != nil {
			return nil, false, fmt.Errorf("parse private key: %w", err)
		}
		signer, ok := jwk.Key.(crypto.Signer)
		if !ok {
			return nil, false, fmt.Errorf("unexpected key type %T", jwk.Key)
		}
		return signer, i == 0, nil
	}
	return nil, false, fmt.Errorf("decrypt private key (is IDP_SECRET, or one of IDP_SECRET_OLD, the one it was made with?): %w", lastErr)
}

func (m *Manager) reseal(ctx context.Context, row store.SigningKey) error {
	for _, secret := range m.secrets[1:] {
		if plain, err := open(secret, row.PrivateEnc); err == nil {
			enc, err := seal(m.secrets[0], plain)
			if err != nil {
				return err
			}
			return m.store.ResealSigningKey(ctx, row.KID, row.PrivateEnc, enc)
		}
	}
	return nil
}

const sealPrefix = "v1:"

// The purposes Derive serves: one key each, none used for two.
const (
	PurposeSealing   = "idp signing keys v1"     // encrypts the signing keys at rest
	PurposeFosite    = "idp fosite hmac v1"      // fosite's token HMACs
	PurposeCSRF      = "idp csrf v1"             // the hosted forms' CSRF tokens
	PurposePIN       = "idp sms pin v1"          // the SMS code hashes and send-counter keys
	PurposeTOTP      = "idp totp secrets v1"     // seals the users' TOTP secrets at rest
	PurposeUserCode  = "idp device user code v1" // the hashes of device flows' user codes
	PurposeDPoPNonce = "idp dpop nonce v1"       // DPoP server nonces (RFC 9449 section 8)
)

// Derive gives one use of the system secret (IDP_SECRET) its own 32-byte
// key with HKDF-SHA256 (RFC 5869): the secret itself never keys anything,
// and a key of one purpose tells nothing of another.
func Derive(secret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return key
}

// DeriveAll is Derive for each of several secrets (IDP_SECRET_OLD).
func DeriveAll(secrets [][]byte, purpose string) [][]byte {
	var out [][]byte
	for _, s := range secrets {
		out = append(out, Derive(s, purpose))
	}
	return out
}

// aead is the cipher that seals signing keys under the system secret.
func aead(secret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(Derive(secret, PurposeSealing))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(secret, plain []byte) (string, error) {
	a, err := aead(secret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	out := a.Seal(nonce, nonce, plain, []byte("signing key"))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func open(secret []byte, enc string) ([]byte, error) {
	raw, ok := strings.CutPrefix(enc, sealPrefix)
	if !ok {
		return nil, errors.New("unknown encryption format")
	}
	data, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		return nil, err
	}
	a, err := aead(secret)
	if err != nil {
		return nil, err
	}
	if len(data) < a.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	return a.Open(nil, data[:a.NonceSize()], data[a.NonceSize():], []byte("signing key"))
}
