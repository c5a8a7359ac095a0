package bench

// The probe-cost experiment decides what the lab's eBPF probes cost the
// broker. A max-rate search is too noisy on a shared machine to see a few
// percent, so the cost is read where it shows directly: at a fixed rate the
// broker holds, the broker's CPU seconds per GB produced (user and system,
// /proc/PID/stat) and the producers' publish p99, with every probe family
// attached to the broker's pid against none, in interleaved pairs (the arm
// order drawn per pair). The report gives each arm's medians and the
// per-pair ratio all/none with its 95% bootstrap interval over pairs.
//
// What the cost is made of comes from one more pass after the pairs, with
// every probe attached and the kernel's run-time accounting of BPF programs
// on (BPF_ENABLE_STATS): each program's runs and run time over the load,
// against the broker's CPU time. The accounting adds two clock reads to
// every program run, so that pass prices nothing; it only ranks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The probe-cost experiment's arms.
const (
	ProbesNone = "none"
	ProbesAll  = "all"
)

// ProbeCostConfig describes a run. Zero values take the documented defaults.
type ProbeCostConfig struct {
	BrokerPath string
	// WorkDir holds each pass's log dir and broker log.
	WorkDir string
	// Workload is the fixed-rate load (default: 1 topic of 16 partitions,
	// 1 KiB records at 20,000/s, 2 producers, 2 consumers, as
	// plans/overhead-fixed.yaml); its durations are replaced by Warmup and
	// Measure. Driver is the clients' settings (default loadgen's).
	Workload *loadgen.Workload
	Driver   *loadgen.Driver
	// Warmup (default 5 s) and Measure (default 20 s) of each pass.
	Warmup, Measure time.Duration
	// Pairs of passes, one per arm each (default 10).
	Pairs  int
	Seed   uint64
	Logger *slog.Logger
}

// probeCostWorkload is workloads/1-topic-16-partitions-1kb.yaml, the load
// plans/overhead-fixed.yaml holds.
const probeCostWorkload = `
name: probe cost
topics: 1
partitionsPerTopic: 16
messageSize: 1024
randomBytesRatio: 0.5
keyDistributor: KEY_ROUND_ROBIN
subscriptionsPerTopic: 1
consumerPerSubscription: 2
producersPerTopic: 2
producerRate: 20000
warmupDurationSeconds: 5
testDurationSeconds: 20
`

func (c *ProbeCostConfig) setDefaults() {
	if c.Workload == nil {
		w, err := loadgen.ParseWorkload([]byte(probeCostWorkload), "")
		if err != nil {
			panic(fmt.Sprintf("the built-in probe-cost workload: %v", err)) // a constant: a test runs it
		}
		c.Workload = &w
	}
	if c.Driver == nil {
		d := loadgen.DefaultDriver()
		c.Driver = &d
	}
	orDefault(&c.Warmup, 5*time.Second)
	orDefault(&c.Measure, 20*time.Second)
	orDefault(&c.Pairs, 10)
	seedAndLogger(&c.Seed, &c.Logger)
}

// ProbeCostPass is one pass of one arm.
type ProbeCostPass struct {
	Arm   string `json:"arm"`
	Round int    `json:"round"`
	Order int    `json:"order"`
	// Server is the broker's CPU and peak RSS over the whole load (warm-up,
	// measure and drain), against the bytes acknowledged over it.
	Server ServerUse `json:"server"`
	// PublishP99Us and PublishRate are from the measured phase.
	PublishP99Us int64   `json:"publish_p99_us"`
	PublishRate  float64 `json:"publish_rate"`
	TargetHeld   bool    `json:"target_held"`
	// Families are the probe families that loaded (arm all).
	Families []string `json:"families,omitempty"`
}

// ProbeCostReport is the outcome of RunProbeCost.
type ProbeCostReport struct {
	Rate    float64         `json:"rate"`
	Size    int             `json:"size"`
	Measure float64         `json:"measure_seconds"`
	Pairs   int             `json:"pairs"`
	Seed    uint64          `json:"seed"`
	Passes  []ProbeCostPass `json:"passes"`
	// Attribution is the pass with run-time accounting on (nil when the
	// run stopped before it, or the kernel has no BPF_ENABLE_STATS).
	Attribution *ProbeAttribution `json:"attribution,omitempty"`
}

