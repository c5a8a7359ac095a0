package group

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func commitReq(group, memberID string, gen int32, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, 3
	md := fmt.Sprintf("md-%d", offset)
	rp.Metadata = &md
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func commit(h *harness, group, memberID string, gen int32, topic string, partition int32, offset int64) int16 {
	return h.c.OffsetCommit(commitReq(group, memberID, gen, topic, partition, offset)).Topics[0].Partitions[0].ErrorCode
}

// fetch returns "offset/epoch/metadata" per partition of topic t.
func fetch(t *testing.T, h *harness, version int16, group, topic string, partitions ...int32) []string {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = version
	if version >= 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: partitions}}
		req.Groups = append(req.Groups, rg)
		resp := h.c.OffsetFetch(req)
		var out []string
		for _, p := range resp.Groups[0].Topics[0].Partitions {
			out = append(out, fmt.Sprintf("%d/%d/%s", p.Offset, p.LeaderEpoch, testutil.StringOrNil(p.Metadata)))
		}
		return out
	}
	req.Group = group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: partitions}}
	resp := h.c.OffsetFetch(req)
	code(t, resp.ErrorCode, nil)
	var out []string
	for _, p := range resp.Topics[0].Partitions {
		code(t, p.ErrorCode, nil)
		out = append(out, fmt.Sprintf("%d/%d/%s", p.Offset, p.LeaderEpoch, testutil.StringOrNil(p.Metadata)))
	}
	return out
}

func TestOffsetCommitFetchRoundTrip(t *testing.T) {
	h := newHarness(t)
	code(t, commit(h, "g", "", -1, "t", 0, 10), nil)
	code(t, commit(h, "g", "", -1, "t", 1, 20), nil)
	code(t, commit(h, "g", "", -1, "t", 0, 11), nil)
	want := []string{"11/3/md-11", "20/3/md-20", "-1/-1/"}
	for _, v := range []int16{1, 5, 7, 8} {
		got := fetch(t, h, v, "g", "t", 0, 1, 2)
		// The leader epoch is in the struct at every version; kmsg
		// leaves it off the wire below v5.
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("v%d fetch (-want +got):\n%s", v, diff)
		}
	}
	// v2+: nil topics = everything the group committed.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = "g"
	resp := h.c.OffsetFetch(req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[0].Partitions[1].Offset != 20 {
		t.Fatalf("fetch all: %+v", resp.Topics)
	}
	if got := fetch(t, h, 7, "unknown", "t", 0); got[0] != "-1/-1/" {
		t.Fatalf("unknown group fetch %v", got)
	}

	h.restart()
	if diff := cmp.Diff(want, fetch(t, h, 7, "g", "t", 0, 1, 2)); diff != "" {
		t.Fatalf("after restart (-want +got):\n%s", diff)
	}
	if st, _, _, _ := h.state("g"); st != "Empty" {
		t.Fatalf("restored group state %s, want Empty", st)
	}
}

