package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
)

// The Apply section and files: what the findings say to change, as a
// sysctl.d fragment, an fstab line, server.properties lines and an
// environment file. Only a dimension's recommended level (a finding for
// the better, worse nowhere) and the recovery bench beside the runs (a
// finding for the better with a cold and a warm page cache) contribute,
// each line under a comment naming the finding, its interval and the
// file behind it.

// applyFile is one file of the Apply section.
type applyFile struct {
	// name is the path under apply/; what says how to use it.
	name, what string
	lines      []applyLine
}

type applyLine struct {
	because []string // the findings, one comment line each
	line    string
}

// Apply file names under a result dir's apply/.
const (
	ApplyDir        = "apply"
	applySysctl     = "sysctl.d/99-brokerlab.conf"
	applyFstab      = "fstab"
	applyProperties = "server.properties"
	applyEnv        = "broker.env"
)

// apply collects the files; the second result lists the recommended
// settings no file can carry (a memory limit, a disk kind), in words.
func (g *guide) apply() ([]applyFile, []string) {
	files := []applyFile{
		{name: applySysctl, what: "copy to /etc/sysctl.d/ and run `sysctl --system`"},
		{name: applyFstab, what: "the log disk's line for /etc/fstab: replace LOG_DEVICE and /var/lib/kafka with your log.dirs disk and mount point"},
		{name: applyProperties, what: "add to the broker's server.properties"},
		{name: applyEnv, what: "the broker's environment (a systemd EnvironmentFile=, or export before starting it)"},
	}
	add := func(i int, because []string, line string) {
		files[i].lines = append(files[i].lines, applyLine{because, line})
	}
	var other []string
	for _, d := range g.a.Plan.Matrix {
		best, _ := g.recommendation(g.findings[d.Name])
		if best == nil {
			continue
		}
		var l tuning.Level
		for _, x := range d.Levels {
			if x.Name == best.level {
				l = x
			}
		}
		because := g.because(d, best)
		s := l.Settings
		for _, k := range slices.Sorted(maps.Keys(s.Sysctl)) {
			add(0, because, k+" = "+s.Sysctl[k])
		}
		if fs := s.Filesystem; fs != nil {
			opts := "defaults"
			if len(fs.MountOptions) > 0 {
				opts = strings.Join(fs.MountOptions, ",")
			}
			b := because
			if len(fs.MkfsOptions) > 0 {
				b = append(slices.Clone(b), "made with mkfs."+fs.Type+" "+strings.Join(fs.MkfsOptions, " "))
			}
			add(1, b, fmt.Sprintf("LOG_DEVICE /var/lib/kafka %s %s 0 0", fs.Type, opts))
		}
		for _, k := range slices.Sorted(maps.Keys(s.Broker)) {
			add(2, because, k+"="+s.Broker[k])
		}
		if rt := s.Runtime; rt != nil {
			if rt.GOGC != "" {
				add(3, because, "GOGC="+rt.GOGC)
			}
			if rt.GOMEMLIMIT != "" {
				add(3, because, "GOMEMLIMIT="+rt.GOMEMLIMIT)
			}
			if rt.GOMAXPROCS != "" {
				add(3, because, "GOMAXPROCS="+rt.GOMAXPROCS)
			}
		}
		if s.MemoryLimit != 0 {
			other = append(other, fmt.Sprintf("%s = %s: a memory limit of %s for the broker's cgroup (systemd MemoryMax=)", d.Name, l.Name, s.MemoryLimit))
		}
		if s.Disk != nil {
			other = append(other, fmt.Sprintf("%s = %s: the log disk as the plan set it (%s)", d.Name, l.Name, s.Disk.Kind))
		}
	}
	if because, line := g.recoveryApply(); line != "" {
		key, _, _ := strings.Cut(line, "=")
		i := slices.IndexFunc(files[2].lines, func(l applyLine) bool { return strings.HasPrefix(l.line, key+"=") })
		switch {
		case i < 0:
			add(2, because, line)
		case files[2].lines[i].line == line:
			files[2].lines[i].because = append(files[2].lines[i].because, because...)
		default:
			other = append(other, fmt.Sprintf("%s: the recovery bench advises %s, a swept dimension %s; re-run both before choosing",
				key, line, files[2].lines[i].line))
		}
	}
	return files, other
}

