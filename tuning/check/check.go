// Package check compares a host's settings with the lab's advice, in the
// spirit of `rpk redpanda check`: it reads the current values from /proc
// and /sys (sysctls, transparent huge pages, swap, the CPU frequency
// governor, the clocksource, a process's open-file limit, and for each log
// directory its filesystem, mount options and I/O scheduler) and reports,
// per setting, the current value, the advised one, where the advice comes
// from (the seed chapter, Kafka's documentation, or a lab run's Apply
// files) and PASS, WARN or INFO (no advice to check against). With a lab
// run (FromRun; NewestRun finds the newest under results/), each row the
// run's guide has a verdict on shows the run, the verdict and its evidence.
package check

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/sysfs"

	"github.com/brokerlab/brokerlab/internal/properties"
	"github.com/brokerlab/brokerlab/procsample"
)

// Statuses of a row.
const (
	Pass = "PASS"
	Warn = "WARN"
	// Info: the value is shown, but nothing advises on it.
	Info = "INFO"
	// Unknown: the value could not be read here.
	Unknown = "N/A"
)

// Row is one setting.
type Row struct {
	Setting string `json:"setting"`
	Current string `json:"current"`
	Advised string `json:"advised"`
	Source  string `json:"source"`
	Status  string `json:"status"`
	// Run names the lab run whose verdict is shown; Verdict and Evidence
	// are its verdict on the advice about this setting (the guide's seed
	// table), empty when no run was read or it says nothing about it.
	Run      string `json:"run,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// RunVerdict is a lab run's verdict on the advice about one setting.
type RunVerdict struct {
	Setting  string
	Run      string
	Verdict  string
	Evidence string
}

// Advice is what a setting should be and why.
type Advice struct {
	// Setting names the row ("vm.swappiness", "log dir mount options").
	Setting string
	// Want is the advised value in words ("60-80", "xfs").
	Want string
	// Source says where the advice comes from.
	Source string
	// Run names the lab run whose findings the advice is (FromApply); ""
	// for the seed's.
	Run string
	// OK says whether a current value follows the advice.
	OK func(current string) bool
}

// Config says where to read and what to check.
type Config struct {
	// ProcRoot and SysRoot default to /proc and /sys.
	ProcRoot, SysRoot string
	// PID is the process whose open-file limit is read (the broker); 0
	// reads the lab's own ("self").
	PID int
	// LogDirs are the broker's log directories (from -config's log.dirs).
	LogDirs []string
	// Properties is the broker's server.properties, when given: its keys
	// are checked against advice on broker settings.
	Properties map[string]string
	// Advice replaces the seed's (Seed()) where it names the same
	// setting, and adds to it otherwise (a lab run's findings).
	Advice []Advice
	// Verdicts are a lab run's verdicts (FromRun), shown on the rows of
	// their settings; a setting with a verdict and no row gets one.
	Verdicts []RunVerdict
}

// The sysctls shown; those the seed advises on are checked.
var sysctls = []string{
	"vm.swappiness", "vm.dirty_ratio", "vm.dirty_background_ratio",
	"net.core.wmem_max", "net.core.rmem_max", "net.ipv4.tcp_wmem", "net.ipv4.tcp_rmem",
	"vm.max_map_count", "fs.file-max",
}

// Seed is the advice of the seed chapter and Kafka's documentation.
func Seed() []Advice {
	return []Advice{
		{Setting: "vm.swappiness", Want: "low (≤ 10)", Source: `seed §6: "vm.swappiness를 낮게"`, OK: atMost(10)},
		{Setting: "vm.dirty_ratio", Want: "60-80", Source: `seed §6: "더티 페이지의 비율을 60-80으로 유지"`, OK: between(60, 80)},
		// 212992 is the kernel's default net.core.{w,r}mem_max
		// (SK_WMEM_MAX/SK_RMEM_MAX in include/net/sock.h, 256 skbs of 832 bytes).
		{Setting: "net.core.wmem_max", Want: "raised (> 212992, the kernel default)", Source: `seed §6: "송수신 버퍼 ... 최대 메모리량을 변경"`, OK: above(212992)},
		{Setting: "net.core.rmem_max", Want: "raised (> 212992, the kernel default)", Source: `seed §6: "송수신 버퍼 ... 최대 메모리량을 변경"`, OK: above(212992)},
		{Setting: "log dir filesystem", Want: "xfs", Source: `seed §6: "EXT4 vs. XFS(안전, 효율적)"`, OK: func(c string) bool { return c == "xfs" }},
		{Setting: "log dir mount options", Want: "noatime", Source: "Kafka docs, Hardware and OS, General Filesystem Notes: noatime", OK: hasOption("noatime")},
		// Kafka's documentation (Hardware and OS, File descriptor limits): "at least
		// 100000 allowed file descriptors for the broker processes".
		{Setting: "open files limit", Want: "≥ 100000", Source: "Kafka docs, Hardware and OS, File descriptor limits", OK: atLeast(100000)},
	}
}

// Run reads the host and returns the rows, in a fixed order: sysctls, THP,
// swap, CPU, clocksource, the file limit, each log dir's rows, then the
// broker settings of the advice. Values that cannot be read are N/A rows,
// not errors; the error is for an unreadable ProcRoot alone.
func Run(cfg Config) ([]Row, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	if _, err := os.Stat(cfg.ProcRoot); err != nil {
		return nil, fmt.Errorf("reading the host's settings: %w", err)
	}
	advice := map[string]Advice{}
	var order []string
	for _, a := range slices.Concat(Seed(), cfg.Advice) {
		if _, ok := advice[a.Setting]; !ok {
			order = append(order, a.Setting)
		}
		advice[a.Setting] = a
	}
	verdicts := map[string]RunVerdict{}
	for _, v := range cfg.Verdicts {
		if _, ok := advice[v.Setting]; !ok && !slices.Contains(order, v.Setting) {
			order = append(order, v.Setting)
		}
		verdicts[v.Setting] = v
	}
	var rows []Row
	seen := map[string]bool{}
	row := func(setting, current string, readErr error) {
		seen[setting] = true
		r := Row{Setting: setting, Current: current, Advised: "—", Status: Info}
		a, advised := advice[setting]
		if advised {
			r.Advised, r.Source = a.Want, a.Source
			r.Status = Warn
			if a.OK(current) {
				r.Status = Pass
			}
		}
		if v, ok := verdicts[setting]; ok {
			r.Run, r.Verdict, r.Evidence = v.Run, v.Verdict, v.Evidence
			// A run that contradicts the advice (as a finding) voids it
			// here: nothing to pass or warn against.
			if v.Verdict == "does not hold" && advised && a.Run == "" {
				r.Advised, r.Status = "not the seed's "+r.Advised+": the lab run contradicts it", Info
			}
		}
		if readErr != nil {
			r.Current, r.Status = "unreadable: "+readErr.Error(), Unknown
		}
		rows = append(rows, r)
	}
	pfs, err := procfs.NewFS(cfg.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", cfg.ProcRoot, err)
	}
	sfs, sysErr := sysfs.NewFS(cfg.SysRoot)

	values := procsample.ReadSysctls(cfg.ProcRoot, sysctls)
	for _, k := range sysctls {
		v, ok := values[k]
		var err error
		if !ok {
			err = errors.New("not in this kernel's /proc/sys")
		}
		row(k, v, err)
	}
	thp, err := procsample.ReadTHP(cfg.SysRoot)
	row("transparent hugepages", thp, err)
	// fromSysfs reads with read, or fails as opening the sysfs did.
	fromSysfs := func(read func(sysfs.FS) (string, error)) func() (string, error) {
		return func() (string, error) {
			if sysErr != nil {
				return "", sysErr
			}
			return read(sfs)
		}
	}
	for _, r := range []struct {
		name string
		read func() (string, error)
	}{
		{"swap", func() (string, error) { return swapOf(pfs) }},
		{"CPU frequency governor", fromSysfs(governorOf)},
		{"clocksource", fromSysfs(clocksourceOf)},
		{"open files limit", func() (string, error) { return fileLimitOf(pfs, cfg.PID) }},
	} {
		v, err := r.read()
		row(r.name, v, err)
	}

	mounts, mountErr := procsample.ReadMounts(cfg.ProcRoot)
	for _, dir := range cfg.LogDirs {
		m, err := mountOf(mounts, mountErr, dir)
		label := func(s string) string {
			if len(cfg.LogDirs) > 1 {
				return s + " (" + dir + ")"
			}
			return s
		}
		// One advice covers every log dir: checked under the plain name.
		for _, r := range []struct{ name, value string }{
			{"log dir filesystem", m.FSType},
			{"log dir mount options", m.Options},
		} {
			row(r.name, r.value, err)
			rows[len(rows)-1].Setting = label(r.name)
		}
		sched := ""
		if err == nil {
			sched, err = procsample.ReadScheduler(cfg.SysRoot, m.MajorMinor)
		}
		row("log dir I/O scheduler", sched, err)
		rows[len(rows)-1].Setting = label("log dir I/O scheduler")
	}
	// Advice on broker settings (server.properties lines of a lab run),
	// and any other advice not shown yet.
	for _, s := range order {
		if seen[s] {
			continue
		}
		key, isProp := strings.CutPrefix(s, "server.properties ")
		switch {
		case isProp && cfg.Properties != nil:
			v, ok := cfg.Properties[key]
			if !ok {
				v = "(unset: the broker's default)"
			}
			row(s, v, nil)
		case isProp:
			row(s, "", errors.New("no -config server.properties given"))
		case strings.HasPrefix(s, "log dir "):
			row(s, "", errors.New("no log dir given (-config with log.dirs, or -log-dir)"))
		default:
			row(s, "", errors.New("not read by lab check"))
		}
	}
	return rows, nil
}

func swapOf(pfs procfs.FS) (string, error) {
	swaps, err := pfs.Swaps()
	if err != nil {
		return "", err
	}
	if len(swaps) == 0 {
		return "none", nil
	}
	var parts []string
	for _, s := range swaps {
		parts = append(parts, fmt.Sprintf("%s (%s, %d MiB)", s.Filename, s.Type, s.Size>>10))
	}
	return strings.Join(parts, ", "), nil
}

func governorOf(sfs sysfs.FS) (string, error) {
	stats, err := sfs.SystemCpufreq()
	if err != nil {
		return "", err
	}
	var govs []string
	for _, s := range stats {
		if s.Governor != "" && !slices.Contains(govs, s.Governor) {
			govs = append(govs, s.Governor)
		}
	}
	if len(govs) == 0 {
		return "not exposed (no cpufreq: a VM or a fixed-frequency CPU)", nil
	}
	return strings.Join(govs, ", "), nil
}

func clocksourceOf(sfs sysfs.FS) (string, error) {
	cs, err := sfs.ClockSources()
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", errors.New("no clocksource under devices/system/clocksource")
	}
	return fmt.Sprintf("%s (available: %s)", cs[0].Current, strings.Join(cs[0].Available, " ")), nil
}

func fileLimitOf(pfs procfs.FS, pid int) (string, error) {
	var p procfs.Proc
	var err error
	if pid == 0 {
		p, err = pfs.Self()
	} else {
		p, err = pfs.Proc(pid)
	}
	if err != nil {
		return "", err
	}
	l, err := p.Limits()
	if err != nil {
		return "", err
	}
	who := "this process"
	if pid != 0 {
		who = "pid " + strconv.Itoa(pid)
	}
	if l.OpenFiles == ^uint64(0) { // procfs reads "unlimited" as the maximum
		return "unlimited (" + who + ")", nil
	}
	return fmt.Sprintf("%d (%s)", l.OpenFiles, who), nil
}

// mountOf finds the mount holding dir: the longest mount point containing
// its path (symlinks resolved where the path exists).
func mountOf(mounts []procsample.Mount, readErr error, dir string) (procsample.Mount, error) {
	if readErr != nil {
		return procsample.Mount{}, readErr
	}
	path := filepath.Clean(dir)
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	} else if !errors.Is(err, fs.ErrNotExist) {
		return procsample.Mount{}, err
	}
	m, ok := procsample.MountContaining(mounts, path, "")
	if !ok {
		return procsample.Mount{}, fmt.Errorf("no mount holds %s", dir)
	}
	return m, nil
}

// LogDirsOf returns the log.dirs (or log.dir) of a server.properties.
func LogDirsOf(props map[string]string) []string {
	v := props["log.dirs"]
	if v == "" {
		v = props["log.dir"]
	}
	var out []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// ReadProperties reads a server.properties.
func ReadProperties(path string) (map[string]string, error) {
	return properties.ReadFile(path)
}

// FromApply reads a lab run's Apply files (dir/apply/, written by lab
// guide) as advice: each sysctl, mount option and server.properties line,
// with the finding comment above it as its source.
func FromApply(resultDir string) ([]Advice, error) {
	root := filepath.Join(resultDir, "apply")
	run := filepath.Base(filepath.Clean(resultDir))
	if _, err := os.Stat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // a run without findings writes no apply files
		}
		return nil, err
	}
	var out []Advice
	for _, f := range []struct {
		name  string
		parse func(line, source string) []Advice
	}{
		{"sysctl.d/99-brokerlab.conf", func(line, src string) []Advice {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil
			}
			k, v = strings.TrimSpace(k), strings.Join(strings.Fields(v), " ")
			return []Advice{{Setting: k, Want: v, Source: src, OK: func(c string) bool { return strings.Join(strings.Fields(c), " ") == v }}}
		}},
		{"fstab", func(line, src string) []Advice {
			f := strings.Fields(line)
			if len(f) < 4 {
				return nil
			}
			fsType, opts := f[2], f[3]
			var want []string
			for _, o := range strings.Split(opts, ",") {
				if o != "defaults" {
					want = append(want, o)
				}
			}
			return []Advice{
				{Setting: "log dir filesystem", Want: fsType, Source: src, OK: func(c string) bool { return c == fsType }},
				{Setting: "log dir mount options", Want: opts, Source: src, OK: func(c string) bool {
					for _, o := range want {
						if !hasOption(o)(c) {
							return false
						}
					}
					return true
				}},
			}
		}},
		{"server.properties", func(line, src string) []Advice {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil
			}
			return []Advice{{Setting: "server.properties " + k, Want: v, Source: src, OK: func(c string) bool { return c == v }}}
		}},
	} {
		file := filepath.Join(root, f.name)
		fh, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		var findings []string
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "":
				findings = nil
			case strings.HasPrefix(line, "# finding: "):
				findings = append(findings, strings.TrimPrefix(line, "# "))
			case strings.HasPrefix(line, "#"):
			default:
				src := "lab run " + run
				if len(findings) > 0 {
					src += ": " + strings.Join(findings, "; ")
				}
				for _, a := range f.parse(line, src) {
					a.Run = run
					out = append(out, a)
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
	}
	return out, nil
}

func num(s string) (float64, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}

func atMost(n float64) func(string) bool {
	return func(c string) bool { v, ok := num(c); return ok && v <= n }
}

func atLeast(n float64) func(string) bool {
	return func(c string) bool {
		if strings.HasPrefix(c, "unlimited") {
			return true
		}
		v, ok := num(c)
		return ok && v >= n
	}
}

func above(n float64) func(string) bool {
	return func(c string) bool { v, ok := num(c); return ok && v > n }
}

func between(lo, hi float64) func(string) bool {
	return func(c string) bool { v, ok := num(c); return ok && v >= lo && v <= hi }
}

func hasOption(o string) func(string) bool {
	return func(c string) bool { return slices.Contains(strings.Split(c, ","), o) }
}
