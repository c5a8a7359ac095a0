package group

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka's GroupState.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// group is one classic consumer group. Every field is guarded by mu; timer
// callbacks take mu and check a sequence number, because a timer that has
// fired cannot be stopped any more.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        groupState
	emptySince   time.Time
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	pending      map[string]*member // got MEMBER_ID_REQUIRED, not joined yet
	static       map[string]string  // group.instance.id -> member id
	protocols    map[string]int     // protocol name -> members that support it
	nJoining     int                // members with a JoinGroup waiting
	joinSeq      uint64             // order members joined in, for leader choice
	// initialDelay is set while the first rebalance of an empty group
	// waits out group.initial.rebalance.delay.ms: the join barrier does
	// not complete early; newMemberAdded extends the wait.
	initialDelay   bool
	newMemberAdded bool

	seq            uint64 // source of timer tokens
	rebalanceTimer Timer
	rebalanceTok   uint64
	syncTimer      Timer
	syncTok        uint64
	pendingSync    map[string]struct{} // joined members that have not synced yet
}

// member is one member of a group.
type member struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string
	joinedAt   uint64

	// From the latest join, only what the protocol needs: the member's
	// protocols with their metadata (copied out of the request frame, so
	// the frame is not kept), and its timeouts. A pending member
	// (MEMBER_ID_REQUIRED, KIP-394) keeps no protocols at all.
	protocolType     string
	protocols        []protocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration

	joinw chan *kmsg.JoinGroupResponse // non-nil while a JoinGroup waits
	joinv int16
	syncw chan *kmsg.SyncGroupResponse // non-nil while a SyncGroup waits
	syncv int16

	assignment []byte

	timer Timer // session timeout
	tok   uint64
}

// protocol is one of a member's supported protocols, in its preference
// order.
type protocol struct {
	name     string
	metadata []byte
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c:          c,
		name:       name,
		emptySince: c.cfg.Clock.Now(),
		members:    make(map[string]*member),
		pending:    make(map[string]*member),
		static:     make(map[string]string),
		protocols:  make(map[string]int),
	}
}

// JoinGroup answers JoinGroup v0–v9. It blocks until the rebalance the
// join takes part in completes, ctx is done (nil: the connection is gone,
// the member stays until its session times out) or the coordinator closes.
func (c *Coordinator) JoinGroup(ctx context.Context, cl Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID = req.MemberID
	if e := checkGroupID(req.Group); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		resp.ErrorCode = kerr.InvalidSessionTimeout.Code
		return resp
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp
	}
	if protocolBytes(req) > c.cfg.MaxProtocolMetadataBytes {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	g := c.lockGroup(req.Group, true)
	wait := g.join(cl, req, resp)
	g.mu.Unlock()
	return await(ctx, c.done, wait, resp, func() { resp.ErrorCode = kerr.NotCoordinator.Code })
}

// await returns the answer to a JoinGroup or SyncGroup that has to wait
// for the rest of the group: resp at once when wait is nil, else what
// arrives on wait; nil (no response) when ctx ends first; resp marked by
// notCoordinator when the coordinator shuts down (done closes).
func await[R any](ctx context.Context, done <-chan struct{}, wait <-chan R, resp R, notCoordinator func()) R {
	if wait == nil {
		return resp
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		var none R
		return none
	case <-done:
		notCoordinator()
		return resp
	}
}

// protocolBytes is what a member would keep of req: its protocols' names
// and metadata.
func protocolBytes(req *kmsg.JoinGroupRequest) int {
	n := len(req.ProtocolType)
	for _, p := range req.Protocols {
		n += len(p.Name) + len(p.Metadata)
	}
	return n
}

