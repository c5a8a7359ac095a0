package bench

// The versus experiment measures the project's broker against franz-go's kfake on
// the same machine, with the same client (librdkafka's rdkafka_performance),
// in interleaved pairs: each round starts both servers on fresh data
// directories in a random order, creates the topic (timed on its own),
// produces N records, consumes them back from the beginning, and stops the
// server. Around each pass it reads the
// server's CPU (user and system, /proc/PID/stat) and its peak resident set
// (VmHWM, reset as the pass starts), so the report gives CPU seconds per GB
// and per million records beside MB/s: a server that keeps up with the
// client at a fraction of the CPU shows it there, not in MB/s.
//
// A comparison is a grid of cells, record size x partitions of the topic;
// every round runs every cell in a fresh random order, both targets per
// cell in a fresh random order. The report gives each side's medians and,
// per metric, the median of the per-round ratios broker/kfake with its 95%
// bootstrap interval over rounds (tuning/stats.Paired) and their range, so
// a noisy machine affects both sides of a pair alike.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// VersusConfig describes a comparison. Zero values take the documented defaults.
type VersusConfig struct {
	// BrokerPath and KfakePath are the two servers' executables (bin/broker,
	// bin/kfake); RdkPerfPath is rdkafka_performance.
	BrokerPath, KfakePath, RdkPerfPath string
	// WorkDir holds the servers' data directories and logs; each round's
	// data is removed when the round ends.
	WorkDir string
	// Pairs is the number of interleaved rounds (default 5).
	Pairs int
	// Sizes are the record sizes compared (default 1024 bytes). Size, when
	// set, is a one-size shorthand used when Sizes is empty.
	Sizes []int
	Size  int
	// Partitions are the topic's partition counts compared (default 1). With
	// more than one the producer spreads records with librdkafka's
	// partitioner and the consumer reads every partition.
	Partitions []int
	// Records per pass for every size; when 0, each size moves PassBytes
	// (default 512,000,000: 500,000 records of 1 KiB).
	Records   int64
	PassBytes int64
	// BrokerOverrides are extra server.properties lines for the broker
	// (key=value), e.g. brokerlab.fetch.mode=copy.
	BrokerOverrides []string
	// BrokerEnv is added to the broker's environment (KEY=VALUE), e.g.
	// GOMAXPROCS=1; kfake runs without it.
	BrokerEnv []string
	// Seed orders the cells and servers within each round (default: time-based).
	Seed   uint64
	Logger *slog.Logger
}

// VersusSizes and VersusPartitions are the full grid (lab versus -grid):
// per-record against per-byte cost, and one partition against many.
var (
	VersusSizes      = []int{100, 1024, 64 << 10}
	VersusPartitions = []int{1, 100, 1000}
)

func (c *VersusConfig) setDefaults() {
	orDefault(&c.Pairs, 5)
	if len(c.Sizes) == 0 {
		orDefault(&c.Size, 1024)
		c.Sizes = []int{c.Size}
	}
	if len(c.Partitions) == 0 {
		c.Partitions = []int{1}
	}
	orDefault(&c.PassBytes, 512_000_000)
	seedAndLogger(&c.Seed, &c.Logger)
}

// records is how many records of size one pass moves.
func (c VersusConfig) records(size int) int64 {
	if c.Records > 0 {
		return c.Records
	}
	return max(1, c.PassBytes/int64(size))
}

// Validate reports every problem with the config at once.
func (c VersusConfig) Validate() error {
	var errs []error
	for name, p := range map[string]string{"broker": c.BrokerPath, "kfake": c.KfakePath, "rdkafka_performance": c.RdkPerfPath} {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s executable %q: %w (run make build tools)", name, p, err))
		}
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is empty"))
	}
	if err := checkEnv(c.BrokerEnv); err != nil {
		errs = append(errs, err)
	}
	if c.Pairs < 1 || c.Records < 0 || c.PassBytes < 0 {
		errs = append(errs, fmt.Errorf("pairs=%d records=%d pass bytes=%d: pairs must be at least 1, records and bytes not negative", c.Pairs, c.Records, c.PassBytes))
	}
	for _, s := range c.Sizes {
		if s < 1 {
			errs = append(errs, fmt.Errorf("record size %d: must be at least 1", s))
		}
	}
	for _, p := range c.Partitions {
		// The broker's own bound on one CreateTopics (and on auto-creation).
		if p < 1 || p > 10000 {
			errs = append(errs, fmt.Errorf("partitions %d: want 1 to 10000 (brokerlab.create.topics.partitions.max)", p))
		}
	}
	return errors.Join(errs...)
}

