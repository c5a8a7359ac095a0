package bench

// The fetch-isolation experiment prices read_committed: it fills one
// partition with transactions (TxnRecords records each, one in AbortEvery
// aborted), then in interleaved, randomly ordered rounds restarts the
// broker and reads the whole log with rdkafka_performance at
// isolation.level read_uncommitted and read_committed, taking the broker's
// CPU time (utime+stime from /proc) over each read. read_committed reads
// up to the last stable offset and adds each batch range's aborted
// transactions to the answer; the records still go by sendfile. The
// answer is the broker's CPU seconds per GB of log read, per level, and
// their per-round ratio.

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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// FetchIsoConfig describes a run. Zero values take the documented defaults.
type FetchIsoConfig struct {
	BrokerPath, RdkPerfPath string
	WorkDir                 string
	// LogBytes is how much record data to write (default 1 GB: it stays in
	// the page cache, so the reads measure the broker, not the disk).
	LogBytes int64
	// Size is the record size (default 1024).
	Size int
	// TxnRecords per transaction (default 1000); one transaction in
	// AbortEvery is aborted (default 10).
	TxnRecords, AbortEvery int
	// Rounds of reading the whole log once per level (default 5).
	Rounds int
	Seed   uint64
	Logger *slog.Logger
}

func (c *FetchIsoConfig) setDefaults() {
	orDefault(&c.LogBytes, 1_000_000_000)
	orDefault(&c.Size, 1024)
	orDefault(&c.TxnRecords, 1000)
	orDefault(&c.AbortEvery, 10)
	orDefault(&c.Rounds, 5)
	seedAndLogger(&c.Seed, &c.Logger)
}

// IsolationLevels are the levels compared, first the reference.
var IsolationLevels = []string{"read_uncommitted", "read_committed"}

// FetchIsoPass is one full read of the log at one isolation level.
type FetchIsoPass struct {
	Level string         `json:"level"`
	Round int            `json:"round"`
	Read  rdkperf.Result `json:"read"`
	// CPUSeconds is the broker's user+system time over the read.
	CPUSeconds float64 `json:"broker_cpu_seconds"`
	// ReadCalls is the broker's read system calls over the read
	// (/proc/<pid>/io syscr): about one per request, so a level that
	// makes the client send more, smaller fetches shows here.
	ReadCalls int64 `json:"broker_read_syscalls"`
}

// FetchIsoReport is the outcome of RunFetchIsolation.
type FetchIsoReport struct {
	LogFileBytes int64          `json:"log_file_bytes"`
	Records      int64          `json:"records"`
	Committed    int64          `json:"committed_records"`
	Transactions int            `json:"transactions"`
	Aborted      int            `json:"aborted_transactions"`
	Seed         uint64         `json:"seed"`
	Passes       []FetchIsoPass `json:"passes"`
}

const fetchIsoTopic = "fetchiso"

// RunFetchIsolation fills the log with transactions and reads it back at
// both isolation levels, Rounds times. It returns what it measured so far
// together with any error.
func RunFetchIsolation(ctx context.Context, cfg FetchIsoConfig) (*FetchIsoReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.RdkPerfPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("fetch-isolation bench: broker path, rdkafka_performance path and work dir are required")
	}
	rep := &FetchIsoReport{Seed: cfg.Seed}
	dataDir := filepath.Join(cfg.WorkDir, "data")
	p, err := startFetchIsoBroker(ctx, cfg, dataDir, "fill")
	if err != nil {
		return nil, err
	}
	err = fillTxns(ctx, cfg, p.Addr(), rep)
	if stopErr := p.Stop(time.Minute); err == nil {
		err = stopErr
	}
	if err != nil {
		return rep, fmt.Errorf("filling the log: %w", err)
	}
	if rep.LogFileBytes, err = dirBytes(filepath.Join(dataDir, fetchIsoTopic+"-0"), ".log"); err != nil {
		return rep, err
	}
	order := newRounds(cfg.Seed, 4, IsolationLevels)
	for round := range cfg.Rounds {
		for _, level := range order.next() {
			cfg.Logger.Info("reading the log", "round", round+1, "of", cfg.Rounds, "isolation", level)
			pass, err := readIsoPass(ctx, cfg, dataDir, level, round, rep)
			if err != nil {
				return rep, fmt.Errorf("round %d, %s: %w", round+1, level, err)
			}
			rep.Passes = append(rep.Passes, pass)
		}
	}
	return rep, nil
}

func startFetchIsoBroker(ctx context.Context, cfg FetchIsoConfig, dataDir, label string) (*launch.Process, error) {
	return launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: label, LogDir: dataDir,
		Props: []string{"num.partitions=1"}, StartTimeout: 5 * time.Minute})
}

