package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// PendingOffset is an offset committed inside a transaction (TxnOffsetCommit),
// applied to its group when the transaction commits.
type PendingOffset struct {
	Group       string  `json:"group"`
	Topic       string  `json:"topic"`
	Partition   int32   `json:"partition"`
	Offset      int64   `json:"offset"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Metadata    *string `json:"metadata,omitempty"`
}

// Defaults of the coordinator's bounds.
const (
	// DefaultMaxTimeout is transaction.max.timeout.ms (Kafka's default).
	DefaultMaxTimeout = 15 * time.Minute
	// DefaultIDExpiration is transactional.id.expiration.ms (Kafka's).
	DefaultIDExpiration = 7 * 24 * time.Hour
	// DefaultCheckInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms (Kafka's).
	DefaultCheckInterval = 10 * time.Second
	// DefaultMaxIDs is brokerlab.transactional.ids.max.
	DefaultMaxIDs = 100000
	// DefaultMaxPartitions is brokerlab.transaction.partitions.max.
	DefaultMaxPartitions = 10000
	// MaxPartitionsLimit is the largest brokerlab.transaction.partitions.max
	// accepted: a transaction's record (its partitions and its pending
	// offsets, each up to a 249-byte topic and offset.metadata.max.bytes of
	// metadata) must stay below the log's record bound; records that would
	// not are refused with KAFKA_STORAGE_ERROR rather than written.
	MaxPartitionsLimit = 100000
)

// Config configures a Coordinator. The functions connect it to the log
// and the group coordinator.
type Config struct {
	// Dir holds txn.log.
	Dir string
	// MaxTimeout is transaction.max.timeout.ms: the longest transaction
	// timeout InitProducerId accepts.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms: a transactional id
	// without a transaction for this long is forgotten.
	IDExpiration time.Duration
	// CheckInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms: how
	// often timed-out transactions are aborted and expired ids removed.
	CheckInterval time.Duration
	// MaxIDs is brokerlab.transactional.ids.max: transactional ids held.
	MaxIDs int
	// MaxPartitions is brokerlab.transaction.partitions.max: partitions,
	// groups and pending offsets one transaction may hold.
	MaxPartitions int

	// NewProducerID hands out a producer id unique across restarts.
	NewProducerID func() (int64, error)
	// PartitionExists reports whether a partition exists.
	PartitionExists func(TopicPartition) bool
	// WriteMarker writes a COMMIT or ABORT marker to a partition; a
	// partition that no longer exists is not an error.
	WriteMarker func(tp TopicPartition, pid int64, epoch int16, commit bool) error
	// CommitOffsets applies a committed transaction's offsets to a group.
	CommitOffsets func(group string, offsets []PendingOffset) error

	Now    func() time.Time
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = DefaultIDExpiration
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.MaxIDs <= 0 {
		c.MaxIDs = DefaultMaxIDs
	}
	if c.MaxPartitions <= 0 {
		c.MaxPartitions = DefaultMaxPartitions
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// state is a transaction's state, Kafka's TransactionState.
type state uint8

const (
	stateEmpty state = iota
	stateOngoing
	statePrepareCommit
	statePrepareAbort
	stateCompleteCommit
	stateCompleteAbort
	stateDead
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead"}

func (s state) String() string { return stateNames[s] }

func parseState(s string) (state, bool) {
	for i, n := range stateNames {
		if n == s {
			return state(i), true
		}
	}
	return 0, false
}

// txnMeta is one transactional id's state; mu guards every field.
type txnMeta struct {
	mu         sync.Mutex
	id         string
	pid        int64
	epoch      int16
	timeout    time.Duration
	state      state
	partitions map[TopicPartition]struct{}
	groups     map[string]struct{}
	offsets    map[TopicPartitionGroup]PendingOffset
	startMs    int64
	updateMs   int64
	dead       bool // removed from the coordinator's map
}

// TopicPartitionGroup keys a pending offset.
type TopicPartitionGroup struct {
	Group string
	TopicPartition
}

func (t *txnMeta) record() record {
	r := record{ID: t.id, PID: t.pid, Epoch: t.epoch, TimeoutMs: t.timeout.Milliseconds(), State: t.state.String(), StartMs: t.startMs, UpdateMs: t.updateMs}
	for tp := range t.partitions {
		r.Partitions = append(r.Partitions, tp)
	}
	sort.Slice(r.Partitions, func(i, j int) bool {
		a, b := r.Partitions[i], r.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	for g := range t.groups {
		r.Groups = append(r.Groups, g)
	}
	sort.Strings(r.Groups)
	for _, o := range t.offsets {
		r.Offsets = append(r.Offsets, o)
	}
	sort.Slice(r.Offsets, func(i, j int) bool {
		a, b := r.Offsets[i], r.Offsets[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return r
}

// Coordinator is the transaction coordinator of a single node (KIP-98,
// KIP-447): transactional ids, their producer ids and epochs, and the
// transactions' partitions, groups and pending offsets, kept in a
// durable log. Its methods are safe for concurrent use.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	log    *txnLog

	mu   sync.Mutex // guards txns; taken before a txnMeta's mu, never after
	txns map[string]*txnMeta

	pmu     sync.Mutex // leaf: guards pending
	pending map[TopicPartitionGroup]int

	// runMu orders Run's wg.Add before Close's wg.Wait: Run registers
	// only while closed is false, and Close sets closed before waiting,
	// so a Run started concurrently with Close either is waited for or
	// does not run at all.
	runMu  sync.Mutex
	closed bool
	done   chan struct{} // closed by Close; ends Run
	wg     sync.WaitGroup
}

// New opens the coordinator's log and loads every transactional id. Call
// Recover before serving, to finish transactions a crash left prepared.
func New(cfg Config) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	if cfg.NewProducerID == nil || cfg.PartitionExists == nil || cfg.WriteMarker == nil || cfg.CommitOffsets == nil {
		return nil, errors.New("transaction coordinator: NewProducerID, PartitionExists, WriteMarker and CommitOffsets are required")
	}
	l, recs, err := openLog(cfg.Dir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, logger: cfg.Logger, log: l, txns: map[string]*txnMeta{}, pending: map[TopicPartitionGroup]int{}, done: make(chan struct{})}
	for _, r := range recs {
		st, ok := parseState(r.State)
		if !ok {
			c.logger.Warn("skipping transaction record with an unknown state", "transactional_id", r.ID, "state", r.State)
			continue
		}
		t := &txnMeta{id: r.ID, pid: r.PID, epoch: r.Epoch, timeout: time.Duration(r.TimeoutMs) * time.Millisecond, state: st,
			partitions: map[TopicPartition]struct{}{}, groups: map[string]struct{}{}, offsets: map[TopicPartitionGroup]PendingOffset{},
			startMs: r.StartMs, updateMs: r.UpdateMs}
		for _, tp := range r.Partitions {
			t.partitions[tp] = struct{}{}
		}
		for _, g := range r.Groups {
			t.groups[g] = struct{}{}
		}
		for _, o := range r.Offsets {
			k := TopicPartitionGroup{o.Group, TopicPartition{o.Topic, o.Partition}}
			t.offsets[k] = o
			c.addPending(k)
		}
		c.txns[r.ID] = t
	}
	return c, nil
}

// Recover completes the transactions that were prepared (PrepareCommit,
// PrepareAbort) when the broker stopped: their markers are written again
// and, for a commit, their offsets applied. Ongoing transactions stay
// ongoing; their timeout aborts them if their producer does not come back.
func (c *Coordinator) Recover() error {
	var errs []error
	n := 0
	for _, t := range c.snapshot() {
		t.mu.Lock()
		if t.state == statePrepareCommit || t.state == statePrepareAbort {
			n++
			if err := c.complete(t); err != nil {
				errs = append(errs, err)
			}
		}
		t.mu.Unlock()
	}
	if n > 0 {
		c.logger.Info("completed prepared transactions", "transactions", n, "failed", len(errs))
	}
	return errors.Join(errs...)
}

// Run aborts timed-out transactions, retries unfinished completions and
// removes expired transactional ids every CheckInterval, until ctx ends
// or Close is called. It returns nil; after Close it returns at once.
func (c *Coordinator) Run(ctx context.Context) error {
	c.runMu.Lock()
	if c.closed {
		c.runMu.Unlock()
		return nil
	}
	c.wg.Add(1)
	c.runMu.Unlock()
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case <-tick.C:
			c.check()
		}
	}
}

// Close stops Run, waits for it to return and closes the log. It is
// idempotent.
func (c *Coordinator) Close() error {
	c.runMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.runMu.Unlock()
	c.wg.Wait()
	return c.log.close()
}

func (c *Coordinator) snapshot() []*txnMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*txnMeta, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, t)
	}
	return out
}

// persist writes t's state (t.mu held).
func (c *Coordinator) persist(t *txnMeta) error {
	t.updateMs = c.cfg.Now().UnixMilli()
	r := t.record()
	return c.log.append(r)
}

// check is one pass of Run.
func (c *Coordinator) check() {
	now := c.cfg.Now()
	var expired []*txnMeta
	for _, t := range c.snapshot() {
		t.mu.Lock()
		switch t.state {
		case stateOngoing:
			if now.UnixMilli()-t.startMs > t.timeout.Milliseconds() {
				c.logger.Info("aborting timed-out transaction", "transactional_id", t.id, "producer_id", t.pid, "epoch", t.epoch, "timeout", t.timeout)
				// Kafka fences the producer: the abort carries a
				// bumped epoch, so the old producer's writes fail.
				if t.epoch < math.MaxInt16-1 {
					t.epoch++
				}
				if err := c.end(t, false); err != nil {
					c.logger.Warn("aborting timed-out transaction", "transactional_id", t.id, "err", err)
				}
			}
		case statePrepareCommit, statePrepareAbort:
			if err := c.complete(t); err != nil {
				c.logger.Warn("completing transaction", "transactional_id", t.id, "err", err)
			}
		default:
			if now.UnixMilli()-t.updateMs > c.cfg.IDExpiration.Milliseconds() {
				expired = append(expired, t)
			}
		}
		t.mu.Unlock()
	}
	for _, t := range expired {
		c.expire(t, now)
	}
}

// expire removes an idle transactional id (Kafka's
// TransactionStateManager.removeExpiredTransactionalIds).
func (c *Coordinator) expire(t *txnMeta, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || t.state == stateOngoing || t.state == statePrepareCommit || t.state == statePrepareAbort ||
		now.UnixMilli()-t.updateMs <= c.cfg.IDExpiration.Milliseconds() {
		return
	}
	r := t.record()
	r.State = stateDead.String()
	if err := c.log.append(r); err != nil {
		c.logger.Warn("expiring transactional id", "transactional_id", t.id, "err", err)
		return
	}
	t.dead = true
	delete(c.txns, t.id)
}

// lock returns the locked state of id, or nil.
func (c *Coordinator) lock(id string) *txnMeta {
	for {
		c.mu.Lock()
		t := c.txns[id]
		c.mu.Unlock()
		if t == nil {
			return nil
		}
		t.mu.Lock()
		if !t.dead {
			return t
		}
		t.mu.Unlock()
	}
}

// checkProducer is Kafka's producer id and epoch check for the
// transactional APIs.
func checkProducer(t *txnMeta, pid int64, epoch int16) *kerr.Error {
	switch {
	case t == nil || t.pid != pid:
		return kerr.InvalidProducerIDMapping
	case t.epoch != epoch:
		return kerr.ProducerFenced
	}
	return nil
}

// InitProducerID answers InitProducerId for a transactional id: a new id
// gets a fresh producer id at epoch 0; a known one gets its epoch bumped,
// which fences older producers, after its ongoing transaction, if any, is
// aborted. pid and epoch (v3+, -1 otherwise) must name the current
// producer when given (KIP-360). An exhausted epoch gets a new producer id.
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, pid int64, epoch int16) (int64, int16, *kerr.Error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	t := c.lock(id)
	if t == nil {
		c.mu.Lock()
		if t = c.txns[id]; t == nil {
			if len(c.txns) >= c.cfg.MaxIDs {
				c.mu.Unlock()
				c.logger.Warn("refusing a transactional id: limit reached", "transactional_id", id, "key", "brokerlab.transactional.ids.max", "limit", c.cfg.MaxIDs)
				return -1, -1, kerr.PolicyViolation
			}
			newPID, err := c.cfg.NewProducerID()
			if err != nil {
				c.mu.Unlock()
				c.logger.Error("allocating a producer id", "transactional_id", id, "err", err)
				return -1, -1, kerr.KafkaStorageError
			}
			t = &txnMeta{id: id, pid: newPID, epoch: 0, timeout: timeout, state: stateEmpty,
				partitions: map[TopicPartition]struct{}{}, groups: map[string]struct{}{}, offsets: map[TopicPartitionGroup]PendingOffset{}}
			t.mu.Lock()
			defer t.mu.Unlock()
			if err := c.persist(t); err != nil {
				c.mu.Unlock()
				c.logger.Error("storing transactional id", "transactional_id", id, "err", err)
				return -1, -1, kerr.KafkaStorageError
			}
			c.txns[id] = t
			c.mu.Unlock()
			return t.pid, t.epoch, nil
		}
		c.mu.Unlock()
		// Created concurrently: take it as a known id.
		if t = c.lock(id); t == nil {
			return -1, -1, kerr.ConcurrentTransactions
		}
	}
	defer t.mu.Unlock()
	if pid >= 0 && (pid != t.pid || epoch != t.epoch) {
		return -1, -1, kerr.ProducerFenced
	}
	switch t.state {
	case statePrepareCommit, statePrepareAbort:
		if err := c.complete(t); err != nil {
			c.logger.Warn("completing transaction", "transactional_id", id, "err", err)
			return -1, -1, kerr.ConcurrentTransactions
		}
	case stateOngoing:
		// Kafka bumps the epoch and aborts (the client retries and gets a
		// bumped epoch again); this does both in one answer, the abort's
		// markers carrying the epoch the producer gets.
		c.bump(t)
		if err := c.end(t, false); err != nil {
			c.logger.Warn("aborting transaction of a re-initialized producer", "transactional_id", id, "err", err)
			return -1, -1, kerr.ConcurrentTransactions
		}
		t.timeout = timeout
		if err := c.persist(t); err != nil {
			return -1, -1, kerr.KafkaStorageError
		}
		return t.pid, t.epoch, nil
	}
	old := *t.record().ptr()
	c.bump(t)
	t.timeout, t.state = timeout, stateEmpty
	if err := c.persist(t); err != nil {
		t.pid, t.epoch, t.timeout = old.PID, old.Epoch, time.Duration(old.TimeoutMs)*time.Millisecond
		t.state, _ = parseState(old.State)
		c.logger.Error("storing transactional id", "transactional_id", id, "err", err)
		return -1, -1, kerr.KafkaStorageError
	}
	return t.pid, t.epoch, nil
}

func (r record) ptr() *record { return &r }

// bump increments t's epoch, or moves to a new producer id at epoch 0
// when the epoch is exhausted (Kafka's
// TransactionMetadata.prepareIncrementProducerEpoch).
func (c *Coordinator) bump(t *txnMeta) {
	if t.epoch < math.MaxInt16-1 {
		t.epoch++
		return
	}
	if pid, err := c.cfg.NewProducerID(); err == nil {
		t.pid, t.epoch = pid, 0
	}
}

// begin starts a transaction in t when none is ongoing (t.mu held).
func (c *Coordinator) begin(t *txnMeta) {
	if t.state == stateOngoing {
		return
	}
	t.state = stateOngoing
	t.startMs = c.cfg.Now().UnixMilli()
	clear(t.partitions)
	clear(t.groups)
	c.dropPending(t)
}

// lockActive returns id's state locked for a transactional request of pid
// at epoch, or the error to answer (nothing locked then): an unknown id or
// another producer id, another epoch, or a transaction being completed.
func (c *Coordinator) lockActive(id string, pid int64, epoch int16) (*txnMeta, *kerr.Error) {
	t := c.lock(id)
	if t == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	e := checkProducer(t, pid, epoch)
	if e == nil && (t.state == statePrepareCommit || t.state == statePrepareAbort) {
		e = kerr.ConcurrentTransactions
	}
	if e != nil {
		t.mu.Unlock()
		return nil, e
	}
	return t, nil
}

// AddPartitions answers AddPartitionsToTxn: the error of each partition.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []TopicPartition) []*kerr.Error {
	out := make([]*kerr.Error, len(tps))
	fill := func(e *kerr.Error) []*kerr.Error {
		for i := range out {
			out[i] = e
		}
		return out
	}
	t, e := c.lockActive(id, pid, epoch)
	if e != nil {
		return fill(e)
	}
	defer t.mu.Unlock()
	unknown := false
	for i, tp := range tps {
		if !c.cfg.PartitionExists(tp) {
			out[i], unknown = kerr.UnknownTopicOrPartition, true
		}
	}
	if unknown {
		// Kafka adds none of them then.
		for i := range out {
			if out[i] == nil {
				out[i] = kerr.OperationNotAttempted
			}
		}
		return out
	}
	wasOngoing := t.state == stateOngoing
	var added []TopicPartition
	if wasOngoing {
		for _, tp := range tps {
			if _, ok := t.partitions[tp]; !ok {
				added = append(added, tp)
			}
		}
		if len(added) == 0 {
			return out
		}
	} else {
		added = tps
	}
	n := len(added)
	if wasOngoing {
		n += len(t.partitions) + len(t.groups) + len(t.offsets)
	}
	if n > c.cfg.MaxPartitions {
		c.logger.Warn("refusing partitions: transaction too large", "transactional_id", id, "key", "brokerlab.transaction.partitions.max", "limit", c.cfg.MaxPartitions)
		return fill(kerr.PolicyViolation)
	}
	prevState, prevStart := t.state, t.startMs
	c.begin(t)
	for _, tp := range added {
		t.partitions[tp] = struct{}{}
	}
	if err := c.persist(t); err != nil {
		for _, tp := range added {
			delete(t.partitions, tp)
		}
		t.state, t.startMs = prevState, prevStart
		c.logger.Error("storing transaction partitions", "transactional_id", id, "err", err)
		return fill(kerr.KafkaStorageError)
	}
	return out
}

// AddOffsets answers AddOffsetsToTxn: the group's offsets join the
// transaction.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, group string) *kerr.Error {
	t, e := c.lockActive(id, pid, epoch)
	if e != nil {
		return e
	}
	defer t.mu.Unlock()
	if _, ok := t.groups[group]; ok && t.state == stateOngoing {
		return nil
	}
	if t.state == stateOngoing && len(t.partitions)+len(t.groups)+len(t.offsets)+1 > c.cfg.MaxPartitions {
		return kerr.PolicyViolation
	}
	prevState, prevStart := t.state, t.startMs
	c.begin(t)
	t.groups[group] = struct{}{}
	if err := c.persist(t); err != nil {
		delete(t.groups, group)
		t.state, t.startMs = prevState, prevStart
		c.logger.Error("storing transaction group", "transactional_id", id, "err", err)
		return kerr.KafkaStorageError
	}
	return nil
}

// CommitOffsets answers TxnOffsetCommit once the group accepted the
// member: the offsets wait in the transaction until it ends. The group
// must have been added with AddOffsets.
func (c *Coordinator) CommitOffsets(id string, pid int64, epoch int16, group string, offsets []PendingOffset) *kerr.Error {
	t, e := c.lockActive(id, pid, epoch)
	if e != nil {
		return e
	}
	defer t.mu.Unlock()
	if _, ok := t.groups[group]; !ok || t.state != stateOngoing {
		return kerr.InvalidTxnState
	}
	n := len(t.partitions) + len(t.groups) + len(t.offsets)
	for _, o := range offsets {
		if _, ok := t.offsets[TopicPartitionGroup{group, TopicPartition{o.Topic, o.Partition}}]; !ok {
			n++
		}
	}
	if n > c.cfg.MaxPartitions {
		return kerr.PolicyViolation
	}
	prev := make(map[TopicPartitionGroup]PendingOffset, len(offsets))
	for _, o := range offsets {
		k := TopicPartitionGroup{group, TopicPartition{o.Topic, o.Partition}}
		if old, ok := t.offsets[k]; ok {
			prev[k] = old
		} else {
			c.addPending(k)
		}
		o.Group = group
		t.offsets[k] = o
	}
	if err := c.persist(t); err != nil {
		for _, o := range offsets {
			k := TopicPartitionGroup{group, TopicPartition{o.Topic, o.Partition}}
			if old, ok := prev[k]; ok {
				t.offsets[k] = old
			} else {
				delete(t.offsets, k)
				c.removePending(k)
			}
		}
		c.logger.Error("storing transaction offsets", "transactional_id", id, "err", err)
		return kerr.KafkaStorageError
	}
	return nil
}

// EndTxn answers EndTxn: commit or abort the ongoing transaction. The
// answer comes once the decision is durable and its markers written.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool) *kerr.Error {
	t := c.lock(id)
	if t == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer t.mu.Unlock()
	if e := checkProducer(t, pid, epoch); e != nil {
		return e
	}
	switch t.state {
	case stateOngoing:
		if err := c.end(t, commit); err != nil {
			if t.state == stateOngoing {
				return kerr.KafkaStorageError
			}
			// Decided and durable: the markers are retried by Run.
			c.logger.Warn("completing transaction", "transactional_id", id, "err", err)
		}
		return nil
	case stateCompleteCommit:
		if commit {
			return nil // a retry
		}
	case stateCompleteAbort:
		if !commit {
			return nil
		}
	case statePrepareCommit:
		if commit {
			return kerr.ConcurrentTransactions
		}
	case statePrepareAbort:
		if !commit {
			return kerr.ConcurrentTransactions
		}
	}
	return kerr.InvalidTxnState
}

// end prepares and completes t's transaction (t.mu held). An error before
// the prepare record is durable leaves t ongoing.
func (c *Coordinator) end(t *txnMeta, commit bool) error {
	prev := t.state
	t.state = statePrepareAbort
	if commit {
		t.state = statePrepareCommit
	}
	if err := c.persist(t); err != nil {
		t.state = prev
		return fmt.Errorf("preparing transaction %q: %w", t.id, err)
	}
	return c.complete(t)
}

// complete writes the markers of a prepared transaction, applies its
// offsets on commit and records it complete (t.mu held).
func (c *Coordinator) complete(t *txnMeta) error {
	commit := t.state == statePrepareCommit
	tps := make([]TopicPartition, 0, len(t.partitions))
	for tp := range t.partitions {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		return tps[i].Topic < tps[j].Topic || tps[i].Topic == tps[j].Topic && tps[i].Partition < tps[j].Partition
	})
	for _, tp := range tps {
		if err := c.cfg.WriteMarker(tp, t.pid, t.epoch, commit); err != nil {
			return fmt.Errorf("writing marker of transaction %q to %s-%d: %w", t.id, tp.Topic, tp.Partition, err)
		}
	}
	if commit && len(t.offsets) > 0 {
		byGroup := map[string][]PendingOffset{}
		for _, o := range t.offsets {
			byGroup[o.Group] = append(byGroup[o.Group], o)
		}
		for g, offs := range byGroup {
			if err := c.cfg.CommitOffsets(g, offs); err != nil {
				return fmt.Errorf("committing offsets of transaction %q to group %q: %w", t.id, g, err)
			}
		}
	}
	prev := t.state
	t.state = stateCompleteAbort
	if commit {
		t.state = stateCompleteCommit
	}
	parts, groups, offsets := t.partitions, t.groups, t.offsets
	t.partitions, t.groups, t.offsets = map[TopicPartition]struct{}{}, map[string]struct{}{}, map[TopicPartitionGroup]PendingOffset{}
	if err := c.persist(t); err != nil {
		t.state, t.partitions, t.groups, t.offsets = prev, parts, groups, offsets
		return fmt.Errorf("completing transaction %q: %w", t.id, err)
	}
	for k := range offsets {
		c.removePending(k)
	}
	return nil
}

func (c *Coordinator) dropPending(t *txnMeta) {
	for k := range t.offsets {
		c.removePending(k)
	}
	clear(t.offsets)
}

func (c *Coordinator) addPending(k TopicPartitionGroup) {
	c.pmu.Lock()
	c.pending[k]++
	c.pmu.Unlock()
}

func (c *Coordinator) removePending(k TopicPartitionGroup) {
	c.pmu.Lock()
	if c.pending[k]--; c.pending[k] <= 0 {
		delete(c.pending, k)
	}
	c.pmu.Unlock()
}

// PendingOffset reports whether an unfinished transaction holds an
// offset of group for the partition: OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for it (KIP-447).
func (c *Coordinator) PendingOffset(group, topic string, partition int32) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.pending[TopicPartitionGroup{group, TopicPartition{topic, partition}}] > 0
}

// Txn describes one transactional id (DescribeTransactions, ListTransactions).
type Txn struct {
	ID         string
	ProducerID int64
	Epoch      int16
	State      string
	Timeout    time.Duration
	StartMs    int64
	Partitions []TopicPartition
}

// Describe returns the state of id.
func (c *Coordinator) Describe(id string) (Txn, bool) {
	t := c.lock(id)
	if t == nil {
		return Txn{}, false
	}
	defer t.mu.Unlock()
	r := t.record()
	start := int64(-1)
	if t.state == stateOngoing || t.state == statePrepareCommit || t.state == statePrepareAbort {
		start = t.startMs
	}
	return Txn{ID: t.id, ProducerID: t.pid, Epoch: t.epoch, State: t.state.String(), Timeout: t.timeout, StartMs: start, Partitions: r.Partitions}, true
}

// List returns every transactional id.
func (c *Coordinator) List() []Txn {
	var out []Txn
	for _, t := range c.snapshot() {
		t.mu.Lock()
		if !t.dead {
			out = append(out, Txn{ID: t.id, ProducerID: t.pid, Epoch: t.epoch, State: t.state.String(), Timeout: t.timeout})
		}
		t.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LockProducer locks the transaction of id for a transactional Produce
// and returns the function that unlocks it and one that says whether a
// partition is in the ongoing transaction. The error says why none can
// be written: an unknown id or another producer id
// (INVALID_PRODUCER_ID_MAPPING), another epoch (INVALID_PRODUCER_EPOCH,
// Produce's fencing code), or no ongoing transaction (INVALID_TXN_STATE).
func (c *Coordinator) LockProducer(id string, pid int64, epoch int16) (unlock func(), contains func(TopicPartition) bool, _ *kerr.Error) {
	none := func(TopicPartition) bool { return false }
	t := c.lock(id)
	if t == nil {
		return func() {}, none, kerr.InvalidProducerIDMapping
	}
	switch {
	case t.pid != pid:
		t.mu.Unlock()
		return func() {}, none, kerr.InvalidProducerIDMapping
	case t.epoch != epoch:
		t.mu.Unlock()
		return func() {}, none, kerr.InvalidProducerEpoch
	case t.state != stateOngoing:
		t.mu.Unlock()
		return func() {}, none, kerr.InvalidTxnState
	}
	return t.mu.Unlock, func(tp TopicPartition) bool { _, ok := t.partitions[tp]; return ok }, nil
}