// The two targets.
const (
	TargetBroker = "broker"
	TargetKfake  = "kfake"
)

// VersusCell is one point of the grid.
type VersusCell struct {
	Size       int `json:"size"`
	Partitions int `json:"partitions"`
}

func (c VersusCell) String() string {
	return fmt.Sprintf("%s x %d partition%s", sizeName(c.Size), c.Partitions, map[bool]string{true: "", false: "s"}[c.Partitions == 1])
}

func sizeName(b int) string {
	if b >= 1024 && b%1024 == 0 {
		return fmt.Sprintf("%d KiB", b/1024)
	}
	return fmt.Sprintf("%d B", b)
}

// VersusSample is one target's produce and consume pass in one round.
type VersusSample struct {
	Target string `json:"target"`
	Round  int    `json:"round"`
	Order  int    `json:"order"` // 0: ran first in its round and cell
	// Size and Partitions are the cell (0 in files written before cells:
	// read as the report's size and 1 partition).
	Size       int            `json:"size,omitempty"`
	Partitions int            `json:"partitions,omitempty"`
	Produce    rdkperf.Result `json:"produce"`
	Consume    rdkperf.Result `json:"consume"`
	// CreateSeconds is how long creating the topic took (CreateTopics,
	// before the produce pass).
	CreateSeconds float64 `json:"create_seconds,omitempty"`
	// ProduceUse and ConsumeUse are the server's CPU and peak RSS over
	// each pass.
	ProduceUse ServerUse `json:"produce_server"`
	ConsumeUse ServerUse `json:"consume_server"`
}

// VersusReport is the outcome of RunVersus.
type VersusReport struct {
	// Records and Size describe a one-cell run (Records is 0 when the
	// records per pass differ by size).
	Records int64          `json:"records"`
	Size    int            `json:"size"`
	Cells   []VersusCell   `json:"cells,omitempty"`
	Pairs   int            `json:"pairs"`
	Seed    uint64         `json:"seed"`
	Samples []VersusSample `json:"samples"`
}

// RunVersus runs the comparison. It returns the samples gathered so far together
// with an error if a round fails or ctx is cancelled.
func RunVersus(ctx context.Context, cfg VersusConfig) (*VersusReport, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cells []VersusCell
	for _, s := range cfg.Sizes {
		for _, p := range cfg.Partitions {
			cells = append(cells, VersusCell{Size: s, Partitions: p})
		}
	}
	cellOrder := newRounds(cfg.Seed, 2, cells)
	order := newRounds(cfg.Seed, 0, []string{TargetBroker, TargetKfake})
	rep := &VersusReport{Records: cfg.Records, Size: cfg.Sizes[0], Cells: cells, Pairs: cfg.Pairs, Seed: cfg.Seed}
	if len(cfg.Sizes) == 1 {
		rep.Records = cfg.records(cfg.Sizes[0])
	}
	for round := 0; round < cfg.Pairs; round++ {
		for _, cell := range cellOrder.next() {
			for i, target := range order.next() {
				cfg.Logger.Info("pass", "round", round+1, "of", cfg.Pairs, "cell", cell.String(), "target", target)
				s, err := runOne(ctx, cfg, target, round, cell)
				if err != nil {
					return rep, fmt.Errorf("round %d, %s, %s: %w", round+1, cell, target, err)
				}
				s.Order = i
				rep.Samples = append(rep.Samples, s)
			}
		}
	}
	return rep, nil
}

