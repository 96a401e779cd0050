// Command testsummary reads `go test -json` on stdin and prints what plain
// `go test` prints (each package's result, the output of failed tests),
// then every skipped test with its reason, and a closing line
// "N passed, N failed, N skipped". It exits 1 when a test failed, a
// package did not build, or a test was skipped without saying why.
//
//	go test -json ./... | go run ./.ci/testsummary
//
// It lives under .ci, which ./... does not match, so it is no part of the
// product.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type key struct{ pkg, test string }

// logLine is a line written by t.Log, t.Skip and friends: "    file_test.go:12: why".
var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: `)

func main() {
	os.Exit(summarise(os.Stdin, os.Stdout))
}

func summarise(in io.Reader, out io.Writer) int {
	var (
		output               = map[key][]string{}
		passed, failed       int
		skipped              []key
		reasons              = map[key]string{}
		badPackages          []string
		sawAnything, unnamed bool
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Build errors come as plain text before the JSON.
			fmt.Fprintln(out, string(line))
			continue
		}
		sawAnything = true
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			if e.Test == "" {
				// Package lines: "ok ...", "FAIL ...", "?  ... [no test files]",
				// and a failed package's panic or build output.
				if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "--- ") && !strings.HasPrefix(e.Output, "PASS") {
					fmt.Fprint(out, e.Output)
				}
				continue
			}
			output[k] = append(output[k], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
				delete(output, k)
			}
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, k)
				reasons[k] = reason(output[k])
				delete(output, k)
			}
		case "fail":
			if e.Test == "" {
				badPackages = append(badPackages, e.Package)
				continue
			}
			failed++
			fmt.Fprintf(out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
			for _, l := range output[k] {
				if !strings.HasPrefix(l, "=== ") {
					fmt.Fprint(out, l)
				}
			}
			delete(output, k)
		}
	}
	if !sawAnything {
		fmt.Fprintln(out, "testsummary: no go test -json events on stdin")
		return 1
	}
	sort.Slice(skipped, func(i, j int) bool {
		return skipped[i].pkg+" "+skipped[i].test < skipped[j].pkg+" "+skipped[j].test
	})
	if len(skipped) > 0 {
		fmt.Fprintf(out, "\nskipped tests, and why (%d):\n", len(skipped))
		byReason := map[string][]string{}
		var order []string
		for _, k := range skipped {
			r := reasons[k]
			if r == "" {
				r = "NO REASON GIVEN: every t.Skip must say why"
				unnamed = true
			}
			if _, ok := byReason[r]; !ok {
				order = append(order, r)
			}
			byReason[r] = append(byReason[r], strings.TrimPrefix(k.pkg, "github.com/smspin/idp/")+" "+k.test)
		}
		for _, r := range order {
			fmt.Fprintf(out, "  %d × %s\n", len(byReason[r]), r)
			for _, t := range byReason[r] {
				fmt.Fprintf(out, "      %s\n", t)
			}
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passed, failed, len(skipped))
	switch {
	case failed > 0 || len(badPackages) > 0:
		return 1
	case unnamed:
		fmt.Fprintln(out, "testsummary: a test was skipped without a reason")
		return 1
	}
	return 0
}

// reason is what a skipped test said last (t.Skip's message), without the
// file and line.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if loc := logLine.FindStringIndex(lines[i]); loc != nil {
			return strings.TrimSpace(lines[i][loc[1]:])
		}
	}
	return ""
}
