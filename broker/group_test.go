package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// produceValues writes "<prefix>-<i>" for i in [from, to), spread over the
// partitions.
func produceValues(t *testing.T, addr, topic, prefix string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// tally counts how often each value was consumed, and by whom.
type tally struct {
	mu    sync.Mutex
	seen  map[string]int
	by    map[string]int
	total int
}

func newTally() *tally { return &tally{seen: map[string]int{}, by: map[string]int{}} }

func (tl *tally) add(who, value string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.seen[value]++
	tl.by[who]++
	tl.total++
}

// waitUnique waits until n distinct values were seen.
func (tl *tally) waitUnique(t *testing.T, n int) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, func() error {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		if len(tl.seen) < n {
			return fmt.Errorf("%d of %d records consumed", len(tl.seen), n)
		}
		return nil
	})
}

// check fails on a missing or twice-consumed value of "<prefix>-<0..n-1>".
func (tl *tally) check(t *testing.T, prefix string, n int) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		if c := tl.seen[v]; c != 1 {
			t.Errorf("%s consumed %d times, want once", v, c)
		}
	}
	if len(tl.seen) != n || tl.total != n {
		t.Errorf("consumed %d records (%d distinct), want %d", tl.total, len(tl.seen), n)
	}
}

func (tl *tally) count(who string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.by[who]
}

// groupMember is a franz-go group consumer that commits what it processed
// before it lets a rebalance proceed, so no record is consumed twice.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startGroupMember(t *testing.T, addr, group, topic, name string, tl *tally) *groupMember {
	t.Helper()
	cl := newClient(t, addr,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ClientID(name),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.HeartbeatInterval(300*time.Millisecond),
	)
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollRecords(ctx, 200)
			if ctx.Err() != nil {
				cl.AllowRebalance()
				return
			}
			fs.EachError(func(topic string, p int32, err error) { t.Errorf("%s fetching %s/%d: %v", name, topic, p, err) })
			recs := fs.Records()
			for _, r := range recs {
				tl.add(name, string(r.Value))
			}
			if len(recs) > 0 {
				if err := cl.CommitRecords(context.Background(), recs...); err != nil {
					t.Errorf("%s committing: %v", name, err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop ends the poll loop and closes the client, which leaves the group.
func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// waitGroupMembers waits until group is Stable with n members.
func waitGroupMembers(t *testing.T, addr, group string, n int) {
	t.Helper()
	adm := newAdmin(t, addr)
	testutil.WaitFor(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		g := gs[group]
		if g.Err != nil {
			return g.Err
		}
		if g.State != "Stable" || len(g.Members) != n {
			return fmt.Errorf("group %s is %s with %d members, want Stable with %d", group, g.State, len(g.Members), n)
		}
		return nil
	})
}

func TestGroupConsumersRebalanceWithoutLossOrDuplicates(t *testing.T) {
	b := newTestBroker(t)
	const topic, group, per = "rebalance", "rebalancers", 600
	createTopic(t, b.addr, topic, 6, nil)
	tl := newTally()

	a := startGroupMember(t, b.addr, group, topic, "a", tl)
	produceValues(t, b.addr, topic, "r", 0, per)
	tl.waitUnique(t, per)

	// b joins: the group rebalances to two members.
	startGroupMember(t, b.addr, group, topic, "b", tl)
	waitGroupMembers(t, b.addr, group, 2)
	produceValues(t, b.addr, topic, "r", per, 2*per)
	tl.waitUnique(t, 2*per)

	// c joins, a leaves: b and c share the partitions.
	startGroupMember(t, b.addr, group, topic, "c", tl)
	waitGroupMembers(t, b.addr, group, 3)
	a.stop()
	waitGroupMembers(t, b.addr, group, 2)
	produceValues(t, b.addr, topic, "r", 2*per, 3*per)
	tl.waitUnique(t, 3*per)

	tl.check(t, "r", 3*per)
	if tl.count("b") == 0 || tl.count("c") == 0 {
		t.Errorf("records consumed by b: %d, by c: %d; want both after the rebalances", tl.count("b"), tl.count("c"))
	}

	// The committed offsets add up to everything produced. A member
	// commits after it has tallied a batch, so the last commits may still
	// be on their way: wait for them.
	adm := newAdmin(t, b.addr)
	testutil.WaitFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum != 3*per {
			return fmt.Errorf("committed offsets add up to %d, want %d", sum, 3*per)
		}
		return nil
	})
}

