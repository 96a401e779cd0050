package sms_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/smspin/idp/mfa/sms"
)

func TestConsole(t *testing.T) {
	var out strings.Builder
	c := &sms.Console{W: &out}
	m := message()
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r != (sms.Receipt{Provider: "console", Status: "printed"}) {
		t.Errorf("receipt = %+v", r)
	}
	want := "\n---- SMS to " + m.To + " ----\n" + m.Body + "\n--------\n"
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestConsoleWriteError(t *testing.T) {
	_, err := (&sms.Console{W: failingWriter{}}).Send(t.Context(), message())
	if sms.KindOf(err) != sms.Transient {
		t.Errorf("err = %v, want transient", err)
	}
	if se, ok := errors.AsType[*sms.Error](err); !ok || se.Provider != "console" {
		t.Errorf("err = %#v, want an *sms.Error from console", err)
	}
}

// TestConsoleConcurrent checks that each message prints as one block: the
// mutex keeps blocks from interleaving on a shared writer.
func TestConsoleConcurrent(t *testing.T) {
	var out strings.Builder
	c := &sms.Console{W: &out}
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := message()
			m.Body = strings.Repeat(string(rune('a'+i)), 100)
			if _, err := c.Send(t.Context(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	blocks := strings.Split(strings.TrimPrefix(out.String(), "\n"), "--------\n\n")
	if len(blocks) != n {
		t.Fatalf("%d blocks, want %d", len(blocks), n)
	}
	for _, b := range blocks {
		lines := strings.Split(strings.TrimSuffix(b, "--------\n"), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "---- SMS to ") || strings.Trim(lines[1], lines[1][:1]) != "" {
			t.Errorf("mixed block %q", b)
		}
	}
}
