package group

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func code(t *testing.T, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("error code %v, want %v", kerr.ErrorForCode(got), want)
	}
}

// stableGroup brings a one-member group to Stable and returns the member id
// and generation.
func stableGroup(t *testing.T, h *harness, group string) (string, int32) {
	t.Helper()
	id := h.newMemberID(group)
	jr := recv(t, h.joinAsync(joinReq(9, group, id)))
	code(t, jr.ErrorCode, nil)
	sr := recv(t, h.syncAsync(group, id, jr.Generation, map[string]string{id: "a1"}))
	code(t, sr.ErrorCode, nil)
	return id, jr.Generation
}

// secondMemberJoins makes a stable group of one member, a (generation
// gen), then joins a new member b and waits until the group prepares the
// rebalance; bJoin answers when the rebalance completes.
func secondMemberJoins(t *testing.T, h *harness, group string) (a string, gen int32, b string, bJoin <-chan *kmsg.JoinGroupResponse) {
	t.Helper()
	a, gen = stableGroup(t, h, group)
	b = h.newMemberID(group)
	bJoin = h.joinAsync(joinReq(9, group, b))
	h.waitJoining(group, 1)
	return a, gen, b, bJoin
}

func TestJoinSyncOneMember(t *testing.T) {
	h := newHarness(t)
	id := h.newMemberID("g")
	if id == "" || id[:3] != "cl-" {
		t.Fatalf("member id %q, want client id prefix", id)
	}
	jr := recv(t, h.joinAsync(joinReq(9, "g", id)))
	code(t, jr.ErrorCode, nil)
	if jr.Generation != 1 || jr.LeaderID != id || jr.MemberID != id || *jr.Protocol != "range" || *jr.ProtocolType != "consumer" {
		t.Fatalf("join response %+v", jr)
	}
	if len(jr.Members) != 1 || jr.Members[0].MemberID != id || string(jr.Members[0].ProtocolMetadata) != "meta-range-"+id {
		t.Fatalf("leader's members %+v", jr.Members)
	}
	if st, _, _, _ := h.state("g"); st != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", st)
	}
	code(t, h.heartbeat("g", id, 1), nil)
	sr := recv(t, h.syncAsync("g", id, 1, map[string]string{id: "assignment"}))
	code(t, sr.ErrorCode, nil)
	if string(sr.MemberAssignment) != "assignment" {
		t.Fatalf("assignment %q", sr.MemberAssignment)
	}
	if st, gen, n, _ := h.state("g"); st != "Stable" || gen != 1 || n != 1 {
		t.Fatalf("state %s gen %d members %d", st, gen, n)
	}
	code(t, h.heartbeat("g", id, 1), nil)
	code(t, h.heartbeat("g", id, 0), kerr.IllegalGeneration)
	code(t, h.heartbeat("g", "nobody", 1), kerr.UnknownMemberID)
	code(t, h.heartbeat("other", id, 1), kerr.UnknownMemberID)
	code(t, h.heartbeat("", id, 1), kerr.InvalidGroupID)
}

func TestPendingMemberExpiresAfterSessionTimeout(t *testing.T) {
	h := newHarness(t)
	id := h.newMemberID("g")
	h.clock.Advance(session - time.Millisecond)
	jr := recv(t, h.joinAsync(joinReq(9, "g", id)))
	code(t, jr.ErrorCode, nil)

	late := h.newMemberID("g")
	h.clock.Advance(session)
	code(t, recv(t, h.joinAsync(joinReq(9, "g", late))).ErrorCode, kerr.UnknownMemberID)
}

