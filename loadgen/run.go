package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/procsample"
)

// Options tune how Run executes a workload. The zero value of every field
// but Brokers is usable: Run fills the documented defaults.
type Options struct {
	// OnMeasure, when set, is called as the measured phase starts (the
	// lab starts the broker's profiles then); it must not block.
	OnMeasure func()
	// Brokers are the seed brokers (host:port). Default: the driver's
	// commonConfig bootstrap.servers. One of the two is required.
	Brokers []string
	// Window is the time-series window. Default 1 s.
	Window time.Duration
	// Progress receives one line per window (the CLI passes stderr). Nil:
	// no progress lines.
	Progress io.Writer
	// Logger receives run events. Nil: discard.
	Logger *slog.Logger
	// Label names the run in reports. Default: the workload's name.
	Label string
	// Target describes the system under test (recorded as given).
	Target Target
	// LogDir is the broker's log directory, described in the environment.
	LogDir string
	// Ceilings, if set, are embedded in the result.
	Ceilings *Ceilings
	// Unpaced makes producers send as fast as the client accepts, with no
	// schedule: the raw maximum throughput (publish delay is then 0 by
	// definition). Used to compare with other tools' max-throughput modes.
	Unpaced bool
	// HeldRatio is the share of the target rate a run must achieve to hold
	// it. Default 0.99.
	HeldRatio float64
	// DelayLimit is the schedule lag above which producers count as behind
	// schedule. Default 50 ms.
	DelayLimit time.Duration
	// SearchStartRate is the max-rate search's first rate. Default 1000 msg/s.
	SearchStartRate float64
	// SearchStepWindows is how many windows a search step lasts when its
	// first judged window passes: the ones before it absorb the change. A
	// failed window extends the step; two in a row fail it. Default 2.
	SearchStepWindows int
	// SearchMaxDuration bounds the search. Default 30 s.
	SearchMaxDuration time.Duration
	// SettleRatio is the share of the highest passing rate the measured
	// phase runs at. Default 0.9.
	SettleRatio float64
	// DrainTimeout bounds how long Run waits, after the producers stop, for
	// outstanding acks and for consumers to catch up. Default 10 s.
	DrainTimeout time.Duration
	// ReadyTimeout bounds topic creation and the wait for consumer groups
	// to be assigned every partition. Default 30 s.
	ReadyTimeout time.Duration
	// TopicPrefix starts the names of the topics the run creates. Default "lab".
	TopicPrefix string
	// KeepTopics leaves the run's topics in place (default: deleted).
	KeepTopics bool
	// Seed seeds payloads and keys. 0: random.
	Seed uint64
}

func (o *Options) setDefaults(d *Driver) {
	if len(o.Brokers) == 0 {
		o.Brokers = d.BootstrapServers
	}
	if o.Window <= 0 {
		o.Window = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.HeldRatio = cmp.Or(o.HeldRatio, 0.99)
	o.DelayLimit = cmp.Or(o.DelayLimit, 50*time.Millisecond)
	o.SearchStartRate = cmp.Or(o.SearchStartRate, 1000)
	o.SearchStepWindows = cmp.Or(o.SearchStepWindows, 2)
	o.SearchMaxDuration = cmp.Or(o.SearchMaxDuration, 30*time.Second)
	o.SettleRatio = cmp.Or(o.SettleRatio, 0.9)
	o.DrainTimeout = cmp.Or(o.DrainTimeout, 10*time.Second)
	o.ReadyTimeout = cmp.Or(o.ReadyTimeout, 30*time.Second)
	o.TopicPrefix = cmp.Or(o.TopicPrefix, "lab")
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Brokers) == 0 {
		errs = append(errs, errors.New("options brokers: none: pass -brokers host:port or set bootstrap.servers in the driver's commonConfig"))
	}
	if o.HeldRatio <= 0 || o.HeldRatio > 1 {
		errs = append(errs, fmt.Errorf("options held ratio %v: want above 0 and at most 1", o.HeldRatio))
	}
	if o.SettleRatio <= 0 || o.SettleRatio > 1 {
		errs = append(errs, fmt.Errorf("options settle ratio %v: want above 0 and at most 1", o.SettleRatio))
	}
	if o.SearchStartRate < 0 || o.SearchStepWindows < 1 {
		errs = append(errs, fmt.Errorf("options search start rate %v / step windows %d: want a rate above 0 and at least 1 window", o.SearchStartRate, o.SearchStepWindows))
	}
	return errors.Join(errs...)
}

