package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/procsample"
)

// The abuse experiment is a soak: a well-behaved pair — an idempotent
// acks=all franz-go producer at a held rate and a franz-go group consumer —
// runs against bin/broker the whole time, alone in the solo phases and
// beside a mix of misbehaving raw-Kafka clients (abuse_mix.go) in the
// abuse phases, which alternate round by round in a seeded order. The mix
// is sized from the limits the broker is started with (AbuseLimits), so
// that each bound is met: slowloris connections (silent, and trickling a
// promised 100 MiB frame), abandoned long-poll Fetches, decompression and
// allocation bombs, oversized and negative size prefixes, connection floods
// past max.connections.per.ip and max.connections, group churn with bogus
// member ids, a JoinGroup storm and malformed requests.
//
// It measures the pair's acknowledged and consumed records per second in
// each phase (the abuse/solo ratio per round), the broker's RSS from /proc,
// and its open fds, goroutines and connections from its /metrics; after
// each abuse phase it waits for the broker to drop back to the pair's
// connections. At the end every acknowledged record must be in the log at
// its offset (Verify, check.go) and must have been consumed by the group
// consumer.

// AbuseLimits are the broker's bounds the soak runs under; each is
// written to the broker's server.properties and aimed at by the mix.
type AbuseLimits struct {
	MaxConnections      int           `json:"max_connections"`            // max.connections
	MaxConnectionsPerIP int           `json:"max_connections_per_ip"`     // max.connections.per.ip
	IdleTimeout         time.Duration `json:"connections_max_idle_ns"`    // connections.max.idle.ms
	RequestMaxBytes     int           `json:"socket_request_max_bytes"`   // socket.request.max.bytes
	QueuedMaxBytes      int64         `json:"queued_max_request_bytes"`   // queued.max.request.bytes
	FetchMaxWait        time.Duration `json:"fetch_max_wait_ns"`          // brokerlab.fetch.max.wait.ms
	DecompressedMax     int           `json:"message_max_decompressed"`   // brokerlab.message.max.decompressed.bytes
	MessageMax          int           `json:"message_max_bytes"`          // message.max.bytes
	GroupMetadataMax    int           `json:"group_protocol_metadata"`    // brokerlab.group.protocol.metadata.max.bytes
	OffsetMetadataMax   int           `json:"offset_metadata_max_bytes"`  // offset.metadata.max.bytes
	GroupMaxSession     time.Duration `json:"group_max_session_ns"`       // group.max.session.timeout.ms
	GroupsCheckInterval time.Duration `json:"offsets_retention_check_ns"` // offsets.retention.check.interval.ms
}

func (l *AbuseLimits) setDefaults() {
	// The broker's defaults (broker/config.go, DESIGN.md's Limits table)
	// except where a default would not be met within a phase or the
	// machine: max.connections and max.connections.per.ip (4096 and
	// unbounded), the idle time (600 s, a phase is 2 min) and the empty
	// group check (10 min).
	orDefault(&l.MaxConnections, 1024)
	orDefault(&l.MaxConnectionsPerIP, 256)
	orDefault(&l.IdleTimeout, 20*time.Second)
	orDefault(&l.RequestMaxBytes, 104857600)
	orDefault(&l.QueuedMaxBytes, 104857600)
	orDefault(&l.FetchMaxWait, 30*time.Second)
	orDefault(&l.DecompressedMax, 16<<20)
	orDefault(&l.MessageMax, 1048588)
	orDefault(&l.GroupMetadataMax, 1<<20)
	orDefault(&l.OffsetMetadataMax, 4096)
	orDefault(&l.GroupMaxSession, 30*time.Minute)
	orDefault(&l.GroupsCheckInterval, 30*time.Second)
}

// props are l as server.properties lines.
func (l AbuseLimits) props() []string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return []string{
		"max.connections=" + strconv.Itoa(l.MaxConnections),
		"max.connections.per.ip=" + strconv.Itoa(l.MaxConnectionsPerIP),
		"connections.max.idle.ms=" + ms(l.IdleTimeout),
		"socket.request.max.bytes=" + strconv.Itoa(l.RequestMaxBytes),
		"queued.max.request.bytes=" + strconv.FormatInt(l.QueuedMaxBytes, 10),
		"brokerlab.fetch.max.wait.ms=" + ms(l.FetchMaxWait),
		"brokerlab.message.max.decompressed.bytes=" + strconv.Itoa(l.DecompressedMax),
		"message.max.bytes=" + strconv.Itoa(l.MessageMax),
		"brokerlab.group.protocol.metadata.max.bytes=" + strconv.Itoa(l.GroupMetadataMax),
		"offset.metadata.max.bytes=" + strconv.Itoa(l.OffsetMetadataMax),
		"group.max.session.timeout.ms=" + ms(l.GroupMaxSession),
		"offsets.retention.check.interval.ms=" + ms(l.GroupsCheckInterval),
	}
}