// ProbeAttribution is what each attached program ran over one pass's load
// (warm-up, measure and drain), beside the broker's CPU over the same load.
// Programs run for every event of their tracepoint on the machine, the
// load generator's and the kernel threads' included; the scope filter
// returns early for those.
type ProbeAttribution struct {
	Server   ServerUse        `json:"server"`
	Seconds  float64          `json:"seconds"`
	Programs []bpf.ProgramRun `json:"programs"`
}

// Runtime is the programs' total run time.
func (a *ProbeAttribution) Runtime() time.Duration {
	var d time.Duration
	for _, p := range a.Programs {
		d += p.Runtime
	}
	return d
}

// Share is the programs' run time as a share of the broker's CPU time.
func (a *ProbeAttribution) Share() float64 {
	if cpu := a.Server.CPUSeconds(); cpu > 0 {
		return a.Runtime().Seconds() / cpu
	}
	return 0
}

// RunProbeCost runs the pairs. Arm all needs the privileges to load BPF
// programs; without them it fails rather than measure no probes twice.
func RunProbeCost(ctx context.Context, cfg ProbeCostConfig) (*ProbeCostReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("probe cost: broker path and work dir are required")
	}
	w := *cfg.Workload
	w.WarmupDurationMinutes, w.WarmupDurationSeconds = 0, int(cfg.Warmup.Seconds())
	w.TestDurationMinutes, w.TestDurationSeconds = 0, max(1, int(cfg.Measure.Seconds()))
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("probe cost workload: %w", err)
	}
	rep := &ProbeCostReport{Rate: w.ProducerRate, Size: w.MessageSize, Measure: cfg.Measure.Seconds(), Pairs: cfg.Pairs, Seed: cfg.Seed}
	order := newRounds(cfg.Seed, 3, []string{ProbesNone, ProbesAll})
	for round := range cfg.Pairs {
		for i, arm := range order.next() {
			cfg.Logger.Info("pass", "pair", round+1, "of", cfg.Pairs, "probes", arm)
			p, _, err := probeCostPass(ctx, cfg, w, arm, round)
			if err != nil {
				return rep, fmt.Errorf("pair %d, probes %s: %w", round+1, arm, err)
			}
			p.Order = i
			rep.Passes = append(rep.Passes, p)
		}
	}
	cfg.Logger.Info("pass", "attribution", "every probe, BPF run-time accounting on")
	_, attr, err := probeCostPass(ctx, cfg, w, probesAttribute, cfg.Pairs)
	if errors.Is(err, errNoRunStats) {
		cfg.Logger.Warn("no attribution of the cost to programs", "err", err)
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("attribution pass: %w", err)
	}
	rep.Attribution = attr
	return rep, nil
}

// probesAttribute is the attribution pass's arm: every probe, with the
// kernel's run-time accounting on. Not one of the compared arms.
const probesAttribute = "attribute"

var errNoRunStats = errors.New("BPF run-time statistics unavailable")

// probeCostPass runs one pass of arm on a fresh broker; the attribution
// pass (arm probesAttribute) also returns what each program ran.
func probeCostPass(ctx context.Context, cfg ProbeCostConfig, w loadgen.Workload, arm string, round int) (_ ProbeCostPass, attr *ProbeAttribution, _ error) {
	label := arm + "-" + strconv.Itoa(round)
	dir := filepath.Join(cfg.WorkDir, label)
	defer os.RemoveAll(filepath.Join(dir, "data"))
	b, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: dir, Label: label})
	if err != nil {
		return ProbeCostPass{}, nil, err
	}
	defer b.Stop(30 * time.Second)
	pass := ProbeCostPass{Arm: arm, Round: round}
	var probes *bpf.Probes
	var runs0 []bpf.ProgramRun
	if arm == ProbesAll || arm == probesAttribute {
		if probes, err = bpf.New(bpf.Config{PID: b.Pid(), Logger: cfg.Logger}); err != nil {
			return pass, nil, fmt.Errorf("attaching the probes: %w", err)
		}
		defer probes.Close()
		for _, f := range probes.Loaded() {
			pass.Families = append(pass.Families, string(f))
		}
		if len(pass.Families) == 0 {
			return pass, nil, errors.New("no probe family loaded: this pass would measure no probes")
		}
	}
	if arm == probesAttribute {
		stats, err := bpf.EnableRunStats()
		if err != nil {
			return pass, nil, fmt.Errorf("%w: %w", errNoRunStats, err)
		}
		defer stats.Close()
		if runs0, err = probes.ProgramRuns(); err != nil {
			return pass, nil, err
		}
	}
	start := time.Now()
	m, err := startMeter(b.Pid())
	if err != nil {
		return pass, nil, err
	}
	res, err := loadgen.Run(ctx, w, *cfg.Driver, loadgen.Options{Brokers: []string{b.Addr()}, Label: label, Logger: cfg.Logger})
	if err != nil {
		return pass, nil, fmt.Errorf("load: %w", err)
	}
	if pass.Server, err = m.stop(res.Totals.Acked*int64(w.MessageSize), res.Totals.Acked); err != nil {
		return pass, nil, err
	}
	if arm == probesAttribute {
		runs, err := probes.ProgramRuns()
		if err != nil {
			return pass, nil, err
		}
		attr = &ProbeAttribution{Server: pass.Server, Seconds: time.Since(start).Seconds(), Programs: bpf.SubtractRuns(runs, runs0)}
	}
	if probes != nil {
		// The readings are not the point here, but reading them is part
		// of what a probed run costs.
		if _, err := probes.Snapshot(); err != nil {
			return pass, nil, fmt.Errorf("reading the probes: %w", err)
		}
	}
	pass.PublishP99Us, pass.PublishRate, pass.TargetHeld = res.Aggregate.PublishLatency.P99Us, res.Aggregate.PublishRate, res.Verdict.TargetHeld
	return pass, attr, b.Stop(30 * time.Second)
}