// join handles a join under g.mu: it fills resp and returns nil, or returns
// the channel the response will arrive on.
func (g *group) join(cl Client, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) chan *kmsg.JoinGroupResponse {
	fail := func(e *kerr.Error) chan *kmsg.JoinGroupResponse {
		resp.ErrorCode = e.Code
		return nil
	}
	if !g.supportsProtocols(req) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old, ok := g.static[*req.InstanceID]; ok {
				return g.replaceStatic(old, cl, req, resp)
			}
		}
		m := g.newMember(cl, req)
		resp.MemberID = m.id
		if req.InstanceID != nil {
			g.static[*req.InstanceID] = m.id
		}
		// KIP-394: a v4+ dynamic member first gets its id back and
		// must join again with it, so the coordinator never keeps a
		// member whose client did not learn its id.
		if req.Version >= 4 && req.InstanceID == nil {
			g.pending[m.id] = m
			g.scheduleSession(m)
			return fail(kerr.MemberIDRequired)
		}
		return g.addMember(m, req)
	}
	if req.InstanceID != nil {
		if e := g.checkInstance(req.InstanceID, req.MemberID); e != nil {
			return fail(e)
		}
	}
	if m, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, m.id)
		stop(m.timer)
		return g.addMember(m, req)
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return fail(kerr.UnknownMemberID)
	}
	switch g.state {
	case statePreparingRebalance:
		return g.updateMember(m, req)
	case stateCompletingRebalance:
		if m.sameJoin(req) {
			g.fillJoin(m, resp)
			return nil
		}
		w := g.updateMember(m, req)
		g.prepareRebalance("member changed its protocols")
		return w
	case stateStable:
		if m.id != g.leader && m.sameJoin(req) {
			g.fillJoin(m, resp)
			return nil
		}
		w := g.updateMember(m, req)
		g.prepareRebalance("member rejoined")
		return w
	default:
		return fail(kerr.UnknownMemberID)
	}
}

// newMember makes a member for a join without a member id. It keeps the
// join's timeouts but not its protocols: addMember (or replaceStatic)
// records those once the member is really in the group.
func (g *group) newMember(cl Client, req *kmsg.JoinGroupRequest) *member {
	m := &member{
		id:         newMemberID(cl.ID, req.InstanceID),
		instanceID: req.InstanceID,
		clientID:   cl.ID,
		clientHost: cl.Host,
	}
	m.setTimeouts(req)
	return m
}

// addMember adds m (new or pending) with its join waiting, and rebalances.
func (g *group) addMember(m *member, req *kmsg.JoinGroupRequest) chan *kmsg.JoinGroupResponse {
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.joinSeq++
	m.joinedAt = g.joinSeq
	g.setJoin(m, req)
	g.members[m.id] = m
	if g.leader == "" {
		g.leader = m.id
	}
	if g.initialDelay {
		g.newMemberAdded = true
	}
	return g.parkJoin(m, req.Version, "member joined")
}

// updateMember records a known member's new join and parks it.
func (g *group) updateMember(m *member, req *kmsg.JoinGroupRequest) chan *kmsg.JoinGroupResponse {
	g.setJoin(m, req)
	// A join retried on a new connection: the old one waits no more.
	g.failJoin(m, kerr.RebalanceInProgress)
	w := g.wait(m, req.Version)
	if g.state == statePreparingRebalance {
		g.maybeCompleteJoin()
	}
	return w
}

// setJoin records req as m's join in place of any earlier one, and in the
// group's tally of protocols.
func (g *group) setJoin(m *member, req *kmsg.JoinGroupRequest) {
	g.uncountProtocols(m)
	m.setJoin(req)
	for _, p := range req.Protocols {
		g.protocols[p.Name]++
	}
}

// uncountProtocols takes m's protocols out of the group's tally.
func (g *group) uncountProtocols(m *member) {
	for _, p := range m.protocols {
		g.protocols[p.name]--
		if g.protocols[p.name] <= 0 {
			delete(g.protocols, p.name)
		}
	}
}

// parkJoin parks m's join until the group answers it and schedules m's
// session; the rebalance in preparation may now complete, or one starts
// for reason.
func (g *group) parkJoin(m *member, version int16, reason string) chan *kmsg.JoinGroupResponse {
	w := g.wait(m, version)
	g.scheduleSession(m)
	if g.state == statePreparingRebalance {
		g.maybeCompleteJoin()
	} else {
		g.prepareRebalance(reason)
	}
	return w
}

// setJoin records req's protocols (metadata copied) and timeouts.
func (m *member) setJoin(req *kmsg.JoinGroupRequest) {
	m.protocolType = req.ProtocolType
	m.protocols = make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		m.protocols[i] = protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)}
	}
	m.setTimeouts(req)
}

