package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetaPropertiesMismatch(t *testing.T) {
	t.Run("two dirs from different clusters refuse to start", func(t *testing.T) {
		a, b := t.TempDir(), t.TempDir()
		for _, d := range []string{a, b} {
			s, err := Open(Config{Dirs: []string{d}, NodeID: 1})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
		_, err := Open(Config{Dirs: []string{a, b}, NodeID: 1})
		var ce *ClusterIDMismatchError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInconsistentClusterID) {
			t.Fatalf("Open: %v, want a ClusterIDMismatchError", err)
		}
		idA, idB := readMeta(t, a).clusterID, readMeta(t, b).clusterID
		for _, want := range []string{filepath.Join(a, "meta.properties"), filepath.Join(b, "meta.properties"), idA, idB, "restart"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("a configured cluster id that differs refuses to start", func(t *testing.T) {
		d := t.TempDir()
		s, err := Open(Config{Dirs: []string{d}, NodeID: 1})
		if err != nil {
			t.Fatal(err)
		}
		stored := s.ClusterID()
		s.Close()
		_, err = Open(Config{Dirs: []string{d}, NodeID: 1, ClusterID: "other-cluster"})
		if !errors.Is(err, ErrInconsistentClusterID) || !strings.Contains(err.Error(), stored) || !strings.Contains(err.Error(), "other-cluster") {
			t.Fatalf("Open: %v, want a mismatch naming both ids", err)
		}
	})
	t.Run("another node id refuses to start", func(t *testing.T) {
		d := t.TempDir()
		s, err := Open(Config{Dirs: []string{d}, NodeID: 1})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err = Open(Config{Dirs: []string{d}, NodeID: 2})
		var ne *NodeIDMismatchError
		if !errors.As(err, &ne) || ne.Stored != 1 || ne.Configured != 2 || !strings.Contains(err.Error(), "node.id=1") {
			t.Fatalf("Open: %v, want a NodeIDMismatchError suggesting node.id=1", err)
		}
	})
	t.Run("a new dir joins the cluster of the existing ones", func(t *testing.T) {
		a, b := t.TempDir(), t.TempDir()
		s, err := Open(Config{Dirs: []string{a}, NodeID: 3})
		if err != nil {
			t.Fatal(err)
		}
		id := s.ClusterID()
		s.Close()
		s = openStore(t, Config{Dirs: []string{a, b}, NodeID: 3})
		if s.ClusterID() != id || readMeta(t, b).clusterID != id || readMeta(t, b).nodeID != 3 || readMeta(t, b).version != 1 {
			t.Fatalf("new dir got %+v, want cluster %s node 3 version 1", readMeta(t, b), id)
		}
	})
	t.Run("a log dir in use by another store is refused", func(t *testing.T) {
		cfg := testConfig(t, 1)
		openStore(t, cfg)
		if _, err := Open(cfg); !errors.Is(err, errDirLocked) {
			t.Fatalf("second Open: %v, want errDirLocked", err)
		}
	})
}

func readMeta(tb testing.TB, dir string) metaProperties {
	tb.Helper()
	m, ok, err := readMetaProperties(filepath.Join(dir, metaPropertiesFile))
	if err != nil || !ok {
		tb.Fatalf("reading meta.properties in %s: %v (exists %v)", dir, err, ok)
	}
	return m
}

func TestPlacementPicksDirWithFewestPartitions(t *testing.T) {
	cfg := testConfig(t, 3)
	s := openStore(t, cfg)
	mustCreate(t, s, "a", 2, nil) // dirs 0, 1
	mustCreate(t, s, "b", 4, nil) // dirs 2, 0, 1, 2
	count := func(s *Store) map[string]int {
		out := map[string]int{}
		for _, topic := range []string{"a", "b"} {
			for i := range s.topics[topic].partitions {
				out[filepath.Dir(s.Partition(topic, i).dir)]++
			}
		}
		return out
	}
	want := map[string]int{cfg.Dirs[0]: 2, cfg.Dirs[1]: 2, cfg.Dirs[2]: 2}
	if got := count(s); !equalCounts(got, want) {
		t.Fatalf("placement %v, want %v", got, want)
	}
	if got := filepath.Dir(s.Partition("b", 0).dir); got != cfg.Dirs[2] {
		t.Fatalf("b-0 in %s, want the emptiest dir %s", got, cfg.Dirs[2])
	}
	s.Close()
	// Counts are rebuilt from disk: after a restart the next partition
	// still goes to the emptiest dir.
	s = openStore(t, cfg)
	if err := s.DeleteTopic("a"); err != nil { // frees dirs 0 and 1
		t.Fatal(err)
	}
	mustCreate(t, s, "c", 1, nil)
	if got := filepath.Dir(s.Partition("c", 0).dir); got != cfg.Dirs[0] {
		t.Fatalf("c-0 in %s, want %s", got, cfg.Dirs[0])
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCreateAndDeleteTopicErrors(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "exists", 1, nil)
	mustCreate(t, s, "dot.ted", 1, nil)
	tests := []struct {
		name       string
		topic      string
		partitions int32
		configs    map[string]*string
		want       *kerr.Error
	}{
		{"an existing topic", "exists", 1, nil, kerr.TopicAlreadyExists},
		{"an empty name", "", 1, nil, kerr.InvalidTopicException},
		{"a name with a slash", "a/b", 1, nil, kerr.InvalidTopicException},
		{"a name of 250 characters", strings.Repeat("x", 250), 1, nil, kerr.InvalidTopicException},
		{"a name colliding on . and _", "dot_ted", 1, nil, kerr.InvalidTopicException},
		{"zero partitions", "zero", 0, nil, kerr.InvalidPartitions},
		{"an unknown config", "cfg", 1, map[string]*string{"no.such.config": ptr("1")}, kerr.InvalidConfig},
		{"a bad config value", "cfg", 1, map[string]*string{"retention.ms": ptr("soon")}, kerr.InvalidConfig},
		{"a bad timestamp type", "cfg", 1, map[string]*string{"message.timestamp.type": ptr("Now")}, kerr.InvalidConfig},
		{"compaction", "cfg", 1, map[string]*string{"cleanup.policy": ptr("compact")}, kerr.InvalidConfig},
		{"a valid topic with a null config", "fine", 3, map[string]*string{"retention.ms": nil, "segment.bytes": ptr("1048576")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantKerr(t, s.CreateTopic(tt.topic, tt.partitions, tt.configs), tt.want)
		})
	}
	info, _ := s.Topic("fine")
	if len(info.Configs) != 1 || info.Configs["segment.bytes"] != "1048576" {
		t.Fatalf("configs %v, want only segment.bytes", info.Configs)
	}
	wantKerr(t, s.DeleteTopic("nope"), kerr.UnknownTopicOrPartition)
	p := s.Partition("exists", 0)
	mustAppend(t, p, simple(t, "x", 1, 10))
	sl, err := p.Read(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	w := p.Wait()
	if err := s.DeleteTopic("exists"); err != nil {
		t.Fatal(err)
	}
	<-w // waiters wake when the partition goes away
	if s.Partition("exists", 0) != nil {
		t.Fatal("partition still there after DeleteTopic")
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Fatalf("partition dir after DeleteTopic: %v", err)
	}
	if data, err := sl.readAll(); err != nil || len(data) == 0 {
		t.Fatalf("a Slice taken before DeleteTopic no longer reads: %v", err)
	}
	sl.Release()
	_, err = p.Append(simple(t, "x", 1, 10), false)
	wantKerr(t, err, kerr.UnknownTopicOrPartition)
	if got := len(s.Topics()); got != 2 {
		t.Fatalf("%d topics, want 2", got)
	}
}

func TestReadBoundsAndMaxBytes(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.IndexIntervalBytes = 256
	s := openStore(t, cfg)
	p := onePartition(t, s, "r")
	sl, err := p.Read(0, 100)
	if err != nil || sl.Size != 0 || sl.File != nil {
		t.Fatalf("Read of an empty partition: %+v, %v", sl, err)
	}
	sl.Release()
	var sizes []int64
	for i := range 20 {
		b := simple(t, "r", 2, 100+i*10)
		sizes = append(sizes, int64(len(b)))
		mustAppend(t, p, b)
	}
	_, err = p.Read(41, 100)
	wantKerr(t, err, kerr.OffsetOutOfRange)
	_, err = p.Read(-1, 100)
	wantKerr(t, err, kerr.OffsetOutOfRange)
	sl, err = p.Read(40, 100)
	if err != nil || sl.Size != 0 {
		t.Fatalf("Read at the high watermark: %+v, %v; want empty", sl, err)
	}
	tests := []struct {
		name     string
		offset   int64
		maxBytes int32
		want     int64
	}{
		{"maxBytes 0 still returns one whole batch", 0, 0, sizes[0]},
		{"maxBytes smaller than the batch returns that batch", 3, 10, sizes[1]},
		{"an offset inside a batch starts at the batch", 5, int32(sizes[2] + sizes[3]), sizes[2] + sizes[3]},
		{"maxBytes that cuts a batch stops before it", 0, int32(sizes[0] + sizes[1] + sizes[2] - 1), sizes[0] + sizes[1]},
		{"a large maxBytes returns everything", 0, 1 << 20, sum(sizes)},
		{"from the middle to the end", 20, 1 << 20, sum(sizes[10:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl, err := p.Read(tt.offset, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			defer sl.Release()
			if sl.Size != tt.want {
				t.Fatalf("Read(%d, %d) returned %d bytes, want %d", tt.offset, tt.maxBytes, sl.Size, tt.want)
			}
		})
	}
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

func TestWaitIsClosedByTheNextAppend(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	p := onePartition(t, s, "w")
	var wg sync.WaitGroup
	woken := make(chan int64, 3)
	for range 3 {
		w := p.Wait()
		wg.Go(func() {
			<-w
			woken <- p.HighWatermark()
		})
	}
	select {
	case <-woken:
		t.Fatal("a waiter woke before any append")
	default:
	}
	mustAppend(t, p, simple(t, "w", 2, 10))
	wg.Wait()
	close(woken)
	for hwm := range woken {
		if hwm != 2 {
			t.Fatalf("waiter saw high watermark %d, want 2", hwm)
		}
	}
	select {
	case <-p.Wait():
		t.Fatal("the new Wait channel is already closed")
	default:
	}
}

func TestRollByTime(t *testing.T) {
	cfg, clock := clockedConfig(t, 1)
	cfg.RollInterval = time.Hour
	s := openStore(t, cfg)
	mustCreate(t, s, "broker-default", 1, nil)
	mustCreate(t, s, "topic-override", 1, map[string]*string{"segment.ms": ptr("600000")})
	for _, tc := range []struct {
		topic   string
		advance time.Duration
	}{{"broker-default", time.Hour}, {"topic-override", 10 * time.Minute}} {
		t.Run(tc.topic, func(t *testing.T) {
			p := s.Partition(tc.topic, 0)
			mustAppend(t, p, simple(t, "a", 1, 10))
			clock.Advance(tc.advance - time.Second)
			mustAppend(t, p, simple(t, "b", 1, 10))
			if n := len(p.Segments()); n != 1 {
				t.Fatalf("%d segments before the roll interval passed, want 1", n)
			}
			clock.Advance(time.Second)
			mustAppend(t, p, simple(t, "c", 1, 10))
			if got := p.Segments(); len(got) != 2 || got[1] != 2 {
				t.Fatalf("segments %v after the roll interval, want [0 2]", got)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name    string
		configs map[string]*string
		broker  Retention
		age     time.Duration // how far the clock moves before the check
		want    []int64       // segments left
	}{
		// 5 closed segments of ~760 bytes and the active one of ~380: as in
		// Kafka, segments go only while the rest stays at or above the limit.
		{"by bytes deletes the oldest segments down to the limit", map[string]*string{"retention.bytes": ptr("2500")}, Retention{}, 0, []int64{4, 6, 8, 10}},
		{"by broker bytes", nil, Retention{Bytes: 2500}, 0, []int64{4, 6, 8, 10}},
		{"retention.bytes 0 deletes every closed segment", map[string]*string{"retention.bytes": ptr("0")}, Retention{}, 0, []int64{10}},
		{"by age deletes closed segments older than retention.ms", map[string]*string{"retention.ms": ptr("3600000")}, Retention{}, 2 * time.Hour, []int64{10}},
		{"by broker age", nil, Retention{Duration: time.Hour}, 2 * time.Hour, []int64{10}},
		{"young segments stay", map[string]*string{"retention.ms": ptr("3600000")}, Retention{}, 30 * time.Minute, []int64{0, 2, 4, 6, 8, 10}},
		{"retention.ms -1 keeps everything", map[string]*string{"retention.ms": ptr("-1")}, Retention{Duration: time.Hour}, 1000 * time.Hour, []int64{0, 2, 4, 6, 8, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, clock := clockedConfig(t, 1)
			cfg.Retention = tt.broker
			s := openStore(t, cfg)
			configs := map[string]*string{"segment.bytes": ptr("1000")}
			for k, v := range tt.configs {
				configs[k] = v
			}
			mustCreate(t, s, "ret", 1, configs)
			p := s.Partition("ret", 0)
			// 11 batches of ~380 bytes, timestamps at the fake clock: two
			// batches per segment, bases 0, 2, ..., 10 (10 active).
			for i := range 11 {
				b := encodeBatch(t, batchOpts{values: values("r", 1, 300), timestamp: clock.Now().UnixMilli()})
				if res := mustAppend(t, p, b); res.BaseOffset != int64(i) {
					t.Fatalf("base offset %d, want %d", res.BaseOffset, i)
				}
			}
			if got := p.Segments(); len(got) != 6 {
				t.Fatalf("segments %v before retention, want 6", got)
			}
			clock.Advance(tt.age)
			s.enforceRetention()
			got := p.Segments()
			if len(got) != len(tt.want) || got[0] != tt.want[0] {
				t.Fatalf("segments %v after retention, want %v", got, tt.want)
			}
			if p.LogStartOffset() != tt.want[0] {
				t.Fatalf("log start offset %d, want %d", p.LogStartOffset(), tt.want[0])
			}
			_, err := p.Read(tt.want[0]-1, 100)
			if tt.want[0] > 0 {
				wantKerr(t, err, kerr.OffsetOutOfRange)
			}
			if got := len(readAll(t, p, p.LogStartOffset())); got != 11-int(tt.want[0]) {
				t.Fatalf("%d batches readable after retention, want %d", got, 11-tt.want[0])
			}
			if _, err := os.Stat(filepath.Join(p.dir, segmentName(0, logSuffix))); (tt.want[0] > 0) != os.IsNotExist(err) {
				t.Fatalf("segment 0 file after retention: %v", err)
			}
		})
	}
}

func TestSliceOutlivesRetention(t *testing.T) {
	cfg, _ := clockedConfig(t, 1) // time stands still
	s := openStore(t, cfg)
	mustCreate(t, s, "rel", 1, map[string]*string{"segment.bytes": ptr("1000"), "retention.bytes": ptr("0")})
	p := s.Partition("rel", 0)
	want := fill(t, p, "x", 6)
	sl, err := p.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.enforceRetention() == 0 {
		t.Fatal("nothing deleted")
	}
	data, err := sl.readAll()
	if err != nil {
		t.Fatalf("reading a released segment's Slice: %v", err)
	}
	if !bytes.HasPrefix(data, want[0]) {
		t.Fatalf("slice content changed after deletion")
	}
	sl.Release()
	sl.Release() // idempotent
}

func TestRunEnforcesRetentionAndCheckpoints(t *testing.T) {
	cfg, clock := clockedConfig(t, 1)
	cfg.Retention = Retention{Duration: time.Hour, CheckInterval: 5 * time.Millisecond}
	cfg.CheckpointInterval = 5 * time.Millisecond
	s := openStore(t, cfg)
	mustCreate(t, s, "run", 1, map[string]*string{"segment.bytes": ptr("1000")})
	p := s.Partition("run", 0)
	fill(t, p, "r", 8)
	clock.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := len(p.Segments()); n != 1 {
			return errors.New("retention has not run yet")
		}
		cp, err := readCheckpoint(filepath.Join(cfg.Dirs[0], recoveryCheckpointFile))
		if err != nil || cp["run"] == nil {
			return errors.New("no checkpoint yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestFlushPolicy(t *testing.T) {
	t.Run("a synced append syncs before every ack and groups concurrent appends", func(t *testing.T) {
		cfg := testConfig(t, 1)
		s := openStore(t, cfg)
		p := onePartition(t, s, "sync")
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					res, err := p.Append(simple(t, "s", 1, 100), true)
					if err != nil {
						t.Error(err)
						return
					}
					if p.recoveryPoint() <= res.BaseOffset {
						t.Errorf("writer %d append %d acked at %d before the recovery point %d covered it", w, i, res.BaseOffset, p.recoveryPoint())
					}
				}
			})
		}
		wg.Wait()
		st := s.Stats()
		if st.Syncs == 0 || st.Syncs > writers*each {
			t.Fatalf("%d syncs for %d appends", st.Syncs, writers*each)
		}
		var inBuckets uint64
		for _, n := range st.SyncBuckets {
			inBuckets += n
		}
		if inBuckets != st.Syncs || st.SyncSeconds <= 0 {
			t.Fatalf("sync latency buckets hold %d of %d syncs, %v seconds", inBuckets, st.Syncs, st.SyncSeconds)
		}
		t.Logf("%d appends, %d fdatasyncs, %d covered by another's (group commit)", writers*each, st.Syncs, st.SyncsAvoided)
	})
	t.Run("one fdatasync covers every append waiting for it", func(t *testing.T) {
		cfg := testConfig(t, 1)
		s := openStore(t, cfg)
		p := onePartition(t, s, "group")
		// Hold the sync lock as a slow fdatasync would, let 6 appends write
		// and queue behind it, then let go: one sync must cover them all.
		p.syncMu.Lock()
		const n = 6
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := p.Append(simple(t, "g", 1, 10), true); err != nil {
					t.Error(err)
				}
			})
		}
		testutil.WaitFor(t, 10*time.Second, func() error {
			if p.HighWatermark() != n {
				return errors.New("appends not written yet")
			}
			return nil
		})
		p.syncMu.Unlock()
		wg.Wait()
		if st := s.Stats(); st.Syncs != 1 || st.SyncsAvoided != n-1 {
			t.Fatalf("%d fdatasyncs (%d avoided) for %d waiting appends, want 1 (%d)", st.Syncs, st.SyncsAvoided, n, n-1)
		}
	})
	t.Run("flush.messages syncs every N messages", func(t *testing.T) {
		s := openStore(t, testConfig(t, 1))
		mustCreate(t, s, "n", 1, map[string]*string{"flush.messages": ptr("10")})
		p := s.Partition("n", 0)
		for range 9 {
			mustAppend(t, p, simple(t, "n", 1, 10))
		}
		if s.Stats().Syncs != 0 || p.recoveryPoint() != 0 {
			t.Fatalf("synced before 10 messages: %d syncs", s.Stats().Syncs)
		}
		mustAppend(t, p, simple(t, "n", 1, 10))
		if s.Stats().Syncs != 1 || p.recoveryPoint() != 10 {
			t.Fatalf("after 10 messages: %d syncs, recovery point %d; want 1 and 10", s.Stats().Syncs, p.recoveryPoint())
		}
	})
	t.Run("log.flush.interval.ms syncs old unflushed data", func(t *testing.T) {
		cfg, clock := clockedConfig(t, 1)
		cfg.Flush.Interval = time.Minute
		s := openStore(t, cfg)
		p := onePartition(t, s, "ms")
		mustAppend(t, p, simple(t, "m", 3, 10))
		if err := p.maybeFlushByTime(clock.Now()); err != nil || p.recoveryPoint() != 0 {
			t.Fatalf("flushed too early: %v, recovery point %d", err, p.recoveryPoint())
		}
		clock.Advance(time.Minute)
		if err := p.maybeFlushByTime(clock.Now()); err != nil || p.recoveryPoint() != 3 {
			t.Fatalf("after the interval: %v, recovery point %d, want 3", err, p.recoveryPoint())
		}
	})
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.SegmentBytes = 2000
	cfg.IndexIntervalBytes = 300
	s := openStore(t, cfg)
	p := onePartition(t, s, "ts")
	// Batch i has 3 records with timestamps 1000*i + {0, 1, 2}; every
	// other batch is compressed.
	for i := range 30 {
		o := batchOpts{values: values("t", 3, 100), timestamp: int64(1000 * i)}
		if i%2 == 1 {
			o.codec = kgo.Lz4Compression()
		}
		mustAppend(t, p, encodeBatch(t, o))
	}
	tests := []struct {
		ts      int64
		off     int64
		wantTS  int64
		present bool
	}{
		{0, 0, 0, true},
		{-5, 0, 0, true},
		{1, 1, 1, true},
		{2, 2, 2, true},
		{3, 3, 1000, true},
		{15001, 46, 15001, true},
		{16002, 50, 16002, true},
		{29002, 89, 29002, true},
		{29003, 92, 40000, true},
		{40003, 0, 0, false},
	}
	if off, ts, ok := p.MaxTimestamp(); !ok || off != 89 || ts != 29002 {
		t.Errorf("MaxTimestamp() = %d, %d, %v; want 89, 29002, true", off, ts, ok)
	}
	// A batch with an older timestamp does not change the answer; the
	// newest record of a newer batch becomes it.
	mustAppend(t, p, encodeBatch(t, batchOpts{values: values("old", 2, 10), timestamp: 5}))
	b := encodeBatch(t, batchOpts{values: values("new", 3, 10), timestamp: 40000})
	mustAppend(t, p, b)
	if off, ts, ok := p.MaxTimestamp(); !ok || off != 94 || ts != 40002 {
		t.Errorf("MaxTimestamp() = %d, %d, %v; want 94, 40002, true", off, ts, ok)
	}
	for _, tt := range tests {
		off, ts, ok := p.OffsetForTimestamp(tt.ts)
		if ok != tt.present || (ok && (off != tt.off || ts != tt.wantTS)) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d, %v", tt.ts, off, ts, ok, tt.off, tt.wantTS, tt.present)
		}
	}
}

func TestCreateTopicWritesEveryPartitionsMetadataAndReloads(t *testing.T) {
	cfg := testConfig(t, 2)
	s := openStore(t, cfg)
	if err := s.CreateTopic("many", 60, nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range cfg.Dirs {
		left, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp"))
		if len(left) != 0 {
			t.Errorf("temporary files left in %s: %v", dir, left)
		}
	}
	for i := range int32(60) {
		dir := s.Partition("many", i).dir
		for _, f := range []string{topicMetaFile, partitionMetadataFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("partition %d: %v", i, err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	info, ok := s.Topic("many")
	if !ok || info.Partitions != 60 {
		t.Fatalf("after reopening: topic %+v (found %v), want 60 partitions", info, ok)
	}
	for i := range int32(60) {
		if s.Partition("many", i) == nil {
			t.Errorf("partition %d missing after reopening", i)
		}
	}
}