// ProbeCostSummary is one metric over the pairs: each arm's median and the
// per-pair ratio all/none.
type ProbeCostSummary struct {
	Metric    string
	None, All float64
	Ratio     stats.PairedRatio
}

// Summaries compares the arms on server CPU per GB (and its user and system
// parts), CPU per million records and publish p99.
func (r *ProbeCostReport) Summaries() []ProbeCostSummary {
	metrics := []struct {
		name string
		f    func(ProbeCostPass) float64
	}{
		{"server CPU s/GB", func(p ProbeCostPass) float64 { return p.Server.CPUPerGB() }},
		{"server user s/GB", func(p ProbeCostPass) float64 { return p.Server.UserPerGB() }},
		{"server system s/GB", func(p ProbeCostPass) float64 { return p.Server.SystemPerGB() }},
		{"server CPU s/M records", func(p ProbeCostPass) float64 { return p.Server.CPUPerMRecords() }},
		{"publish p99 ms", func(p ProbeCostPass) float64 { return float64(p.PublishP99Us) / 1e3 }},
		{"publish rate msg/s", func(p ProbeCostPass) float64 { return p.PublishRate }},
	}
	var out []ProbeCostSummary
	for _, m := range metrics {
		byRound := map[int]map[string]float64{}
		var none, all []float64
		for _, p := range r.Passes {
			if byRound[p.Round] == nil {
				byRound[p.Round] = map[string]float64{}
			}
			v := m.f(p)
			byRound[p.Round][p.Arm] = v
			if p.Arm == ProbesAll {
				all = append(all, v)
			} else {
				none = append(none, v)
			}
		}
		var base, probed []float64
		for round := range r.Pairs {
			pr, ok := byRound[round]
			if !ok {
				continue
			}
			n, okN := pr[ProbesNone]
			a, okA := pr[ProbesAll]
			if okN && okA {
				base, probed = append(base, n), append(probed, a)
			}
		}
		out = append(out, ProbeCostSummary{Metric: m.name, None: stats.Median(none), All: stats.Median(all), Ratio: stats.Paired(base, probed)})
	}
	return out
}

// Verdict states the probes' CPU cost in one sentence.
func (r *ProbeCostReport) Verdict() string {
	by := map[string]stats.PairedRatio{}
	for _, s := range r.Summaries() {
		by[s.Metric] = s.Ratio
	}
	c := by["server CPU s/GB"]
	if c.N == 0 {
		return "no complete pair: no verdict"
	}
	return fmt.Sprintf("Every probe attached costs the broker %+.1f%% CPU per GB (median of %d interleaved pairs, 95%% CI %s) at %.0f records/s of %d bytes; publish p99 %s.",
		100*(c.Ratio-1), c.N, pctCI(c), r.Rate, r.Size, ratioChange(by["publish p99 ms"]))
}

