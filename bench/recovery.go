package bench

// The recovery experiment measures how long the broker takes to come back
// after a crash, with one recovery thread per log dir against several
// (num.recovery.threads.per.data.dir).
//
// It builds a log the way users do: bin/broker runs as its own process,
// a topic with Partitions partitions is created with kadm, and franz-go
// produces LogBytes of records into it (idempotent, acks=all, uncompressed
// incompressible values, BatchRecords records to one partition at a time
// and at most that many per batch, so batches and sparse index entries are
// real ones). The broker is
// then SIGKILLed: no flush, no clean-shutdown marker, every active segment
// above its recovery point, as after a power cut. The log dir's
// recovery-point-offset-checkpoint is saved as the crash left it.
//
// Each measured start puts that crash state back (the saved checkpoint, no
// clean-shutdown marker), so every start recovers the same segments: it
// reads every batch after the recovery point, checks its CRC, rebuilds the
// indexes and producer state. The time measured is from exec to the first
// answered Kafka request (launch.Start: the broker listens only after the
// log is open). The broker is SIGKILLed again right after, before it
// writes a checkpoint.
//
// Cold runs first drop this log's pages from the page cache: every file
// under the log dir is fdatasynced and posix_fadvise(POSIX_FADV_DONTNEED)d
// (nothing else on the host is evicted; a global drop_caches would disturb
// other work). What is still resident afterwards (mincore) is recorded with
// the run. Warm runs start again right after a cold one, with the log
// cached by the recovery just done.
//
// Runs are paired: each pair runs every thread count once cold and once
// warm, the thread counts in alternating order, so drift on the host lands
// on both sides.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// RecoveryConfig describes a run. Zero values take the documented defaults.
type RecoveryConfig struct {
	// BrokerPath is bin/broker (required).
	BrokerPath string
	// WorkDir holds the log dir, configs and broker logs (required); it
	// needs a little more than LogBytes of free space, on a disk: Measure
	// refuses tmpfs and ramfs, whose pages cannot be evicted.
	WorkDir string
	// Partitions of the topic (default 1000).
	Partitions int
	// LogBytes is how many bytes of record values are produced in total
	// (default 3 GB, 3e9).
	LogBytes int64
	// RecordSize is the value size of each record (default 1024).
	RecordSize int
	// BatchRecords is how many consecutive records go to one partition
	// before the producer moves to the next one, and the most one batch
	// holds (the producer's batch size limit is set to fit them; default
	// 16: 16 KiB batches at the default record size).
	BatchRecords int
	// SegmentBytes is the topic's segment.bytes; 0 keeps the broker's
	// default (1 GiB: one active segment per partition).
	SegmentBytes int64
	// Threads are the num.recovery.threads.per.data.dir values compared;
	// the first is the baseline (default 1, 4).
	Threads []int
	// Pairs is how many times every thread count runs cold and warm
	// (default 3).
	Pairs int
	// StartTimeout bounds one start (default 30m).
	StartTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Validate reports every problem with c at once.
func (c RecoveryConfig) Validate() error {
	var errs []error
	if c.BrokerPath == "" {
		errs = append(errs, errors.New("broker path is required"))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is required"))
	}
	if c.Partitions < 0 || c.LogBytes < 0 || c.RecordSize < 0 || c.BatchRecords < 0 || c.SegmentBytes < 0 || c.Pairs < 0 {
		errs = append(errs, fmt.Errorf("partitions %d, log bytes %d, record size %d, batch records %d, segment bytes %d, pairs %d: none may be negative",
			c.Partitions, c.LogBytes, c.RecordSize, c.BatchRecords, c.SegmentBytes, c.Pairs))
	}
	for _, t := range c.Threads {
		if t < 1 {
			errs = append(errs, fmt.Errorf("recovery threads %d: want 1 or more", t))
		}
	}
	return errors.Join(errs...)
}

func (c *RecoveryConfig) setDefaults() {
	orDefault(&c.Partitions, 1000)
	orDefault(&c.LogBytes, 3_000_000_000)
	orDefault(&c.RecordSize, 1024)
	orDefault(&c.BatchRecords, 16)
	if len(c.Threads) == 0 {
		c.Threads = []int{1, 4}
	}
	orDefault(&c.Pairs, 3)
	orDefault(&c.StartTimeout, 30*time.Minute)
	orDefault(&c.Logger, slog.New(slog.DiscardHandler))
}

// Cache says whether a run started with this log's pages evicted.
type Cache string

// The two cache states of a run.
const (
	Cold Cache = "cold"
	Warm Cache = "warm"
)

// RecoveryRun is one measured start.
type RecoveryRun struct {
	Pair    int   `json:"pair"`
	Threads int   `json:"threads"`
	Cache   Cache `json:"cache"`
	// Seconds from exec to the first answered request.
	Seconds float64 `json:"seconds"`
	// ResidentBytes of the log dir's files in the page cache just before
	// the start (mincore).
	ResidentBytes int64 `json:"resident_bytes"`
	// RecoveredPartitions is how many "recovered partition" lines the
	// broker logged: every partition must have been scanned.
	RecoveredPartitions int `json:"recovered_partitions"`
	// RecoverySeconds is the broker's own account, from its log: from
	// "not shut down cleanly" to the last "recovered partition" line
	// (millisecond timestamps). Seconds adds process start-up and the
	// readiness poll (every 50ms) to it.
	RecoverySeconds float64 `json:"recovery_seconds"`
}

// RecoveryData describes the log that was built.
type RecoveryData struct {
	Partitions   int     `json:"partitions"`
	Records      int64   `json:"records"`
	ValueBytes   int64   `json:"value_bytes"`
	SegmentFiles int     `json:"segment_files"`
	LogFileBytes int64   `json:"log_file_bytes"` // sum of the .log files
	DirBytes     int64   `json:"dir_bytes"`      // allocated by every file under the log dir
	FillSeconds  float64 `json:"fill_seconds"`
}

// RecoveryReport is the outcome of RunRecovery.
type RecoveryReport struct {
	Config struct {
		Partitions   int   `json:"partitions"`
		LogBytes     int64 `json:"log_bytes"`
		RecordSize   int   `json:"record_size"`
		BatchRecords int   `json:"batch_records"`
		SegmentBytes int64 `json:"segment_bytes"`
		Threads      []int `json:"threads"`
		Pairs        int   `json:"pairs"`
	} `json:"config"`
	Data RecoveryData  `json:"data"`
	Runs []RecoveryRun `json:"runs"`
}

const recoveryTopic = "recovery"

// RunRecovery builds the log, crashes the broker and times the restarts. It
// returns what it measured so far together with any error.
func RunRecovery(ctx context.Context, cfg RecoveryConfig) (*RecoveryReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("recovery bench config: %w", err)
	}
	cfg.setDefaults()
	rep := &RecoveryReport{}
	rc := &rep.Config
	rc.Partitions, rc.LogBytes, rc.RecordSize, rc.BatchRecords = cfg.Partitions, cfg.LogBytes, cfg.RecordSize, cfg.BatchRecords
	rc.SegmentBytes, rc.Threads, rc.Pairs = cfg.SegmentBytes, cfg.Threads, cfg.Pairs
	dataDir := filepath.Join(cfg.WorkDir, "data")
	var sfs unix.Statfs_t
	if err := unix.Statfs(cfg.WorkDir, &sfs); err != nil {
		return nil, fmt.Errorf("checking the work dir's filesystem: %w", err)
	}
	if sfs.Type == unix.TMPFS_MAGIC || sfs.Type == unix.RAMFS_MAGIC {
		return nil, fmt.Errorf("work dir %s is in memory (tmpfs/ramfs): its pages cannot be evicted for cold starts; give a dir on a disk", cfg.WorkDir)
	}

	var err error
	if rep.Data, err = fillRecoveryLog(ctx, cfg, dataDir); err != nil {
		return nil, err
	}
	checkpoint, err := os.ReadFile(filepath.Join(dataDir, "recovery-point-offset-checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		checkpoint, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("saving the crash's recovery checkpoint: %w", err)
	}
	for pair := range cfg.Pairs {
		order := slices.Clone(cfg.Threads)
		if pair%2 == 1 {
			slices.Reverse(order)
		}
		for _, threads := range order {
			for _, cache := range []Cache{Cold, Warm} {
				r, err := measureStart(ctx, cfg, dataDir, checkpoint, pair, threads, cache)
				if err != nil {
					return rep, err
				}
				cfg.Logger.Info("start measured", "pair", pair, "threads", threads, "cache", cache, "seconds", r.Seconds, "resident_mb", r.ResidentBytes/1e6)
				rep.Runs = append(rep.Runs, r)
			}
		}
	}
	return rep, nil
}

// startRecoveryBroker starts bin/broker on dataDir with threads recovery
// threads per log dir.
func startRecoveryBroker(ctx context.Context, cfg RecoveryConfig, dataDir string, threads int, label string) (*launch.Process, string, error) {
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: label, LogDir: dataDir,
		Props:        []string{"num.recovery.threads.per.data.dir=" + strconv.Itoa(threads), "auto.create.topics.enable=false"},
		StartTimeout: cfg.StartTimeout})
	if err != nil {
		return nil, "", err
	}
	return p, p.Addr(), nil
}

