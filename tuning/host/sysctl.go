package host

import (
	"fmt"
	"path/filepath"
	"strings"
)

// SysctlPath maps a sysctl key ("vm.swappiness", or "vm/swappiness") to its
// file under procRoot ("/proc/sys/vm/swappiness").
func SysctlPath(procRoot, key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("sysctl key is empty")
	}
	for _, r := range key {
		ok := r == '.' || r == '/' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			return "", fmt.Errorf("sysctl key %q: character %q is not allowed", key, r)
		}
	}
	rel := key
	if !strings.Contains(key, "/") {
		rel = strings.ReplaceAll(key, ".", "/")
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == ".." || part == "." {
			return "", fmt.Errorf("sysctl key %q: empty or relative path element", key)
		}
	}
	return filepath.Join(procRoot, "sys", rel), nil
}

// ReadSysctl reads the value of a sysctl key under procRoot.
func ReadSysctl(procRoot, key string) (string, error) {
	p, err := SysctlPath(procRoot, key)
	if err != nil {
		return "", err
	}
	return readValue(p)
}

// Sysctl reads the current value of a sysctl key.
func (s *Session) Sysctl(key string) (string, error) {
	return ReadSysctl(s.cfg.ProcRoot, key)
}

// exclusiveSysctls are pairs of which the kernel keeps one active: writing
// one sets the other to 0 (Documentation/admin-guide/sysctl/vm.rst,
// dirty_bytes: "only one of them may be specified at a time").
var exclusiveSysctls = map[string]string{
	"vm.dirty_bytes":            "vm.dirty_ratio",
	"vm.dirty_ratio":            "vm.dirty_bytes",
	"vm.dirty_background_bytes": "vm.dirty_background_ratio",
	"vm.dirty_background_ratio": "vm.dirty_background_bytes",
}

// SetSysctl journals and sets a sysctl. Setting the value it already has
// changes nothing and journals nothing.
func (s *Session) SetSysctl(key, value string) error {
	p, err := SysctlPath(s.cfg.ProcRoot, key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := readValue(p)
	if err != nil {
		return fmt.Errorf("reading sysctl %s: %w", key, err)
	}
	if sameValue(old, value) {
		return nil
	}
	e := Entry{Kind: KindSysctl, Target: p, Old: old, New: value,
		Attrs: map[string]string{"key": key},
		Undo:  fmt.Sprintf("write %q to %s", old, p)}
	if partner, ok := exclusiveSysctls[key]; ok && sameValue(old, "0") {
		// key is the inactive half of a pair: the kernel holds the
		// setting in its partner, and writing "0" back to key would be
		// refused (vm.dirty_bytes has a minimum) or would set the other
		// half to 0. The undo restores the partner, which zeroes key.
		pp, err := SysctlPath(s.cfg.ProcRoot, partner)
		if err != nil {
			return err
		}
		pold, err := readValue(pp)
		if err != nil {
			return fmt.Errorf("reading sysctl %s: %w", partner, err)
		}
		if !sameValue(pold, "0") {
			e.Target, e.Old = pp, pold
			e.Attrs["restores"] = partner
			e.Undo = fmt.Sprintf("write %q to %s (setting %s zeroed it)", pold, pp, key)
		}
	}
	if _, err := s.record(e); err != nil {
		return err
	}
	if err := writeValue(p, value); err != nil {
		return fmt.Errorf("setting sysctl %s: %w", key, err)
	}
	return nil
}

// DropCaches writes 3 to vm.drop_caches after a sync: the page cache,
// dentries and inodes are dropped so the next run starts cold. It changes
// no setting, so nothing is journaled.
func DropCaches(procRoot string) error {
	p, err := SysctlPath(procRoot, "vm.drop_caches")
	if err != nil {
		return err
	}
	syncAll()
	return writeValue(p, "3")
}
