package idp_test

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/twilio"
	"github.com/smspin/idp/mfa/sms/twilio/twiliofake"
	"github.com/smspin/idp/mfa/sms/webhook"
	"github.com/smspin/idp/migrations/database/dbtest"
	"github.com/smspin/idp/ui"
)

// twilioThenFile is a chain of Twilio (the fake, reporting to the
// provider's receipts endpoint) and the file outbox.
func twilioThenFile(t *testing.T, fake *twiliofake.Server) func(*idptest.Env) (sms.Sender, map[string]sms.ReportReader) {
	return func(e *idptest.Env) (sms.Sender, map[string]sms.ReportReader) {
		cb := e.Issuer + "/sms/receipts/twilio"
		c, err := twilio.New(twilio.Config{BaseURL: fake.URL, AccountSID: twiliofake.DefaultAccountSID, AuthToken: twiliofake.DefaultAuthToken,
			From: "+15005550006", StatusCallback: cb})
		if err != nil {
			t.Fatal(err)
		}
		chain := &sms.Chain{Senders: []sms.Named{{Name: "twilio", Sender: c}, {Name: "file", Sender: &sms.File{Path: e.Outbox}}}}
		return chain, map[string]sms.ReportReader{"twilio": &twilio.Reports{AuthToken: twiliofake.DefaultAuthToken, URL: cb}}
	}
}

func report(t *testing.T, fake *twiliofake.Server, sid, status string, code int, signWith string) int {
	t.Helper()
	resp, err := fake.Report(sid, status, code, signWith)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A delivery receipt is taken only when Twilio signed it, repeats change
// nothing, and a failed one puts "send by another route" on the PIN page
// at once: the next provider of the chain sends a new code, no cooldown,
// and the sign-in completes with it.
func TestFailedReceiptOffersAnotherRoute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		fake := twiliofake.New(t)
		e := idptest.New(t, open(t), idptest.Options{Providers: twilioThenFile(t, fake)})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))

		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		if p.URL.Path != "/login/pin" || len(fake.Messages()) != 1 || len(e.Messages()) != 0 {
			t.Fatalf("at %s with %d Twilio sends, %d file sends; want the PIN page and one Twilio send", p.URL.Path, len(fake.Messages()), len(e.Messages()))
		}
		sid := fake.Messages()[0].SID
		if strings.Contains(p.Body, `id="reroute"`) {
			t.Fatal("another route offered before any receipt")
		}

		// A forged receipt is refused and changes nothing.
		if st := report(t, fake, sid, "undelivered", 30003, "not-the-auth-token"); st != http.StatusForbidden {
			t.Fatalf("forged receipt answered %d, want 403", st)
		}
		if p = b.Get(p.URL.String()); strings.Contains(p.Body, `id="reroute"`) {
			t.Fatal("a forged receipt made the page offer another route")
		}
		// Twilio's own receipt, then the same again.
		for i := range 2 {
			if st := report(t, fake, sid, "undelivered", 30003, ""); st != http.StatusNoContent {
				t.Fatalf("receipt %d answered %d, want 204", i, st)
			}
		}
		if c := e.MFA.Counters(); c["receipt_failed"] != 1 || c["receipt_duplicate"] != 1 {
			t.Errorf("receipts counted failed %d, duplicate %d; want 1 and 1", c["receipt_failed"], c["receipt_duplicate"])
		}
		p = b.Get(p.URL.String())
		if !strings.Contains(p.Body, `id="reroute"`) || !strings.Contains(html.UnescapeString(p.Body), ui.T("en", "pin.undelivered")) || !strings.Contains(p.Body, `data-wait=`) {
			t.Fatalf("after a failed receipt, within the resend cooldown: want the other route offered at once:\n%s", p.Body)
		}
		// Eight clicks at once: one new code goes out, the others are told
		// where things stand.
		form := url.Values{"csrf_token": {p.CSRF(t)}}
		pages := make([]*idptest.Page, 8)
		var wg sync.WaitGroup
		for i := range pages {
			wg.Go(func() { pages[i] = b.Submit("/login/pin/reroute?flow="+p.URL.Query().Get("flow"), form) })
		}
		wg.Wait()
		var q *idptest.Page
		for _, pg := range pages {
			switch {
			case pg.URL.Path == "/login/pin" && pg.Status == http.StatusOK && pg.URL.Query().Get("notice") == string(ui.MsgPINRerouted):
				if q != nil {
					t.Fatal("two parallel reroutes both sent")
				}
				q = pg
			case pg.Status != http.StatusConflict:
				t.Fatalf("a parallel reroute: at %s?%s (%d), want the PIN page or 409", pg.URL.Path, pg.URL.RawQuery, pg.Status)
			}
		}
		if q == nil {
			t.Fatal("no reroute went through")
		}
		if len(fake.Messages()) != 1 || len(e.Messages()) != 1 || e.MFA.Counters()["rerouted"] != 1 {
			t.Fatalf("after the reroute: %d Twilio sends, %d file sends, %d counted; want the new code by the file route only",
				len(fake.Messages()), len(e.Messages()), e.MFA.Counters()["rerouted"])
		}
		if strings.Contains(q.Body, `id="reroute"`) {
			t.Error("the new route is offered again before anything failed")
		}
		// A late "delivered" for the first send does not undo the failure.
		if st := report(t, fake, sid, "delivered", 0, ""); st != http.StatusNoContent {
			t.Fatalf("late receipt answered %d", st)
		}
		ds, err := e.MFA.Deliveries(t.Context(), challengeOf(t, e, q))
		if err != nil || len(ds) != 2 || ds[0].Status != "failed" || ds[0].ErrorCode != "30003" || ds[1].Provider != "file" {
			t.Fatalf("deliveries = %+v, %v", ds, err)
		}
		codeFrom(t, b.Fill(q, url.Values{"code": {e.LastCode(user.Phone)}}), "state-0123456789")
	})
}