func TestSecondMemberRebalances(t *testing.T) {
	h := newHarness(t)
	a, gen, b, bJoin := secondMemberJoins(t, h, "g")
	if st, _, _, _ := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
	code(t, h.heartbeat("g", a, gen), kerr.RebalanceInProgress)
	aj := recv(t, h.joinAsync(joinReq(9, "g", a)))
	bj := recv(t, bJoin)
	code(t, aj.ErrorCode, nil)
	code(t, bj.ErrorCode, nil)
	if aj.Generation != gen+1 || bj.Generation != gen+1 || aj.LeaderID != a || bj.LeaderID != a {
		t.Fatalf("generations %d %d leaders %s %s", aj.Generation, bj.Generation, aj.LeaderID, bj.LeaderID)
	}
	if len(aj.Members) != 2 || len(bj.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d", len(aj.Members), len(bj.Members))
	}
	// The follower's sync waits for the leader's.
	bs := h.syncAsync("g", b, bj.Generation, nil)
	h.waitSyncing("g", 1)
	as := recv(t, h.syncAsync("g", a, aj.Generation, map[string]string{a: "pa", b: "pb"}))
	if got := recv(t, bs); string(got.MemberAssignment) != "pb" || string(as.MemberAssignment) != "pa" {
		t.Fatalf("assignments %q %q", as.MemberAssignment, got.MemberAssignment)
	}
	// An old-generation commit is refused, a current one accepted.
	code(t, commit(h, "g", b, gen, "t", 0, 5), kerr.IllegalGeneration)
	code(t, commit(h, "g", b, bj.Generation, "t", 0, 5), nil)
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	h := newHarness(t)
	a, _, b, bJoin := secondMemberJoins(t, h, "g")
	aj := recv(t, h.joinAsync(joinReq(9, "g", a)))
	bj := recv(t, bJoin)
	bs := h.syncAsync("g", b, bj.Generation, nil)
	h.waitSyncing("g", 1)
	recv(t, h.syncAsync("g", a, aj.Generation, map[string]string{a: "pa", b: "pb"}))
	recv(t, bs)

	// a heartbeats, b goes silent.
	h.clock.Advance(session / 2)
	code(t, h.heartbeat("g", a, aj.Generation), nil)
	h.clock.Advance(session/2 + time.Second)
	if _, _, n, _ := h.state("g"); n != 1 {
		t.Fatalf("%d members after b's session timed out, want 1", n)
	}
	code(t, h.heartbeat("g", a, aj.Generation), kerr.RebalanceInProgress)
	aj2 := recv(t, h.joinAsync(joinReq(9, "g", a)))
	if aj2.Generation != aj.Generation+1 || len(aj2.Members) != 1 {
		t.Fatalf("after timeout: generation %d members %d", aj2.Generation, len(aj2.Members))
	}
	code(t, h.heartbeat("g", b, aj.Generation), kerr.UnknownMemberID)
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	h := newHarness(t)
	a, _, b, bJoin := secondMemberJoins(t, h, "g")
	// a keeps heartbeating (so its session lives) but never rejoins.
	for elapsed := time.Duration(0); elapsed < rebalance; elapsed += session / 2 {
		h.clock.Advance(session / 2)
		if _, _, n, _ := h.state("g"); n == 2 {
			h.heartbeat("g", a, 1)
		}
	}
	bj := recv(t, bJoin)
	code(t, bj.ErrorCode, nil)
	if bj.LeaderID != b || len(bj.Members) != 1 || bj.Generation != 2 {
		t.Fatalf("after rebalance timeout: leader %s members %d generation %d", bj.LeaderID, len(bj.Members), bj.Generation)
	}
	code(t, h.heartbeat("g", a, 2), kerr.UnknownMemberID)
}

func TestFollowerThatNeverSyncsIsRemoved(t *testing.T) {
	h := newHarness(t)
	a, _, b, bJoin := secondMemberJoins(t, h, "g")
	aj := recv(t, h.joinAsync(joinReq(9, "g", a)))
	recv(t, bJoin)
	recv(t, h.syncAsync("g", a, aj.Generation, map[string]string{a: "pa", b: "pb"}))
	// The leader synced, so the group is stable and b's sync would just
	// read its assignment; instead b never syncs nor heartbeats.
	h.clock.Advance(session / 2)
	code(t, h.heartbeat("g", a, aj.Generation), nil)
	h.clock.Advance(session/2 + time.Second)
	if st, _, n, _ := h.state("g"); n != 1 || st != "PreparingRebalance" {
		t.Fatalf("state %s members %d, want PreparingRebalance with 1", st, n)
	}
}

