package bench

// The fetch experiment measures the broker's Fetch path on a large log: it
// fills one partition with rdkafka_performance, then restarts the broker in
// each fetch mode (sendfile and copy) in interleaved, randomly ordered rounds
// and reads the whole log from the beginning with each reader while
// sampling the broker's resident memory and reading its CPU from /proc. The
// readers are rdkafka_performance (a real client, which decodes every
// record) and the load generator's null consumer (raw Fetch requests over
// several connections, framing checked, no record decoded), which is fast
// enough that the broker, not the client, sets its rate.
//
// It answers three questions: what the zero-copy path saves (on loopback the
// client is usually the bottleneck, so the answer is in the broker's CPU
// seconds per GB, not in MB/s), how close the broker's fetch path comes to
// the machine's sendfile ceiling, and whether the broker's memory stays
// flat while a consumer reads far more than it could hold (the page cache
// holds the data, not the heap).

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
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The fetch experiment's readers.
const (
	ReaderRdkafka = "rdkafka_performance"
	ReaderNull    = "null"
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
	// Rounds of consuming the whole log once in each mode (default 6: more
	// than the 5 pairs the paired ratios need for a 95% interval).
	Rounds int
	// Modes are the brokerlab.fetch.mode values compared (default sendfile, copy).
	Modes []string
	// Readers read the log in each mode (default rdkafka_performance and
	// null); NullStreams is the null consumer's connections (default 16)
	// and NullMaxBytes each request's max bytes (default 512 KiB): the
	// fastest of the settings tried on a 2-vCPU VM (1 to 32 connections,
	// 256 KiB to 32 MiB), so that the null consumer is not what limits
	// the rate.
	Readers      []string
	NullStreams  int
	NullMaxBytes int32
	// BrokerEnv is added to the broker's environment (KEY=VALUE), e.g.
	// GOMAXPROCS=1.
	BrokerEnv []string
	// BrokerOverrides are extra server.properties lines for the broker
	// (key=value), in every mode, the fill's too.
	BrokerOverrides []string
	// Ceilings are the machine's; nil measures them in WorkDir first.
	// Besides, every round measures the sendfile ceiling again (a shared
	// machine's ceiling moves), and the null consumer's rate is compared
	// with its own round's.
	Ceilings *loadgen.Ceilings
	// SampleEvery is the RSS sampling period (default 100ms).
	SampleEvery time.Duration
	Seed        uint64
	Logger      *slog.Logger
}

func (c *FetchConfig) setDefaults() {
	orDefault(&c.LogBytes, 10_000_000_000)
	orDefault(&c.Size, 1024)
	orDefault(&c.Rounds, 6)
	if len(c.Modes) == 0 {
		c.Modes = []string{"sendfile", "copy"}
	}
	if len(c.Readers) == 0 {
		c.Readers = []string{ReaderRdkafka, ReaderNull}
	}
	orDefault(&c.NullStreams, 16)
	orDefault(&c.NullMaxBytes, 512<<10)
	orDefault(&c.SampleEvery, 100*time.Millisecond)
	seedAndLogger(&c.Seed, &c.Logger)
}

// FetchPass is one full read of the log in one mode by one reader.
type FetchPass struct {
	Mode   string `json:"mode"`
	Reader string `json:"reader,omitempty"` // "" in older files: rdkafka_performance
	Round  int    `json:"round"`
	// Read is rdkafka_performance's result; Null the null consumer's.
	Read rdkperf.Result           `json:"read"`
	Null *loadgen.NullFetchResult `json:"null,omitempty"`
	// RSS samples of the broker during the read, in bytes.
	RSS []int64 `json:"rss_bytes"`
	// Server is the broker's CPU (user and system) and peak RSS over the
	// read.
	Server ServerUse `json:"server"`
}

func (p FetchPass) reader() string {
	if p.Reader == "" {
		return ReaderRdkafka
	}
	return p.Reader
}

// MBps is the pass's read rate.
func (p FetchPass) MBps() float64 {
	if p.Null != nil {
		return p.Null.MBps()
	}
	return p.Read.MBps()
}

// FetchReport is the outcome of RunFetch.
type FetchReport struct {
	LogBytes int64             `json:"log_bytes"`
	Records  int64             `json:"records"`
	Size     int               `json:"size"`
	Seed     uint64            `json:"seed"`
	Fill     rdkperf.Result    `json:"fill"`
	Ceilings *loadgen.Ceilings `json:"ceilings,omitempty"`
	// RoundSendfileMBps is the sendfile ceiling measured in each round.
	RoundSendfileMBps []float64   `json:"round_sendfile_ceiling_mb_s,omitempty"`
	Passes            []FetchPass `json:"passes"`
}

