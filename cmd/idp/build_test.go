package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestDockerfileBuild builds the binary with the Dockerfile's own go build
// command (static, CGO_ENABLED=0) and checks what an operator sees of it:
// `idp version`, help that exits 0, a usage error that exits 2, and that
// the systemd unit example is one systemd accepts.
func TestDockerfileBuild(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmdline := dockerfileBuild(t, filepath.Join(root, "Dockerfile"))
	if !strings.Contains(cmdline, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile's go build does not set CGO_ENABLED=0: %s", cmdline)
	}
	bin := filepath.Join(t.TempDir(), "idp")
	cmdline = strings.Replace(cmdline, "-o /out/idp", "-o "+bin, 1)
	if !strings.Contains(cmdline, bin) {
		t.Fatalf("the Dockerfile's go build does not write /out/idp: %s", cmdline)
	}
	const date = "2026-01-02T03:04:05Z"
	build := exec.CommandContext(t.Context(), "sh", "-c", cmdline)
	build.Dir = root
	build.Env = append(os.Environ(), "BUILD_DATE="+date, "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}

	// Static: no program interpreter, no shared libraries.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a program interpreter: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	f.Close()

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("idp version --json: %v", err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("idp version --json: %q: %v", out, err)
	}
	if v.BuildDate != date {
		t.Errorf("build_date = %q, want %q (from BUILD_DATE)", v.BuildDate, date)
	}
	if v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("go, platform = %q, %q", v.Go, v.Platform)
	}
	if v.Version == "" || v.Version == "(unknown)" {
		t.Errorf("version = %q, want the module version from the build info", v.Version)
	}
	// go build stamps the commit in a checkout (CI's clone), not in a git
	// worktree, whose .git is a file go does not follow.
	if head, ok := gitHead(root); ok {
		if v.Commit != head {
			t.Errorf("commit = %q, want %q (git rev-parse HEAD)", v.Commit, head)
		}
		if !strings.Contains(v.Version, head[:12]) && !strings.HasPrefix(v.Version, "v") {
			t.Errorf("version = %q names neither a tag nor the commit", v.Version)
		}
	} else {
		t.Logf("not a plain git checkout: the commit is not checked (version %q)", v.Version)
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(text), "idp "+v.Version+" ") || !strings.Contains(string(text), date) {
		t.Errorf("idp version: %v: %q", err, text)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--help"}, 0, "--dev"},
		{[]string{"users", "--help"}, 0, "idp users create"},
		{[]string{"users", "create", "-h"}, 0, "--password-hash-stdin"},
		{[]string{"help"}, 0, "idp serve"},
		{[]string{"users", "bogus"}, 2, `unknown subcommand "bogus"`},
		{[]string{"audit", "--since", "yesterday"}, 2, `--since "yesterday"`},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), "IDP_CONFIG=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.want) {
			t.Errorf("idp %s: exit %d, want %d; output:\n%s%s", strings.Join(tc.args, " "), code, tc.code, &stdout, &stderr)
		}
	}

	// The systemd unit example, pointed at this binary, passes
	// systemd-analyze verify without a warning.
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		unit, err := os.ReadFile(filepath.Join(root, "deploy", "idp.service"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "idp.service")
		os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/idp"), []byte(bin)), 0o644)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify deploy/idp.service: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze is not installed: deploy/idp.service not verified")
	}
}

// dockerfileBuild returns the go build command of the Dockerfile's RUN
// instruction, its continuation lines joined.
func dockerfileBuild(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	joined := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(b), "")
	for _, line := range strings.Split(joined, "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN "); ok && strings.Contains(cmd, "go build") {
			return cmd
		}
	}
	t.Fatalf("%s has no RUN line with go build", path)
	return ""
}

// gitHead returns HEAD when root is a plain git checkout (not a worktree).
func gitHead(root string) (string, bool) {
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		return "", false
	}
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}
