package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fill appends n batches of 1-3 records and returns copies of them.
func fill(tb testing.TB, p *Partition, tag string, n int) [][]byte {
	tb.Helper()
	var out [][]byte
	for i := range n {
		b := simple(tb, fmt.Sprintf("%s%d", tag, i), 1+i%3, 200)
		mustAppend(tb, p, b)
		out = append(out, bytes.Clone(b))
	}
	return out
}

func sameBatches(tb testing.TB, got, want [][]byte) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			tb.Fatalf("batch %d differs", i)
		}
	}
}

func TestRestartKeepsOffsetsIndexesAndTopics(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 512
	s := openStore(t, cfg)
	mustCreate(t, s, "keep", 2, map[string]*string{"retention.ms": ptr("3600000"), "cleanup.policy": ptr("delete")})
	before, _ := s.Topic("keep")
	p := s.Partition("keep", 1)
	want := fill(t, p, "k", 50)
	hwm := p.HighWatermark()
	segs := p.Segments()
	indexes := map[int64][]offsetEntry{}
	p.mu.RLock()
	for _, sg := range p.segs {
		indexes[sg.base] = append([]offsetEntry(nil), sg.index.entries...)
	}
	p.mu.RUnlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dirs[0], cleanShutdownFile)); err != nil {
		t.Fatalf("no clean shutdown marker after Close: %v", err)
	}
	// Closed segments' indexes are trimmed to their entries.
	for base, entries := range indexes {
		fi, err := os.Stat(filepath.Join(p.dir, segmentName(base, indexSuffix)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(len(entries))*offsetEntrySize {
			t.Fatalf("index of segment %d is %d bytes, want %d", base, fi.Size(), len(entries)*offsetEntrySize)
		}
	}

	s = openStore(t, cfg)
	if st := s.Stats(); st.SegmentsRecovered != 0 {
		t.Fatalf("%d segments scanned after a clean shutdown, want 0", st.SegmentsRecovered)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dirs[0], cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean shutdown marker still present after Open: %v", err)
	}
	after, ok := s.Topic("keep")
	if !ok {
		t.Fatal("topic gone after restart")
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("topic changed across restart (-before +after):\n%s", diff)
	}
	p = s.Partition("keep", 1)
	if p.HighWatermark() != hwm || !cmp.Equal(p.Segments(), segs) {
		t.Fatalf("after restart: hwm %d segments %v; want %d %v", p.HighWatermark(), p.Segments(), hwm, segs)
	}
	p.mu.RLock()
	for _, sg := range p.segs {
		if diff := cmp.Diff(indexes[sg.base], sg.index.entries, cmp.AllowUnexported(offsetEntry{})); diff != "" && len(indexes[sg.base])+len(sg.index.entries) > 0 {
			t.Errorf("index of segment %d changed across restart:\n%s", sg.base, diff)
		}
	}
	p.mu.RUnlock()
	sameBatches(t, readAll(t, p, 0), want)
	if res := mustAppend(t, p, simple(t, "more", 1, 10)); res.BaseOffset != hwm {
		t.Fatalf("append after restart at %d, want %d", res.BaseOffset, hwm)
	}
}

func TestCleanShutdownMarkerSkipsTheScan(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	p := onePartition(t, s, "skip")
	fill(t, p, "s", 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Corrupt a record byte (inside the CRC) of the first batch: with the
	// marker nothing is CRC-checked, so the batch is still served.
	corruptByte(t, filepath.Join(p.dir, segmentName(0, logSuffix)), batchHeaderSize+3)
	s = openStore(t, cfg)
	p = s.Partition("skip", 0)
	if p.HighWatermark() != 9 || s.Stats().SegmentsRecovered != 0 {
		t.Fatalf("hwm %d, recovered %d segments; want 9 and no scan", p.HighWatermark(), s.Stats().SegmentsRecovered)
	}
}

func corruptByte(tb testing.TB, path string, pos int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0x55
	if _, err := f.WriteAt(b[:], pos); err != nil {
		tb.Fatal(err)
	}
}

func TestRecoveryTruncatesTornTail(t *testing.T) {
	tests := []struct {
		name string
		// damage edits the log files of the partition and returns how
		// many of the appended batches must survive.
		damage func(tb testing.TB, dir string, segs []int64, sizes []int64, batches [][]byte) int
	}{
		{"a file cut mid-batch loses only the torn batch", func(tb testing.TB, dir string, segs, sizes []int64, batches [][]byte) int {
			last := filepath.Join(dir, segmentName(segs[len(segs)-1], logSuffix))
			if err := os.Truncate(last, sizes[len(sizes)-1]-7); err != nil {
				tb.Fatal(err)
			}
			return len(batches) - 1
		}},
		{"a corrupt byte in the last batch cuts it", func(tb testing.TB, dir string, segs, sizes []int64, batches [][]byte) int {
			last := filepath.Join(dir, segmentName(segs[len(segs)-1], logSuffix))
			corruptByte(tb, last, sizes[len(sizes)-1]-3)
			return len(batches) - 1
		}},
		{"a corrupt byte in an older segment cuts everything after it", func(tb testing.TB, dir string, segs, sizes []int64, batches [][]byte) int {
			// Segment 1 starts with batch k: corrupt its second batch.
			first := filepath.Join(dir, segmentName(segs[1], logSuffix))
			h := parseHeader(readFileAt(tb, first, 0, batchHeaderSize))
			corruptByte(tb, first, h.size()+batchHeaderSize+1)
			kept := 0
			for _, b := range batches {
				if parseHeader(b).baseOffset < segs[1] {
					kept++
				}
			}
			return kept + 1
		}},
		{"lost data in the last two segments ends the log at the data", func(tb testing.TB, dir string, segs, sizes []int64, batches [][]byte) int {
			// A power cut with the page cache only: the last two segments'
			// data never reached the disk, their files did.
			n := len(segs)
			for _, b := range segs[n-2:] {
				if err := os.Truncate(filepath.Join(dir, segmentName(b, logSuffix)), 0); err != nil {
					tb.Fatal(err)
				}
			}
			kept := 0
			for _, b := range batches {
				if parseHeader(b).baseOffset < segs[n-2] {
					kept++
				}
			}
			return kept
		}},
		{"garbage appended after the last batch is cut", func(tb testing.TB, dir string, segs, sizes []int64, batches [][]byte) int {
			last := filepath.Join(dir, segmentName(segs[len(segs)-1], logSuffix))
			f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				tb.Fatal(err)
			}
			f.Write(bytes.Repeat([]byte{0xab}, 100))
			f.Close()
			return len(batches)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, 1)
			cfg.SegmentBytes = 3000
			cfg.IndexIntervalBytes = 400
			s := openStore(t, cfg)
			p := onePartition(t, s, "torn")
			fill(t, p, "t", 40)
			batches := readAll(t, p, 0) // with their assigned offsets
			segs := p.Segments()
			var sizes []int64
			p.mu.RLock()
			for _, sg := range p.segs {
				sizes = append(sizes, sg.size)
			}
			p.mu.RUnlock()
			dir := p.dir
			s.crash()

			keep := tt.damage(t, dir, segs, sizes, batches)
			s = openStore(t, cfg)
			p = s.Partition("torn", 0)
			sameBatches(t, readAll(t, p, 0), batches[:keep])
			wantNext := parseHeader(batches[keep-1]).lastOffset() + 1
			if p.HighWatermark() != wantNext {
				t.Fatalf("high watermark %d after recovery, want %d", p.HighWatermark(), wantNext)
			}
			if res := mustAppend(t, p, simple(t, "after", 2, 10)); res.BaseOffset != wantNext {
				t.Fatalf("append after recovery at %d, want %d", res.BaseOffset, wantNext)
			}
			if got := readAll(t, p, wantNext); len(got) != 1 {
				t.Fatalf("read after recovery: %d batches, want 1", len(got))
			}
			if st := s.Stats(); st.SegmentsRecovered == 0 {
				t.Fatal("no segment was recovered after a crash")
			}
			// And the recovered state survives a clean restart.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openStore(t, cfg)
			if got := s2.Partition("torn", 0).HighWatermark(); got != wantNext+2 {
				t.Fatalf("high watermark %d after a clean restart, want %d", got, wantNext+2)
			}
		})
	}
}