// recoveryApply is the recovery bench's server.properties line and its
// comments: the bench's thread count where restarts were faster as a
// finding (significant after Holm over cold and warm, beyond the practical
// threshold) with a cold AND a warm page cache. A restart meets either
// (a host reboot the cold one, a broker crash the warm one), so a finding
// in one state alone is not advice to apply; "" when there is none.
func (g *guide) recoveryApply() ([]string, string) {
	r := g.a.Recovery
	if r == nil || r.Cold == nil || r.Warm == nil {
		return nil, ""
	}
	const key = "num.recovery.threads.per.data.dir"
	var because []string
	for _, side := range r.sides() {
		c := side.c
		if g.verdictOf(recoveryMetric, c) != "better" {
			return nil, ""
		}
		because = append(because, fmt.Sprintf("finding: %s = %d vs %d (restart after SIGKILL, %s page cache): %s %.2f s → %.2f s, %.2f× faster, %+.1f%% (95%% CI %s, p=%.3f after Holm over cold and warm; %s, n=%d+%d)",
			key, r.Threads, r.Base, side.cache, recoveryMetric.Title, c.Base.Center, c.New.Center,
			c.Base.Center/c.New.Center, 100*c.Change(), c.RatioCI(), c.AdjustedP, r.File, c.Base.N, c.New.N))
	}
	return because, fmt.Sprintf("%s=%d", key, r.Threads)
}

// because is the comment for a recommended level's lines: each context
// where it was a finding, with its interval, and the runs.
func (g *guide) because(d tuning.Dimension, best *cand) []string {
	var out []string
	for _, f := range best.better {
		c := g.cs.get(f.p, g.obj.Key)
		out = append(out, fmt.Sprintf("finding: %s = %s vs %s%s: %s %s → %s, %+.1f%% (95%% CI %s, p=%.3f after Holm; runs %s-r*.json vs %s-r*.json, n=%d+%d)",
			d.Name, best.level, d.Levels[0].Name, with(f.ctx), g.obj.Title, withUnit(g.obj, c.Base.Center), withUnit(g.obj, c.New.Center),
			100*c.Change(), c.RatioCI(), c.AdjustedP, f.p.cell.Cell.ID, f.p.base.Cell.ID, c.New.N, c.Base.N))
	}
	return out
}

// writeFile writes one Apply file's text.
func (f applyFile) write(w io.Writer, plan string) {
	fmt.Fprintf(w, "# Generated by the lab from plan %s: only practical, significant findings.\n", plan)
	fmt.Fprintf(w, "# %s. Re-run the plan on your own hardware before applying it there.\n", strings.ToUpper(f.what[:1])+f.what[1:])
	for _, l := range f.lines {
		fmt.Fprintln(w)
		for _, b := range l.because {
			fmt.Fprintf(w, "# %s\n", b)
		}
		fmt.Fprintln(w, l.line)
	}
}

// writeApply is the guide's Apply section.
func (g *guide) writeApply(w *bufio.Writer) {
	files, other := g.apply()
	fmt.Fprintf(w, "## Apply\n\n")
	n := 0
	for _, f := range files {
		n += len(f.lines)
	}
	if n == 0 && len(other) == 0 {
		fmt.Fprintf(w, "Nothing to apply: no dimension had a finding for the better, nor had the recovery bench in both page-cache states (significant after Holm and beyond the practical threshold). "+
			"Keep what you have; the sections above give the smallest difference each comparison could have detected.\n\n")
		return
	}
	fmt.Fprintf(w, "Generated from the findings above only; the same text is in `%s/` next to this guide.\n\n", ApplyDir)
	for _, f := range files {
		if len(f.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "`%s/%s` (%s):\n\n```\n", ApplyDir, f.name, f.what)
		f.write(w, g.a.Plan.Name)
		fmt.Fprintf(w, "```\n\n")
	}
	for _, o := range other {
		fmt.Fprintf(w, "- Not a file: %s.\n", o)
	}
	if len(other) > 0 {
		fmt.Fprintln(w)
	}
}

// WriteApply writes the Apply files of a's findings under dir/apply/,
// replacing what an earlier rendering wrote there, and returns their
// paths. Without findings it writes none.
func WriteApply(dir string, a *Analysis) ([]string, error) {
	g, err := newGuide(a)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, ApplyDir)
	if err := os.RemoveAll(root); err != nil {
		return nil, fmt.Errorf("removing the old apply files: %w", err)
	}
	files, _ := g.apply()
	var out []string
	for _, f := range files {
		if len(f.lines) == 0 {
			continue
		}
		p := filepath.Join(root, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return out, err
		}
		var b strings.Builder
		f.write(&b, a.Plan.Name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return out, fmt.Errorf("writing %s: %w", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}