// fill builds the log with franz-go and SIGKILLs the broker.
func fillRecoveryLog(ctx context.Context, cfg RecoveryConfig, dataDir string) (RecoveryData, error) {
	d := RecoveryData{Partitions: cfg.Partitions}
	p, addr, err := startRecoveryBroker(ctx, cfg, dataDir, 1, "fill")
	if err != nil {
		return d, err
	}
	defer p.Kill()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(5*time.Millisecond),
		// At most BatchRecords records per batch: a record costs its value
		// plus about 10 bytes of varints, a batch 61 bytes of header.
		kgo.ProducerBatchMaxBytes(int32(cfg.BatchRecords*(cfg.RecordSize+16)+128)), kgo.MaxBufferedRecords(max(10_000, 4*cfg.BatchRecords)))
	if err != nil {
		return d, fmt.Errorf("creating producer: %w", err)
	}
	defer cl.Close()
	var configs map[string]*string
	if cfg.SegmentBytes > 0 {
		v := strconv.FormatInt(cfg.SegmentBytes, 10)
		configs = map[string]*string{"segment.bytes": &v}
	}
	if err := createTopic(ctx, addr, recoveryTopic, cfg.Partitions, configs); err != nil {
		return d, fmt.Errorf("creating topic %s: %w", recoveryTopic, err)
	}
	records := max(cfg.LogBytes/int64(cfg.RecordSize), int64(cfg.Partitions))
	cfg.Logger.Info("filling the log", "partitions", cfg.Partitions, "records", records, "value_bytes", records*int64(cfg.RecordSize))
	// A pool of random values: incompressible, and cheap to reuse.
	pool := make([]byte, 1<<20+cfg.RecordSize)
	rand.Read(pool)
	start := time.Now()
	var (
		mu       sync.Mutex
		firstErr error
	)
	for i := range records {
		off := (i * 4099) % (1 << 20)
		r := &kgo.Record{Topic: recoveryTopic, Partition: int32(i / int64(cfg.BatchRecords) % int64(cfg.Partitions)), Value: pool[off : off+int64(cfg.RecordSize)]}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
		if i%1000 == 0 && ctx.Err() != nil {
			return d, ctx.Err()
		}
		if i%100_000 == 0 && i > 0 {
			cfg.Logger.Info("filling", "records", i, "of", records, "mb_per_s", float64(i)*float64(cfg.RecordSize)/1e6/time.Since(start).Seconds())
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return d, fmt.Errorf("flushing producer: %w", err)
	}
	mu.Lock()
	perr := firstErr
	mu.Unlock()
	if perr != nil {
		return d, fmt.Errorf("producing: %w", perr)
	}
	d.FillSeconds = time.Since(start).Seconds()
	d.Records, d.ValueBytes = records, records*int64(cfg.RecordSize)
	cl.Close()
	p.Kill() // the crash: no flush, no checkpoint, no clean-shutdown marker
	err = filepath.WalkDir(dataDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.DirBytes += st.Blocks * 512 // allocated: active indexes are sparse
		}
		if strings.HasSuffix(path, ".log") && filepath.Base(filepath.Dir(path)) != "__consumer_offsets" {
			d.SegmentFiles++
			d.LogFileBytes += fi.Size()
		}
		return nil
	})
	cfg.Logger.Info("log built and broker killed", "segments", d.SegmentFiles, "log_bytes", d.LogFileBytes, "fill_seconds", d.FillSeconds)
	return d, err
}

