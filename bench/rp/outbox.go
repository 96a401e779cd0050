package rp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Outbox follows the file SMS provider's outbox (one JSON object a line,
// {"to", "body", "at"}), and keeps the codes sent to each number in order.
// Several instances may append to one file: each line is one write.
type Outbox struct {
	mu    sync.Mutex
	cond  *sync.Cond
	codes map[string][]string
}

// The code ends the message, after the origin-bound "#" (the WebOTP
// format).
var codeRE = regexp.MustCompile(`#([0-9]{4,8})\s*$`)

// TailOutbox reads path from its start and keeps reading what is appended
// until ctx ends. The file is created when missing.
func TailOutbox(ctx context.Context, path string) (*Outbox, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	o := &Outbox{codes: map[string][]string{}}
	o.cond = sync.NewCond(&o.mu)
	go func() {
		defer f.Close()
		r := bufio.NewReader(f)
		var partial string
		for ctx.Err() == nil {
			line, err := r.ReadString('\n')
			if err != nil { // at the end for now: wait for more
				partial += line
				time.Sleep(2 * time.Millisecond)
				continue
			}
			line, partial = partial+line, ""
			var m struct{ To, Body string }
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if c := codeRE.FindStringSubmatch(m.Body); c != nil {
				o.mu.Lock()
				o.codes[m.To] = append(o.codes[m.To], c[1])
				o.cond.Broadcast()
				o.mu.Unlock()
			}
		}
	}()
	return o, nil
}

// Count is how many codes went to a number so far.
func (o *Outbox) Count(to string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.codes[to])
}

// Wait returns the first code to a number after the seen ones, waiting at
// most timeout for it.
func (o *Outbox) Wait(ctx context.Context, to string, seen int, timeout time.Duration) (string, error) {
	wake := func() { o.mu.Lock(); o.cond.Broadcast(); o.mu.Unlock() }
	stop := context.AfterFunc(ctx, wake)
	defer stop()
	timer := time.AfterFunc(timeout, wake)
	defer timer.Stop()
	start := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.codes[to]) <= seen {
		if ctx.Err() != nil || time.Since(start) >= timeout {
			return "", fmt.Errorf("no SMS to %s in the outbox within %s", to, timeout)
		}
		o.cond.Wait()
	}
	return o.codes[to][seen], nil
}
