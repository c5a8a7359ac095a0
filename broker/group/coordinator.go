package group

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Coordinator is the group coordinator of a single-node broker: it owns
// every consumer group and their committed offsets. Its methods take and
// return kmsg requests and responses and are safe for concurrent use;
// JoinGroup and SyncGroup block until the group's rebalance answers them.
// Close stops its timers and closes the offsets log.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	log    *offsetLog

	mu     sync.Mutex // guards groups; taken before any group's mu
	groups map[string]*group

	timersMu sync.Mutex     // leaf lock: guards closed and wg.Add
	closed   bool           // set by Close: timers no longer run
	timers   sync.WaitGroup // timer callbacks running now

	// offsetsTopic is set once the internal __consumer_offsets topic
	// "exists" for Metadata: as Kafka creates it at the first
	// FindCoordinator for a group, or when the log already holds offsets.
	offsetsTopic atomic.Bool

	done      chan struct{} // closed by Close: blocked joins and syncs return
	closeOnce sync.Once
	closeErr  error
}

// Client identifies the connection a request came from, for member ids and
// DescribeGroups.
type Client struct {
	ID   string // the request header's client.id
	Host string // the peer's address as Kafka shows it, e.g. "/127.0.0.1"
}

// New validates cfg, opens (and compacts) the offsets log in cfg.Dir and
// returns a Coordinator with every group that has committed offsets, Empty.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("group coordinator config: %w", err)
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("component", "group")
	l, err := openOffsetLog(cfg.Dir, cfg.CompactBytes, logger)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:    cfg,
		logger: logger,
		log:    l,
		groups: make(map[string]*group),
		done:   make(chan struct{}),
	}
	for _, name := range l.groups() {
		c.groups[name] = newGroup(c, name)
	}
	_, err = os.Stat(filepath.Join(cfg.Dir, offsetsTopicMarker))
	c.offsetsTopic.Store(l.file.Size() > 0 || err == nil)
	return c, nil
}

// Run expires the committed offsets of groups that have been empty longer
// than Config.OffsetsRetention, checking every
// OffsetsRetentionCheckInterval, until ctx is done or Close is called. It
// returns nil.
func (c *Coordinator) Run(ctx context.Context) error {
	if c.cfg.OffsetsRetention < 0 {
		select {
		case <-ctx.Done():
		case <-c.done:
		}
		return nil
	}
	pprof.Do(ctx, pprof.Labels("component", "group", "loop", "offsets-retention"), func(ctx context.Context) {
		tick := make(chan struct{}, 1)
		for {
			t := c.cfg.Clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
				select {
				case tick <- struct{}{}:
				default:
				}
			})
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-c.done:
				t.Stop()
				return
			case <-tick:
				if e := c.expireOffsets(); e != nil {
					c.logger.Error("expiring offsets", "err", e)
				}
			}
		}
	})
	return nil
}

// Close answers blocked joins and syncs with NOT_COORDINATOR, stops every
// timer, waits for running timer callbacks and closes the offsets log. It
// is idempotent.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		c.timersMu.Lock()
		c.closed = true
		c.timersMu.Unlock()
		close(c.done)
		for _, g := range c.snapshotGroups() {
			g.mu.Lock()
			g.stopTimers()
			g.mu.Unlock()
		}
		c.timers.Wait()
		c.closeErr = c.log.close()
	})
	return c.closeErr
}

// afterFunc runs fn after d on a timer goroutine that Close waits for; after
// Close it never runs.
func (c *Coordinator) afterFunc(d time.Duration, fn func()) Timer {
	return c.cfg.Clock.AfterFunc(d, func() {
		c.timersMu.Lock()
		if c.closed {
			c.timersMu.Unlock()
			return
		}
		c.timers.Add(1)
		c.timersMu.Unlock()
		defer c.timers.Done()
		fn()
	})
}

// lockGroup returns the named group locked, creating it if create is set,
// or nil if it does not exist.
func (c *Coordinator) lockGroup(name string, create bool) *group {
	for {
		c.mu.Lock()
		g := c.groups[name]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			g = newGroup(c, name)
			c.groups[name] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g
		}
		// Removed by offset expiry between the lookup and the lock.
		g.mu.Unlock()
	}
}

// expireOffsets deletes the offsets of groups empty for longer than the
// retention, and the groups themselves (KIP-211); an empty group without
// offsets is removed at once, as Kafka's cleanupGroupMetadata does (it
// holds nothing worth keeping, and a client could otherwise make the
// coordinator keep any number of them for the whole retention).
func (c *Coordinator) expireOffsets() error {
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	removed := 0
	for name, g := range c.groups {
		g.mu.Lock()
		if g.state == stateEmpty && len(g.pending) == 0 {
			offsets := c.log.all(name)
			last := g.emptySince
			for _, v := range offsets {
				if t := time.UnixMilli(v.commitMs); t.After(last) {
					last = t
				}
			}
			switch {
			case len(offsets) == 0:
				g.state = stateDead
				g.stopTimers()
				delete(c.groups, name)
				removed++
			case now.Sub(last) >= c.cfg.OffsetsRetention:
				var tombs []offsetRecord
				for k := range offsets {
					tombs = append(tombs, offsetRecord{group: name, tp: k, tombstone: true, value: offsetValue{commitMs: now.UnixMilli()}})
				}
				if err := c.log.append(tombs); err != nil {
					errs = append(errs, err)
				} else {
					g.state = stateDead
					g.stopTimers()
					delete(c.groups, name)
					c.logger.Info("expired group offsets", "group", name, "offsets", len(tombs))
				}
			}
		}
		g.mu.Unlock()
	}
	if removed > 0 {
		c.logger.Info("removed empty groups without offsets", "groups", removed)
	}
	return errors.Join(errs...)
}