func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	b := newTestBroker(t)
	const topic, group, n = "durable-commits", "survivors", 300
	createTopic(t, b.addr, topic, 3, nil)
	produceValues(t, b.addr, topic, "d", 0, n)

	tl := newTally()
	m := startGroupMember(t, b.addr, group, topic, "first", tl)
	tl.waitUnique(t, n)
	m.stop()

	if _, err := os.Stat(filepath.Join(b.cfg.LogDirs[0], offsetsDirName, "offsets.log")); err != nil {
		t.Fatalf("offsets log: %v", err)
	}
	b = b.restart(t)

	ctx := testContext(t, 10*time.Second)
	adm := newAdmin(t, b.addr)
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Fatalf("committed offsets after restart add up to %d, want %d", sum, n)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := groups[group]; !ok || g.State != "Empty" {
		t.Fatalf("ListGroups after restart: %+v", groups)
	}

	// A new member resumes after the commits: only the new records.
	produceValues(t, b.addr, topic, "e", 0, 50)
	tl2 := newTally()
	startGroupMember(t, b.addr, group, topic, "second", tl2)
	tl2.waitUnique(t, 50)
	tl2.check(t, "e", 50)
}

// TestGroupAPIsRaw drives the group APIs with raw requests at old and new
// versions, as librdkafka and kcat do.
func TestGroupAPIsRaw(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "raw-group", 2)

	fc := rc.roundTrip(&kmsg.FindCoordinatorRequest{Version: 0, CoordinatorKey: "raw"}).(*kmsg.FindCoordinatorResponse)
	if fc.ErrorCode != 0 || fc.NodeID != b.NodeID() || fmt.Sprintf("%s:%d", fc.Host, fc.Port) != b.addr {
		t.Fatalf("FindCoordinator v0: %+v (broker at %s)", fc, b.addr)
	}

	// JoinGroup v0: a member id at once, generation 1, leader.
	jreq := kmsg.NewPtrJoinGroupRequest()
	jreq.Version = 0
	jreq.Group, jreq.SessionTimeoutMillis, jreq.ProtocolType = "raw", 10000, "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"raw-group"}
	jreq.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	jr := rc.roundTrip(jreq).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != jr.MemberID || !strings.HasPrefix(jr.MemberID, "raw-test-") {
		t.Fatalf("JoinGroup v0: %+v", jr)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Version = 0
	sreq.Group, sreq.Generation, sreq.MemberID = "raw", jr.Generation, jr.MemberID
	sreq.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte{0, 0, 0, 0, 0, 0, 0, 0}}}
	if sr := rc.roundTrip(sreq).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 {
		t.Fatalf("SyncGroup v0: %v", kerr.ErrorForCode(sr.ErrorCode))
	}
	hb := &kmsg.HeartbeatRequest{Version: 0, Group: "raw", Generation: jr.Generation, MemberID: jr.MemberID}
	if r := rc.roundTrip(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("Heartbeat v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// OffsetCommit v2 / OffsetFetch v1, then an unknown partition.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version = 2
	oc.Group, oc.Generation, oc.MemberID = "raw", jr.Generation, jr.MemberID
	md := "meta"
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "raw-group", Partitions: []kmsg.OffsetCommitRequestTopicPartition{
		{Partition: 1, Offset: 17, Metadata: &md}, {Partition: 9, Offset: 1},
	}}}
	ocr := rc.roundTrip(oc).(*kmsg.OffsetCommitResponse)
	if c := ocr.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("OffsetCommit v2: %v", kerr.ErrorForCode(c))
	}
	if c := ocr.Topics[0].Partitions[1].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("OffsetCommit v2 to partition 9: %v", kerr.ErrorForCode(c))
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 1
	of.Group = "raw"
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "raw-group", Partitions: []int32{0, 1}}}
	ofr := rc.roundTrip(of).(*kmsg.OffsetFetchResponse)
	ps := ofr.Topics[0].Partitions
	if ps[0].Offset != -1 || ps[1].Offset != 17 || ps[1].Metadata == nil || *ps[1].Metadata != "meta" {
		t.Fatalf("OffsetFetch v1: %+v", ps)
	}

	lg := rc.roundTrip(&kmsg.ListGroupsRequest{Version: 0}).(*kmsg.ListGroupsResponse)
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "raw" || lg.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("ListGroups v0: %+v", lg.Groups)
	}
	dg := rc.roundTrip(&kmsg.DescribeGroupsRequest{Version: 0, Groups: []string{"raw"}}).(*kmsg.DescribeGroupsResponse)
	if g := dg.Groups[0]; g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "raw-test" || g.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("DescribeGroups v0: %+v", dg.Groups)
	}

	lv := &kmsg.LeaveGroupRequest{Version: 0, Group: "raw", MemberID: jr.MemberID}
	if r := rc.roundTrip(lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// JoinGroup v4+: MEMBER_ID_REQUIRED first.
	jreq.Version = 9
	if jr := rc.roundTrip(jreq).(*kmsg.JoinGroupResponse); jr.ErrorCode != kerr.MemberIDRequired.Code || jr.MemberID == "" {
		t.Fatalf("JoinGroup v9 without member id: %v %q", kerr.ErrorForCode(jr.ErrorCode), jr.MemberID)
	}
}