// fillTxns writes LogBytes of records in transactions; the last one commits.
func fillTxns(ctx context.Context, cfg FetchIsoConfig, addr string, rep *FetchIsoReport) error {
	if err := createTopic(ctx, addr, fetchIsoTopic, 1, nil); err != nil {
		return fmt.Errorf("creating %s: %w", fetchIsoTopic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("fetchiso-fill"), kgo.DefaultProduceTopic(fetchIsoTopic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1000000), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, cfg.Size)
	total := cfg.LogBytes / int64(cfg.Size)
	for rep.Records < total {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		n := min(int64(cfg.TxnRecords), total-rep.Records)
		for range n {
			cl.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		rep.Transactions++
		commit := kgo.TryCommit
		if rep.Transactions%cfg.AbortEvery == 0 && rep.Records+n < total {
			commit = kgo.TryAbort
			rep.Aborted++
		} else {
			rep.Committed += n
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			return err
		}
		rep.Records += n
	}
	return nil
}

// dirBytes sums the sizes of dir's files ending in suffix.
func dirBytes(dir, suffix string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if filepath.Ext(e.Name()) != suffix {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}

func readIsoPass(ctx context.Context, cfg FetchIsoConfig, dataDir, level string, round int, rep *FetchIsoReport) (FetchIsoPass, error) {
	p, err := startFetchIsoBroker(ctx, cfg, dataDir, fmt.Sprintf("%s-%d", level, round))
	if err != nil {
		return FetchIsoPass{}, err
	}
	defer p.Stop(time.Minute)
	pass := FetchIsoPass{Level: level, Round: round}
	count := rep.Records
	if level == "read_committed" {
		count = rep.Committed
	}
	before, err := procsample.ReadProcess("/proc", p.Pid())
	if err != nil {
		return pass, err
	}
	syscr0, _, err := procsample.ReadIOCalls("/proc", p.Pid())
	if err != nil {
		return pass, err
	}
	pass.Read, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Consume, Brokers: p.Addr(), Topic: fetchIsoTopic, Partition: 0, Count: count,
		Props:   map[string]string{"fetch.max.bytes": "52428800", "fetch.message.max.bytes": "1048576", "isolation.level": level},
		Timeout: time.Hour,
	})
	if err != nil {
		return pass, err
	}
	after, err := procsample.ReadProcess("/proc", p.Pid())
	if err != nil {
		return pass, err
	}
	pass.CPUSeconds = after.CPUSeconds - before.CPUSeconds
	syscr1, _, err := procsample.ReadIOCalls("/proc", p.Pid())
	if err != nil {
		return pass, err
	}
	pass.ReadCalls = int64(syscr1 - syscr0)
	if pass.Read.Messages != count {
		return pass, fmt.Errorf("read %d records, want %d", pass.Read.Messages, count)
	}
	return pass, p.Stop(time.Minute)
}

// FetchIsoSummary aggregates one level's passes.
type FetchIsoSummary struct {
	Level            string
	MedianCPUPerGB   float64 // broker CPU seconds per GB (10^9 bytes) of log read
	MinCPU, MaxCPU   float64
	MedianMBps       float64 // log bytes read per second
	MedianReadCalls  float64 // broker read(2) calls per pass
	RatioMedian      float64 // per-round CPU/GB ratio to the first level
	RatioLo, RatioHi float64
	Passes           int
}

// Summaries aggregates the passes per level, IsolationLevels' order.
func (r *FetchIsoReport) Summaries() []FetchIsoSummary {
	gb := float64(r.LogFileBytes) / 1e9
	var out []FetchIsoSummary
	ref := map[int]float64{}
	for _, p := range r.Passes {
		if p.Level == IsolationLevels[0] {
			ref[p.Round] = p.CPUSeconds / gb
		}
	}
	for _, level := range IsolationLevels {
		s := FetchIsoSummary{Level: level}
		var cpu, mbps, ratios, calls []float64
		for _, p := range r.Passes {
			if p.Level != level {
				continue
			}
			s.Passes++
			cpu = append(cpu, p.CPUSeconds/gb)
			calls = append(calls, float64(p.ReadCalls))
			mbps = append(mbps, float64(r.LogFileBytes)/1e6/p.Read.Elapsed.Seconds())
			if base, ok := ref[p.Round]; ok && base > 0 {
				ratios = append(ratios, p.CPUSeconds/gb/base)
			}
		}
		if len(cpu) > 0 {
			s.MedianCPUPerGB, s.MinCPU, s.MaxCPU = stats.Median(cpu), slices.Min(cpu), slices.Max(cpu)
			s.MedianMBps, s.MedianReadCalls = stats.Median(mbps), stats.Median(calls)
		}
		if len(ratios) > 0 {
			s.RatioMedian, s.RatioLo, s.RatioHi = stats.Median(ratios), slices.Min(ratios), slices.Max(ratios)
		}
		out = append(out, s)
	}
	return out
}

// Save writes dir/fetch-isolation.json and prints the summary table.
func (r *FetchIsoReport) Save(dir string, stdout io.Writer) error {
	if err := SaveRun(dir, "fetch-isolation.json", "", r); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "log: %.2f GB in %d transactions (%d aborted), %d records, %d committed\n",
		float64(r.LogFileBytes)/1e9, r.Transactions, r.Aborted, r.Records, r.Committed)
	t := newTable(stdout, false)
	t.Header("isolation", "passes", "broker CPU s/GB (median)", "min", "max", "MB/s (median)", "broker read(2) calls", "CPU/GB ratio to read_uncommitted (median, range)")
	for _, s := range r.Summaries() {
		t.Append(s.Level, fmt.Sprint(s.Passes), fmt.Sprintf("%.3f", s.MedianCPUPerGB), fmt.Sprintf("%.3f", s.MinCPU), fmt.Sprintf("%.3f", s.MaxCPU),
			fmt.Sprintf("%.0f", s.MedianMBps), fmt.Sprintf("%.0f", s.MedianReadCalls), fmt.Sprintf("%.3f (%.3f-%.3f)", s.RatioMedian, s.RatioLo, s.RatioHi))
	}
	return t.Render()
}
