package bench

// The power-cut experiment measures what each flush policy loses when the
// power goes: the broker runs with its log dir on the power-cut filesystem
// (tuning/powercut), idempotent acks=all producers write to it (the kill
// test's producers and checker), the power is cut at a random moment, and
// the broker is restarted on what survived. Each trial counts acknowledged
// records lost, records present without an ack, batches served corrupt,
// whether the broker started, and how long it took to serve.
//
// Trials include segment rolls (small segment.bytes), a topic created at a
// random moment of the run, and retention deletes (a short retention.ms on
// the first topic); an acknowledged record missing after the cut counts as
// lost unless its timestamp is older than the retention at the cut.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/powercut"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// FlushPolicy is a flush policy: its name and broker properties.
type FlushPolicy struct {
	Name  string   `json:"name"`
	Props []string `json:"props"`
}

// FlushPolicies are the flush policies of plans/flush.yaml, so the guide can
// set their power-cut price beside their latency price.
var FlushPolicies = []FlushPolicy{
	{"page-cache", []string{"log.flush.sync.on.ack=false"}},
	{"every-1000-msgs", []string{"log.flush.sync.on.ack=false", "log.flush.interval.messages=1000"}},
	{"every-100ms", []string{"log.flush.sync.on.ack=false", "log.flush.interval.ms=100"}},
	{"fsync-on-ack", []string{"log.flush.sync.on.ack=true"}},
}

// CutSemantics says what a cut may lose: "data" (directory changes are
// durable at once: only unsynced file data is lost) or "data+metadata"
// (directory changes survive only once the directory was fsynced).
type CutSemantics string

// The two filesystem semantics.
const (
	CutDataOnly         CutSemantics = "data"
	CutDataAndMetadata  CutSemantics = "data+metadata"
	defaultCutRetention              = 1500 * time.Millisecond
)

// PowercutConfig describes a power-cut run.
type PowercutConfig struct {
	// BrokerPath is the broker binary.
	BrokerPath string
	// WorkDir holds each trial's directories (on a real disk).
	WorkDir string
	// Session journals the mounts.
	Session *host.Session
	// Trials per policy and semantics (default 50).
	Trials int
	// Policies and Semantics to run (default all of each).
	Policies  []FlushPolicy
	Semantics []CutSemantics
	// Producers per topic (default 2), Partitions per topic (default 2).
	Producers, Partitions int
	// The cut comes at a uniformly random moment between MinRun and MaxRun
	// after the producers start (defaults 300ms and 1.5s).
	MinRun, MaxRun time.Duration
	// SegmentBytes is log.segment.bytes (default 16 KiB: many rolls).
	SegmentBytes int
	// Retention is the first topic's retention.ms (default 1.5s).
	Retention time.Duration
	// Torn is the torn-write unit (default powercut.TornSector; -1 off).
	Torn int64
	Seed uint64
	// Progress, if set, receives one line per trial.
	Progress io.Writer
	Logger   *slog.Logger
}

func (c *PowercutConfig) setDefaults() {
	orDefault(&c.Trials, 50)
	if len(c.Policies) == 0 {
		c.Policies = FlushPolicies
	}
	if len(c.Semantics) == 0 {
		c.Semantics = []CutSemantics{CutDataOnly, CutDataAndMetadata}
	}
	orDefault(&c.Producers, 2)
	orDefault(&c.Partitions, 2)
	orDefault(&c.MinRun, 300*time.Millisecond)
	orDefault(&c.MaxRun, 1500*time.Millisecond)
	orDefault(&c.SegmentBytes, 16<<10)
	orDefault(&c.Retention, defaultCutRetention)
	orDefault(&c.Torn, powercut.TornSector)
	if c.Torn < 0 {
		c.Torn = 0
	}
	seedAndLogger(&c.Seed, &c.Logger)
}

// PowercutTrial is one power cut and restart.
type PowercutTrial struct {
	Policy    string        `json:"policy"`
	Semantics CutSemantics  `json:"semantics"`
	N         int           `json:"n"`
	CutAfter  time.Duration `json:"cut_after_ns"`
	// LateTopic says whether the topic created mid-run was created (its
	// CreateTopics answered) before the cut.
	LateTopic bool `json:"late_topic_created"`
	// LateTopicLost: it was created before the cut and did not come back;
	// FirstTopicLost: the topic created before the producers started did
	// not come back.
	LateTopicLost  bool `json:"late_topic_lost,omitempty"`
	FirstTopicLost bool `json:"first_topic_lost,omitempty"`
	KillTrial
	// Started says whether the broker started on what survived; StartError
	// says why not.
	Started bool `json:"started"`
	// CheckError says why reading the log back failed (the trial's
	// directory is kept).
	CheckError string        `json:"check_error,omitempty"`
	StartError string        `json:"start_error,omitempty"`
	Recovery   time.Duration `json:"recovery_ns"`
	// Cut is what the filesystem dropped; FS what reached it.
	Cut powercut.CutReport `json:"cut"`
	FS  powercut.Stats     `json:"fs"`
}