// AbuseMix says how hard each misbehaving class pushes.
type AbuseMix struct {
	SilentConns        int           `json:"silent_conns"`          // slowloris: partial size prefix, then nothing (default 100)
	TrickleConns       int           `json:"trickle_conns"`         // slowloris: full prefix of socket.request.max.bytes, a byte every TrickleEvery (default 4)
	TrickleEvery       time.Duration `json:"trickle_every_ns"`      // default a quarter of the idle time
	BudgetFillers      int           `json:"budget_fillers"`        // connections sending queued.max.request.bytes between them (default 2)
	FillHold           time.Duration `json:"fill_hold_ns"`          // they hold it this long, then pause as long (default 10 s)
	LongPolls          int           `json:"long_polls"`            // open abandoned long polls at a time (default 200)
	BombsPerSecond     float64       `json:"bombs_per_second"`      // default 20
	FloodExtra         int           `json:"flood_extra"`           // connections past each limit (default 16)
	FloodHold          time.Duration `json:"flood_hold_ns"`         // a flood's connections are held this long (default 2 s)
	FloodPause         time.Duration `json:"flood_pause_ns"`        // between per-IP floods (default 5 s)
	FloodTotalEvery    time.Duration `json:"flood_total_every_ns"`  // between floods past max.connections (default 30 s)
	ChurnMembers       int           `json:"churn_members"`         // concurrent churning members (default 16)
	ChurnGroups        int           `json:"churn_groups"`          // groups they churn in (default 64)
	ChurnSession       time.Duration `json:"churn_session_ns"`      // their session timeout (default 6 s, the broker's minimum)
	JoinStormPerSecond float64       `json:"join_storm_per_second"` // first joins only (default 100)
	MalformedPerSecond float64       `json:"malformed_per_second"`  // default 20
}

func (m *AbuseMix) setDefaults(l AbuseLimits) {
	orDefault(&m.SilentConns, 100)
	orDefault(&m.TrickleConns, 4)
	orDefault(&m.TrickleEvery, l.IdleTimeout/4)
	orDefault(&m.BudgetFillers, 2)
	orDefault(&m.FillHold, 10*time.Second)
	orDefault(&m.LongPolls, 200)
	orDefault(&m.BombsPerSecond, 20)
	orDefault(&m.FloodExtra, 16)
	orDefault(&m.FloodHold, 2*time.Second)
	orDefault(&m.FloodPause, 5*time.Second)
	orDefault(&m.FloodTotalEvery, 30*time.Second)
	orDefault(&m.ChurnMembers, 16)
	orDefault(&m.ChurnGroups, 64)
	orDefault(&m.ChurnSession, 6*time.Second)
	orDefault(&m.JoinStormPerSecond, 100)
	orDefault(&m.MalformedPerSecond, 20)
}

// AbuseConfig describes a soak. Zero values take the documented defaults.
type AbuseConfig struct {
	BrokerPath string
	// WorkDir holds the broker's log dir, properties and log.
	WorkDir string
	// Duration is the misbehaving mix's total time, split over Rounds
	// abuse phases (default 10 min, 5 rounds).
	Duration time.Duration
	Rounds   int
	// Solo is each solo phase (default half an abuse phase).
	Solo time.Duration
	// Warmup runs the pair before the first phase (default 10 s).
	Warmup time.Duration
	// Rate is the producer's held rate, records/s (default 5000), Size
	// each record's key and value bytes (default 256), over Partitions
	// partitions (default 4).
	Rate       float64
	Size       int
	Partitions int
	// SampleEvery is the RSS sampling period; /metrics is read every
	// fourth sample (default 250 ms).
	SampleEvery time.Duration
	// RSSBound is the broker's RSS bound (default 512 MiB).
	RSSBound int64
	// BrokerProps are extra server.properties lines, after the limits.
	BrokerProps []string
	Limits      AbuseLimits
	Mix         AbuseMix
	Seed        uint64
	Logger      *slog.Logger
}

func (c *AbuseConfig) setDefaults() {
	orDefault(&c.Duration, 10*time.Minute)
	orDefault(&c.Rounds, 5)
	orDefault(&c.Solo, c.Duration/time.Duration(c.Rounds)/2)
	orDefault(&c.Warmup, 10*time.Second)
	orDefault(&c.Rate, 5000)
	orDefault(&c.Size, 256)
	orDefault(&c.Partitions, 4)
	orDefault(&c.SampleEvery, 250*time.Millisecond)
	orDefault(&c.RSSBound, 512<<20)
	c.Limits.setDefaults()
	c.Mix.setDefaults(c.Limits)
	seedAndLogger(&c.Seed, &c.Logger)
}

