package group

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestPendingMembersKeepNoMetadata: members told MEMBER_ID_REQUIRED
// (KIP-394) are kept until their session times out, but not their
// protocols: 64 joins with 1 MB of metadata each leave the heap where it
// was (it grew by their whole requests, 64 MB, when pending members kept
// the request).
func TestPendingMembersKeepNoMetadata(t *testing.T) {
	h := newHarness(t)
	const n, size = 64, 1_000_000
	meta := make([]byte, size)
	before := heapAlloc()
	for i := 0; i < n; i++ {
		req := joinReq(9, "big", "")
		req.Protocols[0].Metadata = append([]byte(nil), meta...) // a request of its own, as decoded from a frame
		if r := h.c.JoinGroup(t.Context(), Client{ID: "cl"}, req); r.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("join %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	after := heapAlloc()
	g := h.c.lockGroup("big", false)
	pending := len(g.pending)
	g.mu.Unlock()
	if pending != n {
		t.Fatalf("%d pending members, want %d", pending, n)
	}
	if grew := int64(after) - int64(before); grew > 8<<20 {
		t.Fatalf("heap grew by %d bytes for %d pending members, want under 8 MiB", grew, n)
	}
	runtime.KeepAlive(meta)
}

// TestJoinProtocolMetadataBound: a join whose protocols exceed
// MaxProtocolMetadataBytes gets INVALID_REQUEST; one at the bound joins.
func TestJoinProtocolMetadataBound(t *testing.T) {
	h := newHarness(t)
	const limit = 1000
	h.reopen(func(c *Config) { c.MaxProtocolMetadataBytes = limit })
	req := joinReq(3, "bounded", "")
	fixed := protocolBytes(req) - len(req.Protocols[0].Metadata)
	req.Protocols[0].Metadata = make([]byte, limit-fixed+1)
	if r := h.c.JoinGroup(t.Context(), Client{ID: "cl"}, req); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("join with %d protocol bytes: %v, want INVALID_REQUEST", protocolBytes(req), kerr.ErrorForCode(r.ErrorCode))
	}
	req.Protocols[0].Metadata = req.Protocols[0].Metadata[:limit-fixed]
	if r := recv(t, h.joinAsync(req)); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join with %d protocol bytes: %v gen %d", protocolBytes(req), kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
}

// TestEmptyGroupsWithoutOffsetsRemovedAtCleanup: groups whose members all
// left and that never committed are gone after the next retention check,
// as Kafka's cleanupGroupMetadata removes them (they were kept for
// offsets.retention.minutes, 7 days); an empty group with offsets stays.
func TestEmptyGroupsWithoutOffsetsRemovedAtCleanup(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const n = 200
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("churn-%d", i)
		r := recv(t, h.joinAsync(joinReq(3, name, "")))
		if r.ErrorCode != 0 {
			t.Fatalf("join %s: %v", name, kerr.ErrorForCode(r.ErrorCode))
		}
		lv := kmsg.NewPtrLeaveGroupRequest()
		lv.Version = 0
		lv.Group, lv.MemberID = name, r.MemberID
		if e := h.c.LeaveGroup(lv).ErrorCode; e != 0 {
			t.Fatalf("leave %s: %v", name, kerr.ErrorForCode(e))
		}
	}
	code(t, commit(h, "kept", "", -1, "t", 0, 1), nil)
	if got := len(h.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups); got != n+1 {
		t.Fatalf("%d groups listed before the cleanup, want %d", got, n+1)
	}

	waitFor(t, func() bool { return len(h.clock.pendingTimers()) == 1 })
	h.clock.Advance(DefaultOffsetsRetentionCheckInterval)
	waitFor(t, func() bool { return len(h.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups) == 1 })
	if g := h.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups[0]; g.Group != "kept" || g.GroupState != "Empty" {
		t.Fatalf("left after cleanup: %+v", g)
	}
}

// TestInitialRebalanceDelay: the first rebalance of an empty group waits
// group.initial.rebalance.delay.ms, again while members keep joining, so
// three members that join together are answered together in generation 1
// (without the delay the first got generation 1 alone and the others
// rebalanced it).
func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t)
	const delay = 3 * time.Second
	h.reopen(func(c *Config) { c.InitialRebalanceDelay = delay })

	a := h.joinAsync(joinReq(3, "delayed", ""))
	h.waitJoining("delayed", 1)
	h.clock.Advance(delay - time.Millisecond)
	b := h.joinAsync(joinReq(3, "delayed", ""))
	h.waitJoining("delayed", 2)
	// The first delay ends with a new member in: it waits once more.
	h.clock.Advance(time.Millisecond)
	c3 := h.joinAsync(joinReq(3, "delayed", ""))
	h.waitJoining("delayed", 3)
	if st, gen, _, _ := h.state("delayed"); st != "PreparingRebalance" || gen != 0 {
		t.Fatalf("during the delay: %s generation %d", st, gen)
	}
	h.clock.Advance(delay)
	h.clock.Advance(delay)
	var leader *kmsg.JoinGroupResponse
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{a, b, c3} {
		r := recv(t, ch)
		if r.ErrorCode != 0 || r.Generation != 1 {
			t.Fatalf("join answered %v generation %d, want generation 1", kerr.ErrorForCode(r.ErrorCode), r.Generation)
		}
		if r.LeaderID == r.MemberID {
			leader = r
		}
	}
	if leader == nil || len(leader.Members) != 3 {
		t.Fatalf("leader's join: %+v", leader)
	}

	// The delay applies only to an empty group: a fourth member
	// rebalances at once when the others rejoin.
	if st, _, _, _ := h.state("delayed"); st != "CompletingRebalance" {
		t.Fatalf("after the join: %s", st)
	}
}

// TestInitialRebalanceDelayEndsAtRebalanceTimeout: members that keep
// joining extend the wait at most up to the rebalance timeout.
func TestInitialRebalanceDelayEndsAtRebalanceTimeout(t *testing.T) {
	h := newHarness(t)
	const delay = 10 * time.Second // rebalance (30s) allows three delays
	h.reopen(func(c *Config) { c.InitialRebalanceDelay = delay })
	first := h.joinAsync(joinReq(3, "busy", ""))
	h.waitJoining("busy", 1)
	for i := 2; i <= 4; i++ {
		h.joinAsync(joinReq(3, "busy", ""))
		h.waitJoining("busy", i)
		h.clock.Advance(delay)
	}
	// 30s passed with a new member in every delay: the join completes.
	if r := recv(t, first); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("first join: %v generation %d", kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
}