// PowercutReport is a power-cut run's outcome.
type PowercutReport struct {
	Seed         uint64          `json:"seed"`
	Trials       []PowercutTrial `json:"trials"`
	SegmentBytes int             `json:"segment_bytes"`
	Retention    time.Duration   `json:"retention_ns"`
	Torn         int64           `json:"torn_unit"`
	Producers    int             `json:"producers_per_topic"`
	Partitions   int             `json:"partitions_per_topic"`
	MinRun       time.Duration   `json:"min_run_ns"`
	MaxRun       time.Duration   `json:"max_run_ns"`
	Policies     []FlushPolicy   `json:"policies"`
	Semantics    []CutSemantics  `json:"semantics"`
	// SetupRetries lists trials run again because their setup (broker
	// start, first topic, producers) failed before the cut.
	SetupRetries []string `json:"setup_retries,omitempty"`
}

// errCutSetup marks a failure before the cut: nothing was measured yet.
var errCutSetup = errors.New("setup before the cut failed")

// RunPowercut runs cfg.Trials trials of every policy and semantics, interleaved
// (each round runs every cell once, in a shuffled order). A trial that
// loses records is a result, not an error.
func RunPowercut(ctx context.Context, cfg PowercutConfig) (*PowercutReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.WorkDir == "" || cfg.Session == nil {
		return nil, errors.New("powercut bench: broker path, work dir and host session are required")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 15))
	rep := &PowercutReport{Seed: cfg.Seed, SegmentBytes: cfg.SegmentBytes, Retention: cfg.Retention, Torn: cfg.Torn,
		Producers: cfg.Producers, Partitions: cfg.Partitions, MinRun: cfg.MinRun, MaxRun: cfg.MaxRun,
		Policies: cfg.Policies, Semantics: cfg.Semantics}
	type cell struct {
		p FlushPolicy
		s CutSemantics
	}
	var cells []cell
	for _, p := range cfg.Policies {
		for _, s := range cfg.Semantics {
			cells = append(cells, cell{p, s})
		}
	}
	for n := range cfg.Trials {
		rng.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
		for _, c := range cells {
			run := cfg.MinRun + time.Duration(rng.Int64N(int64(cfg.MaxRun-cfg.MinRun)+1))
			lateAt := time.Duration(rng.Int64N(int64(run)))
			seed := rng.Uint64()
			tr, err := cutTrial(ctx, cfg, c.p, c.s, n, run, lateAt, seed)
			for retry := 0; errors.Is(err, errCutSetup) && retry < 2; retry++ {
				// Before the cut nothing was measured yet: on a busy machine
				// a start can fail for reasons of its own; run it again.
				rep.SetupRetries = append(rep.SetupRetries, fmt.Sprintf("%s/%s trial %d: %v", c.p.Name, c.s, n+1, err))
				cfg.Logger.Warn("retrying a trial whose setup failed", "err", err)
				tr, err = cutTrial(ctx, cfg, c.p, c.s, n, run, lateAt, seed)
			}
			if err != nil {
				return rep, fmt.Errorf("%s/%s trial %d: %w", c.p.Name, c.s, n+1, err)
			}
			rep.Trials = append(rep.Trials, tr)
			cfg.Logger.Info("trial", "policy", c.p.Name, "semantics", c.s, "n", n+1, "cut_after", run,
				"acked", tr.Acked, "lost", tr.Lost, "unacked", tr.Unacked, "corrupt", tr.Corrupt, "started", tr.Started)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "%-16s %-14s %3d/%d: cut after %-6v acked %6d lost %6d unacked %4d corrupt %d started %v recovery %v\n",
					c.p.Name, c.s, n+1, cfg.Trials, run.Round(time.Millisecond), tr.Acked, tr.Lost, tr.Unacked, tr.Corrupt, tr.Started, tr.Recovery.Round(time.Millisecond))
			}
		}
	}
	return rep, nil
}