func readFileAt(tb testing.TB, path string, pos, n int64) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, pos); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRecoveryRunsThreadsPerDirInParallel(t *testing.T) {
	const threads = 3
	cfg := testConfig(t, 2)
	cfg.RecoveryThreadsPerDir = threads
	cfg.SegmentBytes = 2048
	s := openStore(t, cfg)
	mustCreate(t, s, "par", 12, nil)
	want := map[int32][][]byte{}
	for i := range int32(12) {
		p := s.Partition("par", i)
		fill(t, p, fmt.Sprint(i), 10+int(i))
		want[i] = readAll(t, p, 0)
	}
	s.crash()

	// Every load waits until `threads` loads of its dir run at once: with
	// fewer workers this would time out.
	var mu sync.Mutex
	active := map[string]int{}
	var peak atomic.Int32
	reached := make(chan struct{})
	var once sync.Once
	testHookLoadPartition = func(dir string) {
		mu.Lock()
		active[dir]++
		peak.Store(max(peak.Load(), int32(active[dir])))
		if active[dir] >= threads {
			once.Do(func() { close(reached) })
		}
		mu.Unlock()
		select {
		case <-reached:
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		active[dir]--
		mu.Unlock()
	}
	t.Cleanup(func() { testHookLoadPartition = nil })
	s = openStore(t, cfg)
	if peak.Load() < threads {
		t.Fatalf("at most %d partitions of a dir loaded at once, want %d", peak.Load(), threads)
	}
	for i := range int32(12) {
		sameBatches(t, readAll(t, s.Partition("par", i), 0), want[i])
	}
	if st := s.Stats(); st.SegmentsRecovered < 12 {
		t.Fatalf("%d segments recovered, want every partition's", st.SegmentsRecovered)
	}
}

func TestRecoveryStartsAtTheRecoveryPoint(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.SegmentBytes = 2000
	s := openStore(t, cfg)
	p := onePartition(t, s, "rp")
	fill(t, p, "a", 40)
	s.bg.Wait() // the background flushes of rolled segments advance the recovery point
	segs := p.Segments()
	rp := p.recoveryPoint()
	if rp != segs[len(segs)-1] {
		t.Fatalf("recovery point %d, want the active segment's base %d", rp, segs[len(segs)-1])
	}
	if err := s.writeCheckpoints(); err != nil {
		t.Fatal(err)
	}
	dir := p.dir
	s.crash()
	// Damage below the recovery point goes unnoticed (it was fsynced, so
	// Kafka trusts it too); only the active segment is scanned.
	corruptByte(t, filepath.Join(dir, segmentName(0, logSuffix)), batchHeaderSize+1)
	s = openStore(t, cfg)
	if got := s.Stats().SegmentsRecovered; got != 1 {
		t.Fatalf("%d segments recovered, want only the one after the recovery point", got)
	}
	if got := s.Partition("rp", 0).Segments(); len(got) != len(segs) {
		t.Fatalf("segments %v after restart, want %v", got, segs)
	}
}

func TestConcurrentAppendsReadsAndRetention(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.Retention.Bytes = 20_000
	s := openStore(t, cfg)
	mustCreate(t, s, "c", 1, map[string]*string{"segment.bytes": ptr("4000"), "index.interval.bytes": ptr("500")})
	p := s.Partition("c", 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	const writers, each = 3, 200
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := p.Append(simple(t, fmt.Sprintf("w%d-%d", w, i), 1+i%4, 100), false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			next := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				w := p.Wait()
				if next >= p.HighWatermark() {
					select {
					case <-w:
					case <-stop:
						return
					}
					continue
				}
				if lso := p.LogStartOffset(); next < lso {
					next = lso
				}
				sl, err := p.Read(next, 3000)
				if err != nil {
					var ke *kerr.Error
					if errors.As(err, &ke) && ke == kerr.OffsetOutOfRange {
						continue // retention moved the start past us
					}
					t.Error(err)
					return
				}
				data, err := sl.readAll()
				sl.Release()
				if err != nil {
					t.Error(err)
					return
				}
				for len(data) > 0 {
					h := parseHeader(data)
					if _, err := checkStoredBatch(data[:h.size()]); err != nil || h.lastOffset() < next {
						t.Errorf("bad batch at %d: %v", h.baseOffset, err)
						return
					}
					next = h.lastOffset() + 1
					data = data[h.size():]
				}
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.enforceRetention()
				runtime.Gosched()
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	st := s.Stats()
	if st.AppendedBatches != writers*each || st.SegmentsDeleted == 0 {
		t.Fatalf("stats %+v: want %d batches and some retention", st, writers*each)
	}
	if got := readAll(t, p, p.LogStartOffset()); len(got) == 0 {
		t.Fatal("nothing left to read")
	}
}

// A power cut with the page cache only can keep every segment file of a
// partition and none of their data: the log must end at 0, where a fetch
// finds it, not at the last segment's base offset.
func TestRecoveryWithEveryBatchLostEndsTheLogAtZero(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.SegmentBytes = 3000
	s := openStore(t, cfg)
	p := onePartition(t, s, "lost")
	fill(t, p, "l", 20)
	segs := p.Segments()
	if len(segs) < 2 {
		t.Fatalf("%d segments, want rolls", len(segs))
	}
	dir := p.dir
	s.crash()
	for _, b := range segs {
		if err := os.Truncate(filepath.Join(dir, segmentName(b, logSuffix)), 0); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, cfg)
	p = s.Partition("lost", 0)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after every batch was lost, want 0", hw)
	}
	if res := mustAppend(t, p, simple(t, "after", 2, 10)); res.BaseOffset != 0 {
		t.Fatalf("append after recovery at %d, want 0", res.BaseOffset)
	}
	if got := readAll(t, p, 0); len(got) != 1 {
		t.Fatalf("read after recovery: %d batches, want 1", len(got))
	}
}

// A power cut between a new partition's mkdir and its topic.json leaves an
// empty partition dir; the store must start (and drop it), not refuse to.
func TestOpenDropsAPartitionDirWhoseCreationDidNotFinish(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "kept", 1, nil)
	s.crash()
	unfinished := filepath.Join(cfg.Dirs[0], "late-0")
	if err := os.Mkdir(unfinished, 0o755); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after an unfinished partition creation: %v", err)
	}
	defer s2.Close()
	if s2.Partition("kept", 0) == nil {
		t.Error("the finished topic is gone")
	}
	if _, err := os.Stat(unfinished); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v; want it removed", unfinished, err)
	}
}
