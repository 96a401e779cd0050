package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smspin/idp/idp/store"
)

// Help on any command succeeds, on stdout, and lists that command's flags
// and no other's.
func TestHelpOnEveryCommand(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args     []string
		want     []string
		dontWant []string
	}{
		{[]string{"serve"}, []string{"idp serve", "--dev", "--listen HOST:PORT"}, []string{"--username", "users create"}},
		{[]string{"migrate"}, []string{"idp migrate", "--config FILE"}, []string{"--dev"}},
		{[]string{"users", "create"}, []string{"--password-stdin", "--password-hash-stdin", "--phone-verified"}, []string{"--dev", "--redirect-uri"}},
		{[]string{"users", "import"}, []string{"--batch N", "--progress", "FILE|-", "password_hash"}, []string{"--dev"}},
		{[]string{"users", "sessions"}, []string{"--username"}, []string{"--all"}},
		{[]string{"users", "sessions", "revoke"}, []string{"--all", "--id"}, []string{"--dev"}},
		{[]string{"users", "unlock"}, []string{"--username"}, []string{"--dev"}},
		{[]string{"users", "list"}, []string{"--search", "--limit", "--after"}, []string{"--dev"}},
		{[]string{"users", "show"}, []string{"--username"}, []string{"--dev"}},
		{[]string{"users", "disable"}, []string{"--username"}, []string{"--dev"}},
		{[]string{"users", "enable"}, []string{"--username"}, []string{"--dev"}},
		{[]string{"users", "delete"}, []string{"--username", "--yes"}, []string{"--dev"}},
		{[]string{"users", "phone", "set"}, []string{"--username", "--number", "--verified"}, []string{"--dev"}},
		{[]string{"users", "phone", "clear"}, []string{"--username"}, []string{"--number"}},
		{[]string{"users", "remove-factor"}, []string{"--username", "--factor"}, []string{"--dev"}},
		{[]string{"clients", "list"}, []string{"idp clients list"}, []string{"--username"}},
		{[]string{"clients", "show"}, []string{"--id"}, []string{"--username"}},
		{[]string{"clients", "update"}, []string{"--id", "--redirect-uri", "--scope", "--grant-type", "--name", "--logo-uri"}, []string{"--username", "--public"}},
		{[]string{"clients", "rotate-secret"}, []string{"--id"}, []string{"--username"}},
		{[]string{"clients", "delete"}, []string{"--id", "--yes"}, []string{"--username"}},
		{[]string{"keys", "list"}, []string{"idp keys list"}, []string{"--alg"}},
		{[]string{"users"}, []string{"idp users create", "idp users unlock", "--password-hash-stdin"}, []string{"idp serve", "idp clients"}},
		{[]string{"clients", "create"}, []string{"--redirect-uri", "--logo-uri"}, []string{"--username"}},
		{[]string{"clients"}, []string{"idp clients create"}, []string{"idp users"}},
		{[]string{"keys", "rotate"}, []string{"--alg"}, []string{"--username"}},
		{[]string{"keys"}, []string{"idp keys rotate"}, []string{"idp users"}},
		{[]string{"audit"}, []string{"--since DURATION", "--event"}, []string{"--dev"}},
		{[]string{"config"}, []string{"idp config"}, []string{"--dev"}},
		{[]string{"version"}, []string{"--json"}, []string{"--dev"}},
		{[]string{"sms", "test"}, []string{"--to NUMBER", "--provider NAME"}, []string{"--dev"}},
		{[]string{"sms"}, []string{"idp sms test"}, []string{"idp users"}},
	} {
		for _, help := range []string{"--help", "-h", "-help"} {
			args := append(slices.Clone(tc.args), help)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errOut, err := c.run("", args...)
				if err != nil {
					t.Fatalf("idp %s: %v, want success", strings.Join(args, " "), err)
				}
				if errOut != "" {
					t.Errorf("help wrote to stderr: %q", errOut)
				}
				if !strings.HasPrefix(out, "Usage:\n") {
					t.Errorf("help does not start with Usage:\n%s", out)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("help lacks %q:\n%s", w, out)
					}
				}
				for _, w := range tc.dontWant {
					if strings.Contains(out, w) {
						t.Errorf("help shows another command's %q:\n%s", w, out)
					}
				}
			})
		}
	}
	// idp help COMMAND is the command's --help.
	out, _, err := c.run("", "help", "users", "create")
	if err != nil || !strings.Contains(out, "--password-hash-stdin") {
		t.Errorf("idp help users create: %v\n%s", err, out)
	}
	out, _, err = c.run("", "help")
	if err != nil || !strings.Contains(out, "idp users create") || !strings.Contains(out, "idp serve") {
		t.Errorf("idp help: %v\n%s", err, out)
	}
}

