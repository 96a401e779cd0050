package sms

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Console prints each message to W. It is meant for development: the
// operator reads the code from the terminal. It is the one sender that
// shows the body, because that is its whole purpose.
type Console struct {
	W  io.Writer
	mu sync.Mutex
}

// Send writes the message as one block.
func (c *Console) Send(_ context.Context, m Message) (Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.W, "\n---- SMS to %s ----\n%s\n--------\n", m.To, m.Body); err != nil {
		return Receipt{}, &Error{Provider: "console", Kind: Transient, Err: err}
	}
	return Receipt{Provider: "console", Status: "printed"}, nil
}