// measureStart puts the crash state back, drops the log's pages for a
// cold run, and times one start.
func measureStart(ctx context.Context, cfg RecoveryConfig, dataDir string, checkpoint []byte, pair, threads int, cache Cache) (RecoveryRun, error) {
	r := RecoveryRun{Pair: pair, Threads: threads, Cache: cache}
	if err := os.Remove(filepath.Join(dataDir, ".kafka_cleanshutdown")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return r, err
	}
	cp := filepath.Join(dataDir, "recovery-point-offset-checkpoint")
	if checkpoint == nil {
		if err := os.Remove(cp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
	} else if err := os.WriteFile(cp, checkpoint, 0o644); err != nil {
		return r, err
	}
	if cache == Cold {
		if err := DropCache(dataDir); err != nil {
			return r, err
		}
	}
	var err error
	if r.ResidentBytes, err = ResidentBytes(dataDir); err != nil {
		return r, err
	}
	if cache == Cold && r.ResidentBytes > 16<<20 {
		cfg.Logger.Warn("log still partly cached after posix_fadvise(DONTNEED): this cold start is warmer than it should be", "resident_bytes", r.ResidentBytes)
	}
	label := fmt.Sprintf("p%d-t%d-%s", pair, threads, cache)
	start := time.Now()
	p, _, err := startRecoveryBroker(ctx, cfg, dataDir, threads, label)
	if err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	p.Kill() // before its first checkpoint, so the next start recovers the same
	if r.RecoveredPartitions, r.RecoverySeconds, err = scanBrokerLog(filepath.Join(cfg.WorkDir, "broker-"+label+".log")); err != nil {
		return r, err
	}
	if r.RecoveredPartitions != cfg.Partitions {
		return r, fmt.Errorf("start %s recovered %d partitions, want all %d (see broker-%s.log)", label, r.RecoveredPartitions, cfg.Partitions, label)
	}
	return r, nil
}

// scanBrokerLog counts the storage's "recovered partition" log lines and
// the time from the "not shut down cleanly" line to the last of them.
func scanBrokerLog(logFile string) (int, float64, error) {
	f, err := os.Open(logFile)
	if err != nil {
		return 0, 0, fmt.Errorf("reading broker log: %w", err)
	}
	defer f.Close()
	n := 0
	var first, last time.Time
	stamp := func(line []byte) time.Time {
		_, rest, ok := bytes.Cut(line, []byte("time="))
		if !ok {
			return time.Time{}
		}
		ts, _, _ := bytes.Cut(rest, []byte(" "))
		t, _ := time.Parse(time.RFC3339Nano, string(ts))
		return t
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		switch line := sc.Bytes(); {
		case bytes.Contains(line, []byte("recovered partition")):
			n++
			last = stamp(line)
		case bytes.Contains(line, []byte("not shut down cleanly")) && first.IsZero():
			first = stamp(line)
		}
	}
	var secs float64
	if !first.IsZero() && !last.IsZero() {
		secs = last.Sub(first).Seconds()
	}
	return n, secs, sc.Err()
}

// DropCache evicts the page-cache pages of every file under dir: each is
// fdatasynced (dirty pages cannot be dropped) and then
// posix_fadvise(POSIX_FADV_DONTNEED)d. Nothing outside dir is touched.
func DropCache(dir string) error {
	return eachFile(dir, func(f *os.File, _ int64) error {
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("posix_fadvise DONTNEED %s: %w", f.Name(), err)
		}
		return nil
	})
}