func runOne(ctx context.Context, cfg VersusConfig, target string, round int, cell VersusCell) (VersusSample, error) {
	label := fmt.Sprintf("%d-%d-%d", round, cell.Size, cell.Partitions)
	dir := filepath.Join(cfg.WorkDir, target+"-"+label)
	defer os.RemoveAll(filepath.Join(dir, "data"))
	var (
		p   *launch.Process
		err error
	)
	parts := strconv.Itoa(cell.Partitions)
	switch target {
	case TargetBroker:
		p, err = launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: dir, Label: label,
			Props: append([]string{"num.partitions=" + parts}, cfg.BrokerOverrides...), Env: cfg.BrokerEnv})
	case TargetKfake:
		var addr string
		if addr, err = launch.FreeAddr(); err != nil {
			return VersusSample{}, err
		}
		p, err = launch.Start(ctx, launch.Spec{Name: target, Path: cfg.KfakePath, Addr: addr,
			Args: []string{"-listen", addr, "-data-dir", filepath.Join(dir, "data"), "-partitions", parts}, LogFile: filepath.Join(dir, target+".log")})
	}
	if err != nil {
		return VersusSample{}, err
	}
	defer p.Stop(30 * time.Second)
	addr := p.Addr()

	s := VersusSample{Target: target, Round: round, Size: cell.Size, Partitions: cell.Partitions}
	topic := "versus-" + label
	records := cfg.records(cell.Size)
	props := map[string]string{
		// Real-world producer settings: batches of up to 1 MB, 5 ms linger.
		"linger.ms":  "5",
		"batch.size": "1000000",
		"acks":       "1",
	}
	produce := rdkperf.Pass{Mode: rdkperf.Produce, Brokers: addr, Topic: topic, Partition: 0, Count: records, Size: cell.Size, Props: props}
	consume := rdkperf.Pass{Mode: rdkperf.Consume, Brokers: addr, Topic: topic, Partition: 0, Count: records,
		Props: map[string]string{"fetch.max.bytes": "52428800", "fetch.message.max.bytes": "1048576"}}
	if cell.Partitions > 1 {
		produce.Partition = -1 // librdkafka's partitioner spreads them
		for i := range cell.Partitions {
			consume.Partitions = append(consume.Partitions, int32(i))
		}
	}
	// The topic is created before the produce pass, so that the pass
	// measures producing, and the creation is timed on its own.
	start := time.Now()
	if err := createTopic(ctx, addr, topic, cell.Partitions, nil); err != nil {
		return s, fmt.Errorf("creating topic %s with %d partitions: %w", topic, cell.Partitions, err)
	}
	s.CreateSeconds = time.Since(start).Seconds()
	m, err := startMeter(p.Pid())
	if err != nil {
		return s, err
	}
	if s.Produce, err = rdkperf.Run(ctx, cfg.RdkPerfPath, produce); err != nil {
		return s, err
	}
	if s.ProduceUse, err = m.stop(s.Produce.Bytes, s.Produce.Messages); err != nil {
		return s, err
	}
	if m, err = startMeter(p.Pid()); err != nil {
		return s, err
	}
	if s.Consume, err = rdkperf.Run(ctx, cfg.RdkPerfPath, consume); err != nil {
		return s, err
	}
	if s.ConsumeUse, err = m.stop(s.Consume.Bytes, s.Consume.Messages); err != nil {
		return s, err
	}
	return s, p.Stop(30 * time.Second)
}

// VersusSummary is one metric of one cell: medians on both sides and the
// per-round ratios broker/kfake (median, 95% bootstrap interval, range).
type VersusSummary struct {
	Cell          VersusCell
	Metric        string
	Broker, Kfake float64
	// Ratio is the median of the per-round ratios; CILo and CIHi its 95%
	// bootstrap interval; RatioLo and RatioHi their range.
	Ratio, CILo, CIHi float64
	RatioLo, RatioHi  float64
	Pairs             int
}

// versusMetric is one of the report's rows: a figure of a sample.
type versusMetric struct {
	name string
	f    func(VersusSample) float64
}

// versusMetrics are the report's rows, per cell.
var versusMetrics = slices.Concat(
	[]versusMetric{{"topic creation s", func(s VersusSample) float64 { return s.CreateSeconds }}},
	passMetrics("produce", func(s VersusSample) (rdkperf.Result, ServerUse) { return s.Produce, s.ProduceUse }),
	passMetrics("consume", func(s VersusSample) (rdkperf.Result, ServerUse) { return s.Consume, s.ConsumeUse }),
)

