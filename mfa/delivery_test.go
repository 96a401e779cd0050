package mfa_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/smspin/idp/mfa"
	"github.com/smspin/idp/mfa/sms"
	"github.com/smspin/idp/mfa/sms/xoxzo"
	"github.com/smspin/idp/mfa/sms/xoxzo/xoxzofake"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// A code sent through Xoxzo has its delivery read back from
// GET /sms/messages/<msgid>/ and recorded.
func TestDeliveryStatusReadBackFromXoxzo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		e := newEnv(t, open)
		fake := xoxzofake.New(t, xoxzofake.StatusSequence("QUEUED", "DELIVERED"))
		client, err := xoxzo.New(xoxzo.Config{BaseURL: fake.URL, SID: xoxzofake.DefaultSID, AuthToken: xoxzofake.DefaultToken,
			Sender: "ACME", HTTP: &http.Client{}})
		if err != nil {
			t.Fatal(err)
		}
		e.svc.Sender = client
		c, err := e.svc.Start(t.Context(), mfa.StartRequest{FlowID: "f", UserID: "u", Phone: testPhone, Locale: "en"})
		if err != nil {
			t.Fatal(err)
		}
		readers := map[string]mfa.StatusReader{"xoxzo": mfa.StatusReaderFunc(func(ctx context.Context, id string) (sms.DeliveryState, string, error) {
			st, err := client.Status(ctx, id)
			return st.State, st.Raw, err
		})}
		status := func() string {
			ds, err := e.svc.Deliveries(t.Context(), c.ID)
			if err != nil || len(ds) != 1 || ds[0].ProviderMessageID == "" {
				t.Fatalf("deliveries = %+v, %v; want one with Xoxzo's msgid", ds, err)
			}
			return ds[0].Status
		}
		if _, err := e.svc.RefreshDeliveries(t.Context(), readers, 24*time.Hour, 100); err != nil {
			t.Fatal(err)
		}
		if got := status(); got != string(sms.DeliveryPending) {
			t.Fatalf("after the first read: %q, want pending (QUEUED)", got)
		}
		n, err := e.svc.RefreshDeliveries(t.Context(), readers, 24*time.Hour, 100)
		if err != nil || n != 1 {
			t.Fatalf("second read changed %d rows, %v", n, err)
		}
		if got := status(); got != string(sms.DeliveryDelivered) {
			t.Fatalf("after the second read: %q, want delivered", got)
		}
		// A final state is not asked about again.
		before := len(fake.Requests())
		e.svc.RefreshDeliveries(t.Context(), readers, 24*time.Hour, 100)
		if len(fake.Requests()) != before {
			t.Fatal("a delivered message was read back again")
		}
	})
}
