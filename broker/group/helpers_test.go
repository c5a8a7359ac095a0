package group

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// manualClock is a Clock whose timers fire only when the test advances it;
// due timers run synchronously in Advance's caller, in deadline order.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c     *manualClock
	at    time.Time
	f     func()
	done  bool // fired or stopped
	order int
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f, order: len(c.timers)}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d and runs every timer that became due,
// including timers those create within the window.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *manualTimer
		for _, t := range c.timers {
			if t.done || t.at.After(end) {
				continue
			}
			if next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.order < next.order) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			live := c.timers[:0]
			for _, t := range c.timers {
				if !t.done {
					live = append(live, t)
				}
			}
			c.timers = live
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// harness is a Coordinator on a manual clock and a temp dir.
type harness struct {
	t     *testing.T
	c     *Coordinator
	clock *manualClock
	dir   string
}

const (
	session   = 10 * time.Second
	rebalance = 30 * time.Second
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: newManualClock(), dir: t.TempDir()}
	h.open()
	t.Cleanup(func() { _ = h.c.Close() })
	return h
}

func (h *harness) open(opts ...func(*Config)) {
	h.t.Helper()
	cfg := Config{Dir: h.dir, Clock: h.clock, MinSessionTimeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
}

// reopen closes the coordinator and opens one with opts applied to the
// harness's config.
func (h *harness) reopen(opts ...func(*Config)) {
	h.t.Helper()
	if err := h.c.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open(opts...)
}

// restart closes the coordinator and opens a new one on the same dir.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.c.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func joinReq(version int16, group, memberID string, protos ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = int32(session / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(rebalance / time.Millisecond)
	req.ProtocolType = "consumer"
	if len(protos) == 0 {
		protos = []string{"range"}
	}
	for _, p := range protos {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name = p
		jp.Metadata = []byte("meta-" + p + "-" + memberID)
		req.Protocols = append(req.Protocols, jp)
	}
	return req
}

// joinAsync sends a join that may block and returns where its answer lands.
func (h *harness) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(context.Background(), Client{ID: "cl", Host: "/127.0.0.1"}, req) }()
	return ch
}

func (h *harness) syncAsync(group, memberID string, gen int32, assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	ids := make([]string, 0, len(assign))
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = id, []byte(assign[id])
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(context.Background(), req) }()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no response within 10s")
		panic("unreachable")
	}
}

// join does the two-step v4+ join and returns the member id, waiting for
// the response only if wait is set.
func (h *harness) newMemberID(group string) string {
	h.t.Helper()
	r := h.c.JoinGroup(context.Background(), Client{ID: "cl", Host: "/127.0.0.1"}, joinReq(9, group, ""))
	if r.ErrorCode != 79 { // MEMBER_ID_REQUIRED
		h.t.Fatalf("first join: error %d, want MEMBER_ID_REQUIRED", r.ErrorCode)
	}
	return r.MemberID
}

func (h *harness) heartbeat(group, memberID string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	return h.c.Heartbeat(req).ErrorCode
}

// state returns the group's state, generation, members and joining count.
func (h *harness) state(group string) (string, int32, int, int) {
	g := h.c.lockGroup(group, false)
	if g == nil {
		return "none", 0, 0, 0
	}
	defer g.mu.Unlock()
	return g.state.String(), g.generation, len(g.members), g.nJoining
}

// waitJoining waits until n members of group wait in the join barrier.
func (h *harness) waitJoining(group string, n int) {
	h.t.Helper()
	testutil.WaitFor(h.t, 5*time.Second, func() error {
		if _, _, _, j := h.state(group); j != n {
			return fmt.Errorf("%d members joining, want %d", j, n)
		}
		return nil
	})
}

// waitSyncing waits until n members of group wait in SyncGroup.
func (h *harness) waitSyncing(group string, n int) {
	h.t.Helper()
	testutil.WaitFor(h.t, 5*time.Second, func() error {
		g := h.c.lockGroup(group, false)
		defer g.mu.Unlock()
		got := 0
		for _, m := range g.members {
			if m.syncw != nil {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d members syncing, want %d", got, n)
		}
		return nil
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