const fetchTopic = "fetchbench"

// fetchArm is one mode read by one reader.
type fetchArm struct{ mode, reader string }

// RunFetch fills the log and reads it back in every mode with every reader,
// Rounds times. It returns what it measured so far together with any error.
func RunFetch(ctx context.Context, cfg FetchConfig) (*FetchReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.RdkPerfPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("fetch bench: broker path, rdkafka_performance path and work dir are required")
	}
	if err := checkEnv(cfg.BrokerEnv); err != nil {
		return nil, fmt.Errorf("fetch bench: %w", err)
	}
	for _, r := range cfg.Readers {
		if r != ReaderRdkafka && r != ReaderNull {
			return nil, fmt.Errorf("fetch bench: reader %q: want %s or %s", r, ReaderRdkafka, ReaderNull)
		}
	}
	records := cfg.LogBytes / int64(cfg.Size)
	rep := &FetchReport{LogBytes: records * int64(cfg.Size), Records: records, Size: cfg.Size, Seed: cfg.Seed, Ceilings: cfg.Ceilings}
	dataDir := filepath.Join(cfg.WorkDir, "data")
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("fetch bench: %w", err)
	}
	if rep.Ceilings == nil {
		cfg.Logger.Info("measuring the machine's ceilings", "dir", cfg.WorkDir)
		c, err := loadgen.MeasureCeilings(ctx, cfg.WorkDir, loadgen.CeilingOptions{})
		if err != nil {
			return nil, fmt.Errorf("measuring ceilings: %w", err)
		}
		rep.Ceilings = c
	}

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

	var arms []fetchArm
	for _, m := range cfg.Modes {
		for _, r := range cfg.Readers {
			arms = append(arms, fetchArm{m, r})
		}
	}
	order := newRounds(cfg.Seed, 1, arms)
	// One ceiling file for every round's ceiling: up to 2 GiB written once.
	ceilFile, err := loadgen.NewSendfileFile(cfg.WorkDir, loadgen.CeilingOptions{})
	if err != nil {
		return rep, fmt.Errorf("sendfile ceiling: %w", err)
	}
	defer ceilFile.Close()
	for round := 0; round < cfg.Rounds; round++ {
		ceil, _, err := loadgen.SendfileCeiling(ctx, cfg.WorkDir, loadgen.CeilingOptions{SendfileFile: ceilFile})
		if err != nil {
			return rep, fmt.Errorf("round %d: sendfile ceiling: %w", round+1, err)
		}
		rep.RoundSendfileMBps = append(rep.RoundSendfileMBps, ceil)
		for _, arm := range order.next() {
			cfg.Logger.Info("reading the log", "round", round+1, "of", cfg.Rounds, "mode", arm.mode, "reader", arm.reader)
			pass, err := readPass(ctx, cfg, dataDir, arm, round, records)
			if err != nil {
				return rep, fmt.Errorf("round %d, %s by %s: %w", round+1, arm.mode, arm.reader, err)
			}
			rep.Passes = append(rep.Passes, pass)
		}
	}
	return rep, nil
}

// startFetchBroker starts the broker on dataDir in one fetch mode.
func startFetchBroker(ctx context.Context, cfg FetchConfig, dataDir, mode, label string) (*launch.Process, string, error) {
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: label, LogDir: dataDir,
		Props: append([]string{"num.partitions=1", "brokerlab.fetch.mode=" + mode}, cfg.BrokerOverrides...), Env: cfg.BrokerEnv, StartTimeout: 5 * time.Minute})
	if err != nil {
		return nil, "", err
	}
	return p, p.Addr(), nil
}

