package sms_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smspin/idp/mfa/sms"
)

type outboxLine struct {
	To   string `json:"to"`
	Body string `json:"body"`
	At   string `json:"at"`
}

func readOutbox(t *testing.T, path string) []outboxLine {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var lines []outboxLine
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l outboxLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d %q is not one outbox object: %v", len(lines)+1, sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("JST", 9*60*60))
	f := &sms.File{Path: path, Now: func() time.Time { return at }}
	m := message()
	for range 2 {
		r, err := f.Send(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		if r != (sms.Receipt{Provider: "file", Status: "written"}) {
			t.Errorf("receipt = %+v", r)
		}
	}
	got := readOutbox(t, path)
	want := outboxLine{To: m.To, Body: m.Body, At: "2026-03-01T00:30:00Z"}
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("outbox = %+v, want two of %+v", got, want)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("outbox mode %o, want 600: it holds codes", perm)
	}
}

func TestFileOpenError(t *testing.T) {
	f := &sms.File{Path: filepath.Join(t.TempDir(), "missing", "outbox.jsonl")}
	if _, err := f.Send(t.Context(), message()); sms.KindOf(err) != sms.Config {
		t.Errorf("err = %v, want a config error", err)
	}
}

// TestFileConcurrent appends from many goroutines, with bodies long enough
// that interleaved writes would show, and checks every line parses whole.
func TestFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	f := &sms.File{Path: path}
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := sms.Message{To: fmt.Sprintf("+8190%08d", i), Body: fmt.Sprintf("%03d:", i) + strings.Repeat("x", 2000)}
			if _, err := f.Send(t.Context(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := readOutbox(t, path)
	if len(got) != n {
		t.Fatalf("%d lines, want %d", len(got), n)
	}
	seen := make(map[string]bool)
	for _, l := range got {
		var i int
		if _, err := fmt.Sscanf(l.Body, "%03d:", &i); err != nil || l.To != fmt.Sprintf("+8190%08d", i) || len(l.Body) != 2004 {
			t.Errorf("line %+v does not belong together", l.To)
		}
		if _, err := time.Parse(time.RFC3339, l.At); err != nil {
			t.Errorf("at %q: %v", l.At, err)
		}
		seen[l.To] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct recipients, want %d", len(seen), n)
	}
}