// AbusePhase is one solo or abuse phase.
type AbusePhase struct {
	Round   int     `json:"round"`
	Kind    string  `json:"kind"` // "solo" or "abuse"
	Seconds float64 `json:"seconds"`
	// The pair's records in the phase: sent, acknowledged, consumed
	// (duplicates included), and per second.
	Produced       int64   `json:"produced"`
	Acked          int64   `json:"acked"`
	Consumed       int64   `json:"consumed"`
	AckedPerSec    float64 `json:"acked_per_sec"`
	ConsumedPerSec float64 `json:"consumed_per_sec"`
	// The pair's acknowledgement latency from each record's due time
	// (the held rate's schedule), ms.
	AckP50Ms float64 `json:"ack_p50_ms"`
	AckP99Ms float64 `json:"ack_p99_ms"`
	// Rebalances of the pair's consumer during the phase.
	Rebalances int64 `json:"rebalances"`
	// CPU seconds over the phase of the broker and of this process (the
	// pair and the mix): on a machine of few CPUs the mix competes with the
	// pair for them, not only with the broker.
	BrokerCPU float64 `json:"broker_cpu_seconds"`
	LabCPU    float64 `json:"lab_cpu_seconds"`
	// Peaks of the broker over the phase.
	PeakRSS         int64 `json:"peak_rss_bytes"`
	PeakFDs         int64 `json:"peak_open_fds"`
	PeakGoroutines  int64 `json:"peak_goroutines"`
	PeakConnections int64 `json:"peak_connections"`
	PeakFetchWait   int64 `json:"peak_fetch_waiting"`
	PeakQueuedBytes int64 `json:"peak_queued_request_bytes"`
	// After an abuse phase: how long the broker took to drop back to the
	// pair's connections and no waiting Fetch, and what it held then.
	SettleSeconds  float64 `json:"settle_seconds,omitempty"`
	Settled        bool    `json:"settled"`
	EndFDs         int64   `json:"end_open_fds"`
	EndGoroutines  int64   `json:"end_goroutines"`
	EndConnections int64   `json:"end_connections"`
	EndRSS         int64   `json:"end_rss_bytes"`
	Groups         int     `json:"groups_listed"`
}

// AbuseSample is one reading of the broker.
type AbuseSample struct {
	At          float64 `json:"t_s"`
	Phase       string  `json:"phase"`
	RSS         int64   `json:"rss_bytes"`
	FDs         int64   `json:"open_fds,omitempty"`
	Goroutines  int64   `json:"goroutines,omitempty"`
	Connections int64   `json:"connections,omitempty"`
	FetchWait   int64   `json:"fetch_waiting,omitempty"`
	QueuedBytes int64   `json:"queued_request_bytes,omitempty"`
}

// AbuseBound is one broker bound and the evidence that the mix met it.
type AbuseBound struct {
	Bound    string `json:"bound"`
	Key      string `json:"config_key"`
	Value    string `json:"value"`
	Evidence string `json:"evidence"`
	Count    int64  `json:"count"`
}

// AbuseReport is the outcome of RunAbuse.
type AbuseReport struct {
	Seed       uint64      `json:"seed"`
	Limits     AbuseLimits `json:"limits"`
	Mix        AbuseMix    `json:"mix"`
	Rate       float64     `json:"rate"`
	Size       int         `json:"size"`
	Partitions int         `json:"partitions"`
	RSSBound   int64       `json:"rss_bound_bytes"`

	Phases []AbusePhase `json:"phases"`
	// Per round abuse/solo of acked and consumed records per second.
	AckedRatios    []float64 `json:"acked_ratios"`
	ConsumedRatios []float64 `json:"consumed_ratios"`
	PeakRSS        int64     `json:"peak_rss_bytes"`
	PeakFDs        int64     `json:"peak_open_fds"`
	PeakGoroutines int64     `json:"peak_goroutines"`
	PeakConns      int64     `json:"peak_connections"`

	// Outcomes of the mix's attempts over every abuse phase, by class.
	Outcomes map[string]map[string]int64 `json:"outcomes"`
	// Counters of the broker over the run (deltas of its /metrics).
	BrokerCounters map[string]float64 `json:"broker_counters"`
	Bounds         []AbuseBound       `json:"bounds"`

	// Produced records were handed to the producer; Check is Verify's
	// reading of the log against the acknowledgements; NotConsumed
	// acknowledged records never reached the group consumer.
	Produced    int64     `json:"produced"`
	Check       KillTrial `json:"check"`
	Consumed    int64     `json:"consumed_unique"`
	NotConsumed int64     `json:"not_consumed"`
	// BrokerAlive: the broker served to the end and stopped cleanly.
	BrokerAlive bool   `json:"broker_alive"`
	BrokerExit  string `json:"broker_exit,omitempty"`

	Samples []AbuseSample `json:"samples"`
}

// Invariants returns what failed of the promises that do not depend on
// timing: no acknowledged record lost, duplicated, reordered or served
// corrupt; every one consumed; the broker alive; RSS under its bound.
func (r *AbuseReport) Invariants() error {
	var errs []error
	if !r.Check.OK() {
		errs = append(errs, fmt.Errorf("acknowledged records: %d lost, %d duplicated, %d out of order, %d partitions served corrupt",
			r.Check.Lost, r.Check.Duplicates, r.Check.OutOfOrder, r.Check.Corrupt))
	}
	if r.NotConsumed > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledged records never consumed by the group", r.NotConsumed))
	}
	if !r.BrokerAlive {
		errs = append(errs, fmt.Errorf("the broker did not survive: %s", r.BrokerExit))
	}
	if r.PeakRSS >= r.RSSBound {
		errs = append(errs, fmt.Errorf("broker RSS peaked at %d MiB, bound %d MiB", r.PeakRSS>>20, r.RSSBound>>20))
	}
	return errors.Join(errs...)
}