// TestKcatBalancedConsumers runs three kcat -G members on one topic: every
// record is consumed exactly once across them.
func TestKcatBalancedConsumers(t *testing.T) {
	kc := requireKcat(t)
	b := newTestBroker(t)
	const topic, group, n = "kcat-group", "kcats", 900
	createTopic(t, b.addr, topic, 6, nil)

	ctx := testContext(t, 90*time.Second)
	type member struct {
		cmd    *exec.Cmd
		out    *lockedBuffer
		stderr *lockedBuffer
	}
	var members []member
	for i := 0; i < 3; i++ {
		m := member{out: &lockedBuffer{}, stderr: &lockedBuffer{}}
		m.cmd = kc.command(ctx, b.addr, "-G", group, "-q", "-u", "-f", "%s\n",
			"-X", "auto.offset.reset=earliest", "-X", "client.id=kcat-"+fmt.Sprint(i),
			"-X", "session.timeout.ms=10000", "-X", "heartbeat.interval.ms=500", topic)
		m.cmd.Stdout, m.cmd.Stderr = m.out, m.stderr
		m.cmd.Cancel = func() error { return m.cmd.Process.Signal(syscall.SIGTERM) }
		m.cmd.WaitDelay = 10 * time.Second
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("starting kcat: %v", err)
		}
		members = append(members, m)
	}
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		for _, m := range members {
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, m := range members {
			_ = m.cmd.Wait()
		}
	}
	t.Cleanup(stopAll)

	waitGroupMembers(t, b.addr, group, 3)
	produceValues(t, b.addr, topic, "k", 0, n)

	count := func() (map[string]int, []int) {
		seen := map[string]int{}
		var per []int
		for _, m := range members {
			lines := 0
			sc := bufio.NewScanner(bytes.NewReader(m.out.Bytes()))
			for sc.Scan() {
				if sc.Text() != "" {
					seen[sc.Text()]++
					lines++
				}
			}
			per = append(per, lines)
		}
		return seen, per
	}
	testutil.WaitFor(t, 60*time.Second, func() error {
		if seen, per := count(); len(seen) < n {
			return fmt.Errorf("%d of %d records consumed (per member %v); first member's stderr: %s", len(seen), n, per, members[0].stderr.Bytes())
		}
		return nil
	})
	stopAll()
	seen, per := count()
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("k-%d", i)]; c != 1 {
			t.Errorf("k-%d consumed %d times, want once", i, c)
		}
	}
	for i, p := range per {
		if p == 0 {
			t.Errorf("kcat member %d consumed nothing (per member %v); stderr: %s", i, per, members[i].stderr.Bytes())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer process and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (lb *lockedBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.buf.Write(p)
}

func (lb *lockedBuffer) Bytes() []byte {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return append([]byte(nil), lb.buf.Bytes()...)
}

// TestKafkajsGroupConsumers runs tests/kafkajs/groups.js: a kafkajs
// producer and two kafkajs group consumers (kafkajs 2.2.4).
func TestKafkajsGroupConsumers(t *testing.T) {
	kjs := requireKafkajs(t)
	b := newTestBroker(t)
	const topic, n = "kafkajs-group", 500
	createTopic(t, b.addr, topic, 4, nil)
	kjs.run(t, "groups.js", b.addr, topic, fmt.Sprint(n))
}