// AttributionText says in one sentence what the probes' cost is made of:
// the programs' run time against the broker's CPU, and the program that
// ran longest. "" without an attribution pass.
func (r *ProbeCostReport) AttributionText() string {
	a := r.Attribution
	if a == nil || len(a.Programs) == 0 || a.Server.CPUSeconds() <= 0 {
		return ""
	}
	top := a.Programs[0]
	var runs uint64
	for _, p := range a.Programs {
		runs += p.Runs
	}
	return fmt.Sprintf("What it is made of (one more pass, the kernel's BPF run-time accounting on): the programs ran %.0f times a second for %.1f%% of the broker's CPU time; the longest, %s %s, ran %.0f times a second at %d ns a run (%.0f%% of the programs' time).",
		float64(runs)/a.Seconds, 100*a.Share(), top.Family, top.Section, float64(top.Runs)/a.Seconds, top.PerRun().Nanoseconds(),
		100*top.Runtime.Seconds()/a.Runtime().Seconds())
}

// WriteAttribution renders the attribution pass, one row a program that
// ran, longest first.
func (r *ProbeCostReport) WriteAttribution(w io.Writer, markdown bool) error {
	a := r.Attribution
	if a == nil {
		return nil
	}
	t := newTable(w, markdown)
	t.Header("family", "program", "runs/s", "ns/run", "share of the broker's CPU time")
	cpu := a.Server.CPUSeconds()
	for _, p := range a.Programs {
		if p.Runs == 0 {
			continue
		}
		share := "-"
		if cpu > 0 {
			share = fmt.Sprintf("%.2f%%", 100*p.Runtime.Seconds()/cpu)
		}
		if err := t.Append(string(p.Family), p.Section, fmt.Sprintf("%.0f", float64(p.Runs)/a.Seconds), strconv.FormatInt(p.PerRun().Nanoseconds(), 10), share); err != nil {
			return err
		}
	}
	return t.Render()
}

func pctCI(p stats.PairedRatio) string {
	if p.N < 5 {
		return fmt.Sprintf("too few pairs (%d)", p.N)
	}
	return fmt.Sprintf("%+.1f%% to %+.1f%%", 100*(p.Lo-1), 100*(p.Hi-1))
}

func ratioChange(p stats.PairedRatio) string {
	if p.N == 0 {
		return "not compared"
	}
	return fmt.Sprintf("%+.1f%% (95%% CI %s)", 100*(p.Ratio-1), pctCI(p))
}

// WriteTable renders the summaries.
func (r *ProbeCostReport) WriteTable(w io.Writer, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("metric", "no probes (median)", "all probes (median)", "all/none (median of pairs)", "95% CI (bootstrap over pairs)", "range of pairs")
	for _, s := range r.Summaries() {
		if err := t.Append(s.Metric, num(s.None), num(s.All), ratioText(s.Ratio.Ratio), ciText(s.Ratio.Lo, s.Ratio.Hi, s.Ratio.N),
			fmt.Sprintf("%s .. %s", ratioText(s.Ratio.Min), ratioText(s.Ratio.Max))); err != nil {
			return err
		}
	}
	return t.Render()
}

// Save writes dir/probecost.json and, with a pass, dir/probecost.md and the
// table and verdict to stdout.
func (r *ProbeCostReport) Save(dir, workDir string, stdout io.Writer) error {
	if err := SaveRun(dir, "probecost.json", workDir, r); err != nil {
		return err
	}
	if len(r.Passes) == 0 {
		return nil
	}
	if err := r.WriteTable(stdout, false); err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.Verdict())
	if err := r.WriteAttribution(stdout, false); err != nil {
		return err
	}
	if a := r.AttributionText(); a != "" {
		fmt.Fprintln(stdout, a)
	}
	return writeMarkdown(dir, "probecost.md", func(f *os.File) error {
		fmt.Fprintf(f, "# Probe cost at a fixed rate: %.0f records/s of %d bytes, %d interleaved pairs\n\n", r.Rate, r.Size, r.Pairs)
		fmt.Fprintf(f, "Broker CPU is utime+stime over each pass's whole load (/proc/PID/stat) per GB acknowledged; ratios are all/none per pair, the interval a 95%% bootstrap over pairs.\n\n")
		if err := r.WriteTable(f, true); err != nil {
			return err
		}
		fmt.Fprintf(f, "\n%s\n", r.Verdict())
		if r.Attribution != nil {
			fmt.Fprintf(f, "\n## What the cost is made of\n\nOne more pass with every probe attached and the kernel's run-time accounting of BPF programs on (BPF_ENABLE_STATS; it adds two clock reads to every run, so this pass ranks and does not price). A program runs for every event of its tracepoint on the machine, the load generator's included; the pid filter returns early for those.\n\n")
			if err := r.WriteAttribution(f, true); err != nil {
				return err
			}
			fmt.Fprintf(f, "\n%s\n", r.AttributionText())
		}
		return nil
	})
}