func (m *member) setTimeouts(req *kmsg.JoinGroupRequest) {
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	// JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
	m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		m.rebalanceTimeout = m.sessionTimeout
	}
}

func (g *group) wait(m *member, version int16) chan *kmsg.JoinGroupResponse {
	m.joinw = make(chan *kmsg.JoinGroupResponse, 1)
	m.joinv = version
	g.nJoining++
	return m.joinw
}

// replaceStatic handles a static member (KIP-345) joining again with an
// empty member id: it gets a new id and the old one is fenced.
func (g *group) replaceStatic(oldID string, cl Client, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse) chan *kmsg.JoinGroupResponse {
	old, ok := g.members[oldID]
	if !ok {
		if p, ok := g.pending[oldID]; ok {
			delete(g.pending, oldID)
			stop(p.timer)
		}
		delete(g.static, *req.InstanceID)
		m := g.newMember(cl, req)
		resp.MemberID = m.id
		g.static[*req.InstanceID] = m.id
		return g.addMember(m, req)
	}
	m := g.newMember(cl, req)
	m.assignment = old.assignment
	m.joinedAt = old.joinedAt
	g.fence(old)
	g.dropMember(old)
	g.static[*req.InstanceID] = m.id
	g.members[m.id] = m
	g.setJoin(m, req)
	if g.leader == oldID || g.leader == "" {
		g.leader = m.id
	}
	if g.state == stateStable && old.sameJoin(req) {
		// Nothing changed: no rebalance; a leader is told to skip the
		// assignment (KIP-814) and keeps the one it had.
		g.scheduleSession(m)
		g.fillJoin(m, resp)
		resp.SkipAssignment = m.id == g.leader
		return nil
	}
	return g.parkJoin(m, req.Version, "static member rejoined with new protocols")
}

// fence answers a replaced static member's waiting requests with
// FENCED_INSTANCE_ID.
func (g *group) fence(m *member) { g.failWaiting(m, kerr.FencedInstanceID) }

// failWaiting answers m's waiting JoinGroup and SyncGroup requests, if any,
// with err.
func (g *group) failWaiting(m *member, err *kerr.Error) {
	g.failJoin(m, err)
	m.failSync(err)
}

// failJoin answers m's waiting JoinGroup request, if any, with err.
func (g *group) failJoin(m *member, err *kerr.Error) {
	if m.joinw == nil {
		return
	}
	m.answerJoin(func(r *kmsg.JoinGroupResponse) {
		r.ErrorCode = err.Code
		r.MemberID = m.id
	})
	g.nJoining--
}

// answerJoin answers m's waiting JoinGroup request with a response of its
// version that fill completes.
func (m *member) answerJoin(fill func(r *kmsg.JoinGroupResponse)) {
	r := &kmsg.JoinGroupResponse{Version: m.joinv}
	r.Default()
	fill(r)
	m.joinw <- r
	m.joinw = nil
}

// answerSync answers m's waiting SyncGroup request with a response of its
// version that fill completes.
func (m *member) answerSync(fill func(r *kmsg.SyncGroupResponse)) {
	r := &kmsg.SyncGroupResponse{Version: m.syncv}
	r.Default()
	fill(r)
	m.syncw <- r
	m.syncw = nil
}