// pair is the well-behaved producer and consumer, and their counters.
type pair struct {
	acks                      *Acks
	produced, acked, consumed atomic.Int64
	rebalances                atomic.Int64
	mu                        sync.Mutex
	seen                      map[int32][]uint64 // bitset of consumed seqs by producer
	unique                    int64
	latMu                     sync.Mutex
	lat                       *hdrhistogram.Histogram // µs from a record's due time to its ack, this phase
}

// takeLatency returns the phase's acknowledgement latency p50 and p99 in
// ms and starts a new phase.
func (pr *pair) takeLatency() (p50, p99 float64) {
	pr.latMu.Lock()
	h := pr.lat
	pr.lat = hdrhistogram.New(1, 3600e6, 3)
	pr.latMu.Unlock()
	if h == nil || h.TotalCount() == 0 {
		return 0, 0
	}
	return float64(h.ValueAtQuantile(50)) / 1e3, float64(h.ValueAtQuantile(99)) / 1e3
}

func (p *pair) markSeen(k key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bs := p.seen[k.producer]
	w := int(k.seq / 64)
	if w >= len(bs) {
		bs = append(bs, make([]uint64, w-len(bs)+1+len(bs)/2)...)
		p.seen[k.producer] = bs
	}
	if bs[w]&(1<<(k.seq%64)) == 0 {
		bs[w] |= 1 << (k.seq % 64)
		p.unique++
	}
}

// notConsumed counts acknowledged records the consumer never saw.
func (p *pair) notConsumed() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acks.mu.Lock()
	defer p.acks.mu.Unlock()
	var n int64
	for k := range p.acks.m {
		bs := p.seen[k.producer]
		if w := int(k.seq / 64); w >= len(bs) || bs[w]&(1<<(k.seq%64)) == 0 {
			n++
		}
	}
	return n
}

// produce sends at cfg.Rate until ctx ends, producer p (= partition p)
// round robin. The rate is held against the clock, not per tick: record i
// is due at i/rate, and records that fell behind (this process starved of
// CPU, or Produce blocked on a full buffer) are sent as soon as it can, so a
// shortfall of acknowledgements is the broker's or the client's, not
// missed ticks.
func (pr *pair) produce(ctx context.Context, cl *kgo.Client, cfg AbuseConfig) {
	pad := make([]byte, max(0, cfg.Size-12))
	seqs := make([]int64, cfg.Partitions)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start, sent := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for due := int64(time.Since(start).Seconds() * cfg.Rate); sent < due && ctx.Err() == nil; sent++ {
			part := int32(sent % int64(cfg.Partitions))
			k := key{part, seqs[part]}
			seqs[part]++
			pr.produced.Add(1)
			dueAt := start.Add(time.Duration(float64(sent) / cfg.Rate * 1e9))
			cl.Produce(ctx, &kgo.Record{Partition: part, Key: pad, Value: encode(k.producer, k.seq)}, func(r *kgo.Record, err error) {
				if err == nil {
					pr.acks.add(k, r)
					pr.acked.Add(1)
					us := max(1, min(time.Since(dueAt).Microseconds(), 3600e6))
					pr.latMu.Lock()
					if pr.lat != nil {
						_ = pr.lat.RecordValue(us)
					}
					pr.latMu.Unlock()
				}
			})
		}
	}
}

// consume reads with the group consumer until ctx ends.
func (pr *pair) consume(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if k, ok := decode(r.Value); ok {
				pr.consumed.Add(1)
				pr.markSeen(k)
			}
		})
	}
}

// sampler reads the broker's RSS and metrics, keeping every sample.
type sampler struct {
	pid         int
	metricsAddr string
	start       time.Time
	mu          sync.Mutex
	phase       string
	samples     []AbuseSample
	last        AbuseSample
}

func (s *sampler) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

func (s *sampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		smp := AbuseSample{At: time.Since(s.start).Seconds()}
		if p, err := procsample.ReadProcess("/proc", s.pid); err == nil {
			smp.RSS = int64(p.RSS)
		}
		if i%4 == 0 {
			s.scrapeInto(ctx, &smp)
		}
		s.mu.Lock()
		smp.Phase = s.phase
		s.samples = append(s.samples, smp)
		if smp.Goroutines > 0 {
			s.last = smp
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) scrapeInto(ctx context.Context, smp *AbuseSample) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := scrape(sctx, s.metricsAddr)
	if err != nil {
		return
	}
	smp.FDs = int64(m["process_open_fds"])
	smp.Goroutines = int64(m["go_goroutines"])
	smp.Connections = int64(m["brokerlab_broker_connections"])
	smp.FetchWait = int64(m["brokerlab_broker_fetch_waiting"])
	smp.QueuedBytes = int64(m["brokerlab_broker_queued_request_bytes"])
}