func TestDeleteTopicOffsets(t *testing.T) {
	h := newHarness(t)
	code(t, commit(h, "g1", "", -1, "gone", 0, 5), nil)
	code(t, commit(h, "g2", "", -1, "gone", 3, 6), nil)
	code(t, commit(h, "g2", "", -1, "kept", 0, 7), nil)
	if err := h.c.DeleteTopicOffsets("gone"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if got := fetch(t, h, 7, "g1", "gone", 0); got[0] != "-1/-1/" {
		t.Fatalf("g1 gone/0 after delete: %v", got)
	}
	if got := fetch(t, h, 7, "g2", "gone", 3); got[0] != "-1/-1/" {
		t.Fatalf("g2 gone/3 after delete: %v", got)
	}
	if got := fetch(t, h, 7, "g2", "kept", 0); got[0] != "7/3/md-7" {
		t.Fatalf("g2 kept/0 after delete: %v", got)
	}
}

func TestOffsetCommitValidation(t *testing.T) {
	h := newHarness(t)
	h.c.cfg.Partitions = func(topic string) (int32, bool) { return 2, topic == "t" }
	a, gen := stableGroup(t, h, "g")

	code(t, commit(h, "g", a, gen, "t", 0, 1), nil)
	code(t, commit(h, "g", a, gen, "t", 2, 1), kerr.UnknownTopicOrPartition)
	code(t, commit(h, "g", a, gen, "nope", 0, 1), kerr.UnknownTopicOrPartition)
	code(t, commit(h, "g", a, gen+1, "t", 0, 1), kerr.IllegalGeneration)
	code(t, commit(h, "g", "ghost", gen, "t", 0, 1), kerr.UnknownMemberID)
	code(t, commit(h, "g", "", -1, "t", 0, 1), kerr.UnknownMemberID) // simple commit to a live group
	code(t, commit(h, "fresh", "m", 3, "t", 0, 1), kerr.IllegalGeneration)
	code(t, commit(h, "", "", -1, "t", 0, 1), kerr.InvalidGroupID)

	big := kmsg.NewPtrOffsetCommitRequest()
	big.Version = 2
	big.Group, big.MemberID, big.Generation = "g", a, gen
	md := strings.Repeat("x", DefaultMaxMetadataBytes+1)
	big.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 9, Metadata: &md}}}}
	code(t, h.c.OffsetCommit(big).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)

	// While the group waits for SyncGroup, commits are refused; while it
	// prepares a rebalance, the current generation may still commit
	// (consumers commit in their revoke callback).
	b := h.newMemberID("g")
	bJoin := h.joinAsync(joinReq(9, "g", b))
	h.waitJoining("g", 1)
	code(t, commit(h, "g", a, gen, "t", 1, 7), nil)
	aj := recv(t, h.joinAsync(joinReq(9, "g", a)))
	recv(t, bJoin)
	code(t, commit(h, "g", a, aj.Generation, "t", 1, 8), kerr.RebalanceInProgress)

	// v0 has no generation or member: a simple commit.
	v0 := commitReq("simple", "", 0, "t", 0, 42)
	v0.Version = 0
	code(t, h.c.OffsetCommit(v0).Topics[0].Partitions[0].ErrorCode, nil)
	if got := fetch(t, h, 1, "simple", "t", 0); got[0] != "42/-1/md-42" {
		t.Fatalf("v0 commit fetched as %v", got)
	}
}

func TestOffsetsExpireForEmptyGroups(t *testing.T) {
	h := newHarness(t)
	h.c.cfg.OffsetsRetention = time.Hour
	h.c.cfg.OffsetsRetentionCheckInterval = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// advance moves the clock a minute at a time, each time after Run
	// has armed its next check (the only timer: these groups have no
	// members).
	advance := func(minutes int) {
		for i := 0; i < minutes; i++ {
			waitFor(t, func() bool { return len(h.clock.pendingTimers()) == 1 })
			h.clock.Advance(time.Minute)
		}
	}

	code(t, commit(h, "old", "", -1, "t", 0, 1), nil)
	advance(30)
	code(t, commit(h, "recent", "", -1, "t", 0, 2), nil)
	advance(32)
	waitFor(t, func() bool { st, _, _, _ := h.state("old"); return st == "none" })
	if got := fetch(t, h, 7, "old", "t", 0); got[0] != "-1/-1/" {
		t.Fatalf("expired offset still fetched: %v", got)
	}
	if got := fetch(t, h, 7, "recent", "t", 0); got[0] != "2/3/md-2" {
		t.Fatalf("recent group's offset %v", got)
	}
	cancel()
	<-done
	done <- nil
	h.restart()
	if got := fetch(t, h, 7, "old", "t", 0); got[0] != "-1/-1/" {
		t.Fatalf("expired offset back after restart: %v", got)
	}
	if got := fetch(t, h, 7, "recent", "t", 0); got[0] != "2/3/md-2" {
		t.Fatalf("recent group's offset after restart %v", got)
	}
}