// recorder holds one goroutine's measurements for the current window. Its
// owner (a producer loop plus that producer's ack callbacks, or a consumer
// loop) records under mu; the window collector swaps the values out under mu.
type recorder struct {
	mu            sync.Mutex
	pubLat        *hdrhistogram.Histogram
	pubDelay      *hdrhistogram.Histogram
	e2e           *hdrhistogram.Histogram
	sent          int64
	acked         int64
	ackedBytes    int64
	errs          int64
	received      int64
	receivedBytes int64
}

func newRecorder() *recorder {
	return &recorder{pubLat: newHist(), pubDelay: newHist(), e2e: newHist()}
}

// counters are run-wide totals read by the phase controller.
type counters struct {
	sent, acked, errs, received, receivedBytes atomic.Int64
}

// subscription is one consumer group on one topic: what it received over
// the whole run, and which offsets it has seen, to tell a record delivered
// again (after a rebalance, from the last committed offset) from a new one.
type subscription struct {
	topic      int // index into runner.topics
	group      string
	received   atomic.Int64
	duplicates atomic.Int64

	mu   sync.Mutex      // guards next; taken inside a recorder's mu
	next map[int32]int64 // partition -> one past the highest offset consumed
}

// runner is one Run's state.
type runner struct {
	w      Workload
	d      Driver
	o      Options
	log    *slog.Logger
	start  time.Time
	tag    uint64
	topics []string
	sched  *schedule
	pool   payloads
	tot    counters
	// topicAcked counts acknowledged records per topic (index as topics);
	// subs are the subscriptions, whose consumers count into them.
	topicAcked []atomic.Int64
	subs       []*subscription

	recMu sync.Mutex // guards recs (appended while goroutines start)
	recs  []*recorder

	producers []*kgo.Client
	consumers []*consumer

	// window state, owned by the Run goroutine
	winStart    time.Duration
	aggLat      *hdrhistogram.Histogram
	aggDelay    *hdrhistogram.Histogram
	aggE2E      *hdrhistogram.Histogram
	res         *Result
	prodStopped bool // producers stopped: the schedule lag no longer means anything
}

type consumer struct {
	cl       *kgo.Client
	group    string
	sub      *subscription
	assigned atomic.Int64
	rec      *recorder
}

func (r *runner) now() int64 { return int64(time.Since(r.start)) }

func (r *runner) newRecorder() *recorder {
	rc := newRecorder()
	r.recMu.Lock()
	r.recs = append(r.recs, rc)
	r.recMu.Unlock()
	return rc
}

