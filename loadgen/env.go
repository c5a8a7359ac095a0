package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Environment describes the machine a result was measured on.
type Environment struct {
	Hostname      string `json:"hostname"`
	Kernel        string `json:"kernel"`
	Arch          string `json:"arch"`
	CPUModel      string `json:"cpu_model"`
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes"`
	GoVersion     string `json:"go_version"`
	// LogDir and the fields below describe the broker's log directory when
	// one was given (-log-dir).
	LogDir       string `json:"log_dir,omitempty"`
	FSType       string `json:"fs_type,omitempty"`
	Device       string `json:"device,omitempty"`
	MountPoint   string `json:"mount_point,omitempty"`
	MountOptions string `json:"mount_options,omitempty"`
}

// ProcRoot is where /proc is read from; tests point it at testdata.
var ProcRoot = "/proc"

// CaptureEnvironment reads the host description; logDir may be empty. It
// fills what it can read and returns the first problem alongside.
func CaptureEnvironment(logDir string) (Environment, error) {
	e := Environment{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	e.Hostname, _ = os.Hostname()
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:])
	} else {
		keep(fmt.Errorf("uname: %w", err))
	}
	if b, err := os.ReadFile(filepath.Join(ProcRoot, "cpuinfo")); err == nil {
		e.CPUModel = parseCPUModel(b)
	} else {
		keep(fmt.Errorf("reading cpuinfo: %w", err))
	}
	if b, err := os.ReadFile(filepath.Join(ProcRoot, "meminfo")); err == nil {
		e.MemTotalBytes = parseMemTotal(b)
	} else {
		keep(fmt.Errorf("reading meminfo: %w", err))
	}
	if logDir != "" {
		m, err := mountOf(logDir)
		if err != nil {
			keep(err)
		}
		e.LogDir, e.FSType, e.Device, e.MountPoint, e.MountOptions = logDir, m.FSType, m.Source, m.MountPoint, m.Options
	}
	return e, firstErr
}

func parseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func parseMemTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	MajorMinor string
	MountPoint string
	Options    string
	FSType     string
	Source     string
}

// parseMountInfo parses /proc/self/mountinfo (proc(5)).
func parseMountInfo(b []byte) []Mount {
	var ms []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			continue
		}
		ms = append(ms, Mount{MajorMinor: f[2], MountPoint: unescapeMount(f[4]), Options: f[5], FSType: g[0], Source: g[1]})
	}
	return ms
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf finds the mount holding dir: the entry whose device matches
// dir's and whose mount point is the longest prefix of dir's real path.
func mountOf(dir string) (Mount, error) {
	real, err := filepath.Abs(dir)
	if err != nil {
		return Mount{}, fmt.Errorf("resolving %s: %w", dir, err)
	}
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return Mount{}, fmt.Errorf("stat %s: %w", dir, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(filepath.Join(ProcRoot, "self", "mountinfo"))
	if err != nil {
		return Mount{}, fmt.Errorf("reading mountinfo: %w", err)
	}
	var best Mount
	for _, m := range parseMountInfo(b) {
		if m.MajorMinor != dev || !isUnder(real, m.MountPoint) {
			continue
		}
		if len(m.MountPoint) >= len(best.MountPoint) {
			best = m
		}
	}
	if best.MountPoint == "" {
		return Mount{}, fmt.Errorf("finding the mount of %s (device %s) in mountinfo: none matches", dir, dev)
	}
	return best, nil
}

func isUnder(path, mp string) bool {
	return mp == "/" || path == mp || strings.HasPrefix(path, mp+"/")
}
