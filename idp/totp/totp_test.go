package totp

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	cur, old := bytes.Repeat([]byte("c"), 32), bytes.Repeat([]byte("o"), 32)
	sealed, err := NewSealer(old).Seal("u1", "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatal("the sealed value shows the secret")
	}
	got, stale, err := NewSealer(cur, old).Open("u1", sealed)
	if err != nil || got != "JBSWY3DPEHPK3PXP" || !stale {
		t.Fatalf("Open under the old secret = %q, %v, %v; want the secret, stale", got, stale, err)
	}
	again, _ := NewSealer(cur, old).Seal("u1", got)
	if got, stale, err := NewSealer(cur, old).Open("u1", again); err != nil || got != "JBSWY3DPEHPK3PXP" || stale {
		t.Errorf("sealed anew: %q, %v, %v", got, stale, err)
	}
	if _, _, err := NewSealer(cur, old).Open("u2", sealed); err != ErrSealed {
		t.Errorf("another user's row opened it: %v", err)
	}
	if _, _, err := NewSealer(cur).Open("u1", sealed); err != ErrSealed {
		t.Errorf("opened without the secret that sealed it: %v", err)
	}
	for _, bad := range []string{"", "v1:", "v1:!!", "v2:abc", "v1:AAAA"} {
		if _, _, err := NewSealer(cur).Open("u1", bad); err != ErrSealed {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
}

func TestCheckWindow(t *testing.T) {
	k, err := New("Example", "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_900_000_015, 0)
	for _, d := range []int64{-1, 0, 1} {
		at := now.Add(time.Duration(d*Period) * time.Second)
		code, _ := Code(k.Secret, at)
		step, ok := Check(k.Secret, code[:3]+" "+code[3:], now)
		if !ok || step != Step(at) {
			t.Errorf("a code %d steps off: %d, %v; want step %d", d, step, ok, Step(at))
		}
	}
	far, _ := Code(k.Secret, now.Add(3*Period*time.Second))
	if _, ok := Check(k.Secret, far, now); ok {
		t.Error("a code three steps ahead was taken")
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "１２３"} {
		if _, ok := Check(k.Secret, bad, now); ok {
			t.Errorf("Check(%q) ok", bad)
		}
	}
	code, _ := Code(k.Secret, now)
	wide := ""
	for _, r := range code {
		wide += string('０' + (r - '0'))
	}
	if _, ok := Check(k.Secret, wide, now); !ok {
		t.Error("full-width digits of the right code refused")
	}
}

func TestQRAndKeyOf(t *testing.T) {
	k, err := New("Example", "alice")
	if err != nil {
		t.Fatal(err)
	}
	again, err := KeyOf(k.Secret, "Example", "alice")
	if err != nil || again.Secret != k.Secret || again.URL != k.URL {
		t.Fatalf("KeyOf = %+v, %v; want %+v", again, err, k)
	}
	qr, err := k.QR(200)
	if err != nil || !strings.HasPrefix(qr, "data:image/png;base64,iVBOR") {
		t.Fatalf("QR = %.40q, %v", qr, err)
	}
}