func readPass(ctx context.Context, cfg FetchConfig, dataDir string, arm fetchArm, round int, records int64) (FetchPass, error) {
	p, addr, err := startFetchBroker(ctx, cfg, dataDir, arm.mode, fmt.Sprintf("%s-%s-%d", arm.mode, arm.reader, round))
	if err != nil {
		return FetchPass{}, err
	}
	defer p.Stop(time.Minute)
	pass := FetchPass{Mode: arm.mode, Reader: arm.reader, Round: round}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan []int64)
	go func() { sampled <- sampleRSS(sctx, p.Pid(), cfg.SampleEvery) }()
	m, err := startMeter(p.Pid())
	if err != nil {
		stopSampling()
		<-sampled
		return pass, err
	}
	var bytes, got int64
	switch arm.reader {
	case ReaderNull:
		var r loadgen.NullFetchResult
		r, err = loadgen.NullFetch(ctx, loadgen.NullFetchConfig{Addr: addr, Topic: fetchTopic, End: records, Streams: cfg.NullStreams, MaxBytes: cfg.NullMaxBytes})
		pass.Null = &r
		bytes, got = r.RecordBytes, r.Records
	default:
		pass.Read, err = rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
			Mode: rdkperf.Consume, Brokers: addr, Topic: fetchTopic, Partition: 0, Count: records,
			Props:   map[string]string{"fetch.max.bytes": "52428800", "fetch.message.max.bytes": "1048576"},
			Timeout: time.Hour,
		})
		bytes, got = pass.Read.Bytes, pass.Read.Messages
	}
	stopSampling()
	pass.RSS = <-sampled
	if err != nil {
		return pass, err
	}
	if pass.Server, err = m.stop(bytes, got); err != nil {
		return pass, err
	}
	if want := records * int64(cfg.Size); bytes < want {
		return pass, fmt.Errorf("read %d bytes, want %d", bytes, want)
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

// FetchModeSummary aggregates one mode's passes by one reader.
type FetchModeSummary struct {
	Mode, Reader      string
	Passes            int
	MedianMBps        float64
	MinMBps, MaxMBps  float64
	MaxRSS, MedianRSS int64
	// RSSGrowthAfterWarmup is max RSS minus RSS at 10% of the pass, over
	// passes.
	RSSGrowthAfterWarmup int64
	// CPUPerGB, UserPerGB, SystemPerGB and CPUPerMRecords are the broker's
	// medians over the passes.
	CPUPerGB, UserPerGB, SystemPerGB, CPUPerMRecords float64
	// VsFirstMBps and VsFirstCPU compare this mode with the first mode,
	// same reader, round by round (median ratio, 95% bootstrap interval,
	// range); VsFirstUser and VsFirstSystem do the same for the two parts
	// of CPU per GB, VsFirstPeakRSS for the broker's peak RSS over a read.
	VsFirstMBps, VsFirstCPU                    stats.PairedRatio
	VsFirstUser, VsFirstSystem, VsFirstPeakRSS stats.PairedRatio
	// PeakRSS is the median over passes of the broker's peak RSS during a
	// read (VmHWM, reset as the read starts).
	PeakRSS uint64
	// OfRoundCeiling is MB/s over the sendfile ceiling of the same round;
	// AboveRoundCeiling counts passes faster than their round's ceiling.
	OfRoundCeiling    stats.PairedRatio
	AboveRoundCeiling int
}

// Summaries aggregates the passes per mode and reader, in modes order.
func (r *FetchReport) Summaries(modes []string) []FetchModeSummary {
	var readers []string
	for _, p := range r.Passes {
		if !slices.Contains(readers, p.reader()) {
			readers = append(readers, p.reader())
		}
	}
	var out []FetchModeSummary
	for _, reader := range readers {
		for _, mode := range modes {
			s := FetchModeSummary{Mode: mode, Reader: reader}
			var mbps, cpu, user, sys, perRec []float64
			var rss []int64
			var baseMBps, newMBps, baseCPU, newCPU, ceil, got []float64
			var baseUser, newUser, baseSys, newSys, baseRSS, newRSS, peaks []float64
			for _, p := range r.Passes {
				if p.Mode != mode || p.reader() != reader {
					continue
				}
				s.Passes++
				if p.Round < len(r.RoundSendfileMBps) {
					ceil, got = append(ceil, r.RoundSendfileMBps[p.Round]), append(got, p.MBps())
					if p.MBps() > r.RoundSendfileMBps[p.Round] {
						s.AboveRoundCeiling++
					}
				}
				mbps = append(mbps, p.MBps())
				cpu, user, sys = append(cpu, p.Server.CPUPerGB()), append(user, p.Server.UserPerGB()), append(sys, p.Server.SystemPerGB())
				perRec = append(perRec, p.Server.CPUPerMRecords())
				if p.Server.PeakRSS > 0 {
					peaks = append(peaks, float64(p.Server.PeakRSS))
				}
				rss = append(rss, p.RSS...)
				if len(p.RSS) > 10 {
					g := slices.Max(p.RSS) - p.RSS[len(p.RSS)/10]
					s.RSSGrowthAfterWarmup = max(s.RSSGrowthAfterWarmup, g)
				}
				for _, q := range r.Passes {
					if q.Round == p.Round && q.Mode == modes[0] && q.reader() == reader {
						baseMBps, newMBps = append(baseMBps, q.MBps()), append(newMBps, p.MBps())
						baseCPU, newCPU = append(baseCPU, q.Server.CPUPerGB()), append(newCPU, p.Server.CPUPerGB())
						baseUser, newUser = append(baseUser, q.Server.UserPerGB()), append(newUser, p.Server.UserPerGB())
						baseSys, newSys = append(baseSys, q.Server.SystemPerGB()), append(newSys, p.Server.SystemPerGB())
						if q.Server.PeakRSS > 0 && p.Server.PeakRSS > 0 {
							baseRSS, newRSS = append(baseRSS, float64(q.Server.PeakRSS)), append(newRSS, float64(p.Server.PeakRSS))
						}
					}
				}
			}
			if len(mbps) > 0 {
				s.MedianMBps, s.MinMBps, s.MaxMBps = stats.Median(mbps), slices.Min(mbps), slices.Max(mbps)
				s.CPUPerGB, s.UserPerGB, s.SystemPerGB = stats.Median(cpu), stats.Median(user), stats.Median(sys)
				s.CPUPerMRecords = stats.Median(perRec)
			}
			if len(rss) > 0 {
				s.MaxRSS = slices.Max(rss)
				slices.Sort(rss)
				s.MedianRSS = rss[len(rss)/2]
			}
			if len(peaks) > 0 {
				s.PeakRSS = uint64(stats.Median(peaks))
			}
			s.VsFirstMBps, s.VsFirstCPU = stats.Paired(baseMBps, newMBps), stats.Paired(baseCPU, newCPU)
			s.VsFirstUser, s.VsFirstSystem = stats.Paired(baseUser, newUser), stats.Paired(baseSys, newSys)
			s.VsFirstPeakRSS = stats.Paired(baseRSS, newRSS)
			s.OfRoundCeiling = stats.Paired(ceil, got)
			out = append(out, s)
		}
	}
	return out
}

// pairedText prints a paired ratio with its interval (or why none) and range.
func pairedText(p stats.PairedRatio) string {
	if p.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (CI %s; range %s .. %s)", ratioText(p.Ratio), ciText(p.Lo, p.Hi, p.N), ratioText(p.Min), ratioText(p.Max))
}

// WriteTable renders the per-mode summary with tablewriter.
func (r *FetchReport) WriteTable(w io.Writer, modes []string, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("reader", "fetch mode", "passes", "read MB/s (median)", "min .. max", "share of sendfile ceiling", "of the same round's sendfile ceiling (paired)",
		"broker CPU s/GB (user + system)", "broker CPU s/M records",
		"MB/s vs "+modes[0]+" (paired)", "CPU/GB vs "+modes[0]+" (paired)",
		"broker RSS median", "RSS max", "RSS growth after 10% of a pass")
	for _, s := range r.Summaries(modes) {
		if err := t.Append(s.Reader, s.Mode, fmt.Sprint(s.Passes), fmt.Sprintf("%.1f", s.MedianMBps),
			fmt.Sprintf("%.1f .. %.1f", s.MinMBps, s.MaxMBps), r.Ceilings.ShareText("sendfile", s.MedianMBps), roundCeilingText(s),
			fmt.Sprintf("%.3f (%.3f + %.3f)", s.CPUPerGB, s.UserPerGB, s.SystemPerGB), fmt.Sprintf("%.3f", s.CPUPerMRecords),
			pairedText(s.VsFirstMBps), pairedText(s.VsFirstCPU),
			mib(s.MedianRSS), mib(s.MaxRSS), mib(s.RSSGrowthAfterWarmup)); err != nil {
			return err
		}
	}
	return t.Render()
}

// Verdicts are the bench's conclusions in sentences: each mode's broker CPU
// per GB against the first mode's, per reader, and the null consumer's rate
// as a share of the sendfile ceiling.
func (r *FetchReport) Verdicts(modes []string) []string {
	var out []string
	sums := r.Summaries(modes)
	for _, s := range sums {
		if s.Mode != modes[0] && s.VsFirstCPU.N > 0 {
			i := slices.IndexFunc(sums, func(b FetchModeSummary) bool { return b.Mode == modes[0] && b.Reader == s.Reader })
			c := s.VsFirstCPU
			b := sums[i]
			line := fmt.Sprintf("Read by %s, the broker spends %.3f CPU s/GB in %s mode (user %.3f + system %.3f) and %.3f in %s mode (user %.3f + system %.3f), medians: "+
				"%s uses %s of %s's CPU per GB (median of per-round ratios, 95%% CI %s, %d pairs; user %s, CI %s; system %s, CI %s) at %s of its MB/s.",
				s.Reader, b.CPUPerGB, modes[0], b.UserPerGB, b.SystemPerGB, s.CPUPerGB, s.Mode, s.UserPerGB, s.SystemPerGB,
				modes[0], ratioText(1/c.Ratio), s.Mode, invertedCI(c), c.N,
				ratioText(1/s.VsFirstUser.Ratio), invertedCI(s.VsFirstUser), ratioText(1/s.VsFirstSystem.Ratio), invertedCI(s.VsFirstSystem),
				ratioText(1/s.VsFirstMBps.Ratio))
			if r := s.VsFirstPeakRSS; r.N > 0 {
				line += fmt.Sprintf(" Peak RSS over a read: %s in %s mode, %s in %s mode (%s, CI %s).",
					mib(int64(b.PeakRSS)), modes[0], mib(int64(s.PeakRSS)), s.Mode, ratioText(1/r.Ratio), invertedCI(r))
			}
			out = append(out, line)
		}
		if s.Reader == ReaderNull && s.Mode == "sendfile" {
			if t := r.Ceilings.ShareText("sendfile", s.MedianMBps); t != "" {
				out = append(out, fmt.Sprintf("The null consumer read the broker in sendfile mode at %.1f MB/s (median of %d passes): %s measured before the rounds.", s.MedianMBps, s.Passes, t))
			}
			if c := s.OfRoundCeiling; c.N > 0 {
				line := fmt.Sprintf("Against the sendfile ceiling measured in the same round, the null consumer reached %.1f%% (median of %d rounds, 95%% CI %s, range %.1f%% .. %.1f%%).",
					100*c.Ratio, c.N, pctOf(c), 100*c.Min, 100*c.Max)
				if s.AboveRoundCeiling > 0 {
					line += fmt.Sprintf(" %d of %d passes were faster than their round's ceiling: ceiling too low.", s.AboveRoundCeiling, s.Passes)
				}
				out = append(out, line)
			}
		}
	}
	return out
}

// roundCeilingText is a summary's rate against each round's ceiling.
func roundCeilingText(s FetchModeSummary) string {
	c := s.OfRoundCeiling
	if c.N == 0 {
		return "-"
	}
	t := fmt.Sprintf("%.1f%% (CI %s)", 100*c.Ratio, pctOf(c))
	if s.AboveRoundCeiling > 0 {
		t += fmt.Sprintf("; %d above it: ceiling too low", s.AboveRoundCeiling)
	}
	return t
}

// pctOf prints a share's interval in percent.
func pctOf(p stats.PairedRatio) string {
	if p.N < 5 {
		return fmt.Sprintf("too few rounds (%d)", p.N)
	}
	return fmt.Sprintf("%.1f%% .. %.1f%%", 100*p.Lo, 100*p.Hi)
}

// invertedCI is the interval of 1/ratio.
func invertedCI(p stats.PairedRatio) string {
	if p.N < 5 {
		return fmt.Sprintf("too few pairs (%d)", p.N)
	}
	return fmt.Sprintf("%.2fx .. %.2fx", 1/p.Hi, 1/p.Lo)
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
	for _, v := range r.Verdicts(cfg.Modes) {
		fmt.Fprintln(stdout, v)
	}
	return writeMarkdown(dir, "fetch.md", func(f *os.File) error {
		fmt.Fprintf(f, "# Fetch path: %.1f GB log of %d-byte records, %d interleaved rounds\n\n", float64(r.LogBytes)/1e9, cfg.Size, cfg.Rounds)
		fmt.Fprintf(f, "Fill (produce) rate: %.1f MB/s. Readers: rdkafka_performance (decodes every record) and the null consumer "+
			"(%d connections of raw Fetch requests of %d KiB max bytes, framing checked, no record decoded). Broker CPU is utime+stime over each read "+
			"(/proc/PID/stat); ratios are per round, with a 95%% bootstrap interval over rounds.\n\n", r.Fill.MBps(), cfg.NullStreams, cfg.NullMaxBytes>>10)
		if r.Ceilings != nil {
			if err := loadgen.RenderCeilings(f, r.Ceilings, true); err != nil {
				return err
			}
			fmt.Fprintln(f)
		}
		if err := r.WriteTable(f, cfg.Modes, true); err != nil {
			return err
		}
		fmt.Fprintln(f)
		for _, v := range r.Verdicts(cfg.Modes) {
			fmt.Fprintf(f, "- %s\n", v)
		}
		return nil
	})
}
