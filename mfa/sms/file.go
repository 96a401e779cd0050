package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// File appends each message to an outbox file as one JSON object a line:
// {"to": "+819012345678", "body": "...", "at": "RFC 3339 time"}.
// Each line goes out in a single write(2) on a file opened with O_APPEND,
// so concurrent senders, even in other processes, never interleave lines.
type File struct {
	Path string
	Now  func() time.Time
}

type fileLine struct {
	To   string `json:"to"`
	Body string `json:"body"`
	At   string `json:"at"`
}

// Send appends the message.
func (f *File) Send(_ context.Context, m Message) (Receipt, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	line, err := json.Marshal(fileLine{To: m.To, Body: m.Body, At: now().UTC().Format(time.RFC3339)})
	if err != nil {
		return Receipt{}, &Error{Provider: "file", Kind: Permanent, Err: err}
	}
	line = append(line, '\n')
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return Receipt{}, &Error{Provider: "file", Kind: Config, Err: fmt.Errorf("open outbox: %w", err)}
	}
	defer fh.Close()
	if _, err := fh.Write(line); err != nil {
		return Receipt{}, &Error{Provider: "file", Kind: Transient, Err: fmt.Errorf("append outbox: %w", err)}
	}
	return Receipt{Provider: "file", Status: "written"}, nil
}