// Run executes the workload against the brokers and returns its result.
// It creates fresh topics (deleted at the end unless KeepTopics), starts
// the consumers and waits until every group has all partitions, then runs
// the phases: max-rate search if producerRate is 0, warm-up, then the
// measured phase (or, in backlog mode, build and drain). It always stops:
// at the end of the measured phase, at the backlog's time limit, or when ctx
// ends (then it returns ctx's error with the partial result).
func Run(ctx context.Context, w Workload, d Driver, o Options) (*Result, error) {
	w.setDefaults()
	o.setDefaults(&d)
	if err := errors.Join(w.Validate(), d.Validate(), o.Validate()); err != nil {
		return nil, err
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pool, err := makePayloads(&w, rng)
	if err != nil {
		return nil, err
	}
	env, envErr := procsample.ReadEnvironment(procsample.EnvConfig{Dir: o.LogDir})
	if envErr != nil {
		o.Logger.Warn("environment incomplete", "err", envErr)
	}
	label := o.Label
	if label == "" {
		label = w.Name
	}
	target := o.Target
	target.Brokers = o.Brokers
	r := &runner{
		w: w, d: d, o: o, log: o.Logger, tag: rng.Uint64() | 1, pool: pool,
		aggLat: newHist(), aggDelay: newHist(), aggE2E: newHist(),
		res: &Result{
			SchemaVersion: SchemaVersion, StartedAt: time.Now().UTC().Truncate(time.Second), Label: label,
			Workload: w, Driver: d, Target: target, Environment: env, Ceilings: o.Ceilings,
			WindowSeconds: o.Window.Seconds(),
		},
	}
	r.start = time.Now()
	runID := strconv.FormatUint(r.tag, 36)[:6]
	for i := 0; i < w.Topics; i++ {
		r.topics = append(r.topics, fmt.Sprintf("%s-%s-%d", o.TopicPrefix, runID, i))
	}
	r.topicAcked = make([]atomic.Int64, len(r.topics))
	err = r.run(ctx, runID)
	r.finish()
	r.res.Environment.Interrupted = ctx.Err() != nil // stopped before its end: not a full measurement
	return r.res, err
}

func (r *runner) run(ctx context.Context, runID string) error {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(r.o.Brokers...), kgo.ClientID(r.d.ClientID))
	if err != nil {
		return fmt.Errorf("creating admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	cctx, cancel := context.WithTimeout(ctx, r.o.ReadyTimeout)
	err = r.createTopics(cctx, adm)
	cancel()
	if err != nil {
		return err
	}
	if !r.o.KeepTopics {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := adm.DeleteTopics(dctx, r.topics...); err != nil {
				r.log.Warn("deleting topics", "topics", r.topics, "err", err)
			}
		}()
	}

	backlog := r.w.ConsumerBacklogSizeGB > 0
	// Consumers: owned by this function through consWG; stopped by
	// cancelling consCtx, then their clients are closed.
	consCtx, cancelCons := context.WithCancel(ctx)
	var consWG sync.WaitGroup
	defer func() {
		cancelCons()
		consWG.Wait()
		for _, c := range r.consumers {
			c.cl.Close()
		}
	}()
	if err := r.startConsumers(consCtx, &consWG, runID); err != nil {
		return err
	}
	if err := r.waitAssigned(ctx); err != nil {
		return err
	}

	// Producers: owned by this function through prodWG; the loops stop when
	// prodCtx ends; their clients are flushed and closed by stopProducers.
	rate := r.w.ProducerRate
	if r.o.Unpaced {
		rate = 0
	} else if rate == 0 {
		rate = r.o.SearchStartRate
	}
	r.winStart = time.Duration(r.now())
	r.sched = newSchedule(r.start, rate, r.winStart)
	// prodCtx stops the loops taking new slots. sendCtx is what records are
	// produced with: it outlives prodCtx so records in flight at the end
	// are acknowledged, and is cancelled only when they take longer than
	// DrainTimeout (a Produce blocked on a full buffer then returns).
	prodCtx, cancelProd := context.WithCancel(ctx)
	sendCtx, abortSends := context.WithCancel(context.WithoutCancel(ctx))
	defer abortSends()
	var prodWG sync.WaitGroup
	stopped := false
	stopProducers := func() {
		if stopped {
			return
		}
		stopped = true
		r.prodStopped = true
		cancelProd()
		deadline := time.NewTimer(r.o.DrainTimeout)
		defer deadline.Stop()
		done := make(chan struct{})
		go func() { prodWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-deadline.C:
			r.log.Warn("producers blocked past the drain timeout: failing their records", "timeout", r.o.DrainTimeout)
			abortSends()
			<-done
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.DrainTimeout)
		defer cancel()
		for _, cl := range r.producers {
			if err := cl.Flush(fctx); err != nil {
				r.log.Warn("flushing producer", "err", err)
			}
		}
		abortSends()
		for _, cl := range r.producers {
			cl.Close()
		}
	}
	defer stopProducers()
	if err := r.startProducers(prodCtx, sendCtx, &prodWG); err != nil {
		return err
	}

	if r.w.ProducerRate == 0 && !r.o.Unpaced {
		settled, err := r.search(ctx)
		if err != nil {
			return err
		}
		r.sched.setRate(settled)
	}
	if err := r.phase(ctx, PhaseWarmup, r.w.WarmupDuration(), nil); err != nil {
		return err
	}
	if backlog {
		err := r.runBacklog(ctx)
		stopProducers()
		r.closeWindow(PhaseTail, true)
		return err
	}
	if r.o.OnMeasure != nil {
		r.o.OnMeasure()
	}
	if err := r.phase(ctx, PhaseMeasure, r.w.TestDuration(), nil); err != nil {
		return err
	}
	stopProducers()
	// Let the consumers catch up with what was acked, bounded. Records
	// delivered twice do not count: every subscription must have each one.
	if len(r.consumers) > 0 {
		deadline := time.Now().Add(r.o.DrainTimeout)
		for r.missing() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	r.closeWindow(PhaseTail, true)
	return ctx.Err()
}

func (r *runner) createTopics(ctx context.Context, adm *kadm.Client) error {
	cfg := map[string]*string{}
	for k, v := range r.d.TopicConfig {
		cfg[k] = &v
	}
	resps, err := adm.CreateTopics(ctx, int32(r.w.PartitionsPerTopic), int16(r.d.ReplicationFactor), cfg, r.topics...)
	if err != nil {
		return fmt.Errorf("creating topics %v on %v: %w", r.topics, r.o.Brokers, err)
	}
	for _, t := range resps.Sorted() {
		if t.Err != nil {
			return fmt.Errorf("creating topic %s: %w (%s)", t.Topic, t.Err, t.ErrMessage)
		}
	}
	return nil
}

func (r *runner) startConsumers(ctx context.Context, wg *sync.WaitGroup, runID string) error {
	paused := r.w.ConsumerBacklogSizeGB > 0
	for ti, topic := range r.topics {
		for s := 0; s < r.w.SubscriptionsPerTopic; s++ {
			group := fmt.Sprintf("%s-%s-%d-sub%d", r.o.TopicPrefix, runID, ti, s)
			sub := &subscription{topic: ti, group: group, next: map[int32]int64{}}
			r.subs = append(r.subs, sub)
			for i := 0; i < r.w.ConsumerPerSubscription; i++ {
				c := &consumer{group: group, sub: sub, rec: r.newRecorder()}
				opts := append([]kgo.Opt{
					kgo.SeedBrokers(r.o.Brokers...),
					kgo.ClientID(r.d.ClientID),
					kgo.ConsumerGroup(group),
					kgo.ConsumeTopics(topic),
					kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
						c.assigned.Add(int64(len(m[topic])))
					}),
					kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
						c.assigned.Add(-int64(len(m[topic])))
					}),
					kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
						c.assigned.Add(-int64(len(m[topic])))
					}),
				}, r.d.consumerOpts()...)
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					return fmt.Errorf("creating consumer for %s: %w", topic, err)
				}
				c.cl = cl
				if paused {
					cl.PauseFetchTopics(topic)
				}
				r.consumers = append(r.consumers, c)
				wg.Add(1)
				go pprof.Do(ctx, pprof.Labels("loadgen", "consumer", "topic", topic), func(ctx context.Context) {
					defer wg.Done()
					r.consume(ctx, c)
				})
			}
		}
	}
	return nil
}

