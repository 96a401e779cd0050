package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/smspin/idp/idp/keys"
)

// signCompact signs claims as a compact JWS (RFC 7515 section 7.1) with k,
// ES256 or RS256, stamping kid and typ. Access tokens take this short path
// because they are issued at the rate of the token endpoint: the general
// JOSE library path costs several times the ES256 signature itself. It
// returns the token and its signature segment.
func signCompact(k *keys.Key, typ string, claims map[string]any) (string, string, error) {
	header, err := json.Marshal(map[string]string{"alg": k.Alg, "kid": k.KID, "typ": typ})
	if err != nil {
		return "", "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	var raw []byte
	switch priv := k.Private.(type) {
	case *ecdsa.PrivateKey:
		if k.Alg != keys.ES256 {
			return "", "", fmt.Errorf("jws: key %s is %s, not ES256", k.KID, k.Alg)
		}
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return "", "", err
		}
		raw = make([]byte, 64) // RFC 7518 section 3.4: R and S, 32 octets each
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
	case *rsa.PrivateKey:
		if k.Alg != keys.RS256 {
			return "", "", fmt.Errorf("jws: key %s is %s, not RS256", k.KID, k.Alg)
		}
		if raw, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err != nil {
			return "", "", err
		}
	default:
		return "", "", fmt.Errorf("jws: key %s of type %T", k.KID, k.Private)
	}
	sig := enc.EncodeToString(raw)
	return input + "." + sig, sig, nil
}

// errJWS is any compact JWS that does not verify.
var errJWS = errors.New("jws: not a valid token of ours")

// verifyCompact checks a compact JWS against the published key its kid
// names, with that key's own algorithm (so the header cannot choose a
// weaker one), and returns its header and claims.
func verifyCompact(km *keys.Manager, token string) (map[string]any, map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errJWS
	}
	enc := base64.RawURLEncoding
	var header, claims map[string]any
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &claims) != nil {
		return nil, nil, errJWS
	}
	kid, _ := header["kid"].(string)
	k, ok := km.ByKID(kid)
	if !ok || header["alg"] != k.Alg {
		return nil, nil, errJWS
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch pub := k.Private.Public().(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil, nil, errJWS
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return nil, nil, errJWS
		}
	default:
		return nil, nil, errJWS
	}
	return header, claims, nil
}
