package procsample

import (
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
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
	// stamp and "git" when the binary had none (go test and go run do not
	// stamp) and it was asked of git rev-parse in the working directory.
	CommitFrom string `json:"commit_from,omitempty"`
}

// ReadBuild reads the running binary's build information.
func ReadBuild() Build {
	b := Build{GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Module, b.Version = bi.Main.Path, bi.Main.Version
		b.Commit, b.Modified = parseVCS(bi.Settings)
		if b.Commit != "" {
			b.CommitFrom = "buildinfo"
		}
	}
	if b.Commit == "" {
		// Test binaries and go run carry no VCS stamp.
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			b.Commit, b.CommitFrom = strings.TrimSpace(string(out)), "git"
			if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
				b.Modified = len(strings.TrimSpace(string(st))) > 0
			}
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