// failSync answers m's waiting SyncGroup request, if any, with err, and
// says whether there was one.
func (m *member) failSync(err *kerr.Error) bool {
	if m.syncw == nil {
		return false
	}
	m.answerSync(func(r *kmsg.SyncGroupResponse) { r.ErrorCode = err.Code })
	return true
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols: an empty
// group takes any protocol type; otherwise the type must match and the
// member must support a protocol every current member supports.
func (g *group) supportsProtocols(req *kmsg.JoinGroupRequest) bool {
	if len(g.members) == 0 {
		return true
	}
	if req.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range req.Protocols {
		if g.protocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

func (g *group) checkInstance(instanceID *string, memberID string) *kerr.Error {
	known, ok := g.static[*instanceID]
	if !ok {
		return kerr.UnknownMemberID
	}
	if known != memberID {
		return kerr.FencedInstanceID
	}
	return nil
}

func (m *member) sameJoin(req *kmsg.JoinGroupRequest) bool {
	if m.protocolType != req.ProtocolType || len(m.protocols) != len(req.Protocols) {
		return false
	}
	for i, p := range m.protocols {
		if p.name != req.Protocols[i].Name || !bytes.Equal(p.metadata, req.Protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// prepareRebalance moves the group to PreparingRebalance: syncs waiting in
// CompletingRebalance are told REBALANCE_IN_PROGRESS, and the join barrier
// waits for every member to rejoin, up to the longest rebalance timeout.
func (g *group) prepareRebalance(reason string) {
	wasEmpty := g.state == stateEmpty
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.failSync(kerr.RebalanceInProgress) {
				g.scheduleSession(m)
			}
		}
	}
	g.clearPendingSync()
	g.state = statePreparingRebalance
	g.c.logger.Debug("preparing rebalance", "group", g.name, "generation", g.generation, "reason", reason)
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	stop(g.rebalanceTimer)
	g.seq++
	tok := g.seq
	g.rebalanceTok = tok
	if delay := g.c.cfg.InitialRebalanceDelay; wasEmpty && delay > 0 {
		g.initialDelay, g.newMemberAdded = true, false
		g.scheduleInitialJoin(tok, delay, max(timeout-delay, 0))
		return
	}
	g.initialDelay = false
	g.rebalanceTimer = g.after(timeout, func() {
		if g.rebalanceTok == tok && g.state == statePreparingRebalance {
			g.completeJoin()
		}
	})
	g.maybeCompleteJoin()
}

// scheduleInitialJoin is Kafka's InitialDelayedJoin: after delay the join
// completes, unless a new member joined meanwhile and remaining (of the
// rebalance timeout) is not used up; then it waits again, for
// min(group.initial.rebalance.delay.ms, remaining).
func (g *group) scheduleInitialJoin(tok uint64, delay, remaining time.Duration) {
	g.rebalanceTimer = g.after(delay, func() {
		if g.rebalanceTok != tok || g.state != statePreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			g.scheduleInitialJoin(tok, min(g.c.cfg.InitialRebalanceDelay, remaining), max(remaining-delay, 0))
			return
		}
		g.completeJoin()
	})
}

// maybeCompleteJoin completes the join barrier once every member waits in
// it.
func (g *group) maybeCompleteJoin() {
	if g.state == statePreparingRebalance && !g.initialDelay && g.nJoining == len(g.members) {
		g.completeJoin()
	}
}

// completeJoin ends the join barrier: members that did not rejoin are
// removed, the generation advances, a protocol is chosen and every joined
// member is answered; the leader gets the members' metadata.
func (g *group) completeJoin() {
	g.initialDelay, g.newMemberAdded = false, false
	stop(g.rebalanceTimer)
	g.rebalanceTimer = nil
	g.rebalanceTok = 0
	for _, m := range g.members {
		if m.joinw == nil {
			g.c.logger.Info("removing member that did not rejoin in time", "group", g.name, "member", m.id)
			g.dropMember(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state = stateEmpty
		g.emptySince = g.c.cfg.Clock.Now()
		g.protocol = ""
		g.leader = ""
		g.c.logger.Info("group is empty", "group", g.name, "generation", g.generation)
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		var first *member
		for _, m := range g.members {
			if first == nil || m.joinedAt < first.joinedAt {
				first = m
			}
		}
		g.leader = first.id
	}
	g.protocol = g.selectProtocol()
	g.state = stateCompletingRebalance
	g.pendingSync = make(map[string]struct{}, len(g.members))
	for _, m := range g.members {
		g.pendingSync[m.id] = struct{}{}
		m.answerJoin(func(r *kmsg.JoinGroupResponse) { g.fillJoin(m, r) })
		g.scheduleSession(m)
	}
	g.nJoining = 0
	g.c.logger.Info("rebalance joined", "group", g.name, "generation", g.generation, "members", len(g.members), "protocol", g.protocol, "leader", g.leader)

	// Members that do not sync within the rebalance timeout are removed
	// and the group rebalances again (Kafka's pending-sync timeout).
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.seq++
	tok := g.seq
	g.syncTok = tok
	g.syncTimer = g.after(timeout, func() {
		if g.syncTok != tok || g.state != stateCompletingRebalance || len(g.pendingSync) == 0 {
			return
		}
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				g.c.logger.Info("removing member that did not sync in time", "group", g.name, "member", id)
				g.dropMember(m)
			}
		}
		g.prepareRebalance("members did not sync in time")
	})
}

// selectProtocol is Kafka's GroupMetadata.selectProtocol: among the
// protocols every member supports, each member votes for the first one in
// its own preference order; most votes wins, ties go to the leader's
// preference.
func (g *group) selectProtocol() string {
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocols[p.name] == len(g.members) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, p := range g.members[g.leader].protocols {
		if v, ok := votes[p.name]; ok && v > bestVotes {
			best, bestVotes = p.name, v
		}
	}
	return best
}

func (g *group) fillJoin(m *member, r *kmsg.JoinGroupResponse) {
	r.Generation = g.generation
	r.ProtocolType = kmsg.StringPtr(g.protocolType)
	r.Protocol = kmsg.StringPtr(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = m.id
	r.Members = nil
	if m.id != g.leader {
		return
	}
	for _, o := range g.sortedMembers() {
		for _, p := range o.protocols {
			if p.name == g.protocol {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID = o.id
				jm.InstanceID = o.instanceID
				jm.ProtocolMetadata = p.metadata
				r.Members = append(r.Members, jm)
				break
			}
		}
	}
}

// sortedMembers returns the members in the order they joined.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int { return cmp.Compare(a.joinedAt, b.joinedAt) })
	return out
}

// dropMember removes m without rebalancing; waiting requests get
// UNKNOWN_MEMBER_ID.
func (g *group) dropMember(m *member) {
	g.failWaiting(m, kerr.UnknownMemberID)
	g.uncountProtocols(m)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	stop(m.timer)
	m.timer = nil
}

// removeMember removes m and moves the group on: a rebalance if it was
// Stable or CompletingRebalance, a check of the join barrier if it was
// already preparing one.
func (g *group) removeMember(m *member, reason string) {
	g.dropMember(m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(reason)
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// scheduleSession (re)starts m's session timer. A member whose join or sync
// waits is kept alive when it fires, as Kafka's shouldKeepAlive.
func (g *group) scheduleSession(m *member) {
	stop(m.timer)
	g.seq++
	tok := g.seq
	m.tok = tok
	m.timer = g.after(m.sessionTimeout, func() {
		if m.tok != tok {
			return
		}
		if p, ok := g.pending[m.id]; ok && p == m {
			delete(g.pending, m.id)
			if m.instanceID != nil && g.static[*m.instanceID] == m.id {
				delete(g.static, *m.instanceID)
			}
			return
		}
		if g.members[m.id] != m {
			return
		}
		if m.joinw != nil || m.syncw != nil {
			g.scheduleSession(m)
			return
		}
		g.c.logger.Info("member session timed out", "group", g.name, "member", m.id, "session_timeout", m.sessionTimeout)
		g.removeMember(m, "member session timed out")
	})
}

// after runs fn under g.mu after d, unless the group died meanwhile.
func (g *group) after(d time.Duration, fn func()) Timer {
	return g.c.afterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == stateDead {
			return
		}
		fn()
	})
}

func (g *group) clearPendingSync() {
	g.pendingSync = nil
	stop(g.syncTimer)
	g.syncTimer = nil
	g.syncTok = 0
}

func (g *group) stopTimers() {
	for _, m := range g.members {
		stop(m.timer)
	}
	for _, m := range g.pending {
		stop(m.timer)
	}
	stop(g.rebalanceTimer)
	stop(g.syncTimer)
}

func stop(t Timer) {
	if t != nil {
		t.Stop()
	}
}

// SyncGroup answers SyncGroup v0–v5. Followers block until the leader's
// sync brings the assignment (or a rebalance, ctx or Close ends the wait).
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g, e := c.lockKnownGroup(req.Group, kerr.UnknownMemberID)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	wait := g.sync(req, resp)
	g.mu.Unlock()
	return await(ctx, c.done, wait, resp, func() { resp.ErrorCode = kerr.NotCoordinator.Code })
}

func (g *group) sync(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) chan *kmsg.SyncGroupResponse {
	fail := func(e *kerr.Error) chan *kmsg.SyncGroupResponse {
		resp.ErrorCode = e.Code
		return nil
	}
	if req.InstanceID != nil {
		if e := g.checkInstance(req.InstanceID, req.MemberID); e != nil {
			return fail(e)
		}
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return fail(kerr.UnknownMemberID)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case stateCompletingRebalance:
		m.failSync(kerr.RebalanceInProgress) // an earlier SyncGroup of m still waiting
		m.syncw = make(chan *kmsg.SyncGroupResponse, 1)
		m.syncv = req.Version
		w := m.syncw
		delete(g.pendingSync, m.id)
		if m.id == g.leader {
			g.completeSync(req)
		}
		return w
	case stateStable:
		g.fillSync(m, resp)
		g.scheduleSession(m)
		return nil
	default:
		return fail(kerr.UnknownMemberID)
	}
}

// completeSync applies the leader's assignment, answers every waiting sync
// and makes the group Stable.
func (g *group) completeSync(req *kmsg.SyncGroupRequest) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range req.GroupAssignment {
		if m, ok := g.members[a.MemberID]; ok {
			m.assignment = bytes.Clone(a.MemberAssignment) // not the leader's whole request frame
		}
	}
	if g.protocolType == "consumer" {
		// Some clients cannot decode an empty assignment: give the
		// members the leader left out an empty ConsumerMemberAssignment.
		for _, m := range g.members {
			if len(m.assignment) == 0 {
				empty := kmsg.NewConsumerMemberAssignment()
				m.assignment = empty.AppendTo(nil)
			}
		}
	}
	g.state = stateStable
	g.clearPendingSync()
	for _, m := range g.members {
		if m.syncw == nil {
			continue
		}
		m.answerSync(func(r *kmsg.SyncGroupResponse) { g.fillSync(m, r) })
		g.scheduleSession(m)
	}
	g.c.logger.Info("group stable", "group", g.name, "generation", g.generation, "members", len(g.members))
}

func (g *group) fillSync(m *member, r *kmsg.SyncGroupResponse) {
	r.ProtocolType = kmsg.StringPtr(g.protocolType)
	r.Protocol = kmsg.StringPtr(g.protocol)
	r.MemberAssignment = m.assignment
}

// Heartbeat answers Heartbeat v0–v4: it extends the member's session and
// tells it REBALANCE_IN_PROGRESS while the group prepares a rebalance.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g, e := c.lockKnownGroup(req.Group, kerr.UnknownMemberID)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	defer g.mu.Unlock()
	if req.InstanceID != nil {
		if e := g.checkInstance(req.InstanceID, req.MemberID); e != nil {
			resp.ErrorCode = e.Code
			return resp
		}
	}
	m, ok := g.members[req.MemberID]
	switch {
	case g.state == stateEmpty || !ok:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	case g.state == statePreparingRebalance:
		g.scheduleSession(m)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	default:
		g.scheduleSession(m)
	}
	return resp
}

