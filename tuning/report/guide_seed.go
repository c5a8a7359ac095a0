package report

import (
	"fmt"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The seed's advice that a sweep dimension cannot answer alone: restart
// time (a recovery bench beside the sweep), and advice this host cannot
// measure (one disk, no sch_netem), said as such with the reason.

// notMeasurable is the verdict of advice that cannot be measured on the
// host the plan ran on; its evidence says why and what it needs.
const notMeasurable = "not measurable here"

// brokerKeyDiffers picks a dimension whose levels set broker key to
// different values.
func brokerKeyDiffers(key string) func([]tuning.Settings) (int, int, bool) {
	return func(levels []tuning.Settings) (int, int, bool) {
		return 0, 0, differ(levels, func(s tuning.Settings) string { return s.Broker[key] })
	}
}

// flushes says whether s makes the broker flush on its own: an interval
// of messages or time, or an fsync before every acknowledgement.
func flushes(s tuning.Settings) bool {
	return s.Broker["log.flush.interval.messages"] != "" || s.Broker["log.flush.interval.ms"] != "" ||
		s.Broker["log.flush.sync.on.ack"] == "true"
}

// pickFlush prefers the level that leaves flushing to the OS and advises
// against every level that flushes.
func pickFlush(levels []tuning.Settings) (int, []int, bool) {
	prefer := -1
	var against []int
	for i, l := range levels {
		switch {
		case flushes(l):
			against = append(against, i)
		case prefer < 0:
			prefer = i
		}
	}
	return prefer, against, prefer >= 0 && len(against) > 0
}

// sockbufBeside: on loopback the bandwidth-delay product is about zero,
// so no socket buffer can be too small; what would show the advice is a
// round-trip time, which needs sch_netem.
func sockbufBeside(g *guide, verdict, ev string) (string, string) {
	h := g.a.Host
	if h == nil || h.Netem == "yes" {
		return verdict, ev
	}
	why := fmt.Sprintf("the load generator reaches the broker over loopback, where the bandwidth-delay product is ~0 "+
		"(an RTT of ~0.05 ms: even 1 GB/s keeps only ~50 KB in flight, far below what TCP autotuning gives by default), so larger buffers cannot help; "+
		"showing the advice needs a real RTT, added with sch_netem in a network namespace, and %s has no sch_netem (%s). "+
		"Run the plan on a host with sch_netem (the Vagrant VM's kernel)", thisHost(h), h.NetemWhy)
	if h.Netem == "unknown" {
		why = fmt.Sprintf("the load generator reaches the broker over loopback, where the bandwidth-delay product is ~0, "+
			"and whether %s has sch_netem to add a round-trip time is unknown (%s)", thisHost(h), h.NetemWhy)
	}
	if verdict != "not measured" {
		why += fmt.Sprintf(". On loopback the plan's comparison was %s: %s", verdict, ev)
	}
	return notMeasurable, why
}

// logDirsBeside: two log dirs help only on two devices; one disk cannot
// show it.
func logDirsBeside(g *guide, verdict, ev string) (string, string) {
	h := g.a.Host
	if verdict != "not measured" || h == nil || len(h.Disks) >= 2 {
		return verdict, ev
	}
	disks := "no disk"
	if len(h.Disks) == 1 {
		disks = "one disk (/dev/" + h.Disks[0] + ")"
	}
	return notMeasurable, fmt.Sprintf("%s has %s in /sys/block besides loop, zram and device-mapper devices; "+
		"two log dirs on one disk, or two loop files on it, share its queue and bandwidth, so they cannot show what a second "+
		"device gives. It needs a host with two disks (the Vagrant VM has spare disks) and %s", thisHost(h), disks, "plans/vm-disks.yaml")
}

// recoveryMetric is what the recovery bench compares: seconds from the
// restart until the broker serves.
var recoveryMetric = tuning.Metric{Title: "seconds to serve", Unit: "s", Direction: tuning.LowerIsBetter}

// recoverySide is one page-cache state of the recovery bench.
type recoverySide struct {
	cache string // "cold" or "warm"
	c     *stats.Comparison
}

// sides are r's comparisons that have runs, cold page cache first.
func (r *Recovery) sides() []recoverySide {
	var out []recoverySide
	for _, s := range []recoverySide{{"cold", r.Cold}, {"warm", r.Warm}} {
		if s.c != nil {
			out = append(out, s)
		}
	}
	return out
}

// recoveryBeside reads the recovery bench of the result dir: restart
// time with more threads against one, cold and warm page cache.
func recoveryBeside(g *guide, verdict, ev string) (string, string) {
	r := g.a.Recovery
	if r == nil {
		return verdict, ev
	}
	var parts []string
	n := map[string]int{}
	for _, side := range r.sides() {
		c := side.c
		v := g.verdictOf(recoveryMetric, c)
		n[v]++
		text := fmt.Sprintf("%s page cache: %.2f s → %.2f s, %s (95%% CI %s, p=%.3f, n=%d+%d)",
			side.cache, c.Base.Center, c.New.Center, c.Delta(), c.RatioCI(), c.AdjustedP, c.Base.N, c.New.N)
		if v == tooFew { // the runs per side are named above
			text += fmt.Sprintf(", too few runs (the U test needs %d a side)", MinTestableRuns)
		} else {
			text += ", " + g.explain(recoveryMetric, c)
		}
		parts = append(parts, text)
	}
	if len(parts) == 0 {
		return verdict, ev
	}
	ev = fmt.Sprintf("restart after SIGKILL of %d partitions, %.1f GB, %d vs %d thread(s), Holm-corrected over cold and warm: %s; %s",
		r.Partitions, float64(r.LogBytes)/1e9, r.Threads, r.Base, strings.Join(parts, "; "), r.File)
	return overall(n, "depends on the page cache"), ev
}

// SeedVerdict is one row of the guide's seed table, for lab check.
type SeedVerdict struct {
	Advice   string `json:"advice"`
	Source   string `json:"source"`
	Verdict  string `json:"verdict"`
	Evidence string `json:"evidence"`
	// Settings are the settings the advice is about, named as lab
	// check names its rows.
	Settings []string `json:"settings,omitempty"`
}

// SeedVerdicts returns the guide's seed table: every piece of the seed's
// advice with the verdict and evidence of a's runs (and what a read
// beside them).
func SeedVerdicts(a *Analysis) ([]SeedVerdict, error) {
	g, err := newGuide(a)
	if err != nil {
		return nil, err
	}
	return g.seedRows(), nil
}

// seedRows is the seed table: each check of the seed's advice with its
// verdict and evidence.
func (g *guide) seedRows() []SeedVerdict {
	var out []SeedVerdict
	for _, ch := range g.checks {
		v, ev := g.seedVerdict(ch)
		out = append(out, SeedVerdict{Advice: ch.claim.advice, Source: ch.claim.source, Verdict: v, Evidence: ev, Settings: ch.claim.settings})
	}
	return out
}
