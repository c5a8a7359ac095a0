package host

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mount is one line of /proc/self/mountinfo (see proc(5)).
type Mount struct {
	// MajorMinor is the st_dev of the filesystem, "254:0".
	MajorMinor string
	// MountPoint is where it is mounted, unescaped.
	MountPoint string
	// FSType is the filesystem type ("ext4", "tmpfs").
	FSType string
	// Source is the mount source ("/dev/loop3", "tmpfs").
	Source string
	// Options are the per-mount options.
	Options string
}

// readMounts reads <procRoot>/self/mountinfo.
func readMounts(procRoot string) ([]Mount, error) {
	p := filepath.Join(procRoot, "self", "mountinfo")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	m, err := parseMountinfo(b)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", p, err)
	}
	return m, nil
}

// parseMountinfo parses the text of /proc/self/mountinfo.
func parseMountinfo(b []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("line %d: malformed: %q", n, sc.Text())
		}
		out = append(out, Mount{
			MajorMinor: f[2],
			MountPoint: unescapeOctal(f[4]),
			Options:    f[5],
			FSType:     f[sep+1],
			Source:     unescapeOctal(f[sep+2]),
		})
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces, tabs,
// newlines and backslashes in mountinfo and swaps.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// isMounted reports whether dir is a mount point in mounts.
func isMounted(mounts []Mount, dir string) bool {
	dir = filepath.Clean(dir)
	for _, m := range mounts {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}

// topMount returns the last (topmost) mount on dir.
func topMount(mounts []Mount, dir string) Mount {
	dir = filepath.Clean(dir)
	var top Mount
	for _, m := range mounts {
		if m.MountPoint == dir {
			top = m
		}
	}
	return top
}

// Swap is one line of /proc/swaps.
type Swap struct {
	// Filename is the swap device or file.
	Filename string
	// Type is "partition" or "file".
	Type string
}

// readSwaps reads <procRoot>/swaps.
func readSwaps(procRoot string) ([]Swap, error) {
	p := filepath.Join(procRoot, "swaps")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return parseSwaps(b), nil
}

// parseSwaps parses /proc/swaps (a header line, then one line per area).
func parseSwaps(b []byte) []Swap {
	var out []Swap
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if i == 0 || len(f) < 2 {
			continue
		}
		out = append(out, Swap{Filename: unescapeOctal(f[0]), Type: f[1]})
	}
	return out
}

// FilesystemOf names the filesystem dir is on ("ext4 (/dev/vda1 on /)"),
// from /proc/self/mountinfo: the mount with the longest mount point that
// contains dir. It returns "unknown filesystem" when mountinfo is
// unreadable.
func FilesystemOf(dir string) string {
	mounts, err := readMounts("/proc")
	if err != nil {
		return "unknown filesystem"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filesystemOf(mounts, dir)
}

func filesystemOf(mounts []Mount, dir string) string {
	var best *Mount
	for i, m := range mounts {
		within := m.MountPoint == "/" || dir == m.MountPoint || strings.HasPrefix(dir, m.MountPoint+"/")
		if within && (best == nil || len(m.MountPoint) >= len(best.MountPoint)) {
			best = &mounts[i]
		}
	}
	if best == nil {
		return "unknown filesystem"
	}
	return fmt.Sprintf("%s (%s on %s)", best.FSType, best.Source, best.MountPoint)
}