// waitAssigned waits until every subscription has all of its topic's
// partitions assigned, and every consumer that can get a partition has one.
func (r *runner) waitAssigned(ctx context.Context) error {
	if len(r.consumers) == 0 {
		return nil
	}
	deadline := time.Now().Add(r.o.ReadyTimeout)
	for {
		groups := map[string]int64{}
		members := map[string]int{}
		withParts := map[string]int{}
		for _, c := range r.consumers {
			n := c.assigned.Load()
			groups[c.group] += n
			members[c.group]++
			if n > 0 {
				withParts[c.group]++
			}
		}
		ready := true
		for g, n := range groups {
			if n != int64(r.w.PartitionsPerTopic) || withParts[g] < min(members[g], r.w.PartitionsPerTopic) {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for consumer groups to be assigned %d partitions each: not done after %v (assigned: %v)", r.w.PartitionsPerTopic, r.o.ReadyTimeout, groups)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *runner) consume(ctx context.Context, c *consumer) {
	rc := c.rec
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := r.now()
		rc.mu.Lock()
		fs.EachError(func(string, int32, error) { rc.errs++ })
		var n, bytes, dups int64
		c.sub.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			next, seen := c.sub.next[p.Partition]
			for _, rec := range p.Records {
				n++
				bytes += int64(len(rec.Value))
				if due, ok := readHeader(rec.Value, r.tag); ok {
					recordUs(rc.e2e, now-due)
				}
				if seen && rec.Offset < next {
					dups++
				} else {
					next, seen = rec.Offset+1, true
				}
			}
			if seen {
				c.sub.next[p.Partition] = next
			}
		})
		c.sub.mu.Unlock()
		rc.received += n
		rc.receivedBytes += bytes
		rc.mu.Unlock()
		c.sub.received.Add(n)
		c.sub.duplicates.Add(dups)
		r.tot.received.Add(n)
		r.tot.receivedBytes.Add(bytes)
	}
}