func (c *manualClock) pendingTimers() []*manualTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*manualTimer
	for _, t := range c.timers {
		if !t.done && t.at.After(c.now) {
			out = append(out, t)
		}
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOffsetLogCompactionAndTornTail(t *testing.T) {
	dir := t.TempDir()
	l, err := openOffsetLog(dir, 1<<30, discard())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		md := fmt.Sprintf("m%d", i)
		recs := []offsetRecord{
			{group: "g", tp: tp{"t", 0}, value: offsetValue{offset: int64(i), leaderEpoch: 1, metadata: &md, commitMs: int64(i)}},
			{group: "g", tp: tp{"t", 1}, value: offsetValue{offset: int64(i * 2), leaderEpoch: -1, commitMs: int64(i)}},
		}
		if err := l.append(recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.append([]offsetRecord{{group: "h", tp: tp{"u", 5}, value: offsetValue{offset: 1}}, {group: "h", tp: tp{"u", 5}, tombstone: true}}); err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, offsetLogName)
	before := fileSize(t, path)

	// Reopen: 202 records compact to the latest 2.
	l, err = openOffsetLog(dir, 1<<30, discard())
	if err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, path)
	if after >= before/50 {
		t.Fatalf("compaction left %d of %d bytes", after, before)
	}
	v, ok := l.get("g", tp{"t", 0})
	if !ok || v.offset != 99 || *v.metadata != "m99" || v.leaderEpoch != 1 || v.commitMs != 99 {
		t.Fatalf("t/0 after compaction: %+v %v", v, ok)
	}
	v, ok = l.get("g", tp{"t", 1})
	if !ok || v.offset != 198 || v.metadata != nil {
		t.Fatalf("t/1 after compaction: %+v %v", v, ok)
	}
	if _, ok := l.get("h", tp{"u", 5}); ok {
		t.Fatal("tombstoned offset survived")
	}
	if _, err := os.Stat(filepath.Join(dir, offsetLogName+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temp file left behind: %v", err)
	}
	md := "last"
	if err := l.append([]offsetRecord{{group: "g", tp: tp{"t", 0}, value: offsetValue{offset: 500, metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
	l.close()

	// A torn tail: every cut inside the last record loses only it; a
	// flipped byte in it is caught by the CRC.
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastLen := encodedLen("g", "t", &md)
	for _, mutate := range []struct {
		name string
		data []byte
	}{
		{"cut in header", full[:len(full)-lastLen+3]},
		{"cut in body", full[:len(full)-5]},
		{"flipped byte", flip(full, len(full)-2)},
	} {
		t.Run(mutate.name, func(t *testing.T) {
			if err := os.WriteFile(path, mutate.data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := openOffsetLog(dir, 1<<30, discard())
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			if v, _ := l.get("g", tp{"t", 0}); v.offset != 99 {
				t.Fatalf("offset %d after torn tail, want 99", v.offset)
			}
			if got, want := fileSize(t, path), int64(len(full)-lastLen); got != want {
				t.Fatalf("file %d bytes after recovery, want %d", got, want)
			}
		})
	}
}

func TestOffsetLogCompactsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	l, err := openOffsetLog(dir, 4096, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	for i := 0; i < 1000; i++ {
		if err := l.append([]offsetRecord{{group: "g", tp: tp{"t", int32(i % 3)}, value: offsetValue{offset: int64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if size := fileSize(t, filepath.Join(dir, offsetLogName)); size > 4096+int64(encodedLen("g", "t", nil)) {
		t.Fatalf("log is %d bytes, want compaction near 4096", size)
	}
	l.close()
	l, err = openOffsetLog(dir, 4096, discard())
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int64{999, 997, 998} {
		if v, _ := l.get("g", tp{"t", int32(p)}); v.offset != want {
			t.Fatalf("partition %d offset %d, want %d", p, v.offset, want)
		}
	}
}

// FuzzDecodeRecords: whatever decodes re-encodes (in the current layout)
// to bytes that decode to the same records, with nothing skipped; the valid
// prefix never runs past the input.
func FuzzDecodeRecords(f *testing.F) {
	md := "m"
	rec, err := appendRecord(nil, offsetRecord{group: "g", tp: tp{"t", 1}, value: offsetValue{offset: 5, metadata: &md}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(appendRecordVersion(nil, offsetRecord{group: "g", tp: tp{"t", 1}, value: offsetValue{offset: 5, metadata: &md}}, 0))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		records, valid, _ := decodeRecords(data)
		if valid > len(data) {
			t.Fatalf("valid %d > len %d", valid, len(data))
		}
		var re []byte
		var kept []offsetRecord
		for _, r := range records {
			var err error
			if re, err = appendRecord(re, r); err != nil {
				continue // a version 0 topic above 249 bytes
			}
			kept = append(kept, r)
		}
		again, valid2, skipped := decodeRecords(re)
		if valid2 != len(re) || skipped != 0 || len(again) != len(kept) {
			t.Fatalf("re-encoded %d records: decoded %d, valid %d of %d, skipped %d", len(kept), len(again), valid2, len(re), skipped)
		}
		for i := range kept {
			if !sameRecord(kept[i], again[i]) {
				t.Fatalf("record %d: %+v, re-decoded %+v", i, kept[i], again[i])
			}
		}
	})
}

func sameRecord(a, b offsetRecord) bool {
	am, bm := a.value.metadata, b.value.metadata
	if (am == nil) != (bm == nil) || (am != nil && *am != *bm) {
		return false
	}
	a.value.metadata, b.value.metadata = nil, nil
	return a == b
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestOffsetLogLoadsVersion0AndSkipsBadRecords: a log written in the first
// layout (uint16 string lengths) loads unchanged; a record whose envelope is
// sound but whose body does not decode is skipped, and the records after it
// survive; the file is rewritten in the current layout.
func TestOffsetLogLoadsVersion0AndSkipsBadRecords(t *testing.T) {
	dir := t.TempDir()
	md := "md"
	var data []byte
	data = appendRecordVersion(data, offsetRecord{group: "g1", tp: tp{"t", 0}, value: offsetValue{offset: 10, leaderEpoch: -1, metadata: &md, commitMs: 1}}, 0)
	// A sound envelope around a body with a string length past its end
	// (what a 70,000-byte group id left in the first layout).
	bad := appendRecordVersion(nil, offsetRecord{group: "g2", tp: tp{"t", 0}, value: offsetValue{offset: 99}}, 0)
	binary.BigEndian.PutUint16(bad[recordHeaderLen+26:], 0xffff)
	binary.BigEndian.PutUint32(bad[4:], crc32.Checksum(bad[recordHeaderLen:], crc32.MakeTable(crc32.Castagnoli)))
	data = append(data, bad...)
	data = appendRecordVersion(data, offsetRecord{group: "g3", tp: tp{"t", 1}, value: offsetValue{offset: 30, leaderEpoch: 2, commitMs: 3}}, 0)
	if err := os.WriteFile(filepath.Join(dir, offsetLogName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openOffsetLog(dir, DefaultCompactBytes, discard())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.get("g1", tp{"t", 0}); !ok || v.offset != 10 || v.metadata == nil || *v.metadata != "md" {
		t.Errorf("g1: %+v %v", v, ok)
	}
	if v, ok := l.get("g3", tp{"t", 1}); !ok || v.offset != 30 || v.leaderEpoch != 2 {
		t.Errorf("g3 (after the bad record): %+v %v", v, ok)
	}
	if got := l.groups(); !cmp.Equal(got, []string{"g1", "g3"}) {
		t.Errorf("groups %v", got)
	}
	l.close()
	rewritten, err := os.ReadFile(filepath.Join(dir, offsetLogName))
	if err != nil {
		t.Fatal(err)
	}
	records, valid, skipped := decodeRecords(rewritten)
	if valid != len(rewritten) || skipped != 0 || len(records) != 2 {
		t.Fatalf("rewritten log: %d records, valid %d of %d, skipped %d", len(records), valid, len(rewritten), skipped)
	}
	for i := 0; i < len(rewritten); {
		if v := rewritten[i+recordHeaderLen]; v != recordVersion {
			t.Fatalf("rewritten record at %d has version %d", i, v)
		}
		i += recordHeaderLen + int(binary.BigEndian.Uint32(rewritten[i:]))
	}
}

func TestAppendRecordRefusesOverlongStrings(t *testing.T) {
	for _, r := range []offsetRecord{
		{group: strings.Repeat("g", maxGroupIDLen+1), tp: tp{"t", 0}},
		{group: "g", tp: tp{strings.Repeat("t", maxTopicLen+1), 0}},
	} {
		if _, err := appendRecord(nil, r); !errors.Is(err, errRecordTooLarge) {
			t.Errorf("group %d bytes, topic %d bytes: %v, want errRecordTooLarge", len(r.group), len(r.tp.topic), err)
		}
	}
}

// A failed write answers KAFKA_STORAGE_ERROR where the write would have
// committed or deleted an offset, and the error found before it elsewhere.
func TestOffsetWriteFailure(t *testing.T) {
	h := newHarness(t)
	code(t, h.c.OffsetCommit(commitReq("g", "", -1, "t", 0, 5)).Topics[0].Partitions[0].ErrorCode, nil)
	if err := h.c.log.close(); err != nil {
		t.Fatal(err)
	}

	commit := commitReq("g", "", -1, "t", 0, 6)
	commit.Topics[0].Partitions = append(commit.Topics[0].Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: -1, Offset: 1})
	cr := h.c.OffsetCommit(commit)
	code(t, cr.Topics[0].Partitions[0].ErrorCode, kerr.KafkaStorageError)
	code(t, cr.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)

	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	code(t, h.c.OffsetDelete(del).Topics[0].Partitions[0].ErrorCode, kerr.KafkaStorageError)
}
