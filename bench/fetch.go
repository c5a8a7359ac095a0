package bench

// The fetch experiment measures the broker's Fetch path on a large log: it
// fills one partition with rdkafka_performance, then restarts the broker in
// each fetch mode (sendfile and copy) in interleaved, randomly ordered rounds
// and consumes the whole log from the beginning while sampling the broker's
// resident memory from /proc. It answers two questions: how much faster the
// zero-copy path is than copying on this machine, and whether the broker's
// memory stays flat while a consumer reads far more than it could hold (the
// page cache holds the data, not the heap).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// FetchConfig describes a run. Zero values take the documented defaults.
type FetchConfig struct {
	BrokerPath, RdkPerfPath string
	// WorkDir holds the broker's log dir; it needs LogBytes of free space.
	WorkDir string
	// LogBytes is how much record data the partition holds (default 10 GB).
	LogBytes int64
	// Size is the record size (default 1024).
	Size int
	// Rounds of consuming the whole log once in each mode (default 3).
	Rounds int
	// Modes are the brokerlab.fetch.mode values compared (default sendfile, copy).
	Modes []string
	// SampleEvery is the RSS sampling period (default 100ms).
	SampleEvery time.Duration
	Seed        uint64
	Logger      *slog.Logger
}

func (c *FetchConfig) setDefaults() {
	orDefault(&c.LogBytes, 10_000_000_000)
	orDefault(&c.Size, 1024)
	orDefault(&c.Rounds, 3)
	if len(c.Modes) == 0 {
		c.Modes = []string{"sendfile", "copy"}
	}
	orDefault(&c.SampleEvery, 100*time.Millisecond)
	seedAndLogger(&c.Seed, &c.Logger)
}

// FetchPass is one full read of the log in one mode.
type FetchPass struct {
	Mode  string         `json:"mode"`
	Round int            `json:"round"`
	Read  rdkperf.Result `json:"read"`
	// RSS samples of the broker during the read, in bytes.
	RSS []int64 `json:"rss_bytes"`
	// Server is the broker's CPU (user and system) and peak RSS over the
	// read.
	Server ServerUse `json:"server"`
}

// FetchReport is the outcome of RunFetch.
type FetchReport struct {
	LogBytes int64          `json:"log_bytes"`
	Records  int64          `json:"records"`
	Size     int            `json:"size"`
	Seed     uint64         `json:"seed"`
	Fill     rdkperf.Result `json:"fill"`
	Passes   []FetchPass    `json:"passes"`
}

const fetchTopic = "fetchbench"

// RunFetch fills the log and reads it back in every mode, Rounds times. It returns
// what it measured so far together with any error.
func RunFetch(ctx context.Context, cfg FetchConfig) (*FetchReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.RdkPerfPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("fetch bench: broker path, rdkafka_performance path and work dir are required")
	}
	records := cfg.LogBytes / int64(cfg.Size)
	rep := &FetchReport{LogBytes: records * int64(cfg.Size), Records: records, Size: cfg.Size, Seed: cfg.Seed}
	dataDir := filepath.Join(cfg.WorkDir, "data")

	cfg.Logger.Info("filling the log", "bytes", rep.LogBytes, "records", records)
	p, addr, err := startFetchBroker(ctx, cfg, dataDir, "sendfile", "fill")
	if err != nil {
		return nil, err
	}
	rep.Fill, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Produce, Brokers: addr, Topic: fetchTopic, Partition: 0, Count: records, Size: cfg.Size,
		Props:   map[string]string{"linger.ms": "5", "batch.size": "1000000", "acks": "1"},
		Timeout: time.Hour,
	})
	if stopErr := p.Stop(time.Minute); err == nil {
		err = stopErr
	}
	if err != nil {
		return rep, fmt.Errorf("filling the log: %w", err)
	}

	order := newRounds(cfg.Seed, 1, cfg.Modes)
	for round := 0; round < cfg.Rounds; round++ {
		for _, mode := range order.next() {
			cfg.Logger.Info("reading the log", "round", round+1, "of", cfg.Rounds, "mode", mode)
			pass, err := readPass(ctx, cfg, dataDir, mode, round, records)
			if err != nil {
				return rep, fmt.Errorf("round %d, %s: %w", round+1, mode, err)
			}
			rep.Passes = append(rep.Passes, pass)
		}
	}
	return rep, nil
}

// startFetchBroker starts the broker on dataDir in one fetch mode.
func startFetchBroker(ctx context.Context, cfg FetchConfig, dataDir, mode, label string) (*launch.Process, string, error) {
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: label, LogDir: dataDir,
		Props: []string{"num.partitions=1", "brokerlab.fetch.mode=" + mode}, StartTimeout: 5 * time.Minute})
	if err != nil {
		return nil, "", err
	}
	return p, p.Addr(), nil
}