func (r *runner) startProducers(ctx, sendCtx context.Context, wg *sync.WaitGroup) error {
	for ti, topic := range r.topics {
		for i := 0; i < r.w.ProducersPerTopic; i++ {
			opts := append([]kgo.Opt{
				kgo.SeedBrokers(r.o.Brokers...),
				kgo.ClientID(r.d.ClientID),
				kgo.DefaultProduceTopic(topic),
			}, r.d.producerOpts()...)
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return fmt.Errorf("creating producer for %s: %w", topic, err)
			}
			r.producers = append(r.producers, cl)
			rc := r.newRecorder()
			seed := uint64(ti)<<32 | uint64(i)
			kr := newKeyer(r.w.KeyDistributor, rand.New(rand.NewPCG(r.tag, seed)))
			wg.Add(1)
			go pprof.Do(ctx, pprof.Labels("loadgen", "producer", "topic", topic), func(ctx context.Context) {
				defer wg.Done()
				r.produce(ctx, sendCtx, cl, rc, kr, &r.topicAcked[ti])
			})
		}
	}
	return nil
}

// produce is one producer's loop: take the next slot of the shared
// schedule, sleep until it is due, send. Produce blocks when the client's
// buffer is full; the time lost shows as the next slots' publish delay.
func (r *runner) produce(ctx, sendCtx context.Context, cl *kgo.Client, rc *recorder, kr *keyer, topicAcked *atomic.Int64) {
	size := int64(r.w.MessageSize)
	// Values are recycled once acknowledged: the client holds a value
	// until its promise runs, and at 100k msg/s fresh buffers would make
	// the garbage collector part of what is measured.
	bufs := sync.Pool{New: func() any { b := make([]byte, size); return &b }}
	for ctx.Err() == nil {
		slot, due := r.sched.take()
		if err := r.sched.sleepUntil(ctx, due); err != nil {
			return
		}
		bp := bufs.Get().(*[]byte)
		val := *bp
		copy(val, r.pool[slot%int64(len(r.pool))])
		putHeader(val, due, r.tag)
		sent := r.now()
		rc.mu.Lock()
		rc.sent++
		recordUs(rc.pubDelay, sent-due)
		rc.mu.Unlock()
		r.tot.sent.Add(1)
		cl.Produce(sendCtx, &kgo.Record{Key: kr.next(), Value: val}, func(_ *kgo.Record, err error) {
			ack := r.now()
			bufs.Put(bp)
			rc.mu.Lock()
			if err != nil {
				rc.errs++
			} else {
				rc.acked++
				rc.ackedBytes += size
				recordUs(rc.pubLat, ack-sent)
			}
			rc.mu.Unlock()
			if err != nil {
				r.tot.errs.Add(1)
			} else {
				topicAcked.Add(1)
				r.tot.acked.Add(1)
			}
		})
	}
}