// No receipt in time from a provider that always sends one counts as a
// failure too.
func TestMissingReceiptOffersAnotherRoute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		fake := twiliofake.New(t)
		e := idptest.New(t, open(t), idptest.Options{Providers: twilioThenFile(t, fake),
			TuneMFA: func(s *mfa.Service) { s.ReceiptWait, s.Receipts = 2*time.Minute, []string{"twilio"} }})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		e.Advance(time.Minute)
		if p = b.Get(p.URL.String()); strings.Contains(p.Body, `id="reroute"`) {
			t.Fatal("another route offered a minute in")
		}
		e.Advance(time.Minute)
		if p = b.Get(p.URL.String()); !strings.Contains(p.Body, `id="reroute"`) {
			t.Fatalf("no other route after two minutes without a receipt:\n%s", p.Body)
		}
		// A receipt that says delivered, even late, settles it.
		if st := report(t, fake, fake.Messages()[0].SID, "delivered", 0, ""); st != http.StatusNoContent {
			t.Fatal(st)
		}
		if p = b.Get(p.URL.String()); strings.Contains(p.Body, `id="reroute"`) {
			t.Fatal("another route offered after the code was delivered")
		}
	})
}

// challengeOf reads the flow's challenge id from the store.
func challengeOf(t *testing.T, e *idptest.Env, p *idptest.Page) string {
	t.Helper()
	f, err := e.Store.Flow(t.Context(), p.URL.Query().Get("flow"))
	if err != nil || f.ChallengeID == nil {
		t.Fatalf("flow: %+v, %v", f, err)
	}
	return *f.ChallengeID
}

// The webhook provider's receiver reports back, signed with the shared
// secret: a forgery is refused, an "undelivered" report offers the next
// route.
func TestWebhookReceipts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		secret := []byte("webhook-secret-0123456789-0123456789")
		var mu sync.Mutex
		var ids []string
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m struct{ ID string }
			json.NewDecoder(r.Body).Decode(&m)
			mu.Lock()
			ids = append(ids, m.ID)
			mu.Unlock()
		}))
		t.Cleanup(receiver.Close)
		sent := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(ids)
		}
		e := idptest.New(t, open(t), idptest.Options{Providers: func(e *idptest.Env) (sms.Sender, map[string]sms.ReportReader) {
			hook, err := webhook.New(webhook.Config{URL: receiver.URL, Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			return &sms.Chain{Senders: []sms.Named{{Name: "webhook", Sender: hook}, {Name: "file", Sender: &sms.File{Path: e.Outbox}}}},
				map[string]sms.ReportReader{"webhook": &webhook.Reports{Secret: secret}}
		}})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		r := newRP(t, e, e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true))
		b := e.NewBrowser()
		p := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		if p.URL.Path != "/login/pin" || len(sent()) != 1 {
			t.Fatalf("at %s, %d webhook sends", p.URL.Path, len(sent()))
		}
		id := sent()[0]
		post := func(body []byte, sig string) int {
			req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/sms/receipts/webhook", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(webhook.SignatureHeader, sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		forged, fsig := webhook.SignReport([]byte("guessed-secret-0123456789-0123456789"), time.Now(), id, "undelivered", "")
		if st := post(forged, fsig); st != http.StatusForbidden {
			t.Fatalf("forged report: %d, want 403", st)
		}
		if st := post([]byte(`{"id":`), webhook.Sign(secret, time.Now(), []byte(`{"id":`))); st != http.StatusBadRequest {
			t.Fatalf("signed junk: %d, want 400", st)
		}
		if p = b.Get(p.URL.String()); strings.Contains(p.Body, `id="reroute"`) {
			t.Fatal("another route offered after a forged report")
		}
		body, sig := webhook.SignReport(secret, time.Now(), id, "undelivered", "30008")
		if st := post(body, sig); st != http.StatusNoContent {
			t.Fatalf("report: %d, want 204", st)
		}
		p = b.Get(p.URL.String())
		if !strings.Contains(p.Body, `id="reroute"`) {
			t.Fatalf("no other route after an undelivered report:\n%s", p.Body)
		}
		q := b.Submit("/login/pin/reroute?flow="+p.URL.Query().Get("flow"), url.Values{"csrf_token": {p.CSRF(t)}})
		if q.URL.Path != "/login/pin" || len(e.Messages()) != 1 || len(sent()) != 1 {
			t.Fatalf("reroute: at %s (%d), %d file sends, %d webhook sends; want the file route only", q.URL.Path, q.Status, len(e.Messages()), len(sent()))
		}
		codeFrom(t, b.Fill(q, url.Values{"code": {e.LastCode(user.Phone)}}), "state-0123456789")
	})
}

// A provider with no reader has no receipts endpoint.
func TestReceiptsOfUnknownProvider(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := idptest.New(t, open(t), idptest.Options{})
		resp, err := http.Post(e.Issuer+"/sms/receipts/twilio", "application/x-www-form-urlencoded", strings.NewReader("MessageSid=SM1&MessageStatus=failed"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("receipt for a provider not configured: %d, want 404", resp.StatusCode)
		}
	})
}
