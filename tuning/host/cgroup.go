package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cgroup is a cgroup the lab created for the broker, in cgroup v1 (one
// directory per controller hierarchy) or v2 (one directory).
type Cgroup struct {
	// Name is the cgroup's name under each hierarchy's root.
	Name string
	// V2 says it lives in the unified hierarchy.
	V2 bool
	// Dirs maps a controller ("memory", "blkio"; "" for v2) to its directory.
	Dirs map[string]string

	s *Session
}

// Throttle limits a device's bandwidth and IOPS (0 = no limit); the lab
// uses it to imitate a slower disk.
type Throttle struct {
	ReadBPS, WriteBPS   int64
	ReadIOPS, WriteIOPS int64
}

// validCgroupName accepts names that are a single path element.
func validCgroupName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00\n") {
		return fmt.Errorf("cgroup name %q: want a single path element such as brokerlab-broker", name)
	}
	return nil
}

// CreateCgroup journals and creates cgroup name with the given controllers
// ("memory", "blkio"). It uses cgroup v2 when CgroupRoot is a unified
// hierarchy offering every controller, else the v1 hierarchies
// <CgroupRoot>/<controller>.
func (s *Session) CreateCgroup(name string, controllers ...string) (*Cgroup, error) {
	if err := validCgroupName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cg := &Cgroup{Name: name, Dirs: map[string]string{}, s: s}
	if v2ok(s.cfg.CgroupRoot, controllers) {
		cg.V2 = true
		dir := filepath.Join(s.cfg.CgroupRoot, name)
		if err := s.mkCgroupDir(dir); err != nil {
			return nil, err
		}
		cg.Dirs[""] = dir
		return cg, nil
	}
	for _, c := range controllers {
		root := filepath.Join(s.cfg.CgroupRoot, c)
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: no cgroup v1 hierarchy for controller %s at %s and no cgroup v2 hierarchy offering it at %s",
				name, c, root, s.cfg.CgroupRoot)
		}
		dir := filepath.Join(root, name)
		if err := s.mkCgroupDir(dir); err != nil {
			return nil, err
		}
		cg.Dirs[c] = dir
	}
	return cg, nil
}

// v2ok reports whether root is a cgroup2 hierarchy whose children get all
// the controllers.
func v2ok(root string, controllers []string) bool {
	b, err := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if err != nil {
		return false
	}
	have := strings.Fields(string(b))
	for _, c := range controllers {
		if c == "blkio" {
			c = "io"
		}
		if !slices.Contains(have, c) {
			return false
		}
	}
	return true
}

func (s *Session) mkCgroupDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("creating cgroup %s: it exists already (left by another tool?); remove it or pick another name", dir)
	}
	if _, err := s.record(Entry{Kind: KindCgroup, Target: dir,
		Attrs: map[string]string{"parent": filepath.Dir(dir)},
		Undo:  "move its processes to " + filepath.Dir(dir) + " and remove " + dir}); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	return nil
}

// dir returns the directory holding a controller's files.
func (cg *Cgroup) dir(controller string) (string, error) {
	if cg.V2 {
		return cg.Dirs[""], nil
	}
	d, ok := cg.Dirs[controller]
	if !ok {
		return "", fmt.Errorf("cgroup %s was created without the %s controller", cg.Name, controller)
	}
	return d, nil
}

// SetMemoryLimit limits the cgroup's memory, page cache included (v1
// memory.limit_in_bytes, v2 memory.max). The value goes away with the
// cgroup, so it is not journaled separately.
func (cg *Cgroup) SetMemoryLimit(bytes int64) error {
	d, err := cg.dir("memory")
	if err != nil {
		return err
	}
	file := "memory.limit_in_bytes"
	if cg.V2 {
		file = "memory.max"
	}
	return writeValue(filepath.Join(d, file), strconv.FormatInt(bytes, 10))
}

// AddProcess moves pid into the cgroup (every controller's hierarchy).
func (cg *Cgroup) AddProcess(pid int) error {
	var errs []error
	for _, d := range cg.Dirs {
		errs = append(errs, writeValue(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)))
	}
	return errors.Join(errs...)
}

// Throttle journals and sets blkio limits for dev in the cgroup (v1
// blkio.throttle.*_device, v2 io.max). On cgroup v1, buffered writeback is
// not charged to the cgroup, so write limits apply to direct and
// synchronous I/O only; reads are always limited.
func (cg *Cgroup) Throttle(dev string, t Throttle) error {
	s := cg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := cg.dir("blkio")
	if err != nil {
		return err
	}
	bd, err := resolveBlock(s.cfg.SysRoot, dev)
	if err != nil {
		return err
	}
	mm := bd.majMin
	if _, err := os.Stat(filepath.Join(bd.sys, "partition")); err == nil {
		// Throttling applies to whole disks.
		if b, err := os.ReadFile(filepath.Join(bd.disk, "dev")); err == nil {
			mm = strings.TrimSpace(string(b))
		}
	}
	set := func(file, value, clear string) error {
		p := filepath.Join(d, file)
		if _, err := s.record(Entry{Kind: KindThrottle, Target: p, New: value,
			Attrs: map[string]string{"clear": clear, "device": dev},
			Undo:  fmt.Sprintf("write %q to %s", clear, p)}); err != nil {
			return err
		}
		return writeValue(p, value)
	}
	if cg.V2 {
		v := fmt.Sprintf("%s rbps=%s wbps=%s riops=%s wiops=%s", mm, maxOr(t.ReadBPS), maxOr(t.WriteBPS), maxOr(t.ReadIOPS), maxOr(t.WriteIOPS))
		return set("io.max", v, mm+" rbps=max wbps=max riops=max wiops=max")
	}
	for _, l := range []struct {
		file string
		v    int64
	}{
		{"blkio.throttle.read_bps_device", t.ReadBPS},
		{"blkio.throttle.write_bps_device", t.WriteBPS},
		{"blkio.throttle.read_iops_device", t.ReadIOPS},
		{"blkio.throttle.write_iops_device", t.WriteIOPS},
	} {
		if l.v <= 0 {
			continue
		}
		if err := set(l.file, fmt.Sprintf("%s %d", mm, l.v), mm+" 0"); err != nil {
			return err
		}
	}
	return nil
}

func maxOr(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// undoCgroup moves any process left in dir to its parent and removes dir.
func undoCgroup(e Entry) (string, string, error) {
	dir := e.Target
	if _, err := os.Stat(dir); err != nil {
		return "skipped", dir + " does not exist", nil
	}
	parent := e.Attrs["parent"]
	if parent == "" {
		parent = filepath.Dir(dir)
	}
	moved := 0
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(b)) {
			if err := writeValue(filepath.Join(parent, "cgroup.procs"), pid); err == nil {
				moved++
			}
		}
		err := os.Remove(dir)
		if err == nil {
			detail := "removed " + dir
			if moved > 0 {
				detail += fmt.Sprintf(" after moving %d processes to %s", moved, parent)
			}
			return "undone", detail, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return "skipped", dir + " does not exist", nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