// backlog is acked messages times subscriptions minus received messages.
func (r *runner) backlog() int64 {
	return r.tot.acked.Load()*int64(r.w.SubscriptionsPerTopic) - r.tot.received.Load()
}

// missing is how many acknowledged records the subscriptions have yet to
// receive once each (duplicates do not count), summed over subscriptions.
func (r *runner) missing() int64 {
	var n int64
	for _, s := range r.subs {
		n += max(0, r.topicAcked[s.topic].Load()-(s.received.Load()-s.duplicates.Load()))
	}
	return n
}

// phase runs windows of the given phase for d, or until stop returns true
// (checked every 10 ms). A zero d runs nothing.
func (r *runner) phase(ctx context.Context, name string, d time.Duration, stop func() bool) error {
	if d <= 0 {
		return nil
	}
	// The phase starts with the current window (the previous phase closed
	// its last window at its end), so windows tile the phase exactly.
	end := r.winStart + d
	for {
		now := time.Duration(r.now())
		if now >= end {
			r.closeWindow(name, true)
			return nil
		}
		if stop != nil && stop() {
			r.closeWindow(name, true)
			return nil
		}
		if now >= r.winStart+r.o.Window {
			r.closeWindow(name, false)
			continue
		}
		wait := min(r.winStart+r.o.Window, end) - now
		if stop != nil {
			wait = min(wait, 10*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			r.closeWindow(name, true)
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// closeWindow collects every recorder into a Window, appends it to the
// series and prints the progress line. partial marks a window cut short at
// a phase's end (it is kept only if it has something in it).
func (r *runner) closeWindow(phase string, partial bool) {
	now := time.Duration(r.now())
	secs := (now - r.winStart).Seconds()
	if secs <= 0 {
		return
	}
	lat, delay, e2e := newHist(), newHist(), newHist()
	var sent, acked, ackedBytes, errs, recv, recvBytes int64
	r.recMu.Lock()
	recs := r.recs
	r.recMu.Unlock()
	for _, rc := range recs {
		rc.mu.Lock()
		lat.Merge(rc.pubLat)
		delay.Merge(rc.pubDelay)
		e2e.Merge(rc.e2e)
		rc.pubLat.Reset()
		rc.pubDelay.Reset()
		rc.e2e.Reset()
		sent += rc.sent
		acked += rc.acked
		ackedBytes += rc.ackedBytes
		errs += rc.errs
		recv += rc.received
		recvBytes += rc.receivedBytes
		rc.sent, rc.acked, rc.ackedBytes, rc.errs, rc.received, rc.receivedBytes = 0, 0, 0, 0, 0, 0
		rc.mu.Unlock()
	}
	if partial && secs < r.o.Window.Seconds()/20 && sent+acked+recv+errs == 0 {
		r.winStart = now
		return
	}
	target, lag := 0.0, time.Duration(0)
	if r.sched != nil {
		if seg := r.sched.seg.Load(); seg.nsPerMsg > 0 {
			target = 1e9 / seg.nsPerMsg
		}
		if !r.prodStopped {
			lag = r.sched.lag()
		}
	}
	win := Window{
		StartSeconds:   r.winStart.Seconds(),
		Seconds:        secs,
		Phase:          phase,
		TargetRate:     target,
		Sent:           sent,
		Acked:          acked,
		Received:       recv,
		PublishBytes:   ackedBytes,
		ConsumeBytes:   recvBytes,
		PublishRate:    float64(acked) / secs,
		PublishMBps:    float64(ackedBytes) / secs / 1e6,
		ConsumeRate:    float64(recv) / secs,
		ConsumeMBps:    float64(recvBytes) / secs / 1e6,
		Errors:         errs,
		Backlog:        max(0, r.backlog()),
		InFlight:       r.tot.sent.Load() - r.tot.acked.Load() - r.tot.errs.Load(),
		ScheduleLagUs:  lag.Microseconds(),
		PublishLatency: quantilesOf(lat),
		PublishDelay:   quantilesOf(delay),
		EndToEnd:       quantilesOf(e2e),
	}
	r.winStart = now
	r.res.Windows = append(r.res.Windows, win)
	if aggregated(phase) || phase == PhaseTail {
		r.aggLat.Merge(lat)
		r.aggDelay.Merge(delay)
		r.aggE2E.Merge(e2e)
	}
	if r.o.Progress != nil {
		fmt.Fprintln(r.o.Progress, progressLine(&win))
	}
}

func aggregated(phase string) bool {
	return phase == PhaseMeasure || phase == PhaseBuild || phase == PhaseDrain
}

// finish computes the aggregate, curves and verdict from the windows.
func (r *runner) finish() {
	res := r.res
	a := Aggregate{}
	var ackedBytes, recvBytes float64
	for _, w := range res.Windows {
		if !aggregated(w.Phase) {
			continue
		}
		a.Seconds += w.Seconds
		a.Sent += w.Sent
		a.Acked += w.Acked
		a.Errors += w.Errors
		a.Received += w.Received
		ackedBytes += float64(w.PublishBytes)
		recvBytes += float64(w.ConsumeBytes)
		if w.TargetRate > a.TargetRate {
			a.TargetRate = w.TargetRate
		}
	}
	if a.Seconds > 0 {
		a.PublishRate = float64(a.Acked) / a.Seconds
		a.PublishMBps = ackedBytes / a.Seconds / 1e6
		a.ConsumeRate = float64(a.Received) / a.Seconds
		a.ConsumeMBps = recvBytes / a.Seconds / 1e6
	}
	a.PublishLatency = quantilesOf(r.aggLat)
	a.PublishDelay = quantilesOf(r.aggDelay)
	a.EndToEnd = quantilesOf(r.aggE2E)
	res.Aggregate = a
	res.Totals = r.totals()
	res.Curves = Curves{PublishLatency: curveOf(r.aggLat), PublishDelay: curveOf(r.aggDelay), EndToEnd: curveOf(r.aggE2E)}
	res.Verdict = verdict(res, r.o.HeldRatio, r.o.DelayLimit)
}

// totals counts the whole run, every phase included. It runs after the
// consumers have stopped, so the counts are final.
func (r *runner) totals() Totals {
	t := Totals{
		Sent: r.tot.sent.Load(), Acked: r.tot.acked.Load(), ProduceErrors: r.tot.errs.Load(),
		Subscriptions: []SubscriptionTotals{},
	}
	for _, s := range r.subs {
		st := SubscriptionTotals{
			Topic: r.topics[s.topic], Group: s.group, Acked: r.topicAcked[s.topic].Load(),
			Received: s.received.Load(), Duplicates: s.duplicates.Load(),
		}
		st.Missing = max(0, st.Acked-(st.Received-st.Duplicates))
		t.Duplicates += st.Duplicates
		t.Missing += st.Missing
		t.Subscriptions = append(t.Subscriptions, st)
	}
	t.Drained = t.Missing == 0
	return t
}
