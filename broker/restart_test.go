package broker

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

// TestRestartKeepsEverything produces with a fixed producer id through raw
// requests, restarts the broker on the same log dir, and checks offsets,
// records, timestamps (time index) and idempotence state survived.
func TestRestartKeepsEverything(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.SegmentBytes = 4096; c.IndexIntervalBytes = 256 })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "durable", 2)

	const pid, epoch = 4242, 0
	base := time.Now().Add(-time.Hour).UnixMilli()
	var seq int32
	var batches [][]byte
	for i := range 40 { // several segments of 4 KiB
		vals := [][]byte{[]byte(strings.Repeat("v", 200)), []byte("w")}
		batch := makeBatch(pid, epoch, seq, base+int64(i)*1000, vals...)
		seq += 2
		p := produceRaw(t, rc, "durable", 1, batch)
		if p.ErrorCode != 0 || p.BaseOffset != int64(i*2) {
			t.Fatalf("batch %d: offset %d error %d", i, p.BaseOffset, p.ErrorCode)
		}
		batches = append(batches, batch)
	}
	last := batches[len(batches)-1]

	b = b.restart(t)
	rc = dialRaw(t, b.addr)

	// The last batch again: a duplicate, answered with its original offset.
	p := produceRaw(t, rc, "durable", 1, last)
	if p.ErrorCode != 0 || p.BaseOffset != 78 {
		t.Fatalf("resent batch after restart: offset %d error %d, want the original offset 78", p.BaseOffset, p.ErrorCode)
	}
	// The next sequence is appended after it.
	p = produceRaw(t, rc, "durable", 1, makeBatch(pid, epoch, seq, base+50_000, []byte("next")))
	if p.ErrorCode != 0 || p.BaseOffset != 80 {
		t.Fatalf("next batch after restart: offset %d error %d, want 80", p.BaseOffset, p.ErrorCode)
	}

	// ListOffsets: latest, and by timestamp through the time index.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "durable"
	for _, ts := range []int64{-1, -2, base + 20_500, -3} {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = 1, ts
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	lresp := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse)
	var offs []int64
	for _, p := range lresp.Topics[0].Partitions {
		offs = append(offs, p.Offset)
	}
	if len(offs) != 4 || offs[0] != 81 || offs[1] != 0 || offs[2] != 42 || offs[3] != 80 {
		t.Errorf("ListOffsets latest/earliest/by time/max time after restart: %v, want [81 0 42 80]", offs)
	}
	if ts := lresp.Topics[0].Partitions[3].Timestamp; ts != base+50_000 {
		t.Errorf("max timestamp %d, want %d", ts, base+50_000)
	}

	// Every record comes back once, in order.
	cl := newClient(t, b.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"durable": {1: kgo.NewOffset().AtStart()}}))
	ctx := testContext(t, 30*time.Second)
	var got []*kgo.Record
	for len(got) < 81 && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	if len(got) != 81 {
		t.Fatalf("consumed %d records after restart, want 81", len(got))
	}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
	if string(got[80].Value) != "next" {
		t.Errorf("last record %q, want next", got[80].Value)
	}
}

// TestMetaPropertiesMismatch checks the friendly errors when a log dir
// belongs to another cluster or another node.
func TestMetaPropertiesMismatch(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	b := newTestBroker(t, func(c *Config) { c.LogDirs = []string{d1, d2} })
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	cfg := b.cfg
	cfg.Listener = nil
	cfg.ListenAddr = "127.0.0.1:0"

	t.Run("a changed node.id is refused", func(t *testing.T) {
		c := cfg
		c.NodeID = 5
		_, err := New(c)
		if err == nil {
			t.Fatal("broker started with another node.id")
		}
		if !strings.Contains(err.Error(), "meta.properties") {
			t.Errorf("error does not name meta.properties: %v", err)
		}
	})

	t.Run("log dirs of two clusters are refused", func(t *testing.T) {
		meta := filepath.Join(d2, "meta.properties")
		data, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^cluster\.id=.*$`)
		if !re.Match(data) {
			t.Fatalf("no cluster.id in %s:\n%s", meta, data)
		}
		if err := os.WriteFile(meta, re.ReplaceAll(data, []byte("cluster.id=AAAAAAAAAAAAAAAAAAAAAA")), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = New(cfg)
		if err == nil {
			t.Fatal("broker started with log dirs of two clusters")
		}
		if !errors.Is(err, storage.ErrInconsistentClusterID) || !strings.Contains(err.Error(), meta) || !strings.Contains(err.Error(), "AAAAAAAAAAAAAAAAAAAAAA") {
			t.Errorf("error does not name the file and the ids: %v", err)
		}
		t.Logf("the error a user sees: %v", err)
	})
}
