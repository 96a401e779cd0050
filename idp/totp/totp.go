// Package totp is the authenticator-app second factor (RFC 6238): the
// codes are made and checked with github.com/pquerna/otp (SHA-1, 6
// digits, 30 s, as every authenticator app understands); the shared
// secret is sealed with AES-GCM under a key derived from IDP_SECRET
// before it is stored, so a copy of the database alone makes no codes.
//
// Check returns the time step of a right code rather than a yes: the
// store accepts a step only when it is later than the last one accepted
// (store.UseTOTPStep), which is what refuses a replay inside the window.
package totp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/smspin/idp/idp/keys"
)

// Period is the length of a time step; Digits the length of a code.
const (
	Period = 30
	Digits = 6
)

// Skew is how many steps either side of now a code may be from: one
// step covers a phone's clock a little off and a code typed as it turns.
const Skew = 1

var opts = totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Key is a new secret being set up, with what the user is shown of it.
type Key struct {
	Secret string // base32, as typed into an app by hand
	URL    string // otpauth://, the QR code's content
}

// New makes a new random secret for account at issuer (the names an app
// shows next to the codes).
func New(issuer, account string) (*Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: Period, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return nil, fmt.Errorf("totp: new secret: %w", err)
	}
	return &Key{Secret: k.Secret(), URL: k.URL()}, nil
}

// KeyOf is the Key of a stored secret, to show it again while it is being
// set up.
func KeyOf(secret, issuer, account string) (*Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: Period, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, Secret: decodeSecret(secret)})
	if err != nil {
		return nil, fmt.Errorf("totp: key of secret: %w", err)
	}
	return &Key{Secret: k.Secret(), URL: k.URL()}, nil
}

func decodeSecret(secret string) []byte {
	b, _ := otpBase32.DecodeString(strings.ToUpper(secret))
	return b
}

// QR is the key's QR code as a PNG data: URL, for an <img> (no script).
func (k *Key) QR(size int) (string, error) {
	key, err := otp.NewKeyFromURL(k.URL)
	if err != nil {
		return "", fmt.Errorf("totp: qr: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return "", fmt.Errorf("totp: qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("totp: qr: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Step is the time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code is the code of secret at t (tests and the demo type it).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, opts)
}

// Normalize makes a typed code comparable: spaces and hyphens that apps
// show in the middle are dropped, full-width digits made ASCII. ok is
// false when what is left is not a code.
func Normalize(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range typed {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == ' ' || r == '-' || r == '\u3000':
		default:
			return "", false
		}
	}
	code := b.String()
	return code, len(code) == Digits
}

// Check returns the time step, within Skew of now, whose code is typed;
// ok is false when none is. Every step in the window is compared in
// constant time, so the answer's timing tells nothing of which.
func Check(secret, typed string, now time.Time) (step int64, ok bool) {
	code, valid := Normalize(typed)
	if !valid {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*Period, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// Sealer seals secrets under the current IDP_SECRET and opens them under
// it or an older one (IDP_SECRET_OLD), as the signing keys are.
type Sealer struct {
	keys [][]byte // the first seals; all open
}

// NewSealer derives the sealing keys: secrets[0] is the current secret.
func NewSealer(secrets ...[]byte) *Sealer {
	return &Sealer{keys: keys.DeriveAll(secrets, keys.PurposeTOTP)}
}

const sealPrefix = "v1:"

// ad binds a sealed secret to its user: a sealed value copied to another
// user's row does not open.
func ad(userID string) []byte { return []byte("totp secret\x00" + userID) }

// Seal encrypts a user's secret.
func (s *Sealer) Seal(userID, secret string) (string, error) {
	a, err := gcm(s.keys[0])
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return sealPrefix + base64.RawStdEncoding.EncodeToString(a.Seal(nonce, nonce, []byte(secret), ad(userID))), nil
}

// ErrSealed: a sealed secret that no current or old key opens.
var ErrSealed = errors.New("totp: the secret does not open under IDP_SECRET or IDP_SECRET_OLD")

// Open decrypts a user's sealed secret. stale is true when an old secret
// (IDP_SECRET_OLD) opened it: the caller seals it anew, so that the old
// secret can be dropped in time.
func (s *Sealer) Open(userID, sealed string) (secret string, stale bool, _ error) {
	raw, ok := strings.CutPrefix(sealed, sealPrefix)
	data, err := base64.RawStdEncoding.DecodeString(raw)
	if !ok || err != nil {
		return "", false, ErrSealed
	}
	for i, k := range s.keys {
		a, err := gcm(k)
		if err != nil {
			return "", false, err
		}
		if len(data) < a.NonceSize() {
			return "", false, ErrSealed
		}
		if plain, err := a.Open(nil, data[:a.NonceSize()], data[a.NonceSize():], ad(userID)); err == nil {
			return string(plain), i > 0, nil
		}
	}
	return "", false, ErrSealed
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("totp: cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// otpBase32 is the alphabet otpauth URLs use, without padding.
var otpBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)