// now scrapes at once (for the settle loop).
func (s *sampler) now(ctx context.Context) AbuseSample {
	var smp AbuseSample
	s.scrapeInto(ctx, &smp)
	if p, err := procsample.ReadProcess("/proc", s.pid); err == nil {
		smp.RSS = int64(p.RSS)
	}
	return smp
}

// peaks returns the phase's peaks.
func (s *sampler) peaks(phase string, ph *AbusePhase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		if x.Phase != phase {
			continue
		}
		ph.PeakRSS = max(ph.PeakRSS, x.RSS)
		ph.PeakFDs = max(ph.PeakFDs, x.FDs)
		ph.PeakGoroutines = max(ph.PeakGoroutines, x.Goroutines)
		ph.PeakConnections = max(ph.PeakConnections, x.Connections)
		ph.PeakFetchWait = max(ph.PeakFetchWait, x.FetchWait)
		ph.PeakQueuedBytes = max(ph.PeakQueuedBytes, x.QueuedBytes)
	}
}

// cpuOf returns a process's CPU seconds, 0 if unreadable.
func cpuOf(pid int) float64 {
	p, _ := procsample.ReadProcess("/proc", pid)
	return p.CPUSeconds
}

// RunAbuse runs the soak. It returns the report so far with the first
// error; invariants that failed are not an error of RunAbuse: check
// AbuseReport.Invariants.
func RunAbuse(ctx context.Context, cfg AbuseConfig) (*AbuseReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("abuse bench: broker path and work dir are required")
	}
	rep := &AbuseReport{Seed: cfg.Seed, Limits: cfg.Limits, Mix: cfg.Mix, Rate: cfg.Rate, Size: cfg.Size,
		Partitions: cfg.Partitions, RSSBound: cfg.RSSBound}
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: "abuse",
		Props: append([]string{"num.partitions=1", "auto.create.topics.enable=false",
			"brokerlab.metrics.listen=" + metricsAddr}, append(cfg.Limits.props(), cfg.BrokerProps...)...)})
	if err != nil {
		return nil, err
	}
	defer p.Kill() // after Stop below: a no-op
	addr := p.Addr()

	const topic, abuseTopic, group = "abuse-pair", "abuse-target", "abuse-pair-group"
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	for t, n := range map[string]int32{topic: int32(cfg.Partitions), abuseTopic: 1} {
		if _, err := adm.CreateTopic(ctx, n, 1, nil, t); err != nil {
			return nil, fmt.Errorf("creating %s: %w", t, err)
		}
	}
	c0, err := scrape(ctx, metricsAddr)
	if err != nil {
		return nil, err
	}

	smp := &sampler{pid: p.Pid(), metricsAddr: metricsAddr, start: time.Now(), phase: "warmup"}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); smp.run(sctx, cfg.SampleEvery) }()
	defer func() { stopSampling(); <-sampled }()

	pr := &pair{acks: NewAcks(), seen: map[int32][]uint64{}}
	prod, err := NewProducer(addr, topic)
	if err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { pr.rebalances.Add(1) }))
	if err != nil {
		prod.Close()
		return nil, err
	}
	pctx, stopProducing := context.WithCancel(ctx)
	cctx, stopConsuming := context.WithCancel(ctx)
	var producing, consuming sync.WaitGroup
	producing.Add(1)
	consuming.Add(1)
	go func() { defer producing.Done(); pr.produce(pctx, prod, cfg) }()
	go func() { defer consuming.Done(); pr.consume(cctx, cons) }()
	stopPair := func() {
		stopProducing()
		stopConsuming()
		producing.Wait()
		consuming.Wait()
		prod.Close()
		cons.Close()
	}
	cfg.Logger.Info("warm-up", "for", cfg.Warmup, "rate", cfg.Rate, "broker", addr)
	if !sleep(ctx, cfg.Warmup) {
		stopPair()
		return rep, ctx.Err()
	}
	baseline := smp.now(ctx).Connections

	out := newOutcomes()
	ml := mixLimits{AbuseLimits: cfg.Limits, AbuseMix: cfg.Mix, addr: addr, abuseTopic: abuseTopic, pairGroup: group}
	abuseLen := cfg.Duration / time.Duration(cfg.Rounds)
	order := newRounds(cfg.Seed, 10, []string{"solo", "abuse"})
	var runErr error
	for round := range cfg.Rounds {
		for _, kind := range order.next() {
			label := fmt.Sprintf("%s-%d", kind, round+1)
			d := cfg.Solo
			if kind == "abuse" {
				d = abuseLen
			}
			cfg.Logger.Info("phase", "round", round+1, "of", cfg.Rounds, "kind", kind, "for", d)
			ph := AbusePhase{Round: round + 1, Kind: kind}
			smp.setPhase(label)
			prod0, ack0, con0, reb0 := pr.produced.Load(), pr.acked.Load(), pr.consumed.Load(), pr.rebalances.Load()
			bcpu0, lcpu0 := cpuOf(p.Pid()), cpuOf(os.Getpid())
			pr.takeLatency()
			t0 := time.Now()
			if kind == "abuse" {
				mctx, stop := context.WithTimeout(ctx, d)
				runMix(mctx, ml, cfg.Seed+uint64(round)<<40, out)
				stop()
			} else {
				sleep(ctx, d)
			}
			ph.Seconds = time.Since(t0).Seconds()
			ph.Produced = pr.produced.Load() - prod0
			ph.Acked = pr.acked.Load() - ack0
			ph.Consumed = pr.consumed.Load() - con0
			ph.Rebalances = pr.rebalances.Load() - reb0
			ph.BrokerCPU, ph.LabCPU = cpuOf(p.Pid())-bcpu0, cpuOf(os.Getpid())-lcpu0
			ph.AckP50Ms, ph.AckP99Ms = pr.takeLatency()
			ph.AckedPerSec = float64(ph.Acked) / ph.Seconds
			ph.ConsumedPerSec = float64(ph.Consumed) / ph.Seconds
			smp.peaks(label, &ph)
			// Settle: the broker must drop back to the pair's connections
			// with no Fetch waiting; not counted in either phase.
			smp.setPhase("settle-" + label)
			t1 := time.Now()
			for {
				s := smp.now(ctx)
				ph.EndFDs, ph.EndGoroutines, ph.EndConnections, ph.EndRSS = s.FDs, s.Goroutines, s.Connections, s.RSS
				if s.Goroutines > 0 && s.Connections <= baseline+2 && s.FetchWait == 0 {
					ph.Settled = true
					break
				}
				if time.Since(t1) > cfg.Limits.IdleTimeout+cfg.Limits.FetchMaxWait || !sleep(ctx, 250*time.Millisecond) {
					break
				}
			}
			ph.SettleSeconds = time.Since(t1).Seconds()
			if gs, err := adm.ListGroups(ctx); err == nil {
				ph.Groups = len(gs)
			}
			cfg.Logger.Info("phase done", "kind", kind, "acked_per_s", int(ph.AckedPerSec), "consumed_per_s", int(ph.ConsumedPerSec),
				"peak_rss_mib", ph.PeakRSS>>20, "peak_fds", ph.PeakFDs, "peak_goroutines", ph.PeakGoroutines,
				"peak_conns", ph.PeakConnections, "settled", ph.Settled, "settle_s", fmt.Sprintf("%.1f", ph.SettleSeconds))
			rep.Phases = append(rep.Phases, ph)
			select {
			case <-p.Done():
				runErr = errors.New("the broker exited during the soak")
			default:
			}
			if runErr == nil {
				runErr = ctx.Err()
			}
			if runErr != nil {
				break
			}
		}
		if runErr != nil {
			break
		}
	}
	rep.Outcomes = out.snapshot()

	// The end: stop producing, wait for every acknowledgement, let the
	// consumer catch up with them, then read the log back.
	smp.setPhase("drain")
	stopProducing()
	producing.Wait()
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	_ = prod.Flush(fctx)
	cancel()
	prod.Close()
	rep.Produced = pr.produced.Load()
	last, lastAt := pr.notConsumed(), time.Now()
	for last > 0 && time.Since(lastAt) < time.Minute && sleep(ctx, 500*time.Millisecond) {
		if n := pr.notConsumed(); n < last {
			last, lastAt = n, time.Now()
		}
	}
	stopConsuming()
	consuming.Wait()
	cons.Close()
	rep.NotConsumed = pr.notConsumed()
	pr.mu.Lock()
	rep.Consumed = pr.unique
	pr.mu.Unlock()

	if c1, err := scrape(ctx, metricsAddr); err == nil {
		rep.BrokerCounters = map[string]float64{}
		for k, v := range c1 {
			if d := v - c0[k]; d != 0 && (k == "brokerlab_broker_queued_request_bytes_waits_total" ||
				len(k) > 40 && k[:40] == "brokerlab_broker_connection_errors_total") {
				rep.BrokerCounters[k] = d
			}
		}
		rep.BrokerCounters["brokerlab_broker_connections_accepted_total"] = c1["brokerlab_broker_connections_accepted_total"] - c0["brokerlab_broker_connections_accepted_total"]
	}
	v, verr := Verify(ctx, addr, topic, pr.acks, nil)
	rep.Check = v
	stopSampling()
	<-sampled
	smp.mu.Lock()
	rep.Samples = smp.samples
	smp.mu.Unlock()
	for _, x := range rep.Samples {
		rep.PeakRSS = max(rep.PeakRSS, x.RSS)
		rep.PeakFDs = max(rep.PeakFDs, x.FDs)
		rep.PeakGoroutines = max(rep.PeakGoroutines, x.Goroutines)
		rep.PeakConns = max(rep.PeakConns, x.Connections)
	}
	rep.AckedRatios, rep.ConsumedRatios = abuseRatios(rep.Phases)
	rep.Bounds = abuseBounds(cfg.Limits, rep)

	select {
	case <-p.Done():
		rep.BrokerExit = "exited before the end of the soak"
	default:
		if err := p.Stop(30 * time.Second); err != nil {
			rep.BrokerExit = err.Error()
		} else if verr == nil {
			rep.BrokerAlive = true
		}
	}
	if verr != nil {
		rep.BrokerExit = fmt.Sprintf("reading the log back: %v", verr)
	}
	return rep, runErr
}

