package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the joined error; nil: valid
	}{
		{"zero values with a dir are valid", Config{Dirs: []string{"/d"}}, nil},
		{"no dirs", Config{}, []string{"log.dirs: at least one"}},
		{"every problem at once", Config{Dirs: []string{"/d", "/d"}, NodeID: -1, SegmentBytes: 5, MaxIndexBytes: 8,
			RecoveryThreadsPerDir: -2, Flush: FlushPolicy{Messages: -1}, Retention: Retention{CheckInterval: -time.Second}},
			[]string{"listed twice", "node.id", "log.segment.bytes", "log.index.size.max.bytes", "num.recovery.threads", "log.flush.interval.messages", "log.retention.check.interval.ms"}},
		{"every negative setting by its key and value", Config{Dirs: []string{"/d"}, NodeID: -1, RollInterval: -time.Second, IndexIntervalBytes: -2,
			MessageMaxBytes: -3, RecoveryThreadsPerDir: -4, Flush: FlushPolicy{Messages: -5, Interval: -time.Minute},
			Retention: Retention{CheckInterval: -time.Hour}, ProducerIDExpiration: -2 * time.Second, ProducerIDCheckInterval: -3 * time.Second,
			MaxDecompressedBytes: -6, MaxPartitions: -7, CheckpointInterval: -4 * time.Second},
			[]string{"node.id: -1 is negative", "log.roll.ms: -1s is negative", "log.index.interval.bytes: -2 is negative",
				"message.max.bytes: -3 is negative", "num.recovery.threads.per.data.dir: -4 is negative",
				"log.flush.interval.messages: -5 is negative", "log.flush.interval.ms: -1m0s is negative",
				"log.retention.check.interval.ms: -1h0m0s is negative", "producer.id.expiration.ms: -2s is negative",
				"producer.id.expiration.check.interval.ms: -3s is negative", "brokerlab.message.max.decompressed.bytes: -6 is negative",
				"max.broker.partitions: -7 is negative", "log.flush.offset.checkpoint.interval.ms: -4s is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate passed an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCheckpointFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), recoveryCheckpointFile)
	entries := []checkpointEntry{{"b", 1, 20}, {"a-topic", 0, 7}, {"b", 0, 3}}
	if err := writeCheckpoint(path, entries); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	// Kafka's OffsetCheckpointFile: version, count, "topic partition offset".
	if want := "0\n3\na-topic 0 7\nb 0 3\nb 1 20\n"; string(data) != want {
		t.Fatalf("checkpoint file:\n%s\nwant:\n%s", data, want)
	}
	got, err := readCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]int64{"a-topic": {0: 7}, "b": {0: 3, 1: 20}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	os.WriteFile(path, []byte("0\n2\na 0 1\n"), 0o644)
	if _, err := readCheckpoint(path); err == nil {
		t.Fatal("a checkpoint whose count disagrees was accepted")
	}
}

func TestMetaPropertiesFormat(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dirs: []string{dir}, NodeID: 4, ClusterID: "MkU3OEVBNTcwNTJENDM2Qk"})
	data, err := os.ReadFile(filepath.Join(dir, metaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	props := parseProperties(data)
	want := map[string]string{"cluster.id": "MkU3OEVBNTcwNTJENDM2Qk", "node.id": "4", "version": "1"}
	if diff := cmp.Diff(want, props); diff != "" {
		t.Fatalf("meta.properties (-want +got):\n%s", diff)
	}
	if s.ClusterID() != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Fatalf("ClusterID() = %s", s.ClusterID())
	}
	// A ZooKeeper-era file (version 0, broker.id) is read too.
	zk := t.TempDir()
	os.WriteFile(filepath.Join(zk, metaPropertiesFile), []byte("#\nversion=0\nbroker.id=4\ncluster.id=abc\n"), 0o644)
	s2 := openStore(t, Config{Dirs: []string{zk}, NodeID: 4})
	if s2.ClusterID() != "abc" {
		t.Fatalf("cluster id %q from a version 0 file, want abc", s2.ClusterID())
	}
}

func TestMissingPartitionDirIsRecreatedEmpty(t *testing.T) {
	cfg := testConfig(t, 2)
	s := openStore(t, cfg)
	mustCreate(t, s, "m", 2, nil)
	mustAppend(t, s.Partition("m", 0), simple(t, "x", 3, 10))
	mustAppend(t, s.Partition("m", 1), simple(t, "y", 2, 10))
	lost := s.Partition("m", 1).dir
	s.Close()
	if err := os.RemoveAll(lost); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if p := s.Partition("m", 1); p == nil || p.HighWatermark() != 0 {
		t.Fatalf("lost partition: %v, want it back and empty", p)
	}
	if got := s.Partition("m", 0).HighWatermark(); got != 3 {
		t.Fatalf("surviving partition at %d, want 3", got)
	}
}

func TestTopicConfigSpecsAreSortedAndUnique(t *testing.T) {
	specs := TopicConfigSpecs()
	for i := 1; i < len(specs); i++ {
		if specs[i-1].Name >= specs[i].Name {
			t.Errorf("%s is listed before %s", specs[i-1].Name, specs[i].Name)
		}
	}
	for _, spec := range specs {
		if got, ok := LookupTopicConfig(spec.Name); !ok || got.Name != spec.Name {
			t.Errorf("LookupTopicConfig(%s) = %v, %v", spec.Name, got.Name, ok)
		}
		if spec.Effective && spec.apply == nil {
			t.Errorf("%s takes effect but has no parser", spec.Name)
		}
		if (spec.def == nil) != (spec.BrokerKey == "") {
			t.Errorf("%s: a default needs a broker synonym and the reverse", spec.Name)
		}
	}
}