// startCutBroker starts a broker for a trial through the lab's launcher, on a
// free port, its server.properties and log kept in the trial's dir.
func startCutBroker(ctx context.Context, cfg PowercutConfig, dir, label, logDir string, extra []string) (*launch.Process, string, error) {
	props := append([]string{
		fmt.Sprintf("num.partitions=%d", cfg.Partitions),
		"auto.create.topics.enable=false",
		fmt.Sprintf("log.segment.bytes=%d", cfg.SegmentBytes),
		"brokerlab.metrics.listen=",
	}, extra...)
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: dir, Label: label, LogDir: logDir,
		Props: props, StartTimeout: time.Minute})
	if err != nil {
		return nil, "", err
	}
	return p, p.Addr(), nil
}

// cutTopic is one topic's producers.
type cutTopic struct {
	name string
	acks *Acks
}

func produceCut(ctx context.Context, wg *sync.WaitGroup, addr, topic string, first int32, cfg PowercutConfig, acks *Acks) error {
	for i := range cfg.Producers {
		cl, err := NewProducer(addr, topic)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func(producer int32) {
			defer wg.Done()
			defer cl.Close()
			Produce(ctx, cl, producer, producer%int32(cfg.Partitions), acks)
		}(first + int32(i))
	}
	return nil
}

func cutTrial(ctx context.Context, cfg PowercutConfig, pol FlushPolicy, sem CutSemantics, n int, run, lateAt time.Duration, seed uint64) (PowercutTrial, error) {
	tr := PowercutTrial{Policy: pol.Name, Semantics: sem, N: n, CutAfter: run}
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("%03d-%s-%s", n, pol.Name, strings.ReplaceAll(string(sem), "+", "-")))
	disk, mnt := filepath.Join(dir, "disk"), filepath.Join(dir, "mnt")
	for _, d := range []string{filepath.Join(disk, "logs"), mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return tr, err
		}
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	fsys, err := powercut.Mount(cfg.Session, powercut.Options{
		Dir: disk, Mountpoint: mnt, StateDir: filepath.Join(dir, "durable"),
		EagerMetadata: sem == CutDataOnly, Torn: cfg.Torn, Seed: seed, Logger: cfg.Logger,
	})
	if err != nil {
		return tr, err
	}
	mounted := true
	defer func() {
		if mounted {
			fsys.Cut()
			_ = fsys.Unmount()
		}
	}()

	// Before the cut: the broker on the power-cut filesystem, with the
	// policy and retention running every 100 ms.
	p, addr, err := startCutBroker(ctx, cfg, dir, "a", filepath.Join(mnt, "logs"), append(slices.Clone(pol.Props), "log.retention.check.interval.ms=100"))
	if err != nil {
		return tr, fmt.Errorf("%w: %w", errCutSetup, err)
	}
	defer p.Kill()
	retention := fmt.Sprint(cfg.Retention.Milliseconds())
	if err := createTopic(ctx, addr, "first", cfg.Partitions, map[string]*string{"retention.ms": &retention}); err != nil {
		return tr, fmt.Errorf("%w: creating topic first: %w", errCutSetup, err)
	}
	topics := []cutTopic{{"first", NewAcks()}}
	late := cutTopic{"late", NewAcks()}
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := produceCut(pctx, &wg, addr, "first", 0, cfg, topics[0].acks); err != nil {
		return tr, err
	}
	lateDone := make(chan bool, 1)
	go func() {
		select {
		case <-time.After(lateAt):
		case <-pctx.Done():
			lateDone <- false
			return
		}
		if createTopic(pctx, addr, late.name, cfg.Partitions, nil) != nil {
			lateDone <- false
			return
		}
		if err := produceCut(pctx, &wg, addr, late.name, 1000, cfg, late.acks); err != nil {
			cfg.Logger.Warn("producing to the late topic", "err", err)
		}
		lateDone <- true // created: its acks count even if no producer started
	}()
	select {
	case <-time.After(run):
	case <-ctx.Done():
		return tr, ctx.Err()
	}
	tr.Cut = fsys.Cut()
	cutAt := time.Now()
	p.Kill()
	stop()
	tr.LateTopic = <-lateDone
	wg.Wait()
	tr.FS = fsys.Stats()
	if err := fsys.Unmount(); err != nil {
		return tr, err
	}
	mounted = false
	if err := fsys.Recover(); err != nil {
		return tr, err
	}
	if tr.LateTopic {
		topics = append(topics, late)
	}

	// After the power came back: the broker on what survived, without
	// retention (nothing may be deleted while it is checked).
	start := time.Now()
	p2, addr2, err := startCutBroker(ctx, cfg, dir, "b", filepath.Join(disk, "logs"), []string{"log.retention.check.interval.ms=3600000"})
	tr.Recovery = time.Since(start)
	expired := func(ts time.Time) bool { return ts.Before(cutAt.Add(-cfg.Retention)) }
	if err != nil {
		tr.StartError = err.Error() // with the tail of the broker's log
		for _, t := range topics {
			v := VerifyMissing(t.acks, expired)
			tr.Acked += v.Acked
			tr.Lost += v.Lost
		}
		return tr, nil
	}
	defer p2.Stop(time.Minute)
	tr.Started = true
	for _, t := range topics {
		exists, err := topicExists(ctx, addr2, t.name)
		if err != nil {
			return tr, err
		}
		var v KillTrial
		if exists {
			v, err = Verify(ctx, addr2, t.name, t.acks, expired)
		} else {
			v = VerifyMissing(t.acks, expired)
			tr.LateTopicLost = tr.LateTopicLost || t.name == late.name
			tr.FirstTopicLost = tr.FirstTopicLost || t.name == "first"
		}
		if err != nil {
			if ctx.Err() != nil {
				return tr, err
			}
			// A read that cannot finish (a hole the broker reports but
			// cannot serve) is a finding, not the end of the run.
			keep = true
			tr.CheckError = fmt.Sprintf("checking topic %s (trial dir kept: %s): %v", t.name, dir, err)
			cfg.Logger.Error("checking a trial", "err", tr.CheckError)
			continue
		}
		tr.KillTrial.Add(v)
	}
	return tr, p2.Stop(time.Minute)
}

