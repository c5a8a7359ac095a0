package group

import (
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
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
	_ = h.c.Close()
	c, err := New(Config{Dir: h.dir, Clock: h.clock, MinSessionTimeout: 1, MaxProtocolMetadataBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
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
