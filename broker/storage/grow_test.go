package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestAddPartitionsGrowsAndSurvivesRestart(t *testing.T) {
	cfg := testConfig(t, 2)
	s := openStore(t, cfg)
	mustCreate(t, s, "t", 2, map[string]*string{"retention.ms": ptr("123456")})
	mustAppend(t, s.Partition("t", 1), simple(t, "a", 3, 10))
	if err := s.AddPartitions("t", 5, true); err != nil {
		t.Fatalf("validate only: %v", err)
	}
	if ti, _ := s.Topic("t"); ti.Partitions != 2 {
		t.Fatalf("validate only grew the topic to %d partitions", ti.Partitions)
	}
	if err := s.AddPartitions("t", 5, false); err != nil {
		t.Fatal(err)
	}
	if ti, _ := s.Topic("t"); ti.Partitions != 5 || ti.Configs["retention.ms"] != "123456" {
		t.Fatalf("after growth: %+v", ti)
	}
	for i := int32(2); i < 5; i++ {
		p := s.Partition("t", i)
		if p == nil {
			t.Fatalf("partition %d missing", i)
		}
		mustAppend(t, p, simple(t, "n", 1, 10))
	}
	// Placement: 5 partitions over 2 dirs, the fewest-first rule.
	d0, d1 := len(partitionDirs(t, cfg.Dirs[0], "t")), len(partitionDirs(t, cfg.Dirs[1], "t"))
	if d0+d1 != 5 || d0-d1 > 1 || d1-d0 > 1 {
		t.Errorf("partition dirs %d and %d over two log dirs, want 3 and 2", d0, d1)
	}
	// A config change after growth reaches the new partitions.
	if err := s.SetTopicConfigs("t", map[string]*string{"max.message.bytes": ptr("100")}); err != nil {
		t.Fatal(err)
	}
	wantKerr(t, appendErr(s.Partition("t", 4), simple(t, "big", 1, 200)), kerr.MessageTooLarge)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	ti, ok := s.Topic("t")
	if !ok || ti.Partitions != 5 || ti.Configs["max.message.bytes"] != "100" {
		t.Fatalf("after restart: %+v %v", ti, ok)
	}
	if hwm := s.Partition("t", 1).HighWatermark(); hwm != 3 {
		t.Errorf("partition 1 high watermark %d after restart, want 3", hwm)
	}
	for i := int32(2); i < 5; i++ {
		if hwm := s.Partition("t", i).HighWatermark(); hwm != 1 {
			t.Errorf("new partition %d high watermark %d after restart, want 1", i, hwm)
		}
	}
}

func appendErr(p *Partition, batch []byte) error {
	_, err := p.Append(batch, false)
	return err
}

func TestAddPartitionsBadInput(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.MaxPartitions = 6
	s := openStore(t, cfg)
	mustCreate(t, s, "t", 3, nil)
	wantKerr(t, s.AddPartitions("missing", 4, false), kerr.UnknownTopicOrPartition)
	wantKerr(t, s.AddPartitions("t", 3, false), kerr.InvalidPartitions)
	wantKerr(t, s.AddPartitions("t", 2, false), kerr.InvalidPartitions)
	wantKerr(t, s.AddPartitions("t", -1, false), kerr.InvalidPartitions)
	err := s.AddPartitions("t", 7, false)
	wantKerr(t, err, kerr.InvalidPartitions)
	if !strings.Contains(err.Error(), "max.broker.partitions=6") {
		t.Errorf("error %q does not name max.broker.partitions", err)
	}
	wantKerr(t, s.AddPartitions("t", 2147483647, true), kerr.InvalidPartitions)
	if d := partitionDirs(t, cfg.Dirs[0], "t"); len(d) != 3 {
		t.Errorf("refused growths left dirs %v", d)
	}
	if err := s.AddPartitions("t", 6, false); err != nil {
		t.Fatalf("growing to the bound: %v", err)
	}
}

func TestFailedAddPartitionsRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(dir string) func()
	}{
		{"a new dir cannot be made", func(dir string) func() {
			// A file where partition 4's dir would go.
			if err := os.WriteFile(filepath.Join(dir, "t-4"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(filepath.Join(dir, "t-4")) }
		}},
		{"an old topic.json cannot be rewritten after the commit point", func(string) func() {
			testHookGrowRewrite = func(p int32) error {
				if p == 1 {
					return errors.New("injected write error")
				}
				return nil
			}
			return func() { testHookGrowRewrite = nil }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 1)
			s := openStore(t, cfg)
			mustCreate(t, s, "t", 2, nil)
			undo := tc.fail(cfg.Dirs[0])
			wantKerr(t, s.AddPartitions("t", 6, false), kerr.KafkaStorageError)
			undo()
			if ti, _ := s.Topic("t"); ti.Partitions != 2 {
				t.Fatalf("after a failed growth the topic has %d partitions", ti.Partitions)
			}
			if d := partitionDirs(t, cfg.Dirs[0], "t"); len(d) != 2 {
				t.Fatalf("a failed growth left %v", d)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, cfg)
			if ti, _ := s.Topic("t"); ti.Partitions != 2 {
				t.Fatalf("after a failed growth and a restart the topic has %d partitions", ti.Partitions)
			}
			if err := s.AddPartitions("t", 6, false); err != nil {
				t.Fatalf("growing after the failure: %v", err)
			}
		})
	}
}

// The load takes the partition count from the newest topic.json copy: a
// growth killed after its commit point rolls forward, the missing
// partitions made empty.
func TestLoadTakesPartitionCountFromNewestCopy(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "t", 2, nil)
	mustAppend(t, s.Partition("t", 1), simple(t, "a", 2, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As a growth to 3 killed after writing t-0's copy: t-1 still says 2,
	// the new dir t-2 has no topic.json yet.
	m, err := readTopicMeta(filepath.Join(cfg.Dirs[0], "t-0"))
	if err != nil {
		t.Fatal(err)
	}
	ts := &topicState{name: "t", partitions: 3, configs: m.Configs, configVersion: m.ConfigVersion + 1}
	ts.id, _ = parseUUID(m.TopicID)
	if err := writeTopicMeta(filepath.Join(cfg.Dirs[0], "t-0"), ts); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(cfg.Dirs[0], "t-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	ti, _ := s.Topic("t")
	if ti.Partitions != 3 {
		t.Fatalf("topic has %d partitions, want 3 from the newest topic.json", ti.Partitions)
	}
	if hwm := s.Partition("t", 1).HighWatermark(); hwm != 2 {
		t.Errorf("old partition lost data: high watermark %d", hwm)
	}
	if p := s.Partition("t", 2); p == nil || p.HighWatermark() != 0 {
		t.Errorf("partition 2 not made empty: %v", p)
	}
}