// passMetrics are the rows of one pass of a sample, the produce or the
// consume pass (what pass of gives): its rates and the server's use.
func passMetrics(name string, pass func(VersusSample) (rdkperf.Result, ServerUse)) []versusMetric {
	result := func(f func(rdkperf.Result) float64) func(VersusSample) float64 {
		return func(s VersusSample) float64 {
			r, _ := pass(s)
			return f(r)
		}
	}
	use := func(f func(ServerUse) float64) func(VersusSample) float64 {
		return func(s VersusSample) float64 {
			_, u := pass(s)
			return f(u)
		}
	}
	return []versusMetric{
		{name + " MB/s", result(rdkperf.Result.MBps)},
		{name + " records/s", result(rdkperf.Result.MsgsPerSec)},
		{name + " server CPU s/GB", use(ServerUse.CPUPerGB)},
		{name + " server user s/GB", use(ServerUse.UserPerGB)},
		{name + " server system s/GB", use(ServerUse.SystemPerGB)},
		{name + " server CPU s/M records", use(ServerUse.CPUPerMRecords)},
		{name + " server peak RSS MiB", use(func(u ServerUse) float64 { return float64(u.PeakRSS) / (1 << 20) })},
	}
}

// cellOf reads a sample's cell, files from before cells included.
func (r *VersusReport) cellOf(s VersusSample) VersusCell {
	c := VersusCell{Size: s.Size, Partitions: s.Partitions}
	if c.Size == 0 {
		c.Size = r.Size
	}
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	return c
}

// cells lists the report's cells in the order they were configured (or
// first seen).
func (r *VersusReport) cells() []VersusCell {
	seen := map[VersusCell]bool{}
	var out []VersusCell
	for _, c := range r.Cells {
		if !seen[c] {
			seen[c], out = true, append(out, c)
		}
	}
	for _, s := range r.Samples {
		if c := r.cellOf(s); !seen[c] {
			seen[c], out = true, append(out, c)
		}
	}
	return out
}

// Summaries computes the per-cell, per-metric medians and paired ratios.
func (r *VersusReport) Summaries() []VersusSummary {
	var out []VersusSummary
	for _, cell := range r.cells() {
		for _, m := range versusMetrics {
			byRound := map[int][2]float64{}
			var b, k, kfakeByRound, brokerByRound []float64
			for _, s := range r.Samples {
				if r.cellOf(s) != cell {
					continue
				}
				v := m.f(s)
				pair, ok := byRound[s.Round]
				if !ok {
					pair = [2]float64{math.NaN(), math.NaN()}
				}
				if s.Target == TargetBroker {
					b, pair[0] = append(b, v), v
				} else {
					k, pair[1] = append(k, v), v
				}
				byRound[s.Round] = pair
			}
			for _, round := range slices.Sorted(maps.Keys(byRound)) {
				if p := byRound[round]; !math.IsNaN(p[0]) && !math.IsNaN(p[1]) {
					brokerByRound, kfakeByRound = append(brokerByRound, p[0]), append(kfakeByRound, p[1])
				}
			}
			pr := stats.Paired(kfakeByRound, brokerByRound)
			out = append(out, VersusSummary{Cell: cell, Metric: m.name, Broker: stats.Median(b), Kfake: stats.Median(k),
				Ratio: pr.Ratio, CILo: pr.Lo, CIHi: pr.Hi, RatioLo: pr.Min, RatioHi: pr.Max, Pairs: pr.N})
		}
	}
	return out
}

// Summary returns one cell's summary of metric, if measured.
func (r *VersusReport) Summary(cell VersusCell, metric string) (VersusSummary, bool) {
	for _, s := range r.Summaries() {
		if s.Cell == cell && s.Metric == metric {
			return s, true
		}
	}
	return VersusSummary{}, false
}

// ScalingSummary compares one target at Partitions partitions with the same
// target at 1 partition, same record size, round by round (both cells run
// in every round).
type ScalingSummary struct {
	Target     string
	Size       int
	Partitions int
	Metric     string
	Ratio      stats.PairedRatio
}