func topicExists(ctx context.Context, addr, topic string) (bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("listing topic %s: %w", topic, err)
	}
	d, ok := td[topic]
	return ok && d.Err == nil, nil
}

// PowercutRow is one cell of the table.
type PowercutRow struct {
	Policy           string
	Semantics        CutSemantics
	Trials           int
	Acked            int64
	LostMedian       float64
	LostMax          int64
	TrialsWithLoss   int
	Unacked          int64
	Corrupt          int64
	NotStarted       int
	CheckFailed      int
	LateTopicsLost   int
	RecoveryMedian   time.Duration
	RecoveryMax      time.Duration
	UnsyncedBytesMed float64
}

// Rows summarises the trials per policy and semantics, in the order of
// the report's policies and semantics.
func (r *PowercutReport) Rows() []PowercutRow {
	var rows []PowercutRow
	for _, p := range r.Policies {
		for _, s := range r.Semantics {
			row := PowercutRow{Policy: p.Name, Semantics: s}
			var lost, rec, unsynced []float64
			for _, t := range r.Trials {
				if t.Policy != p.Name || t.Semantics != s {
					continue
				}
				row.Trials++
				row.Acked += t.Acked
				lost = append(lost, float64(t.Lost))
				row.LostMax = max(row.LostMax, t.Lost)
				if t.Lost > 0 {
					row.TrialsWithLoss++
				}
				row.Unacked += t.Unacked
				row.Corrupt += t.Corrupt
				if !t.Started {
					row.NotStarted++
				} else {
					rec = append(rec, float64(t.Recovery))
					row.RecoveryMax = max(row.RecoveryMax, t.Recovery)
				}
				if t.CheckError != "" {
					row.CheckFailed++
				}
				if t.LateTopicLost {
					row.LateTopicsLost++
				}
				unsynced = append(unsynced, float64(t.Cut.LostBytes))
			}
			if row.Trials == 0 {
				continue
			}
			row.LostMedian = stats.Median(lost)
			row.UnsyncedBytesMed = stats.Median(unsynced)
			if len(rec) > 0 {
				row.RecoveryMedian = time.Duration(stats.Median(rec))
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Markdown renders the table.
func (r *PowercutReport) Markdown(w io.Writer) {
	t := tablewriter.NewTable(w, tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header("flush policy", "fs semantics", "trials", "acked", "acked lost (median)", "acked lost (max)",
		"trials losing", "unacked present", "corrupt served", "broker did not start", "read-back failed", "late topic lost",
		"recovery (median)", "recovery (max)", "unsynced bytes at cut (median)")
	for _, row := range r.Rows() {
		_ = t.Append([]string{row.Policy, string(row.Semantics), fmt.Sprint(row.Trials), fmt.Sprint(row.Acked),
			fmt.Sprintf("%.0f", row.LostMedian), fmt.Sprint(row.LostMax), fmt.Sprint(row.TrialsWithLoss),
			fmt.Sprint(row.Unacked), fmt.Sprint(row.Corrupt), fmt.Sprint(row.NotStarted), fmt.Sprint(row.CheckFailed), fmt.Sprint(row.LateTopicsLost),
			row.RecoveryMedian.Round(time.Millisecond).String(), row.RecoveryMax.Round(time.Millisecond).String(),
			fmt.Sprintf("%.0f", row.UnsyncedBytesMed)})
	}
	_ = t.Render()
}
