package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// served is an `idp serve` running in the test's process.
type served struct {
	addr, admin string // listen addresses, read from the log
	log         *bytes.Buffer
}

// startServe runs idp serve with args until the test ends, and returns
// once it serves.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	s := &served{log: new(bytes.Buffer)}
	re := regexp.MustCompile(`listen=(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		s.log.WriteString(sc.Text() + "\n")
		m := re.FindStringSubmatch(sc.Text())
		switch {
		case m != nil && strings.Contains(sc.Text(), "admin listener"):
			s.admin = m[1]
		case m != nil && strings.Contains(sc.Text(), "serving"):
			s.addr = m[1]
		}
		if s.addr != "" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	if s.addr == "" {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", <-done, s.log)
	}
	return s
}

// get fetches a URL with an optional bearer token.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// loopbackURL reaches a listener bound to every address through 127.0.0.1.
func loopbackURL(addr, path string) string {
	_, port, _ := net.SplitHostPort(addr)
	return "http://127.0.0.1:" + port + path
}