// Scaling returns, for every target, size and partition count above 1, the
// produce and consume MB/s and server CPU s/GB against 1 partition.
func (r *VersusReport) Scaling() []ScalingSummary {
	var out []ScalingSummary
	for _, target := range []string{TargetBroker, TargetKfake} {
		for _, cell := range r.cells() {
			if cell.Partitions == 1 {
				continue
			}
			one := VersusCell{Size: cell.Size, Partitions: 1}
			for _, m := range versusMetrics {
				if m.name != "produce MB/s" && m.name != "produce server CPU s/GB" && m.name != "consume MB/s" && m.name != "consume server CPU s/GB" {
					continue
				}
				base, many := map[int]float64{}, map[int]float64{}
				for _, s := range r.Samples {
					if s.Target != target {
						continue
					}
					switch r.cellOf(s) {
					case one:
						base[s.Round] = m.f(s)
					case cell:
						many[s.Round] = m.f(s)
					}
				}
				var b, n []float64
				for _, round := range slices.Sorted(maps.Keys(base)) {
					if v, ok := many[round]; ok {
						b, n = append(b, base[round]), append(n, v)
					}
				}
				if len(b) > 0 {
					out = append(out, ScalingSummary{Target: target, Size: cell.Size, Partitions: cell.Partitions, Metric: m.name, Ratio: stats.Paired(b, n)})
				}
			}
		}
	}
	return out
}

// WriteScalingTable renders Scaling; it writes nothing without a cell of
// more than 1 partition beside one of 1.
func (r *VersusReport) WriteScalingTable(w io.Writer, markdown bool) error {
	sc := r.Scaling()
	if len(sc) == 0 {
		return nil
	}
	t := newTable(w, markdown)
	t.Header("target", "record size", "partitions", "metric", "N partitions / 1 partition (median of pairs)", "95% CI (bootstrap over pairs)", "range of pairs")
	for _, s := range sc {
		if err := t.Append(s.Target, sizeName(s.Size), strconv.Itoa(s.Partitions), s.Metric, ratioText(s.Ratio.Ratio),
			ciText(s.Ratio.Lo, s.Ratio.Hi, s.Ratio.N), fmt.Sprintf("%s .. %s", ratioText(s.Ratio.Min), ratioText(s.Ratio.Max))); err != nil {
			return err
		}
	}
	return t.Render()
}

// WriteTable renders the summaries with tablewriter, as Markdown when
// markdown is set and as a terminal table otherwise.
func (r *VersusReport) WriteTable(w io.Writer, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("cell", "metric", "broker (median)", "kfake (median)", "broker/kfake (median of pairs)", "95% CI (bootstrap over pairs)", "range of pairs")
	for _, s := range r.Summaries() {
		if err := t.Append(s.Cell.String(), s.Metric, num(s.Broker), num(s.Kfake),
			ratioText(s.Ratio), ciText(s.CILo, s.CIHi, s.Pairs), fmt.Sprintf("%s .. %s", ratioText(s.RatioLo), ratioText(s.RatioHi))); err != nil {
			return err
		}
	}
	return t.Render()
}

func ratioText(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

// ciText prints an interval, or why there is none: with fewer than 5
// pairs a percentile bootstrap of a median only repeats the data's range.
func ciText(lo, hi float64, pairs int) string {
	if pairs < 5 || math.IsNaN(lo) {
		return fmt.Sprintf("too few pairs (%d)", pairs)
	}
	return fmt.Sprintf("%.2fx .. %.2fx", lo, hi)
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// Save writes dir/versus.json and, with at least one pair, dir/versus.md and
// the table to stdout.
func (r *VersusReport) Save(dir, workDir string, stdout io.Writer) error {
	if err := SaveRun(dir, "versus.json", workDir, r); err != nil {
		return err
	}
	if len(r.Samples) < 2 {
		return nil
	}
	if err := r.WriteTable(stdout, false); err != nil {
		return err
	}
	if err := r.WriteScalingTable(stdout, false); err != nil {
		return err
	}
	return writeMarkdown(dir, "versus.md", func(f *os.File) error {
		fmt.Fprintf(f, "# Broker vs kfake (rdkafka_performance, %d interleaved pairs per cell)\n\n", r.Pairs)
		fmt.Fprintf(f, "Server CPU is utime+stime of the server process over each pass (/proc/PID/stat); peak RSS is its VmHWM, reset as the pass starts. "+
			"Ratios are broker/kfake per round; the interval is a 95%% bootstrap over rounds. The machine may have been shared: read ratios, not absolute rates.\n\n")
		if err := r.WriteTable(f, true); err != nil {
			return err
		}
		if len(r.Scaling()) == 0 {
			return nil
		}
		fmt.Fprintf(f, "\n## Many partitions against one (same target, same round)\n\n")
		return r.WriteScalingTable(f, true)
	})
}
