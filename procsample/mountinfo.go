package procsample

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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

// ReadMounts reads procRoot/self/mountinfo.
func ReadMounts(procRoot string) ([]Mount, error) {
	p := filepath.Join(procRoot, "self", "mountinfo")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	m, err := ParseMountInfo(b)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", p, err)
	}
	return m, nil
}

// ParseMountInfo parses the text of /proc/self/mountinfo.
func ParseMountInfo(b []byte) ([]Mount, error) {
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

// MountContaining returns the mount of mounts holding path (absolute, with
// symlinks resolved): the longest mount point that contains it, among those
// on device dev ("maj:min") when dev is not empty.
func MountContaining(mounts []Mount, path, dev string) (Mount, bool) {
	var best *Mount
	for i, m := range mounts {
		if dev != "" && m.MajorMinor != dev {
			continue
		}
		within := m.MountPoint == "/" || path == m.MountPoint || strings.HasPrefix(path, m.MountPoint+"/")
		if within && (best == nil || len(m.MountPoint) >= len(best.MountPoint)) {
			best = &mounts[i]
		}
	}
	if best == nil {
		return Mount{}, false
	}
	return *best, true
}

// MountOf finds the mount holding dir in procRoot/self/mountinfo: the entry
// whose device matches dir's and whose mount point is the longest prefix of
// dir's real path.
func MountOf(procRoot, dir string) (Mount, error) {
	real, err := realPath(dir)
	if err != nil {
		return Mount{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return Mount{}, fmt.Errorf("stat %s: %w", dir, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	mounts, err := ReadMounts(procRoot)
	if err != nil {
		return Mount{}, err
	}
	m, ok := MountContaining(mounts, real, dev)
	if !ok {
		return Mount{}, fmt.Errorf("finding the mount of %s (device %s) in mountinfo: none matches", dir, dev)
	}
	return m, nil
}

func realPath(dir string) (string, error) {
	real, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r
	}
	return real, nil
}

// Swap is one line of /proc/swaps.
type Swap struct {
	// Filename is the swap device or file.
	Filename string
	// Type is "partition" or "file".
	Type string
}

// ReadSwaps reads procRoot/swaps.
func ReadSwaps(procRoot string) ([]Swap, error) {
	p := filepath.Join(procRoot, "swaps")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return ParseSwaps(b), nil
}

// ParseSwaps parses /proc/swaps (a header line, then one line per area).
func ParseSwaps(b []byte) []Swap {
	var out []Swap
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 2 {
			continue
		}
		out = append(out, Swap{Filename: unescapeOctal(f[0]), Type: f[1]})
	}
	return out
}