// abuseRatios returns abuse/solo of the acked and consumed rates, per
// round that has both phases.
func abuseRatios(phases []AbusePhase) (acked, consumed []float64) {
	by := map[int]map[string]AbusePhase{}
	var rounds []int
	for _, p := range phases {
		if by[p.Round] == nil {
			by[p.Round] = map[string]AbusePhase{}
			rounds = append(rounds, p.Round)
		}
		by[p.Round][p.Kind] = p
	}
	for _, r := range rounds {
		s, okS := by[r]["solo"]
		a, okA := by[r]["abuse"]
		if !okS || !okA || s.AckedPerSec == 0 || s.ConsumedPerSec == 0 {
			continue
		}
		acked = append(acked, a.AckedPerSec/s.AckedPerSec)
		consumed = append(consumed, a.ConsumedPerSec/s.ConsumedPerSec)
	}
	return acked, consumed
}

// abuseBounds pairs each bound with what shows the mix met it.
func abuseBounds(l AbuseLimits, r *AbuseReport) []AbuseBound {
	o := func(class mixClass, keys ...string) int64 {
		var n int64
		for _, k := range keys {
			n += r.Outcomes[string(class)][k]
		}
		return n
	}
	ce := func(reason string) int64 {
		return int64(r.BrokerCounters[`brokerlab_broker_connection_errors_total{reason="`+reason+`"}`])
	}
	var peakQueued, peakWait int64
	for _, p := range r.Phases {
		peakQueued = max(peakQueued, p.PeakQueuedBytes)
		peakWait = max(peakWait, p.PeakFetchWait)
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return []AbuseBound{
		{"request frame size", "socket.request.max.bytes", strconv.Itoa(l.RequestMaxBytes), "connections closed for their size prefix (frame_size)", ce("frame_size")},
		{"request bytes held", "queued.max.request.bytes", strconv.FormatInt(l.QueuedMaxBytes, 10), "reads that waited for budget", int64(r.BrokerCounters["brokerlab_broker_queued_request_bytes_waits_total"])},
		{"request bytes held", "queued.max.request.bytes", strconv.FormatInt(l.QueuedMaxBytes, 10), "peak bytes reserved", peakQueued},
		{"request bytes held", "queued.max.request.bytes", strconv.FormatInt(l.QueuedMaxBytes, 10), "promised 100 MiB frames trickled (each holds a 64 KiB window)", o(classSlowTrickle, outcomeBudgetHeld)},
		{"idle connection", "connections.max.idle.ms", ms(l.IdleTimeout), "connections closed idle", ce("idle")},
		{"open connections", "max.connections", strconv.Itoa(l.MaxConnections), "connections refused at accept", ce("max_connections")},
		{"connections per IP", "max.connections.per.ip", strconv.Itoa(l.MaxConnectionsPerIP), "connections refused at accept", ce("max_connections_per_ip")},
		{"Fetch long-poll wait", "brokerlab.fetch.max.wait.ms", ms(l.FetchMaxWait), "never-read long polls answered, then closed idle", o(classLongPoll, outcomeIdleClosed)},
		{"Fetch waiting for a client that left", "(peer close)", "", "peak Fetches waiting", peakWait},
		{"decompressed batch", "brokerlab.message.max.decompressed.bytes", strconv.Itoa(l.DecompressedMax), "zstd and gzip bombs refused (MESSAGE_TOO_LARGE)", o(classBomb, "zstd_bomb: MESSAGE_TOO_LARGE", "gzip_bomb: MESSAGE_TOO_LARGE")},
		{"batch size", "message.max.bytes", strconv.Itoa(l.MessageMax), "batches refused (MESSAGE_TOO_LARGE)", o(classBomb, "batch_over_message_max: MESSAGE_TOO_LARGE")},
		{"group protocol metadata", "brokerlab.group.protocol.metadata.max.bytes", strconv.Itoa(l.GroupMetadataMax), "joins refused (INVALID_REQUEST)", o(classBomb, "join_metadata_over_max: INVALID_REQUEST")},
		{"partitions per CreateTopics", "brokerlab.create.topics.partitions.max", "10000", "refused (INVALID_PARTITIONS)", o(classBomb, "create_topics_2^31-1_partitions: INVALID_PARTITIONS")},
		{"group id length", "(fixed)", "32767", "commits refused (INVALID_GROUP_ID)", o(classBomb, "group_id_over_32767: INVALID_GROUP_ID")},
		{"offset metadata", "offset.metadata.max.bytes", strconv.Itoa(l.OffsetMetadataMax), "commits refused (OFFSET_METADATA_TOO_LARGE)", o(classBomb, "commit_metadata_over_max: OFFSET_METADATA_TOO_LARGE")},
		{"pending members", "group.max.session.timeout.ms", ms(l.GroupMaxSession), "first joins answered MEMBER_ID_REQUIRED", o(classJoinStorm, "MEMBER_ID_REQUIRED")},
		{"empty groups", "offsets.retention.check.interval.ms", ms(l.GroupsCheckInterval), "fresh empty groups made by churn", o(classGroupChurn, "join: NONE", "join: accepted")},
		{"malformed requests", "(closes the connection)", "", "connections closed for malformed requests", ce("malformed")},
	}
}

// Save writes dir/abuse.json (with the command and the environment) and
// the tables to w. It returns Invariants' error.
func (r *AbuseReport) Save(dir, workDir string, w io.Writer) error {
	if err := SaveRun(dir, "abuse.json", workDir, r); err != nil {
		return err
	}
	if err := writeMarkdown(dir, "abuse.md", func(f *os.File) error { return r.WriteTable(f, true) }); err != nil {
		return err
	}
	if err := r.WriteTable(w, false); err != nil {
		return err
	}
	return r.Invariants()
}

// WriteTable writes the phases, the summary and the bounds met.
func (r *AbuseReport) WriteTable(w io.Writer, markdown bool) error {
	t := newTable(w, markdown)
	t.Header("round", "phase", "s", "acked/s", "consumed/s", "ack p50 ms", "ack p99 ms", "rebalances", "broker CPU s", "lab CPU s", "peak RSS MiB", "peak fds", "peak goroutines", "peak conns", "settled in s", "end fds", "end goroutines")
	for _, p := range r.Phases {
		settle := "-"
		if p.Kind == "abuse" || p.SettleSeconds > 1 {
			settle = fmt.Sprintf("%.1f", p.SettleSeconds)
			if !p.Settled {
				settle += " (not settled)"
			}
		}
		if err := t.Append(strconv.Itoa(p.Round), p.Kind, fmt.Sprintf("%.0f", p.Seconds), fmt.Sprintf("%.0f", p.AckedPerSec),
			fmt.Sprintf("%.0f", p.ConsumedPerSec), fmt.Sprintf("%.1f", p.AckP50Ms), fmt.Sprintf("%.1f", p.AckP99Ms), strconv.FormatInt(p.Rebalances, 10), fmt.Sprintf("%.1f", p.BrokerCPU),
			fmt.Sprintf("%.1f", p.LabCPU), strconv.FormatInt(p.PeakRSS>>20, 10),
			strconv.FormatInt(p.PeakFDs, 10), strconv.FormatInt(p.PeakGoroutines, 10), strconv.FormatInt(p.PeakConnections, 10),
			settle, strconv.FormatInt(p.EndFDs, 10), strconv.FormatInt(p.EndGoroutines, 10)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	spread := func(v []float64) string {
		if len(v) == 0 {
			return "n/a"
		}
		s := slices.Clone(v)
		slices.Sort(s)
		med := s[len(s)/2]
		if len(s)%2 == 0 {
			med = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return fmt.Sprintf("%.3f [%.3f-%.3f] over %d rounds", med, s[0], s[len(s)-1], len(s))
	}
	goal := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	medAcked := 0.0
	if len(r.AckedRatios) > 0 {
		s := slices.Clone(r.AckedRatios)
		slices.Sort(s)
		medAcked = s[len(s)/2]
		if len(s)%2 == 0 {
			medAcked = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
	}
	fmt.Fprintf(w, "\nabuse/solo acked records/s: %s (goal >= 0.80: %s)\n", spread(r.AckedRatios), goal(medAcked >= 0.8))
	fmt.Fprintf(w, "abuse/solo consumed records/s: %s\n", spread(r.ConsumedRatios))
	fmt.Fprintf(w, "broker peak RSS %d MiB (bound %d MiB: %s), peak open fds %d, peak goroutines %d, peak connections %d\n",
		r.PeakRSS>>20, r.RSSBound>>20, goal(r.PeakRSS < r.RSSBound), r.PeakFDs, r.PeakGoroutines, r.PeakConns)
	fmt.Fprintf(w, "records: %d produced, %d acknowledged, %d consumed (unique); %d lost, %d not consumed, %d duplicates, %d out of order, %d unacknowledged but present\n",
		r.Produced, r.Check.Acked, r.Consumed, r.Check.Lost, r.NotConsumed, r.Check.Duplicates, r.Check.OutOfOrder, r.Check.Unacked)
	fmt.Fprintf(w, "broker alive and stopped cleanly: %v %s\n\n", r.BrokerAlive, r.BrokerExit)

	bt := newTable(w, markdown)
	bt.Header("bound", "config key", "value", "evidence the mix met it", "count")
	for _, b := range r.Bounds {
		if err := bt.Append(b.Bound, b.Key, b.Value, b.Evidence, strconv.FormatInt(b.Count, 10)); err != nil {
			return err
		}
	}
	if err := bt.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	ot := newTable(w, markdown)
	ot.Header("class", "outcome", "count")
	for _, c := range sortedKeys(r.Outcomes) {
		for _, k := range sortedKeys(r.Outcomes[c]) {
			if err := ot.Append(c, k, strconv.FormatInt(r.Outcomes[c][k], 10)); err != nil {
				return err
			}
		}
	}
	return ot.Render()
}