// FindCoordinator answers FindCoordinator v0–v4: every group is coordinated
// by this node, self. Transaction coordinators do not exist here.
func (c *Coordinator) FindCoordinator(req *kmsg.FindCoordinatorRequest, self Node) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int16, *string) {
		switch req.CoordinatorType {
		case 0: // group
			c.MarkOffsetsTopic()
			return 0, nil
		case 1: // transaction
			msg := "this broker has no transaction coordinator"
			return kerr.CoordinatorNotAvailable.Code, &msg
		default:
			msg := fmt.Sprintf("unknown coordinator type %d", req.CoordinatorType)
			return kerr.InvalidRequest.Code, &msg
		}
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			sc := kmsg.NewFindCoordinatorResponseCoordinator()
			sc.Key = key
			sc.ErrorCode, sc.ErrorMessage = answer(key)
			if sc.ErrorCode == 0 {
				sc.NodeID, sc.Host, sc.Port = self.ID, self.Host, self.Port
			} else {
				sc.NodeID, sc.Port = -1, -1
			}
			resp.Coordinators = append(resp.Coordinators, sc)
		}
		return resp
	}
	resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
	if resp.ErrorCode == 0 {
		resp.NodeID, resp.Host, resp.Port = self.ID, self.Host, self.Port
	} else {
		resp.NodeID, resp.Port = -1, -1
	}
	return resp
}

// OffsetsTopicExists reports whether Metadata lists the internal
// __consumer_offsets topic: once a group coordinator was looked up, or
// committed offsets exist (Kafka creates the topic at the first
// FindCoordinator for a group). MarkOffsetsTopic makes it exist, for a
// Metadata request that names it with auto-creation allowed, as Kafka
// creates it then too.
func (c *Coordinator) OffsetsTopicExists() bool { return c.offsetsTopic.Load() }

// offsetsTopicMarker is the empty file in Config.Dir that keeps the offsets
// topic listed across restarts once it exists, as Kafka's topic stays.
const offsetsTopicMarker = "offsets.topic"

// MarkOffsetsTopic makes OffsetsTopicExists true, from now on and after a
// restart.
func (c *Coordinator) MarkOffsetsTopic() {
	if !c.offsetsTopic.CompareAndSwap(false, true) {
		return
	}
	if err := fsutil.WriteFileSync(filepath.Join(c.cfg.Dir, offsetsTopicMarker), nil); err != nil {
		c.logger.Warn("recording that the offsets topic exists", "err", err)
		return
	}
	if err := fsutil.SyncDir(c.cfg.Dir); err != nil {
		c.logger.Warn("recording that the offsets topic exists", "err", err)
	}
}

// ListGroups answers ListGroups v0–v5 with every group, filtered by state
// (v4+) and type (v5+, always "classic").
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, g := range c.snapshotGroups() {
		g.mu.Lock()
		state, ptype := g.state, g.protocolType
		g.mu.Unlock()
		if state == stateDead {
			continue
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, state.String()) }) {
			continue
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(s string) bool { return strings.EqualFold(s, "classic") }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.name
		lg.ProtocolType = ptype
		lg.GroupState = state.String()
		lg.GroupType = "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups answers DescribeGroups v0–v5: state, protocol and members;
// member metadata and assignments only when Stable, as Kafka.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = name
		if req.IncludeAuthorizedOperations {
			// READ (3), DELETE (6), DESCRIBE (8): no ACLs here.
			dg.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8
		}
		g := c.lockGroup(name, false)
		if g == nil {
			dg.State = stateDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g.describe(&dg)
		g.mu.Unlock()
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// snapshotGroups returns the groups sorted by name.
func (c *Coordinator) snapshotGroups() []*group {
	c.mu.Lock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b *group) int { return cmp.Compare(a.name, b.name) })
	return out
}

// checkGroupID answers INVALID_GROUP_ID for an empty group id, as Kafka,
// and for one longer than maxGroupIDLen, which Kafka's offsets-topic record
// cannot hold either.
func checkGroupID(id string) *kerr.Error {
	if id == "" || len(id) > maxGroupIDLen {
		return kerr.InvalidGroupID
	}
	return nil
}

// lockKnownGroup checks id and returns its group locked. The error is what
// the request answers instead: INVALID_GROUP_ID for a bad id (checkGroupID),
// missing when the group does not exist.
func (c *Coordinator) lockKnownGroup(id string, missing *kerr.Error) (*group, *kerr.Error) {
	if e := checkGroupID(id); e != nil {
		return nil, e
	}
	g := c.lockGroup(id, false)
	if g == nil {
		return nil, missing
	}
	return g, nil
}

// newMemberID returns a member id as Kafka makes them: the client id (or the
// group.instance.id of a static member), a dash and a random UUID.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
