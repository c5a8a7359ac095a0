package bpf

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ProgramRun is what the kernel has accounted to one attached program while
// run-time statistics were on (EnableRunStats): how often it ran and for
// how long, summed over CPUs. A program runs for every event of its
// tracepoint on the machine; the scope filter (pid, cgroup) returns early
// inside it, so the counts include the events of other processes.
type ProgramRun struct {
	Family  Family        `json:"family"`
	Section string        `json:"section"`
	Runs    uint64        `json:"runs"`
	Runtime time.Duration `json:"runtime_ns"`
}

// PerRun is the program's mean run time.
func (r ProgramRun) PerRun() time.Duration {
	if r.Runs == 0 {
		return 0
	}
	return r.Runtime / time.Duration(r.Runs)
}

// EnableRunStats turns on the kernel's run-time accounting of BPF programs
// (BPF_ENABLE_STATS, Linux 5.8) until the returned Closer is closed. It
// changes no sysctl: the accounting ends with the file descriptor, also
// when the process dies. While it is on, every program run costs two more
// clock reads, so measure cost with it off and attribute cost with it on.
func EnableRunStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	return c, nil
}

// ProgramRuns returns the kernel's run count and run time of every attached
// program, largest run time first. They are totals since the program was
// loaded, counted only while run-time statistics were on; subtract an
// earlier reading (SubtractRuns) to get a window.
func (p *Probes) ProgramRuns() ([]ProgramRun, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("reading program statistics: %w", os.ErrClosed)
	}
	var out []ProgramRun
	for _, l := range p.fams {
		for i, prog := range l.progs {
			st, err := prog.Stats()
			if err != nil {
				return nil, fmt.Errorf("statistics of %s program at %s: %w", l.family, l.methods[i], err)
			}
			out = append(out, ProgramRun{Family: l.family, Section: l.methods[i], Runs: st.RunCount, Runtime: st.Runtime})
		}
	}
	sortRuns(out)
	return out, nil
}

// SubtractRuns returns later minus earlier, program by program (matched by
// family and section), largest run time first.
func SubtractRuns(later, earlier []ProgramRun) []ProgramRun {
	out := make([]ProgramRun, 0, len(later))
	for _, r := range later {
		i := slices.IndexFunc(earlier, func(e ProgramRun) bool { return e.Family == r.Family && e.Section == r.Section })
		if i >= 0 {
			r.Runs -= min(r.Runs, earlier[i].Runs)
			r.Runtime -= min(r.Runtime, earlier[i].Runtime)
		}
		out = append(out, r)
	}
	sortRuns(out)
	return out
}

func sortRuns(rs []ProgramRun) {
	slices.SortStableFunc(rs, func(a, b ProgramRun) int {
		return cmp.Or(cmp.Compare(b.Runtime, a.Runtime), cmp.Compare(a.Family, b.Family), cmp.Compare(a.Section, b.Section))
	})
}