func readPass(ctx context.Context, cfg FetchConfig, dataDir, mode string, round int, records int64) (FetchPass, error) {
	p, addr, err := startFetchBroker(ctx, cfg, dataDir, mode, fmt.Sprintf("%s-%d", mode, round))
	if err != nil {
		return FetchPass{}, err
	}
	defer p.Stop(time.Minute)
	pass := FetchPass{Mode: mode, Round: round}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan []int64)
	go func() { sampled <- sampleRSS(sctx, p.Pid(), cfg.SampleEvery) }()
	m, err := startMeter(p.Pid())
	if err != nil {
		stopSampling()
		<-sampled
		return pass, err
	}
	pass.Read, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Consume, Brokers: addr, Topic: fetchTopic, Partition: 0, Count: records,
		Props:   map[string]string{"fetch.max.bytes": "52428800", "fetch.message.max.bytes": "1048576"},
		Timeout: time.Hour,
	})
	stopSampling()
	pass.RSS = <-sampled
	if err != nil {
		return pass, err
	}
	if pass.Server, err = m.stop(pass.Read.Bytes, pass.Read.Messages); err != nil {
		return pass, err
	}
	if want := records * int64(cfg.Size); pass.Read.Bytes != want {
		return pass, fmt.Errorf("read %d bytes, want %d", pass.Read.Bytes, want)
	}
	return pass, p.Stop(time.Minute)
}

// sampleRSS reads the process's resident set size (VmRSS) until ctx is
// done.
func sampleRSS(ctx context.Context, pid int, every time.Duration) []int64 {
	t := time.NewTicker(every)
	defer t.Stop()
	var out []int64
	for {
		if p, err := procsample.ReadProcess("/proc", pid); err == nil {
			out = append(out, int64(p.RSS))
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// FetchModeSummary aggregates one mode's passes.
type FetchModeSummary struct {
	Mode                 string
	MedianMBps           float64
	MinMBps, MaxMBps     float64
	MaxRSS, MedianRSS    int64
	RatioToFirst         float64 // median MB/s relative to the first mode's
	RatioLo, RatioHi     float64 // range of per-round ratios to the first mode
	Passes               int
	RSSGrowthAfterWarmup int64 // max RSS minus RSS at 10% of the pass, over passes
}

// Summaries aggregates the passes per mode, in FetchConfig.Modes order.
func (r *FetchReport) Summaries(modes []string) []FetchModeSummary {
	var out []FetchModeSummary
	for _, mode := range modes {
		s := FetchModeSummary{Mode: mode}
		var mbps []float64
		var rss []int64
		for _, p := range r.Passes {
			if p.Mode != mode {
				continue
			}
			s.Passes++
			mbps = append(mbps, p.Read.MBps())
			rss = append(rss, p.RSS...)
			if len(p.RSS) > 10 {
				g := slices.Max(p.RSS) - p.RSS[len(p.RSS)/10]
				s.RSSGrowthAfterWarmup = max(s.RSSGrowthAfterWarmup, g)
			}
			for _, q := range r.Passes {
				if q.Round == p.Round && q.Mode == modes[0] && q.Read.MBps() > 0 {
					ratio := p.Read.MBps() / q.Read.MBps()
					if s.RatioLo == 0 || ratio < s.RatioLo {
						s.RatioLo = ratio
					}
					s.RatioHi = max(s.RatioHi, ratio)
				}
			}
		}
		if len(mbps) > 0 {
			s.MedianMBps, s.MinMBps, s.MaxMBps = stats.Median(mbps), slices.Min(mbps), slices.Max(mbps)
		}
		if len(rss) > 0 {
			s.MaxRSS = slices.Max(rss)
			slices.Sort(rss)
			s.MedianRSS = rss[len(rss)/2]
		}
		out = append(out, s)
	}
	if len(out) > 0 && out[0].MedianMBps > 0 {
		for i := range out {
			out[i].RatioToFirst = out[i].MedianMBps / out[0].MedianMBps
		}
	}
	return out
}

// WriteTable renders the per-mode summary with tablewriter.
func (r *FetchReport) WriteTable(w io.Writer, modes []string, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("fetch mode", "passes", "read MB/s (median)", "min .. max", "vs "+modes[0]+" (median, range of rounds)", "broker RSS median", "RSS max", "RSS growth after 10% of a pass")
	for _, s := range r.Summaries(modes) {
		if err := t.Append(s.Mode, fmt.Sprint(s.Passes), fmt.Sprintf("%.1f", s.MedianMBps),
			fmt.Sprintf("%.1f .. %.1f", s.MinMBps, s.MaxMBps),
			fmt.Sprintf("%.2fx (%.2f .. %.2f)", s.RatioToFirst, s.RatioLo, s.RatioHi),
			mib(s.MedianRSS), mib(s.MaxRSS), mib(s.RSSGrowthAfterWarmup)); err != nil {
			return err
		}
	}
	return t.Render()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Save writes dir/fetch.json and, when a pass was measured, dir/fetch.md and
// the table to stdout.
func (r *FetchReport) Save(dir string, cfg FetchConfig, stdout io.Writer) error {
	cfg.setDefaults()
	if err := SaveRun(dir, "fetch.json", cfg.WorkDir, r); err != nil {
		return err
	}
	if len(r.Passes) == 0 {
		return nil
	}
	if err := r.WriteTable(stdout, cfg.Modes, false); err != nil {
		return err
	}
	return writeMarkdown(dir, "fetch.md", func(f *os.File) error {
		fmt.Fprintf(f, "# Fetch path: %.1f GB log of %d-byte records, read by rdkafka_performance, %d interleaved rounds\n\n", float64(r.LogBytes)/1e9, cfg.Size, cfg.Rounds)
		fmt.Fprintf(f, "Fill (produce) rate: %.1f MB/s.\n\n", r.Fill.MBps())
		return r.WriteTable(f, cfg.Modes, true)
	})
}
