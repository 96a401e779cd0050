package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// common is the data every page has.
type common struct {
	Lang  string            // the page's language, for <html lang>
	T     map[string]string // its labels
	Base  string            // the demo's URL path, for links
	Title string
}

func (h *Handler) common(lang, titleKey string) common {
	t := messages[lang]
	return common{Lang: lang, T: t, Base: h.base, Title: t[titleKey]}
}

// langLink is one entry of a language choice.
type langLink struct {
	Code  string
	Label string // in its own language
}

func langLinks() []langLink {
	return []langLink{{"en", "English"}, {"ja", "日本語"}}
}

type indexPage struct {
	common
	Issuer      string
	Langs       []langLink
	HostWarning bool   // the page was opened at another host than the issuer's
	Host        string // the host it was opened at
	IssuerDemo  string // the demo's URL at the issuer's host
}

type errorPage struct {
	common
	Reason  string // why, in the page's language
	Code    string // the OAuth error code, if any
	Explain string // what Code means, if known
	Desc    string // the provider's error_description, clamped
}

type resultPage struct {
	common
	Subject     string
	AMR         []amrValue
	AuthTime    string // empty when the token has none
	AuthTimeAgo string
	ACR         string
	Claims      []jsonPart
	Userinfo    []jsonPart
	TokenType   string
	AccessLen   int
	RefreshLen  int // 0: none issued
	IDTokenLen  int
	Expiry      string // empty when the provider gave no expires_in
	ExpiresIn   string
	Scope       string
}

// amrValue is one authentication method reference (RFC 8176 §2).
type amrValue struct {
	Value string
	Desc  string // empty when unknown
}

// highlighted are the claims that tell how the user authenticated.
var highlighted = []string{"amr", "auth_time", "acr"}

// resultPage gathers what the sign-in produced. It never copies a token,
// only whether it exists and its length.
func (h *Handler) resultPage(lang string, tok *oauth2.Token, rawID string, idt *oidc.IDToken, info *oidc.UserInfo) (resultPage, error) {
	t := messages[lang]
	var raw json.RawMessage
	if err := idt.Claims(&raw); err != nil {
		return resultPage{}, fmt.Errorf("id token claims: %w", err)
	}
	var auth struct {
		AMR      []string `json:"amr"`
		AuthTime *float64 `json:"auth_time"`
		ACR      string   `json:"acr"`
	}
	if err := json.Unmarshal(raw, &auth); err != nil {
		return resultPage{}, fmt.Errorf("id token amr, auth_time, acr: %w", err)
	}
	claims, err := prettyJSON(raw, highlighted...)
	if err != nil {
		return resultPage{}, fmt.Errorf("id token claims: %w", err)
	}
	var rawInfo json.RawMessage
	if err := info.Claims(&rawInfo); err != nil {
		return resultPage{}, fmt.Errorf("userinfo claims: %w", err)
	}
	userinfo, err := prettyJSON(rawInfo)
	if err != nil {
		return resultPage{}, fmt.Errorf("userinfo claims: %w", err)
	}

	now := h.now()
	p := resultPage{
		common:     h.common(lang, "result_title"),
		Subject:    idt.Subject,
		ACR:        auth.ACR,
		Claims:     claims,
		Userinfo:   userinfo,
		TokenType:  tok.Type(),
		AccessLen:  len(tok.AccessToken),
		RefreshLen: len(tok.RefreshToken),
		IDTokenLen: len(rawID),
	}
	for _, v := range auth.AMR {
		p.AMR = append(p.AMR, amrValue{Value: v, Desc: t["amr_"+v]})
	}
	if auth.AuthTime != nil {
		at := time.Unix(int64(*auth.AuthTime), 0)
		p.AuthTime = at.Format(time.RFC3339)
		p.AuthTimeAgo = fmt.Sprintf(t["ago"], roundDuration(now.Sub(at)))
	}
	if !tok.Expiry.IsZero() {
		p.Expiry = tok.Expiry.Format(time.RFC3339)
		p.ExpiresIn = fmt.Sprintf(t["from_now"], roundDuration(tok.Expiry.Sub(now)))
	}
	if s, ok := tok.Extra("scope").(string); ok {
		p.Scope = s
	}
	return p, nil
}

// roundDuration rounds d to whole seconds, never below zero (clocks skew).
func roundDuration(d time.Duration) time.Duration {
	return max(d, 0).Round(time.Second)
}

// jsonPart is a piece of pretty-printed JSON; Mark pieces are highlighted.
type jsonPart struct {
	Text string
	Mark bool
}

// prettyJSON indents a JSON object with its members sorted by name, as
// pieces so that the members named in mark can be highlighted. Anything
// but an object is indented as a single piece.
func prettyJSON(raw []byte, mark ...string) ([]jsonPart, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, err
		}
		return []jsonPart{{Text: buf.String()}}, nil
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)

	var parts []jsonPart
	var plain strings.Builder // unmarked text not yet in parts
	plain.WriteString("{\n")
	flush := func() {
		if plain.Len() > 0 {
			parts = append(parts, jsonPart{Text: plain.String()})
			plain.Reset()
		}
	}
	for i, name := range names {
		key, _ := json.Marshal(name)
		var value bytes.Buffer
		if err := json.Indent(&value, members[name], "  ", "  "); err != nil {
			return nil, err
		}
		member := "  " + string(key) + ": " + value.String()
		if slices.Contains(mark, name) {
			flush()
			parts = append(parts, jsonPart{Text: member, Mark: true})
		} else {
			plain.WriteString(member)
		}
		if i < len(names)-1 {
			plain.WriteString(",")
		}
		plain.WriteString("\n")
	}
	plain.WriteString("}")
	flush()
	return parts, nil
}
