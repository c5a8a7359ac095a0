package procsample

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Build says which code produced a result: the module version, the git
// commit it was built from and whether the tree had uncommitted changes
// (from the build's VCS stamp, `go build -buildvcs`), and the Go version.
type Build struct {
	Module    string `json:"module,omitempty"`
	Version   string `json:"version,omitempty"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	// CommitFrom is "buildinfo" when the commit came from the binary's VCS
	// stamp and "checkout" when the binary had none (go test and go run do
	// not stamp) and it was read from the working directory's .git.
	CommitFrom string `json:"commit_from,omitempty"`
}

// ReadBuild returns the running binary's build information, read once per
// process: a binary without a VCS stamp (go test, go run, a build with
// -buildvcs=false) reads the checkout's HEAD at its first call, so every
// result a process writes names the same commit even when the checkout
// moves on while it runs.
func ReadBuild() Build { return readBuild() }

var readBuild = sync.OnceValue(readBuildInfo)

func readBuildInfo() Build {
	b := Build{GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Module, b.Version = bi.Main.Path, bi.Main.Version
		b.Commit, b.Modified = parseVCS(bi.Settings)
		if b.Commit != "" {
			b.CommitFrom = "buildinfo"
		}
	}
	if b.Commit == "" {
		// Test binaries and go run carry no VCS stamp: read the checkout's
		// HEAD from its git metadata, without running git. A test runs in
		// its package's directory: the checkout is the nearest parent
		// with a .git.
		if rev, err := ReadCheckoutHead(checkoutOf(".")); err == nil {
			b.Commit, b.CommitFrom = rev, "checkout"
		}
	}
	return b
}

func parseVCS(settings []debug.BuildSetting) (commit string, modified bool) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return commit, modified
}

// String is the one line lab --version prints.
func (b Build) String() string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown commit"
	} else if b.Modified {
		commit += " (modified)"
	}
	v := b.Version
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("%s %s, %s, %s", b.Module, v, commit, b.GoVersion)
}

// checkoutOf returns the nearest directory from dir upwards that has a
// .git (dir itself when none has).
func checkoutOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// ReadCheckoutHead reads the commit HEAD points at from dir's git metadata
// (a worktree's .git file, loose and packed refs), without running git.
func ReadCheckoutHead(dir string) (string, error) {
	gitDir := filepath.Join(dir, ".git")
	if b, err := os.ReadFile(gitDir); err == nil { // a worktree: "gitdir: <path>"
		gitDir = strings.TrimSpace(strings.TrimPrefix(string(b), "gitdir:"))
	}
	head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return "", err
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(string(head)), "ref: ")
	if !ok {
		return strings.TrimSpace(string(head)), nil // detached
	}
	common := gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		common = filepath.Join(gitDir, strings.TrimSpace(string(b)))
	}
	for _, d := range []string{gitDir, common} {
		if b, err := os.ReadFile(filepath.Join(d, ref)); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	packed, err := os.ReadFile(filepath.Join(common, "packed-refs"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(packed), "\n") {
		if h, r, ok := strings.Cut(l, " "); ok && r == ref {
			return h, nil
		}
	}
	return "", fmt.Errorf("ref %s not found", ref)
}
