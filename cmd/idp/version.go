package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildDate is set by the release build (-ldflags "-X main.buildDate=...");
// build info has the commit's time, not the build's.
var buildDate string

// versionInfo is what `idp version` prints.
type versionInfo struct {
	Version    string `json:"version"`     // module version: a tag, a pseudo-version, or (devel)
	Commit     string `json:"commit"`      // VCS revision the binary was built from
	CommitTime string `json:"commit_time"` // that revision's time
	Modified   bool   `json:"modified"`    // built from a work tree with uncommitted changes
	BuildDate  string `json:"build_date"`  // set by the release build; "" otherwise
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

// readVersion reads the version from the build info the Go linker embeds:
// go build stamps the module version and the VCS state of the checkout.
func readVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", BuildDate: buildDate, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	v := readVersion()
	if *asJSON {
		return printJSON(stdout, v)
	}
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	if v.Modified {
		commit += "+modified"
	}
	line := fmt.Sprintf("idp %s (commit %s", v.Version, commit)
	if v.CommitTime != "" {
		line += " of " + v.CommitTime
	}
	if v.BuildDate != "" {
		line += ", built " + v.BuildDate
	}
	_, err := fmt.Fprintf(stdout, "%s, %s %s)\n", line, v.Go, v.Platform)
	return err
}
