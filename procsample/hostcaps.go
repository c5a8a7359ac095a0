package procsample

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
)

// HostCaps is what a host offers that some lab measurements need: more
// than one real disk (log.dirs on two devices) and the sch_netem qdisc (a
// round-trip time on a link, without which socket buffers cannot matter
// over loopback). A run records it in its environment, so that its guide
// says what the run's host could not measure, wherever it is rendered.
type HostCaps struct {
	// Disks are the block devices that are real devices (those with a
	// device link under /sys/block: not loop, zram, ram or device-mapper).
	Disks []string `json:"disks"`
	// Netem is "yes", "no" or "unknown": whether the sch_netem qdisc,
	// which adds a round-trip time to a link, is available.
	Netem string `json:"netem"`
	// NetemWhy says how Netem was decided ("CONFIG_NET_SCH_NETEM is not
	// set in /proc/config.gz").
	NetemWhy string `json:"netem_why"`
	// Rendering marks facts read where a report was rendered rather than
	// recorded with the run (a run from before runs recorded them).
	Rendering bool `json:"-"`
}

// ReadHostCaps reads the host's disks from sysRoot/block and whether the
// kernel has sch_netem from procRoot/config.gz, else from the modules of
// the running kernel under modulesRoot/<release>.
func ReadHostCaps(procRoot, sysRoot, modulesRoot string) HostCaps {
	var h HostCaps
	if ents, err := os.ReadDir(filepath.Join(sysRoot, "block")); err == nil {
		for _, e := range ents {
			if _, err := os.Stat(filepath.Join(sysRoot, "block", e.Name(), "device")); err == nil {
				h.Disks = append(h.Disks, e.Name())
			}
		}
	}
	h.Netem, h.NetemWhy = netem(procRoot, modulesRoot)
	return h
}

func netem(procRoot, modulesRoot string) (string, string) {
	const opt = "CONFIG_NET_SCH_NETEM"
	cfgPath := filepath.Join(procRoot, "config.gz")
	release := ""
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/osrelease")); err == nil {
		release = strings.TrimSpace(string(b))
	}
	modDir := filepath.Join(modulesRoot, release)
	if v, ok := kernelConfig(cfgPath, opt); ok {
		switch v {
		case "n":
			return "no", opt + " is not set in " + cfgPath
		case "y":
			return "yes", opt + "=y in " + cfgPath
		case "m":
			if release != "" && hasModule(modDir, "sch_netem") {
				return "yes", opt + "=m in " + cfgPath + " and the module is installed"
			}
			return "no", opt + "=m in " + cfgPath + " but sch_netem is not installed under " + modDir
		default:
			return "no", opt + " is absent from " + cfgPath
		}
	}
	if release != "" {
		if hasModule(modDir, "sch_netem") {
			return "yes", "sch_netem is among the modules under " + modDir
		}
		if _, err := os.Stat(modDir); err == nil {
			return "no", "sch_netem is not among the modules under " + modDir
		}
	}
	return "unknown", "neither " + cfgPath + " nor the kernel's modules under " + modulesRoot + " could be read"
}

// kernelConfig reads option from the gzipped kernel config at path: "y",
// "m", "n" (a "is not set" line) or "" (absent); false when the file
// cannot be read to its end.
func kernelConfig(path, option string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", false
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		switch line := sc.Text(); line {
		case "# " + option + " is not set":
			return "n", true
		case option + "=y":
			return "y", true
		case option + "=m":
			return "m", true
		}
	}
	return "", sc.Err() == nil
}

// hasModule says whether module (built in or loadable) is listed in the
// kernel module dir's modules.builtin or modules.dep.
func hasModule(dir, module string) bool {
	for _, f := range []string{"modules.builtin", "modules.dep"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, _, _ := strings.Cut(line, ":")
			base := filepath.Base(name)
			if base == module+".ko" || strings.HasPrefix(base, module+".ko.") {
				return true
			}
		}
	}
	return false
}
