package idp_test

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/idp/store"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// idClaims exchanges a code and returns the verified ID token's claims
// the RP reads to learn what was done.
type idClaims struct {
	Sub      string   `json:"sub"`
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"auth_time"`
}

func (r *rp) claims(t *testing.T, code, verifier string) idClaims {
	t.Helper()
	tok, err := r.conf.Exchange(r.ctx(t.Context()), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx(t.Context()), raw)
	if err != nil {
		t.Fatal(err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// chooseFactor posts the choice of another factor offered on a page.
func chooseFactor(t *testing.T, b *idptest.Browser, p *idptest.Page, name string) *idptest.Page {
	t.Helper()
	path := "/login/factor/" + name + "?flow=" + p.URL.Query().Get("flow")
	if !strings.Contains(html.UnescapeString(p.Body), path) {
		t.Fatalf("the page at %s offers no %s:\n%s", p.URL.Path, name, p.Body)
	}
	return b.Submit(path, url.Values{"csrf_token": {p.CSRF(t)}})
}

func TestRecoveryCodeSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		t.Run("InsteadOfThePIN", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			if len(codes) != 10 {
				t.Fatalf("%d codes, want 10", len(codes))
			}
			b := f.e.NewBrowser()
			verifier := oauth2.GenerateVerifier()
			p := chooseFactor(t, b, f.toPIN(t, b, verifier), "recovery")
			if p.URL.Path != "/login/recovery" || !strings.Contains(p.Body, `name="recovery_code"`) {
				t.Fatalf("the recovery code choice: at %s (%d)", p.URL.Path, p.Status)
			}
			// Back to the PIN already sent, and forth again.
			p = chooseFactor(t, b, chooseFactor(t, b, p, "sms"), "recovery")
			q := b.Fill(p, url.Values{"recovery_code": {"abcd-efgh-jkmn-pqrs"}})
			if q.Status != http.StatusUnauthorized || !shows(q, ui.MsgRecoveryCodeInvalid) {
				t.Fatalf("a wrong code: %d", q.Status)
			}
			// Typed the way people type: upper case, spaces for hyphens.
			q = b.Fill(p, url.Values{"recovery_code": {strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))}})
			if q.URL.Path != "/login/recovery/used" || !strings.Contains(html.UnescapeString(q.Body), ui.T("en", "recovery.used_left", 9)) {
				t.Fatalf("a right code: at %s (%d), want the page saying 9 are left:\n%s", q.URL.Path, q.Status, q.Body)
			}
			if !strings.Contains(q.Body, `href="/account/phone"`) {
				t.Error("the page offers no way to change a lost phone")
			}
			c := f.rp.claims(t, codeFrom(t, b.Fill(q, nil), "state-0123456789"), verifier)
			if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("amr = %v, want [pwd otp mfa]: a recovery code, not an SMS", c.AMR)
			}
			// The phone is told, in the user's language, with no code in it.
			msgs := f.e.Messages()
			last := msgs[len(msgs)-1]
			if len(msgs) != 2 || last.To != f.user.Phone || !strings.Contains(last.Body, "recovery code was used") ||
				!strings.Contains(last.Body, "9 left") || strings.Contains(last.Body, "#") {
				t.Errorf("the notice: %+v", msgs)
			}
			ev, _ := f.e.Store.AuditEvents(t.Context(), store.AuditFilter{Event: "recovery_code.used"})
			if len(ev) != 2 || ev[0].Outcome != "ok" || ev[0].Detail != "9 left" || ev[1].Outcome != "failed" {
				t.Errorf("audit: %+v", ev)
			}
		})

		t.Run("NoticeInTheUsersLanguage", func(t *testing.T) {
			f := setup(t, open)
			if err := f.e.DB.Gorm.Exec(`UPDATE users SET locale = 'ja' WHERE id = ?`, f.user.ID).Error; err != nil {
				t.Fatal(err)
			}
			codes := f.e.RecoveryCodes(f.user)
			b := f.e.NewBrowser()
			p := chooseFactor(t, b, f.toPIN(t, b, oauth2.GenerateVerifier()), "recovery")
			if q := b.Fill(p, url.Values{"recovery_code": {codes[0]}}); q.URL.Path != "/login/recovery/used" {
				t.Fatalf("at %s", q.URL.Path)
			}
			msgs := f.e.Messages()
			if last := msgs[len(msgs)-1]; !strings.Contains(last.Body, "回復コードが使われました（残り9個）") {
				t.Errorf("the notice to a Japanese user: %q", last.Body)
			}
		})

		t.Run("NotOfferedWithoutCodes", func(t *testing.T) {
			f := setup(t, open)
			b := f.e.NewBrowser()
			p := f.toPIN(t, b, oauth2.GenerateVerifier())
			if strings.Contains(p.Body, "/login/factor/recovery") {
				t.Error("the PIN page offers recovery codes to a user who has none")
			}
			q := b.Submit("/login/factor/recovery?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
			if q.Status != http.StatusConflict {
				t.Errorf("choosing recovery codes without any: %d at %s", q.Status, q.URL.Path)
			}
		})

		// A lost phone is replaced with a recovery code standing in for
		// the current number's PIN.
		t.Run("PhoneChangeWithARecoveryCode", func(t *testing.T) {
			f := setup(t, open)
			codes := f.e.RecoveryCodes(f.user)
			b := f.e.NewBrowser()
			p := b.Get(f.e.Issuer + "/account/phone")
			p = b.Fill(p, url.Values{"username": {"alice"}, "password": {f.user.Password}})
			p = chooseFactor(t, b, p, "recovery")
			p = b.Fill(p, url.Values{"recovery_code": {codes[9]}})
			if p.URL.Path != "/account/phone/new" {
				t.Fatalf("after a recovery code: at %s (%d)", p.URL.Path, p.Status)
			}
			p = b.Fill(p, url.Values{"phone": {"080-5555-0000"}})
			p = b.Fill(p, url.Values{"code": {f.e.LastCode("+818055550000")}})
			if ph, _ := f.e.Store.PhoneOf(t.Context(), f.user.ID); ph.Number != "+818055550000" {
				t.Fatalf("phone after the change: %+v (page %d at %s)", ph, p.Status, p.URL.Path)
			}
		})
	})
}