// LeaveGroup answers LeaveGroup v0–v5 (v3+: a batch of members, static ones
// by group.instance.id). Each member that leaves triggers a rebalance.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if e := checkGroupID(req.Group); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g != nil {
		defer g.mu.Unlock()
	}
	for _, rm := range members {
		lm := kmsg.NewLeaveGroupResponseMember()
		lm.MemberID = rm.MemberID
		lm.InstanceID = rm.InstanceID
		lm.ErrorCode = g.leave(rm)
		resp.Members = append(resp.Members, lm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// leave removes one member and returns its error code; g may be nil.
func (g *group) leave(rm kmsg.LeaveGroupRequestMember) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	id := rm.MemberID
	if rm.InstanceID != nil {
		known, ok := g.static[*rm.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case id != "" && id != known:
			return kerr.FencedInstanceID.Code
		}
		id = known
	}
	if p, ok := g.pending[id]; ok {
		delete(g.pending, id)
		stop(p.timer)
		return 0
	}
	m, ok := g.members[id]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	g.c.logger.Info("member left", "group", g.name, "member", id)
	g.removeMember(m, "member left")
	return 0
}

// describe fills a DescribeGroups group under g.mu.
func (g *group) describe(dg *kmsg.DescribeGroupsResponseGroup) {
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			for _, p := range m.protocols {
				if p.name == g.protocol {
					dm.ProtocolMetadata = p.metadata
					break
				}
			}
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
}