func TestPendingSyncTimeout(t *testing.T) {
	h := newHarness(t)
	a, _ := stableGroup(t, h, "g")
	b := h.newMemberID("g")
	short := func(id string) *kmsg.JoinGroupRequest {
		r := joinReq(9, "g", id)
		r.RebalanceTimeoutMillis = int32(session / 2 / time.Millisecond)
		return r
	}
	bJoin := h.joinAsync(short(b))
	h.waitJoining("g", 1)
	aj := recv(t, h.joinAsync(short(a)))
	recv(t, bJoin)
	// b syncs and waits; the leader never syncs. After the rebalance
	// timeout the leader is removed and b's sync is told to rejoin.
	bs := h.syncAsync("g", b, aj.Generation, nil)
	h.waitSyncing("g", 1)
	h.clock.Advance(session / 2)
	code(t, recv(t, bs).ErrorCode, kerr.RebalanceInProgress)
	if _, _, n, _ := h.state("g"); n != 1 {
		t.Fatalf("%d members, want 1", n)
	}
}

func TestLeaveGroup(t *testing.T) {
	for _, version := range []int16{0, 2, 3, 5} {
		t.Run("v"+string(rune('0'+version)), func(t *testing.T) {
			h := newHarness(t)
			a, gen := stableGroup(t, h, "g")
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Version = version
			req.Group = "g"
			if version < 3 {
				req.MemberID = a
			} else {
				req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: "ghost"}}
			}
			resp := h.c.LeaveGroup(req)
			if version < 3 {
				code(t, resp.ErrorCode, nil)
			} else {
				code(t, resp.Members[0].ErrorCode, nil)
				code(t, resp.Members[1].ErrorCode, kerr.UnknownMemberID)
			}
			if st, g2, n, _ := h.state("g"); st != "Empty" || n != 0 || g2 != gen+1 {
				t.Fatalf("after leave: state %s generation %d members %d", st, g2, n)
			}
		})
	}
}

func TestOldJoinVersions(t *testing.T) {
	h := newHarness(t)
	// v0–v3 get a member id at once and no MEMBER_ID_REQUIRED round trip;
	// v0 has no rebalance timeout, the session timeout stands in.
	req := joinReq(0, "g", "")
	req.RebalanceTimeoutMillis = -1
	jr := recv(t, h.joinAsync(req))
	code(t, jr.ErrorCode, nil)
	if jr.MemberID == "" || jr.Generation != 1 || len(jr.Members) != 1 {
		t.Fatalf("v0 join %+v", jr)
	}
	g := h.c.lockGroup("g", false)
	rt := g.members[jr.MemberID].rebalanceTimeout
	g.mu.Unlock()
	if rt != session {
		t.Fatalf("v0 rebalance timeout %v, want the session timeout %v", rt, session)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation = "g", jr.MemberID, jr.Generation
	sreq.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("x")}}
	sr := h.c.SyncGroup(context.Background(), sreq)
	code(t, sr.ErrorCode, nil)
	if string(sr.MemberAssignment) != "x" {
		t.Fatalf("v0 sync assignment %q", sr.MemberAssignment)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t)
	a, _ := stableGroup(t, h, "g")
	short := joinReq(9, "g", "")
	short.SessionTimeoutMillis = 10
	code(t, recv(t, h.joinAsync(short)).ErrorCode, kerr.InvalidSessionTimeout)
	code(t, recv(t, h.joinAsync(joinReq(9, "", ""))).ErrorCode, kerr.InvalidGroupID)
	code(t, recv(t, h.joinAsync(joinReq(9, "g", "", "roundrobin"))).ErrorCode, kerr.InconsistentGroupProtocol)
	code(t, recv(t, h.joinAsync(joinReq(9, "g", "unknown"))).ErrorCode, kerr.UnknownMemberID)
	// A non-leader... a is the leader: rejoining with the same metadata
	// still rebalances (the leader may want to reassign).
	aj := recv(t, h.joinAsync(joinReq(9, "g", a)))
	code(t, aj.ErrorCode, nil)
	if aj.Generation != 2 {
		t.Fatalf("leader rejoin generation %d, want 2", aj.Generation)
	}
}

