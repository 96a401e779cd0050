package idp

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// Authentication context classes (OIDC Core 2, acr). A flow records the
// factors it used in its amr (RFC 8176); its class is the first of these
// its amr meets, and the ID token says that class and that amr.
const (
	// ACRMFA: a password and any second factor (an SMS PIN, an
	// authenticator app's code, a recovery code, ...).
	ACRMFA = "urn:idp:acr:mfa"
	// ACRPhishingResistant: a password and a passkey (WebAuthn), or a
	// passkey alone that verified its user (IDP_PASSKEY_PASSWORDLESS): an
	// authenticator bound to this origin that a look-alike site cannot
	// relay (NIST SP 800-63B-4 phishing resistance).
	ACRPhishingResistant = "urn:idp:acr:phr"
	// ACRPassword: a password alone, the second factor spared by a
	// browser the user trusted (see trusted.go).
	ACRPassword = "urn:idp:acr:pwd"
)

// acrPrefix names this provider's classes: an RP that asks for one it
// does not know asks for something this provider cannot give.
const acrPrefix = "urn:idp:acr:"

// acrClasses are the classes, most specific first, with what meets each.
var acrClasses = []struct {
	acr   string
	meets func(amr []string) bool
}{
	{ACRPasswordSMS, func(amr []string) bool { return slices.Contains(amr, "pwd") && slices.Contains(amr, "sms") }},
	{ACRPhishingResistant, func(amr []string) bool {
		return (slices.Contains(amr, "pwd") || passwordless(amr)) && (slices.Contains(amr, "swk") || slices.Contains(amr, "hwk"))
	}},
	{ACRMFA, func(amr []string) bool {
		return (slices.Contains(amr, "pwd") || passwordless(amr)) && slices.Contains(amr, "mfa")
	}},
	{ACRPassword, func(amr []string) bool { return slices.Contains(amr, "pwd") || passwordless(amr) }},
}

// passwordless reports whether amr is a passkey's alone that verified its
// user: a key held and the user verified on it are two factors, more
// than a password, so it meets every class a password meets but the SMS
// one.
func passwordless(amr []string) bool {
	return (slices.Contains(amr, "swk") || slices.Contains(amr, "hwk")) && slices.Contains(amr, "mfa")
}

// acrValuesSupported are the classes discovery lists.
func acrValuesSupported() []string {
	out := make([]string, len(acrClasses))
	for i, c := range acrClasses {
		out[i] = c.acr
	}
	return out
}

// meetsACR reports whether amr meets the class acr; an unknown class is
// met by nothing.
func meetsACR(acr string, amr []string) bool {
	for _, c := range acrClasses {
		if c.acr == acr {
			return c.meets(amr)
		}
	}
	return false
}

// acrOf is the class an amr meets, "" for none.
func acrOf(amr []string) string {
	for _, c := range acrClasses {
		if c.meets(amr) {
			return c.acr
		}
	}
	return ""
}

// acrWanted are the classes an RP requires of a login, by asking for them
// in acr_values (the values of this provider's namespace: others are
// voluntary, OIDC Core 3.1.2.1, and a conformant OP goes on without them)
// or as an essential acr claim (OIDC Core 5.5.1.1, where every value
// counts). A login must meet one of them, or the RP is told
// unmet_authentication_requirements: never a lower class.
func (a authRequest) acrWanted() []string {
	var out []string
	for _, v := range a.ACRValues {
		if strings.HasPrefix(v, acrPrefix) {
			out = append(out, v)
		}
	}
	var claims struct {
		IDToken struct {
			ACR *struct {
				Essential bool     `json:"essential"`
				Value     string   `json:"value"`
				Values    []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	if a.Claims != "" && json.Unmarshal([]byte(a.Claims), &claims) == nil {
		if c := claims.IDToken.ACR; c != nil && c.Essential {
			if c.Value != "" {
				out = append(out, c.Value)
			}
			out = append(out, c.Values...)
		}
	}
	return out
}

// acceptsAMR reports whether a login that proves amr is one the RP takes.
func (a authRequest) acceptsAMR(amr []string) bool {
	wanted := a.acrWanted()
	return len(wanted) == 0 || slices.ContainsFunc(wanted, func(acr string) bool { return meetsACR(acr, amr) })
}

// meetable reports whether some login could give the RP a class it
// requires: not when it names only classes this provider does not have.
func (a authRequest) meetable() bool {
	wanted := a.acrWanted()
	return len(wanted) == 0 || slices.ContainsFunc(wanted, func(acr string) bool { return meetsACR(acr, []string{"pwd", "sms", "otp", "swk", "user", "mfa"}) })
}

// acrFor is the class an ID token says for a login that proved amr: the
// first class the RP asked for (acr_values, in its order of preference)
// that the login meets, else the login's own. ok is false when the RP
// requires classes and the login meets none.
func (a authRequest) acrFor(amr []string) (acr string, ok bool) {
	for _, v := range a.ACRValues {
		if meetsACR(v, amr) {
			return v, true
		}
	}
	if !a.acceptsAMR(amr) {
		return "", false
	}
	return acrOf(amr), true
}

// errUnmetACR answers an RP whose required class cannot be met (OpenID
// Connect Core Unmet Authentication Requirements 1.0).
var errUnmetACR = &fosite.RFC6749Error{
	ErrorField:       "unmet_authentication_requirements",
	DescriptionField: "The Authorization Server is unable to meet the requirements of the Relying Party for the authentication of the End-User.",
	CodeField:        400,
}
