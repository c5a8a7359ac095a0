package tuning

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/procsample"
)

// Capabilities say which host changes the lab can make on this host. A
// sweep without some of them still runs what it can (Plan.Degrade).
type Capabilities struct {
	// Mount: loop devices, mkfs, mount, tmpfs, zram disks and swap, I/O
	// schedulers (CAP_SYS_ADMIN).
	Mount bool
	// Sysctl: writing /proc/sys (root).
	Sysctl bool
	// DropCaches: writing /proc/sys/vm/drop_caches (root).
	DropCaches bool
	// Cgroups: creating the broker's cgroup (memory limit, blkio throttle).
	Cgroups bool
	// BPF: loading and attaching the eBPF probes (CAP_BPF and CAP_PERFMON,
	// or CAP_SYS_ADMIN).
	BPF bool
	// NoBPFReason says why BPF is false, for the note Degrade writes;
	// "" = the missing privilege.
	NoBPFReason string
}

// AllCapabilities is a host where the lab may do everything (root).
var AllCapabilities = Capabilities{Mount: true, Sysctl: true, DropCaches: true, Cgroups: true, BPF: true}

// Linux capability bits (include/uapi/linux/capability.h).
const (
	capDACOverride = 1
	capSysAdmin    = 21
	capPerfmon     = 38
	capBPF         = 39
)

// DetectCapabilities reads this process's effective user and capabilities
// (procRoot/self/status, "" = /proc) and whether it may create cgroups
// under cgroupRoot ("" = /sys/fs/cgroup).
func DetectCapabilities(procRoot, cgroupRoot string) Capabilities {
	if procRoot == "" {
		procRoot = "/proc"
	}
	if cgroupRoot == "" {
		cgroupRoot = "/sys/fs/cgroup"
	}
	capEff, _ := procsample.ReadEffectiveCaps(procRoot) // unreadable: no capabilities
	dir := cgroupRoot
	if _, err := os.Stat(filepath.Join(cgroupRoot, "memory")); err == nil { // cgroup v1
		dir = filepath.Join(cgroupRoot, "memory")
	}
	return capabilitiesOf(os.Geteuid(), capEff, unix.Access(dir, unix.W_OK) == nil)
}

// capabilitiesOf decides from the effective uid, the effective capability
// set and whether the cgroup hierarchy is writable.
func capabilitiesOf(euid int, capEff uint64, cgroupWritable bool) Capabilities {
	has := func(bit uint) bool { return capEff&(1<<bit) != 0 }
	admin := has(capSysAdmin)
	// /proc/sys files are root's, mode 0644; several also check
	// CAP_SYS_ADMIN or CAP_NET_ADMIN.
	sysctl := (euid == 0 || has(capDACOverride)) && admin
	return Capabilities{
		Mount:      admin,
		Sysctl:     sysctl,
		DropCaches: sysctl,
		Cgroups:    cgroupWritable,
		BPF:        admin || has(capBPF) && has(capPerfmon),
	}
}

// Degrade returns a copy of p reduced to what c allows, and one sentence
// for each thing it left out and why (also added to the copy's
// Invocation.Skipped):
//
//   - without Mount, the broker's log dir is a plain directory on the work
//     dir's filesystem (no loop file, mkfs, mount, I/O scheduler or
//     throttle) and no zram swap is added;
//   - without Sysctl, no sysctl is written; without DropCaches the page
//     cache is kept between runs;
//   - without Cgroups, no memory limit is set;
//   - without BPF, no probes are attached (the probes knob is dropped).
//
// A dimension whose levels become the same is left out; a level that
// becomes the same as an earlier one of its dimension is left out too. The
// cells of the copy are named by what remains.
func (p *Plan) Degrade(c Capabilities) (*Plan, []string) {
	q := p.clone()
	var notes []string
	seen := map[string]bool{}
	note := func(s string) {
		if !seen[s] {
			seen[s] = true
			notes = append(notes, s)
		}
	}
	q.Base = strip(q.Base, c, note)
	var matrix []Dimension
	var leftOut []string
	for _, d := range q.Matrix {
		var kept []Level
		var same []string
		keys := map[string]string{} // stripped settings -> level kept
		for _, l := range d.Levels {
			l.Settings = strip(l.Settings, c, note)
			k := settingsKey(l.Settings)
			if first, dup := keys[k]; dup {
				same = append(same, fmt.Sprintf("%s (the same as %s here)", l.Name, first))
				continue
			}
			keys[k] = l.Name
			kept = append(kept, l)
		}
		switch {
		case len(kept) < 2:
			leftOut = append(leftOut, d.Name)
			note(fmt.Sprintf("dimension %s left out: its levels (%s) differ only in what this host cannot change", d.Name, levelNames(d)))
		case len(same) > 0:
			note(fmt.Sprintf("dimension %s: left out level %s", d.Name, strings.Join(same, ", ")))
			matrix = append(matrix, Dimension{Name: d.Name, Levels: kept})
		default:
			matrix = append(matrix, Dimension{Name: d.Name, Levels: kept})
		}
	}
	q.Matrix = matrix
	if q.DropCaches && !c.DropCaches {
		q.DropCaches = false
		note("drop_caches: the page cache is not emptied before each run (writing /proc/sys/vm/drop_caches needs root)")
	}
	if !c.BPF {
		why := c.NoBPFReason
		if why == "" {
			why = "loading eBPF programs needs root, or CAP_BPF and CAP_PERFMON"
		}
		note("probes: not attached (" + why + "); the probe evidence columns are missing")
	}
	if len(notes) > 0 {
		inv := q.invocation()
		inv.Skipped = append(inv.Skipped, notes...)
		inv.LeftOut = append(inv.LeftOut, leftOut...)
	}
	return q, notes
}

// strip removes from s what c does not allow, noting each kind once.
func strip(s Settings, c Capabilities, note func(string)) Settings {
	if !c.Mount {
		if s.Disk != nil && s.Disk.Kind != DiskDir || s.Filesystem != nil {
			note("disk and filesystem: the broker's log dir is a plain directory on the work dir's filesystem, not a loop file, RAM disk or device with its own ext4/xfs (loop devices, mkfs and mount need root)")
			s.Disk, s.Filesystem = nil, nil
		}
		if s.Swap != 0 {
			note("swap: no zram swap added (zram and swapon need root)")
			s.Swap = 0
		}
	}
	if !c.Sysctl && len(s.Sysctl) > 0 {
		keys := slices.Sorted(maps.Keys(s.Sysctl))
		note("sysctl " + strings.Join(keys, ", ") + ": not set, the host's values stay (writing /proc/sys needs root)")
		s.Sysctl = nil
	}
	if !c.Cgroups && s.MemoryLimit != 0 {
		note("memory_limit: the broker runs without a memory limit (creating a cgroup needs root or a delegated cgroup)")
		s.MemoryLimit = 0
	}
	if !c.BPF && s.Probes != "" {
		s.Probes = ""
	}
	return s
}

func settingsKey(s Settings) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func levelNames(d Dimension) string {
	var n []string
	for _, l := range d.Levels {
		n = append(n, l.Name)
	}
	return strings.Join(n, ", ")
}