func TestProtocolSelection(t *testing.T) {
	h := newHarness(t)
	// v3 joins skip the member-id round trip; three members, joined
	// within one rebalance by keeping the first in the barrier.
	r1 := joinReq(3, "g", "", "range", "roundrobin", "sticky")
	j1 := recv(t, h.joinAsync(r1))
	a := j1.MemberID
	recv(t, h.syncAsync("g", a, j1.Generation, nil))
	c2 := h.joinAsync(joinReq(3, "g", "", "sticky", "roundrobin"))
	h.waitJoining("g", 1)
	c3 := h.joinAsync(joinReq(3, "g", "", "roundrobin", "sticky"))
	h.waitJoining("g", 2)
	ja := recv(t, h.joinAsync(joinReq(3, "g", a, "range", "roundrobin", "sticky")))
	j2, j3 := recv(t, c2), recv(t, c3)
	// Common: roundrobin, sticky. Votes: a -> roundrobin, 2 -> sticky,
	// 3 -> roundrobin.
	for _, r := range []*kmsg.JoinGroupResponse{ja, j2, j3} {
		code(t, r.ErrorCode, nil)
		if *r.Protocol != "roundrobin" {
			t.Fatalf("protocol %s, want roundrobin", *r.Protocol)
		}
	}
}

func TestStaticMembership(t *testing.T) {
	h := newHarness(t)
	inst := "instance-1"
	req := joinReq(9, "g", "")
	req.InstanceID = &inst
	jr := recv(t, h.joinAsync(req)) // static members skip MEMBER_ID_REQUIRED
	code(t, jr.ErrorCode, nil)
	old := jr.MemberID
	recv(t, h.syncAsync("g", old, jr.Generation, map[string]string{old: "p"}))

	// The same instance restarts with an empty member id: new id, same
	// generation, no rebalance, the leader is told to skip assignment.
	again := joinReq(9, "g", "")
	again.InstanceID = &inst
	again.Protocols = req.Protocols
	jr2 := recv(t, h.joinAsync(again))
	code(t, jr2.ErrorCode, nil)
	if jr2.MemberID == old || jr2.Generation != jr.Generation || !jr2.SkipAssignment {
		t.Fatalf("static rejoin: member %s (old %s) generation %d skip %v", jr2.MemberID, old, jr2.Generation, jr2.SkipAssignment)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", old, jr.Generation, &inst
	code(t, h.c.Heartbeat(hb).ErrorCode, kerr.FencedInstanceID)
	hb.MemberID = jr2.MemberID
	code(t, h.c.Heartbeat(hb).ErrorCode, nil)
	sr := recv(t, h.syncAsync("g", jr2.MemberID, jr2.Generation, nil))
	if string(sr.MemberAssignment) != "p" {
		t.Fatalf("replacement kept assignment %q, want p", sr.MemberAssignment)
	}
	// Leave by instance id.
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.Version = 4
	lreq.Group = "g"
	lreq.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &inst}}
	code(t, h.c.LeaveGroup(lreq).Members[0].ErrorCode, nil)
	if st, _, _, _ := h.state("g"); st != "Empty" {
		t.Fatalf("state %s after static leave", st)
	}
}

func TestJoinWaitEndsWithContextAndClose(t *testing.T) {
	h := newHarness(t)
	a, _ := stableGroup(t, h, "g")
	_ = a
	b := h.newMemberID("g")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- h.c.JoinGroup(ctx, Client{ID: "cl"}, joinReq(9, "g", b)) }()
	h.waitJoining("g", 1)
	cancel()
	if r := recv(t, done); r != nil {
		t.Fatalf("join after cancel: %+v, want nil (no response)", r)
	}
	c := h.newMemberID("g")
	cJoin := h.joinAsync(joinReq(9, "g", c))
	h.waitJoining("g", 2)
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	code(t, recv(t, cJoin).ErrorCode, kerr.NotCoordinator)
	if err := h.c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if r := h.c.OffsetCommit(commitReq("closed", "", -1, "t", 0, 1)); r.Topics[0].Partitions[0].ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("commit after close: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
}

