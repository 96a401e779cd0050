package mfa_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/otp"
	"github.com/smspin/idp/mfa/otp/twilioverify"
	"github.com/smspin/idp/mfa/otp/twilioverify/twilioverifyfake"
	"github.com/smspin/idp/mfa/otp/xoxzootp"
	"github.com/smspin/idp/mfa/otp/xoxzootp/xoxzootpfake"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// providerVerified runs the challenge lifecycle against each
// provider-verified fake: the provider makes, sends and checks the code,
// our attempt limit and single use still hold.
func TestProviderVerifiedCodes(t *testing.T) {
	type setup struct {
		verifier otp.Verifier
		code     func() string
		advance  func(time.Duration)
	}
	providers := map[string]func(t *testing.T) setup{
		"twilio-verify": func(t *testing.T) setup {
			fake := twilioverifyfake.New(t)
			c, err := twilioverify.New(twilioverify.Config{BaseURL: fake.URL, AccountSID: twilioverifyfake.DefaultAccountSID,
				AuthToken: twilioverifyfake.DefaultAuthToken, ServiceSID: twilioverifyfake.DefaultServiceSID, HTTP: &http.Client{}})
			if err != nil {
				t.Fatal(err)
			}
			return setup{c, func() string { code, _ := fake.Code(testPhone); return code }, fake.Advance}
		},
		"xoxzo-otp": func(t *testing.T) setup {
			fake := xoxzootpfake.New(t)
			c, err := xoxzootp.New(xoxzootp.Config{BaseURL: fake.URL, SID: xoxzootpfake.DefaultSID, AuthToken: xoxzootpfake.DefaultToken,
				Website: xoxzootpfake.DefaultWebsite, HTTP: &http.Client{}})
			if err != nil {
				t.Fatal(err)
			}
			return setup{c, func() string { code, _ := fake.Code(xoxzootpfake.DefaultWebsite, testPhone); return code }, fake.Advance}
		},
	}
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		for name, mk := range providers {
			t.Run(name, func(t *testing.T) {
				t.Run("RightCodeOnce", func(t *testing.T) {
					e, p := newEnv(t, open), mk(t)
					e.svc.Verifier = p.verifier
					c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "f", UserID: "u", Phone: testPhone, Locale: "ja"})
					if err != nil {
						t.Fatal(err)
					}
					if e.sender.Tries() != 0 {
						t.Fatal("our own sender was used beside the provider")
					}
					ds, _ := e.svc.Deliveries(t.Context(), c.ID)
					if len(ds) != 1 || ds[0].Provider != name || ds[0].ProviderMessageID == "" {
						t.Fatalf("deliveries = %+v", ds)
					}
					if rows := e.rows(t, `SELECT code_hash FROM sms_challenges WHERE id = ?`, c.ID); rows[0]["code_hash"] != "" {
						t.Fatal("a code hash is stored though the provider holds the code")
					}
					code := p.code()
					if _, err := e.svc.Verify(t.Context(), c.ID, wrong(code, 1)); !errors.Is(err, mfa.ErrCodeMismatch) {
						t.Fatalf("wrong code: %v", err)
					}
					if _, err := e.svc.Verify(t.Context(), c.ID, code); err != nil {
						t.Fatalf("right code: %v", err)
					}
					if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrUsed) {
						t.Fatalf("right code again: %v", err)
					}
				})
				t.Run("OurAttemptLimitHolds", func(t *testing.T) {
					e, p := newEnv(t, open), mk(t)
					e.svc.Verifier = p.verifier
					e.svc.Policy.MaxAttempts = 3
					c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "f", UserID: "u", Phone: testPhone, Locale: "en"})
					if err != nil {
						t.Fatal(err)
					}
					code := p.code()
					for i := 1; i <= 3; i++ {
						_, err = e.svc.Verify(t.Context(), c.ID, wrong(code, i))
					}
					if !errors.Is(err, mfa.ErrTooManyAttempts) {
						t.Fatalf("third wrong code: %v", err)
					}
					if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrTooManyAttempts) {
						t.Fatalf("right code after our limit: %v, want ErrTooManyAttempts (never asked to the provider)", err)
					}
				})
				t.Run("ExpiredAtTheProvider", func(t *testing.T) {
					e, p := newEnv(t, open), mk(t)
					e.svc.Verifier = p.verifier
					e.svc.Policy.TTL = time.Hour // ours is longer: the provider's expiry decides
					c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "f", UserID: "u", Phone: testPhone, Locale: "en"})
					if err != nil {
						t.Fatal(err)
					}
					code := p.code()
					p.advance(20 * time.Minute)
					if _, err := e.svc.Verify(t.Context(), c.ID, code); !errors.Is(err, mfa.ErrExpired) {
						t.Fatalf("code expired at the provider: %v", err)
					}
				})
			})
		}
	})
}