// ResidentBytes is how much of the files under dir is in the page cache,
// by mincore(2) on a mapping of each file.
func ResidentBytes(dir string) (int64, error) {
	page := int64(os.Getpagesize())
	var total int64
	err := eachFile(dir, func(f *os.File, size int64) error {
		if size == 0 {
			return nil
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mmap %s: %w", f.Name(), err)
		}
		defer unix.Munmap(m)
		vec := make([]byte, (size+page-1)/page)
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			err := error(errno)
			return fmt.Errorf("mincore %s: %w", f.Name(), err)
		}
		for _, v := range vec {
			if v&1 != 0 {
				total += page
			}
		}
		return nil
	})
	return total, err
}

func eachFile(dir string, fn func(f *os.File, size int64) error) error {
	return filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		return fn(f, fi.Size())
	})
}

// RecoverySummary is one (threads, cache) cell.
type RecoverySummary struct {
	Threads int
	Cache   Cache
	Runs    int
	// Median, Min and Max seconds to serve.
	Median, Min, Max float64
	// Speedup is the baseline's median over this cell's median (same
	// cache state); SpeedupLo and SpeedupHi the range over the pairs.
	Speedup, SpeedupLo, SpeedupHi float64
	// MedianResidentBytes before the start.
	MedianResidentBytes int64
	// MedianRecovery is the median of the runs' RecoverySeconds.
	MedianRecovery float64
}