func TestListAndDescribeGroups(t *testing.T) {
	h := newHarness(t)
	a, _ := stableGroup(t, h, "g1")
	code(t, commit(h, "g2", "", -1, "t", 0, 1), nil)

	list := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 4})
	got := map[string]string{}
	for _, g := range list.Groups {
		got[g.Group] = g.GroupState + "/" + g.ProtocolType
	}
	if diff := cmp.Diff(map[string]string{"g1": "Stable/consumer", "g2": "Empty/"}, got); diff != "" {
		t.Fatalf("ListGroups (-want +got):\n%s", diff)
	}
	filtered := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"Empty"}})
	if len(filtered.Groups) != 1 || filtered.Groups[0].Group != "g2" {
		t.Fatalf("filtered ListGroups %+v", filtered.Groups)
	}

	desc := h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g1", "missing"}})
	g1 := desc.Groups[0]
	if g1.State != "Stable" || g1.Protocol != "range" || len(g1.Members) != 1 || g1.Members[0].MemberID != a ||
		string(g1.Members[0].MemberAssignment) != "a1" || g1.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("describe g1 %+v", g1)
	}
	if desc.Groups[1].State != "Dead" || desc.Groups[1].ErrorCode != 0 {
		t.Fatalf("describe missing %+v", desc.Groups[1])
	}
}

func TestFindCoordinator(t *testing.T) {
	h := newHarness(t)
	self := Node{ID: 7, Host: "127.0.0.1", Port: 9092}
	for v := int16(0); v <= 3; v++ {
		r := h.c.FindCoordinator(&kmsg.FindCoordinatorRequest{Version: v, CoordinatorKey: "g"}, self)
		if r.ErrorCode != 0 || r.NodeID != 7 || r.Host != "127.0.0.1" || r.Port != 9092 {
			t.Fatalf("v%d: %+v", v, r)
		}
	}
	r := h.c.FindCoordinator(&kmsg.FindCoordinatorRequest{Version: 4, CoordinatorKeys: []string{"a", "b"}}, self)
	if len(r.Coordinators) != 2 || r.Coordinators[1].Key != "b" || r.Coordinators[1].NodeID != 7 {
		t.Fatalf("v4: %+v", r)
	}
	r = h.c.FindCoordinator(&kmsg.FindCoordinatorRequest{Version: 1, CoordinatorKey: "txn", CoordinatorType: 1}, self)
	code(t, r.ErrorCode, kerr.CoordinatorNotAvailable)
}

func TestConfigValidate(t *testing.T) {
	err := Config{MinSessionTimeout: time.Minute, MaxSessionTimeout: time.Second, MaxMetadataBytes: -1}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("want 3 problems reported at once, got %v", err)
	}
	if err := (Config{Dir: "x"}).Validate(); err != nil {
		t.Fatal(err)
	}
	err = Config{Dir: "x", MinSessionTimeout: -time.Second, MaxSessionTimeout: -time.Minute, MaxProtocolMetadataBytes: -1,
		InitialRebalanceDelay: -time.Millisecond, OffsetsRetentionCheckInterval: -time.Hour, CompactBytes: -2}.Validate()
	for _, want := range []string{"min session timeout -1s is negative", "max session timeout -1m0s is negative",
		"max protocol metadata bytes -1 is negative", "initial rebalance delay -1ms is negative",
		"offsets retention check interval -1h0m0s is negative", "compact bytes -2 is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of negative settings = %v, want it to say %q", err, want)
		}
	}
}

// TestRealClockSessionTimeout runs the timers on the wall clock: a member
// that stops heartbeating is removed after its (short) session timeout.
func TestRealClockSessionTimeout(t *testing.T) {
	c, err := New(Config{Dir: t.TempDir(), MinSessionTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := joinReq(3, "g", "")
	req.SessionTimeoutMillis = 100
	jr := c.JoinGroup(context.Background(), Client{ID: "cl"}, req)
	code(t, jr.ErrorCode, nil)
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation = "g", jr.MemberID, jr.Generation
	code(t, c.SyncGroup(context.Background(), sreq).ErrorCode, nil)
	testutil.WaitFor(t, 5*time.Second, func() error {
		g := c.lockGroup("g", false)
		defer g.mu.Unlock()
		if g.state != stateEmpty {
			return fmt.Errorf("group %s with %d members, want Empty", g.state, len(g.members))
		}
		return nil
	})
}
