package report

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// What a guide reads beside its run files: the recovery bench that make
// tune runs into the same result dir, and the facts of the host that make
// some of the seed's advice impossible to measure here.

// Host is what the guide needs to know about the machine the plan ran on
// to say why a piece of advice cannot be measured on it.
type Host struct {
	// Disks are the block devices that are real devices (those with a
	// device link under /sys/block: not loop, zram, ram or device-mapper).
	Disks []string
	// Netem is "yes", "no" or "unknown": whether the sch_netem qdisc,
	// which adds a round-trip time to a link, is available.
	Netem string
	// NetemWhy says how Netem was decided ("CONFIG_NET_SCH_NETEM is not
	// set in /proc/config.gz").
	NetemWhy string
}

// ReadHost reads the host's disks from sysRoot/block and whether the
// kernel has sch_netem from procRoot/config.gz, else from the modules of
// the running kernel under modulesRoot/<release>.
func ReadHost(procRoot, sysRoot, modulesRoot string) Host {
	var h Host
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

// Recovery is the restart timing of lab recovery: seconds to serve by
// num.recovery.threads.per.data.dir, cold and warm page cache.
type Recovery struct {
	// File is the recovery.json, relative to the result dir.
	File string
	// Base and Threads are the thread counts compared: the first and the
	// last of the bench's.
	Base, Threads int
	// Partitions and LogBytes describe the log that was recovered.
	Partitions int
	LogBytes   int64
	// Cold and Warm compare Threads with Base (seconds to serve), Holm
	// corrected as one family; nil where a side has no runs.
	Cold, Warm *stats.Comparison
}

// recoveryFile is the part of lab recovery's recovery.json the guide reads.
type recoveryFile struct {
	Report struct {
		Config struct {
			Threads []int `json:"threads"`
		} `json:"config"`
		Data struct {
			Partitions   int   `json:"partitions"`
			LogFileBytes int64 `json:"log_file_bytes"`
		} `json:"data"`
		Runs []recoveryRun `json:"runs"`
	} `json:"report"`
}

// recoveryRun is one measured start in recovery.json.
type recoveryRun struct {
	Threads int     `json:"threads"`
	Cache   string  `json:"cache"`
	Seconds float64 `json:"seconds"`
}

// ReadRecovery reads the newest dir/*-recovery/recovery.json; nil, nil
// when there is none.
func ReadRecovery(dir string) (*Recovery, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*-recovery", "recovery.json"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	slices.Sort(files)
	path := files[len(files)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f recoveryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	th := f.Report.Config.Threads
	if len(th) < 2 {
		return nil, fmt.Errorf("%s: compares %d thread counts, want at least 2", path, len(th))
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		rel = path
	}
	r := &Recovery{File: filepath.ToSlash(rel), Base: th[0], Threads: th[len(th)-1],
		Partitions: f.Report.Data.Partitions, LogBytes: f.Report.Data.LogFileBytes}
	secs := func(threads int, cache string) []float64 {
		var out []float64
		for _, run := range f.Report.Runs {
			if run.Threads == threads && run.Cache == cache && run.Seconds > 0 {
				out = append(out, run.Seconds)
			}
		}
		return out
	}
	byCache := func(cache string) *stats.Comparison {
		base, n := secs(r.Base, cache), secs(r.Threads, cache)
		if len(base) == 0 || len(n) == 0 {
			return nil
		}
		c := stats.Compare(base, n)
		return &c
	}
	r.Cold, r.Warm = byCache("cold"), byCache("warm")
	var family []*stats.Comparison
	for _, side := range r.sides() {
		family = append(family, side.c)
	}
	stats.Holm(family)
	return r, nil
}

// ReadBeside reads what the guide of the result dir needs beside its run
// files: the host (h) and dir's recovery bench, if any.
func (a *Analysis) ReadBeside(dir string, h Host) error {
	a.Host = &h
	r, err := ReadRecovery(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	a.Recovery = r
	return nil
}

// AnalyzeDir analyzes the run files of result dir dir (Analyze) and reads
// what lies beside them (ReadBeside), h being the host the plan ran on.
func AnalyzeDir(dir string, plan *tuning.Plan, h Host) (*Analysis, error) {
	recs, err := tuning.ReadRecords(dir)
	if err != nil {
		return nil, err
	}
	a, err := Analyze(plan, recs)
	if err != nil {
		return nil, err
	}
	if err := a.ReadBeside(dir, h); err != nil {
		return nil, err
	}
	return a, nil
}