// Summaries returns one RecoverySummary per thread count and cache state, in
// config order, cold first.
func (r *RecoveryReport) Summaries() []RecoverySummary {
	secs := func(threads int, cache Cache) map[int]float64 {
		out := map[int]float64{}
		for _, run := range r.Runs {
			if run.Threads == threads && run.Cache == cache {
				out[run.Pair] = run.Seconds
			}
		}
		return out
	}
	var out []RecoverySummary
	for _, cache := range []Cache{Cold, Warm} {
		base := secs(r.Config.Threads[0], cache)
		for _, th := range r.Config.Threads {
			mine := secs(th, cache)
			if len(mine) == 0 {
				continue
			}
			s := RecoverySummary{Threads: th, Cache: cache, Runs: len(mine)}
			var xs, ratios []float64
			var res, rec []float64
			for pair, v := range mine {
				xs = append(xs, v)
				if b, ok := base[pair]; ok && v > 0 {
					ratios = append(ratios, b/v)
				}
			}
			for _, run := range r.Runs {
				if run.Threads == th && run.Cache == cache {
					res = append(res, float64(run.ResidentBytes))
					rec = append(rec, run.RecoverySeconds)
				}
			}
			s.Median, s.Min, s.Max = stats.Median(xs), slices.Min(xs), slices.Max(xs)
			s.MedianResidentBytes, s.MedianRecovery = int64(stats.Median(res)), stats.Median(rec)
			if bm := stats.Median(mapValues(base)); s.Median > 0 && bm > 0 {
				s.Speedup = bm / s.Median
			}
			if len(ratios) > 0 {
				s.SpeedupLo, s.SpeedupHi = slices.Min(ratios), slices.Max(ratios)
			}
			out = append(out, s)
		}
	}
	return out
}

func mapValues(m map[int]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// WriteTable renders the summaries with tablewriter (Markdown when
// markdown is set).
func (r *RecoveryReport) WriteTable(w io.Writer, markdown bool) error {
	t := newTable(w, markdown)
	base := r.Config.Threads[0]
	t.Header("page cache", "recovery threads", "starts", "seconds to serve (median)", "min .. max", "recovery in the log (median)",
		fmt.Sprintf("speed-up vs %d thread(s) (median, range of pairs)", base), "log resident before start")
	for _, s := range r.Summaries() {
		if err := t.Append(string(s.Cache), strconv.Itoa(s.Threads), strconv.Itoa(s.Runs), fmt.Sprintf("%.2f", s.Median),
			fmt.Sprintf("%.2f .. %.2f", s.Min, s.Max), fmt.Sprintf("%.2f", s.MedianRecovery), fmt.Sprintf("%.2fx (%.2f .. %.2f)", s.Speedup, s.SpeedupLo, s.SpeedupHi),
			fmt.Sprintf("%.0f MB of %.0f MB", float64(s.MedianResidentBytes)/1e6, float64(r.Data.DirBytes)/1e6)); err != nil {
			return err
		}
	}
	return t.Render()
}

// Save writes dir/recovery.json (with the environment of workDir, where the
// log was) and, when a start was measured, dir/recovery.md and the table to
// stdout.
func (r *RecoveryReport) Save(dir, workDir string, stdout io.Writer) error {
	if err := SaveRun(dir, "recovery.json", workDir, r); err != nil {
		return err
	}
	if len(r.Runs) == 0 {
		return nil
	}
	if err := r.WriteTable(stdout, false); err != nil {
		return err
	}
	return writeMarkdown(dir, "recovery.md", func(f *os.File) error {
		d := r.Data
		fmt.Fprintf(f, "# Crash recovery: %d partitions, %.2f GB in %d segments, broker SIGKILLed after the fill\n\n", d.Partitions, float64(d.LogFileBytes)/1e9, d.SegmentFiles)
		fmt.Fprintf(f, "Fill: %d records of %d bytes in %.1f s (%.1f MB/s). Cold starts first drop the log's pages (fdatasync + POSIX_FADV_DONTNEED per file); warm starts follow a cold one.\n\n",
			d.Records, r.Config.RecordSize, d.FillSeconds, float64(d.ValueBytes)/1e6/d.FillSeconds)
		return r.WriteTable(f, true)
	})
}
