package storage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// partitionDirs lists the partition dirs (and leftovers) of topic in dir.
func partitionDirs(tb testing.TB, dir, topic string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), topic+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestCreateTopicBeyondMaxPartitionsFailsBeforeMakingAnything(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.MaxPartitions = 8
	s := openStore(t, cfg)
	wantKerr(t, s.CreateTopic("huge", 2147483647, nil), kerr.InvalidPartitions)
	wantKerr(t, s.CreateTopic("nine", 9, nil), kerr.InvalidPartitions)
	mustCreate(t, s, "five", 5, nil)
	err := s.CreateTopic("four", 4, nil)
	wantKerr(t, err, kerr.InvalidPartitions)
	if !strings.Contains(err.Error(), "max.broker.partitions=8") {
		t.Errorf("error %q does not name max.broker.partitions", err)
	}
	mustCreate(t, s, "three", 3, nil)
	for _, topic := range []string{"huge", "nine", "four"} {
		if d := partitionDirs(t, cfg.Dirs[0], topic); len(d) != 0 {
			t.Errorf("refused topic %s left %v", topic, d)
		}
	}
}

func TestCreateTopicWorksOutsideTheStoreLock(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "other", 1, nil)
	other := s.Partition("other", 0)
	calls := 0
	testHookCreatedPartition = func(i int32) {
		calls++
		// Every step below would block, or fail, if CreateTopic held
		// Store.mu while making partitions.
		if !s.mu.TryLock() {
			t.Errorf("Store.mu is held while partition %d of a new topic is made", i)
			return
		}
		s.mu.Unlock()
		if _, ok := s.Topic("big"); ok {
			t.Errorf("topic big is visible before all its partitions exist")
		}
		mustAppend(t, other, simple(t, "during", 1, 10))
	}
	t.Cleanup(func() { testHookCreatedPartition = nil })
	mustCreate(t, s, "big", 4, nil)
	if calls != 4 {
		t.Fatalf("hook ran %d times, want 4", calls)
	}
	if got := other.HighWatermark(); got != 4 {
		t.Errorf("other's high watermark %d, want 4 (one append per partition made)", got)
	}
}

func TestFailedCreateTopicLeavesNothing(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	// A file where partition 3's dir would go makes its mkdir fail after
	// partitions 0-2 were made.
	blocker := filepath.Join(cfg.Dirs[0], "t-3")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantKerr(t, s.CreateTopic("t", 5, nil), kerr.KafkaStorageError)
	if d := partitionDirs(t, cfg.Dirs[0], "t"); len(d) != 1 || d[0] != "t-3" {
		t.Fatalf("after the failed creation the log dir holds %v, want only the blocking file t-3", d)
	}
	if _, ok := s.Topic("t"); ok {
		t.Fatal("failed topic is listed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if _, ok := s.Topic("t"); ok {
		t.Fatal("failed topic came back after a restart")
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "t", 5, nil)
}

func TestLoadDropsUnfinishedCreationAndDistrustsCounts(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "ok", 1, nil)
	mustCreate(t, s, "half", 2, nil)
	mustCreate(t, s, "lying", 1, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A creation that died before writing topic.json.
	if err := os.Remove(filepath.Join(cfg.Dirs[0], "half-1", topicMetaFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Dirs[0], "half-0", topicMetaFile)); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if _, ok := s.Topic("half"); ok {
		t.Error("a topic without topic.json was loaded")
	}
	if d := partitionDirs(t, cfg.Dirs[0], "half"); len(d) != 0 {
		t.Errorf("unfinished partition dirs %v were not removed", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A topic.json claiming 2^31-1 partitions must not make the load
	// create them.
	path := filepath.Join(cfg.Dirs[0], "lying-0", topicMetaFile)
	m, err := readTopicMeta(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	m.Partitions = 2147483647
	data, _ := json.Marshal(m)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(cfg)
	if err == nil || !strings.Contains(err.Error(), "max.broker.partitions") {
		t.Fatalf("Open with a topic.json claiming 2147483647 partitions: %v, want an error naming max.broker.partitions", err)
	}
	if d := partitionDirs(t, cfg.Dirs[0], "lying"); len(d) != 1 {
		t.Errorf("load made partition dirs %v", d)
	}
}

func TestDeleteTopicWithTheLongestName(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	name := strings.Repeat("x", 249) // Kafka's Topic.MAX_NAME_LENGTH
	mustCreate(t, s, name, 2, nil)
	mustAppend(t, s.Partition(name, 1), simple(t, "a", 3, 10))
	if err := s.DeleteTopic(name); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if d := partitionDirs(t, cfg.Dirs[0], name[:200]); len(d) != 0 {
		t.Fatalf("deleted topic left %v", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if _, ok := s.Topic(name); ok {
		t.Fatal("deleted topic came back after a restart")
	}
	mustCreate(t, s, name, 1, nil)
	if hwm := s.Partition(name, 0).HighWatermark(); hwm != 0 {
		t.Fatalf("re-created topic starts at %d, want 0", hwm)
	}
}

func TestDeleteDirNameFitsNameMax(t *testing.T) {
	for _, topic := range []string{"a", strings.Repeat("y", 213), strings.Repeat("z", 249)} {
		for _, p := range []int32{0, 7, 2147483647} {
			n := deleteDirName(topic, p)
			if len(n) > 255 || !strings.HasSuffix(n, "-delete") {
				t.Errorf("deleteDirName(%d chars, %d) = %q (%d bytes)", len(topic), p, n, len(n))
			}
			if _, _, ok := parsePartitionDir(n); ok {
				t.Errorf("%q parses as a partition dir", n)
			}
		}
	}
}
