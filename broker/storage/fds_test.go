package storage

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot count open descriptors: %v", err)
	}
	return len(ents)
}

func TestTinySegmentsKeepDescriptorsBounded(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	base := openFDs(t)
	// Kafka's smallest segment.bytes: every append rolls.
	mustCreate(t, s, "tiny", 1, map[string]*string{"segment.bytes": ptr("14")})
	p := s.Partition("tiny", 0)
	const appends = 500
	var want [][]byte
	for i := range appends {
		b := simple(t, fmt.Sprintf("r%d", i), 1, 20)
		want = append(want, b)
		mustAppend(t, p, b)
	}
	s.bg.Wait() // the rolls' background flushes hold the sealed logs
	if segs := len(p.Segments()); segs != appends {
		t.Fatalf("%d segments, want one per append (%d)", segs, appends)
	}
	// The active segment's log and two indexes; nothing per sealed segment.
	if grew := openFDs(t) - base; grew > 3 {
		t.Fatalf("%d segments hold %d more descriptors, want at most 3", appends, grew)
	}
	got := readAll(t, p, 0)
	if len(got) != appends {
		t.Fatalf("read %d batches back, want %d", len(got), appends)
	}
	for i := range got {
		if !slices.Equal(got[i][offAttributes:], want[i][offAttributes:]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if grew := openFDs(t) - base; grew > 3 {
		t.Fatalf("after reading every segment %d more descriptors are open, want at most 3", grew)
	}

	// A restart opens the segments one at a time too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if grew := openFDs(t) - base; grew > 3 {
		t.Fatalf("after a restart %d more descriptors are open, want at most 3", grew)
	}
	if got := readAll(t, s.Partition("tiny", 0), 0); len(got) != appends {
		t.Fatalf("after a restart read %d batches, want %d", len(got), appends)
	}
}

// The child half of TestIndexesAfterSIGKILL: it appends, flushes some of it
// (so that indexes are written lazily at flush and roll), writes the
// recovery checkpoints, says "ready" and waits to be killed.
func TestIndexesAfterSIGKILLChild(t *testing.T) {
	dir := os.Getenv("BROKERLAB_STORAGE_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestIndexesAfterSIGKILL")
	}
	s, err := Open(killConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTopic("k", 1, nil); err != nil {
		t.Fatal(err)
	}
	p := s.Partition("k", 0)
	for i := range 600 {
		if _, err := p.Append(simple(t, fmt.Sprintf("k%d", i), 1+i%7, 300+i%500), false); err != nil {
			t.Fatal(err)
		}
		if i == 400 {
			// A recovery point inside the active segment, with its index
			// entries so far in the file and later ones only in memory.
			if err := p.flushTo(p.HighWatermark(), false); err != nil {
				t.Fatal(err)
			}
			if err := s.writeCheckpoints(); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.bg.Wait()
	fmt.Println("ready")
	select {}
}

func killConfig(dir string) Config {
	return Config{Dirs: []string{dir}, NodeID: 1, SegmentBytes: 256 << 10, IndexIntervalBytes: 2048, MaxIndexBytes: 4096}
}

func TestIndexesAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexesAfterSIGKILLChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BROKERLAB_STORAGE_KILL_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "ready" {
			ready = true
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if !ready {
		t.Fatal("the child did not get ready")
	}

	cfg := killConfig(dir)
	cfg.Logger = testLogger(t)
	s := openStore(t, cfg)
	p := s.Partition("k", 0)
	if p == nil || p.HighWatermark() == 0 {
		t.Fatal("the killed child's partition is missing or empty")
	}
	if n := len(p.Segments()); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	checkIndexes(t, p)
	// Every offset is found through the loaded indexes.
	for off := int64(0); off < p.HighWatermark(); off++ {
		if h := parseHeader(readAt(t, p, off, 1)); h.baseOffset > off || h.lastOffset() < off {
			t.Fatalf("Read(%d) returned batch [%d, %d]", off, h.baseOffset, h.lastOffset())
		}
	}
	// After a clean close the files hold exactly the entries in memory.
	p.mu.RLock()
	want := map[int64][]offsetEntry{}
	for _, sg := range p.segs {
		want[sg.base] = slices.Clone(sg.index.entries)
	}
	p.mu.RUnlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for base, entries := range want {
		ix, err := openOffsetIndex(filepath.Join(dir, "k-0", segmentName(base, indexSuffix)), cfg.MaxIndexBytes, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ix.entries, entries) {
			t.Errorf("segment %d: the index file holds %d entries, memory had %d", base, len(ix.entries), len(entries))
		}
	}
}

// checkIndexes compares each segment's loaded index entries with a
// rebuild from its log.
func checkIndexes(t *testing.T, p *Partition) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sg := range p.segs {
		loaded := slices.Clone(sg.index.entries)
		loadedT := slices.Clone(sg.tindex.entries)
		active := sg == p.segs[len(p.segs)-1]
		if _, _, err := sg.recoverSegment(p.cfg.Load().indexInterval, nil); err != nil {
			t.Fatal(err)
		}
		if active {
			if err := sg.preallocate(); err != nil {
				t.Fatal(err)
			}
		} else {
			sg.seal()
			sg.closeIndexes()
		}
		if !slices.Equal(loaded, sg.index.entries) {
			t.Errorf("segment %d: loaded %d offset index entries, a rebuild makes %d", sg.base, len(loaded), len(sg.index.entries))
		}
		if !slices.Equal(loadedT, sg.tindex.entries) {
			t.Errorf("segment %d: loaded %d time index entries, a rebuild makes %d", sg.base, len(loadedT), len(sg.tindex.entries))
		}
	}
}
