package bench

// The versus experiment measures the project's broker against franz-go's kfake on
// the same machine, with the same client (librdkafka's rdkafka_performance),
// in interleaved pairs: each round starts both servers on fresh data
// directories in a random order, produces N records, consumes them back from
// the beginning, and stops the server. The report gives each side's median
// MB/s and records/s and the median of the per-round ratios, so that a noisy
// machine affects both sides of a pair alike.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// Records per pass (default 500,000) of Size bytes (default 1024).
	Records int64
	Size    int
	// BrokerOverrides are extra server.properties lines for the broker
	// (key=value), e.g. brokerlab.fetch.mode=copy.
	BrokerOverrides []string
	// Seed orders the servers within each round (default: time-based).
	Seed   uint64
	Logger *slog.Logger
}

func (c *VersusConfig) setDefaults() {
	orDefault(&c.Pairs, 5)
	orDefault(&c.Records, 500_000)
	orDefault(&c.Size, 1024)
	seedAndLogger(&c.Seed, &c.Logger)
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
	if c.Pairs < 1 || c.Records < 1 || c.Size < 1 {
		errs = append(errs, fmt.Errorf("pairs=%d records=%d size=%d: all must be at least 1", c.Pairs, c.Records, c.Size))
	}
	return errors.Join(errs...)
}

// The two targets.
const (
	TargetBroker = "broker"
	TargetKfake  = "kfake"
)

// VersusSample is one target's produce and consume pass in one round.
type VersusSample struct {
	Target  string         `json:"target"`
	Round   int            `json:"round"`
	Order   int            `json:"order"` // 0: ran first in its round
	Produce rdkperf.Result `json:"produce"`
	Consume rdkperf.Result `json:"consume"`
}

// VersusReport is the outcome of RunVersus.
type VersusReport struct {
	Records int64          `json:"records"`
	Size    int            `json:"size"`
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
	order := newRounds(cfg.Seed, 0, []string{TargetBroker, TargetKfake})
	rep := &VersusReport{Records: cfg.Records, Size: cfg.Size, Pairs: cfg.Pairs, Seed: cfg.Seed}
	for round := 0; round < cfg.Pairs; round++ {
		for i, target := range order.next() {
			cfg.Logger.Info("pass", "round", round+1, "of", cfg.Pairs, "target", target)
			s, err := runOne(ctx, cfg, target, round)
			if err != nil {
				return rep, fmt.Errorf("round %d, %s: %w", round+1, target, err)
			}
			s.Order = i
			rep.Samples = append(rep.Samples, s)
		}
	}
	return rep, nil
}

func runOne(ctx context.Context, cfg VersusConfig, target string, round int) (VersusSample, error) {
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-%d", target, round))
	defer os.RemoveAll(filepath.Join(dir, "data"))
	var (
		p   *launch.Process
		err error
	)
	switch target {
	case TargetBroker:
		p, err = launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: dir, Label: strconv.Itoa(round),
			Props: append([]string{"num.partitions=1"}, cfg.BrokerOverrides...)})
	case TargetKfake:
		var addr string
		if addr, err = launch.FreeAddr(); err != nil {
			return VersusSample{}, err
		}
		p, err = launch.Start(ctx, launch.Spec{Name: target, Path: cfg.KfakePath, Addr: addr,
			Args: []string{"-listen", addr, "-data-dir", filepath.Join(dir, "data")}, LogFile: filepath.Join(dir, target+".log")})
	}
	if err != nil {
		return VersusSample{}, err
	}
	defer p.Stop(30 * time.Second)
	addr := p.Addr()

	s := VersusSample{Target: target, Round: round}
	topic := "versus-" + strconv.Itoa(round)
	props := map[string]string{
		// Real-world producer settings: batches of up to 1 MB, 5 ms linger.
		"linger.ms":  "5",
		"batch.size": "1000000",
		"acks":       "1",
	}
	if s.Produce, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Produce, Brokers: addr, Topic: topic, Partition: 0,
		Count: cfg.Records, Size: cfg.Size, Props: props,
	}); err != nil {
		return s, err
	}
	if s.Consume, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Consume, Brokers: addr, Topic: topic, Partition: 0, Count: cfg.Records,
		Props: map[string]string{"fetch.max.bytes": "52428800", "fetch.message.max.bytes": "1048576"},
	}); err != nil {
		return s, err
	}
	return s, p.Stop(30 * time.Second)
}

// VersusSummary is one metric's medians on both sides and the median of the
// per-round ratios broker/kfake, with its range.
type VersusSummary struct {
	Metric                  string
	Broker, Kfake           float64
	Ratio, RatioLo, RatioHi float64
}

// Summaries computes the per-metric medians and paired ratios.
func (r *VersusReport) Summaries() []VersusSummary {
	metrics := []struct {
		name string
		f    func(VersusSample) float64
	}{
		{"produce MB/s", func(s VersusSample) float64 { return s.Produce.MBps() }},
		{"produce records/s", func(s VersusSample) float64 { return s.Produce.MsgsPerSec() }},
		{"consume MB/s", func(s VersusSample) float64 { return s.Consume.MBps() }},
		{"consume records/s", func(s VersusSample) float64 { return s.Consume.MsgsPerSec() }},
	}
	var out []VersusSummary
	for _, m := range metrics {
		byRound := map[int][2]float64{}
		var b, k []float64
		for _, s := range r.Samples {
			v := m.f(s)
			pair := byRound[s.Round]
			if s.Target == TargetBroker {
				b, pair[0] = append(b, v), v
			} else {
				k, pair[1] = append(k, v), v
			}
			byRound[s.Round] = pair
		}
		var ratios []float64
		for _, p := range byRound {
			if p[0] > 0 && p[1] > 0 {
				ratios = append(ratios, p[0]/p[1])
			}
		}
		sm := VersusSummary{Metric: m.name, Broker: stats.Median(b), Kfake: stats.Median(k), Ratio: stats.Median(ratios)}
		if len(ratios) > 0 {
			sm.RatioLo, sm.RatioHi = slices.Min(ratios), slices.Max(ratios)
		}
		out = append(out, sm)
	}
	return out
}

// WriteTable renders the summaries with tablewriter, as Markdown when
// markdown is set and as a terminal table otherwise.
func (r *VersusReport) WriteTable(w io.Writer, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("metric", "broker (median)", "kfake (median)", "broker/kfake (median of pairs)", "range of pairs")
	for _, s := range r.Summaries() {
		if err := t.Append(s.Metric, num(s.Broker), num(s.Kfake),
			fmt.Sprintf("%.2fx", s.Ratio), fmt.Sprintf("%.2fx .. %.2fx", s.RatioLo, s.RatioHi)); err != nil {
			return err
		}
	}
	return t.Render()
}

func num(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