// A bad value names the flag and what is wrong, and prints no usage.
func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"audit", "--since", "yesterday"}, []string{`--since "yesterday"`, "24h", "7d"}},
		{[]string{"audit", "--since", "-3h"}, []string{`--since "-3h"`}},
		{[]string{"audit", "--event", "bogus"}, []string{`--event "bogus"`, "pin.verify", "login.password", "user.created"}},
		{[]string{"audit", "--event", "nosuchfamily."}, []string{"nosuchfamily.", "pin.sent"}},
		{[]string{"serve", "--no-such-flag"}, []string{"serve: unknown flag --no-such-flag"}},
		{[]string{"users", "create", "--username"}, []string{"--username needs a value"}},
		{[]string{"users", "frobnicate"}, []string{`unknown subcommand "frobnicate"`, "create"}},
		{[]string{"users", "create", "--username", "alice"}, []string{"--password-stdin", "--password-hash-stdin"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, err := c.run("", tc.args...)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(out+errOut, "Usage:") {
				t.Errorf("a bad flag printed the usage:\n%s%s", out, errOut)
			}
		})
	}
	// Good values still work.
	for _, since := range []string{"90m", "24h", "7d"} {
		if _, _, err := c.run("", "audit", "--since", since); err != nil {
			t.Errorf("audit --since %s: %v", since, err)
		}
	}
	if _, _, err := c.run("", "audit", "--event", "pin."); err != nil {
		t.Errorf("audit --event pin.: %v", err)
	}
}

// Every audit event the code records is one `audit --event` accepts.
func TestAuditEventNamesCoverTheCode(t *testing.T) {
	// Event: "x" in an AuditEvent, or the admin service's s.audit(ctx, "x", ...).
	literal := regexp.MustCompile(`(?:Event:\s*|\.audit\(ctx, )"([a-z_.]+)"`)
	known := store.AuditEventNames()
	seen := 0
	for _, dir := range []string{".", "../../idp", "../../idp/admin", "../../idp/store", "../../mfa"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
				seen++
				name := m[1]
				if strings.HasSuffix(name, ".") {
					if !slices.ContainsFunc(known, func(k string) bool { return strings.HasPrefix(k, name) }) {
						t.Errorf("%s records events of the family %q, which store.AuditEventNames lacks", f, name)
					}
					continue
				}
				if !slices.Contains(known, name) {
					t.Errorf("%s records the event %q, which store.AuditEventNames lacks", f, name)
				}
			}
		}
	}
	if seen < 5 {
		t.Fatalf("found only %d audit events in the code: the pattern no longer matches how events are recorded", seen)
	}
}

// An issuer that was set is kept in dev mode, whatever the listen address.
func TestDevIssuer(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string
		ok   bool
	}{
		{"127.0.0.1:18480", "http://localhost:18480", true},
		{"[::1]:9000", "http://localhost:9000", true},
		{"127.0.0.2:8080", "http://localhost:8080", true},
		{"0.0.0.0:8080", "", false},
		{"192.0.2.1:8080", "", false},
	} {
		got, ok := devIssuer(tcpAddr(t, tc.addr))
		if got != tc.want || ok != tc.ok {
			t.Errorf("devIssuer(%s) = %q, %v; want %q, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
	newCLI(t)
	cfg, err := (&settingFlags{}).load()
	if err != nil {
		t.Fatal(err)
	}
	if issuerSet(settingFlags{}, cfg) {
		t.Error("the default issuer counts as set")
	}
	if !issuerSet(settingFlags{issuer: "http://localhost:9999"}, cfg) {
		t.Error("--issuer does not count as set")
	}
	t.Setenv("IDP_ISSUER", "http://localhost:8080")
	if !issuerSet(settingFlags{}, cfg) {
		t.Error("IDP_ISSUER does not count as set")
	}
}

func tcpAddr(t *testing.T, s string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// "Alice", "alice" and "ａｌｉｃｅ" are one user to every command.
func TestUsernamesNormalised(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("a long enough password\n", "users", "create", "--username", "  Alice ", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, out); m["username"] != "alice" {
		t.Fatalf("users create printed %v, want the username alice", m)
	}
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		_, _, err := c.run("a long enough password\n", "users", "create", "--username", name, "--password-stdin")
		if err == nil || !strings.Contains(err.Error(), `"alice" is taken`) {
			t.Errorf("users create --username %s: %v, want alice taken", name, err)
		}
		if _, _, err := c.run("", "users", "sessions", "--username", name); err != nil {
			t.Errorf("users sessions --username %s: %v", name, err)
		}
		if _, _, err := c.run("", "users", "unlock", "--username", name); err != nil {
			t.Errorf("users unlock --username %s: %v", name, err)
		}
		if out, _, err := c.run("", "audit", "--username", name); err != nil || !strings.Contains(out, "user.created") {
			t.Errorf("audit --username %s: %v\n%s", name, err, out)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"alice smith", "space"},
		{"alice☃", "cannot have"},
		{strings.Repeat("a", 129), "more than 128"},
	} {
		_, _, err := c.run("a long enough password\n", "users", "create", "--username", tc.name, "--password-stdin")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("users create --username %q: %v, want a usage error about %q", tc.name, err, tc.want)
		}
	}
}
