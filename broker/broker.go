package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	rpprof "runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/pyroscope-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brokerlab/brokerlab/broker/group"
	"github.com/brokerlab/brokerlab/broker/storage"
	"github.com/brokerlab/brokerlab/broker/txn"
)

// drainTimeout bounds how long shutdown waits for in-flight requests
// before it closes the remaining connections.
const drainTimeout = 10 * time.Second

// Broker is a running broker: a listener, its connections, the log and the
// group coordinator the APIs share. New opens it, Run serves until its context ends,
// Close releases everything. Its methods are safe for concurrent use.
type Broker struct {
	cfg     Config
	logger  *slog.Logger
	store   *storage.Store
	ln      net.Listener
	metrics *metrics
	// metricsLn serves /metrics, and /debug/pprof with
	// brokerlab.metrics.pprof (nil when brokerlab.metrics.listen is empty).
	metricsLn net.Listener
	// reqBudget bounds request bytes in flight (queued.max.request.bytes).
	reqBudget *requestBudget

	// groups is the group coordinator the group APIs share (built by
	// newGroupCoordinator, 10_find_coordinator.go).
	groups *group.Coordinator
	// txns is the transaction coordinator the transactional APIs share
	// (built by newTxnCoordinator, 10_find_coordinator.go).
	txns *txn.Coordinator

	// reqCtx is the parent of every handler's context; cancelled when
	// shutdown starts so that long polls return at once.
	reqCtx    context.Context
	reqCancel context.CancelFunc

	mu      sync.Mutex // guards conns, limits and closing
	conns   map[*Conn]struct{}
	limits  connLimits
	closing bool

	connWG    sync.WaitGroup // one per connection goroutine
	closed    chan struct{}  // closed when Close starts
	runOnce   sync.Once
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens the log (meta.properties check, recovery),
// starts listening and creates the group coordinator. Serving starts
// with Run. On error everything taken so far is released.
func New(cfg Config) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{cfg: cfg, logger: logger.With("component", "broker"), conns: map[*Conn]struct{}{}, closed: make(chan struct{})}
	b.reqBudget = newRequestBudget(cfg.QueuedMaxRequestBytes)
	b.limits = connLimits{max: effectiveMaxConnections(cfg.MaxConnections), perIP: cfg.MaxConnectionsPerIP, byIP: map[netip.Addr]int{}}
	if b.limits.max < cfg.MaxConnections {
		b.logger.Info("max.connections capped at half the open-file limit", "max_connections", cfg.MaxConnections, "effective", b.limits.max)
	}
	b.reqCtx, b.reqCancel = context.WithCancel(context.Background())

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, b.reqCancel)

	st, err := storage.Open(b.storageConfig(logger))
	if err != nil {
		return nil, err
	}
	b.store = st
	undo = append(undo, func() { _ = st.Close() })

	b.ln = cfg.Listener
	if b.ln == nil {
		b.ln, err = net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s (listeners): %w", cfg.ListenAddr, err)
		}
	}
	undo = append(undo, func() { _ = b.ln.Close() })

	b.metrics = newMetrics(b)
	b.reqBudget.onWait = b.metrics.requestBudgetWaits.Inc
	if cfg.MetricsListen != "" {
		b.metricsLn, err = net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("listening for metrics on %s (brokerlab.metrics.listen): %w", cfg.MetricsListen, err)
		}
		undo = append(undo, func() { _ = b.metricsLn.Close() })
		b.logger.Info("listening for metrics", "url", "http://"+b.metricsLn.Addr().String()+"/metrics", "key", "brokerlab.metrics.listen")
	}

	b.groups, err = newGroupCoordinator(b)
	if err != nil {
		return nil, fmt.Errorf("starting group coordinator: %w", err)
	}
	undo = append(undo, func() { _ = b.groups.Close() })

	b.txns, err = newTxnCoordinator(b)
	if err != nil {
		return nil, fmt.Errorf("starting transaction coordinator: %w", err)
	}
	undo = append(undo, func() { _ = b.txns.Close() })
	// Transactions a crash left prepared are completed before any client
	// is served; one that cannot be is retried by the coordinator's Run.
	if err := b.txns.Recover(); err != nil {
		b.logger.Warn("completing prepared transactions", "err", err)
	}
	return b, nil
}

// preallocateBytes maps brokerlab.log.preallocate.bytes (0: off) to
// storage.Config.PreallocateBytes (0: the default, negative: off).
func preallocateBytes(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// storageConfig maps the broker's configuration to the log's.
func (b *Broker) storageConfig(logger *slog.Logger) storage.Config {
	c := b.cfg
	return storage.Config{
		Dirs:                    c.LogDirs,
		NodeID:                  c.NodeID,
		SegmentBytes:            c.SegmentBytes,
		RollInterval:            c.RollInterval,
		IndexIntervalBytes:      c.IndexIntervalBytes,
		MaxIndexBytes:           c.IndexSizeMaxBytes,
		MessageMaxBytes:         c.MessageMaxBytes,
		CompressionType:         c.CompressionType,
		RecoveryThreadsPerDir:   c.RecoveryThreadsPerDataDir,
		MaxPartitions:           c.MaxBrokerPartitions,
		MaxDecompressedBytes:    c.MessageMaxDecompressedBytes,
		PreallocateBytes:        preallocateBytes(c.LogPreallocateBytes),
		ProducerIDExpiration:    c.ProducerIDExpiration,
		ProducerIDCheckInterval: c.ProducerIDExpirationCheck,
		Flush: storage.FlushPolicy{
			Messages: c.FlushIntervalMessages,
			Interval: c.FlushInterval,
		},
		Retention: storage.Retention{
			Duration:      c.Retention,
			Bytes:         c.RetentionBytes,
			CheckInterval: c.RetentionCheckInterval,
		},
		Now:    c.Now,
		Logger: logger,
	}
}

// Store returns the broker's log.
func (b *Broker) Store() *storage.Store { return b.store }

// Config returns the broker's configuration (after defaults).
func (b *Broker) Config() Config { return b.cfg }

// Logger returns the broker's logger.
func (b *Broker) Logger() *slog.Logger { return b.logger }

// NodeID returns node.id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// Addr returns the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// Registry returns the Prometheus registry with the broker's metrics.
func (b *Broker) Registry() *prometheus.Registry { return b.metrics.reg }

// advertised returns the host and port clients are told in Metadata.
func (b *Broker) advertised() (string, int32) {
	addr := b.cfg.AdvertisedAddr
	if addr == "" {
		addr = b.ln.Addr().String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	// A wildcard listener (0.0.0.0, ::, or no host) is advertised as the
	// loopback address: the lab's clients run on this machine. Set
	// advertised.listeners for anything else.
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	p, _ := strconv.Atoi(port)
	return host, int32(p)
}

// Run serves clients until ctx is done, then shuts down: it stops
// accepting, lets in-flight requests finish (long polls return at once),
// closes the connections, and closes the log, which flushes it and leaves
// the clean-shutdown marker. It runs the acceptor, the log's background
// work, the group coordinator, the metrics server and the profiler, and waits for
// all of them. Run may be called once.
func (b *Broker) Run(ctx context.Context) error {
	ran := false
	b.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("broker: Run called twice")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			cancel()
		}
	}
	start := func(name string, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rpprof.Do(runCtx, rpprof.Labels("broker", name), func(context.Context) { fn() })
		}()
	}
	start("acceptor", func() { fail(b.accept(runCtx)) })
	start("storage", func() { fail(b.store.Run(runCtx)) })
	start("groups", func() { fail(b.groups.Run(runCtx)) })
	start("txns", func() { fail(b.txns.Run(runCtx)) })
	if b.metricsLn != nil {
		srv := b.metricsServer()
		start("metrics", func() {
			if err := srv.Serve(b.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("serving metrics on %s: %w", b.metricsLn.Addr(), err))
			}
		})
		start("metrics-stop", func() {
			<-runCtx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		})
	}
	if b.cfg.PyroscopeServer != "" {
		prof, err := pyroscope.Start(pyroscope.Config{
			ApplicationName: "brokerlab.broker",
			ServerAddress:   b.cfg.PyroscopeServer,
			Tags:            b.cfg.pyroscopeTags(),
			Logger:          pyroscopeLogger{b.logger.With("component", "pyroscope")},
		})
		if err != nil {
			fail(fmt.Errorf("starting pyroscope profiler for %s: %w", b.cfg.PyroscopeServer, err))
		} else {
			defer func() { _ = prof.Stop() }()
		}
	}
	b.logger.Info("broker serving", "addr", b.ln.Addr().String(), "log_dirs", b.cfg.LogDirs, "fetch_mode", b.cfg.FetchMode)
	select {
	case <-runCtx.Done():
	case <-b.closed:
	}
	cancel() // ends the log's, the group coordinator's and the metrics server's work
	b.logger.Info("broker shutting down")
	closeErr := b.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(append(errs, closeErr)...)
}

// MetricsAddr returns the address of the metrics server, or nil when it is off.
func (b *Broker) MetricsAddr() net.Addr {
	if b.metricsLn == nil {
		return nil
	}
	return b.metricsLn.Addr()
}

func (b *Broker) metricsServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{Registry: b.metrics.reg}))
	if !b.cfg.MetricsPprof {
		return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	// Off by default: /debug/pprof/cmdline shows the command line, and
	// profile and trace let any local user make the broker profile itself
	// for as long as they ask. Validate allows it on loopback only.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// accept runs the acceptor: one goroutine per connection, each added to
// connWG. It returns when Close closes the listener.
func (b *Broker) accept(ctx context.Context) error {
	var delay time.Duration
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE, ECONNABORTED and the like: back off and go on,
			// as net/http does; the broker stays up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.metrics.connErrors.WithLabelValues("accept").Inc()
			b.logger.Warn("accepting connection", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-b.closed:
				return nil
			}
			continue
		}
		delay = 0
		cc := b.newConn(nc)
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			_ = nc.Close()
			continue
		}
		if reason := b.limits.admit(cc.ip); reason != "" {
			b.mu.Unlock()
			b.metrics.connErrors.WithLabelValues(reason).Inc()
			b.logger.Debug("refusing connection", "remote", nc.RemoteAddr().String(), "reason", reason)
			_ = nc.Close()
			continue
		}
		b.conns[cc] = struct{}{}
		b.connWG.Add(1)
		b.mu.Unlock()
		b.metrics.connections.Inc()
		b.metrics.connectionsAccepted.Inc()
		go func() {
			defer b.connWG.Done()
			defer func() {
				b.mu.Lock()
				delete(b.conns, cc)
				b.limits.remove(cc.ip)
				b.mu.Unlock()
				b.metrics.connections.Dec()
			}()
			rpprof.Do(b.reqCtx, rpprof.Labels("broker", "conn"), func(context.Context) { cc.serve() })
		}()
	}
}

// Close shuts the broker down: it stops accepting, lets in-flight requests
// finish for up to drainTimeout, closes every connection, the group coordinator and
// the log (flush + clean-shutdown marker). It is idempotent; Run calls it
// when its context ends, and a Run in progress returns when Close is
// called directly.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		b.mu.Lock()
		b.closing = true
		conns := make([]*Conn, 0, len(b.conns))
		for cc := range b.conns {
			conns = append(conns, cc)
		}
		b.mu.Unlock()
		var errs []error
		if err := b.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("closing listener: %w", err))
		}
		// Stop reading new requests, end long polls; in-flight
		// requests still write their responses.
		for _, cc := range conns {
			cc.stopReading()
		}
		b.reqCancel()
		b.reqBudget.close()
		done := make(chan struct{})
		go func() { b.connWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(drainTimeout):
			b.logger.Warn("closing connections that did not drain", "timeout", drainTimeout)
			b.mu.Lock()
			for cc := range b.conns {
				_ = cc.nc.Close()
			}
			b.mu.Unlock()
			<-done
		}
		if err := b.txns.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing transaction coordinator: %w", err))
		}
		if err := b.groups.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing group coordinator: %w", err))
		}
		if err := b.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing log: %w", err))
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

var _ io.Closer = (*Broker)(nil)

// pyroscopeLogger adapts slog to pyroscope-go's logger.
type pyroscopeLogger struct{ l *slog.Logger }

func (p pyroscopeLogger) Infof(format string, args ...any) {
	p.l.Debug("pyroscope", "msg", fmt.Sprintf(format, args...))
}

func (p pyroscopeLogger) Debugf(format string, args ...any) {
	p.l.Debug("pyroscope", "msg", fmt.Sprintf(format, args...))
}

func (p pyroscopeLogger) Errorf(format string, args ...any) {
	p.l.Warn("pyroscope", "err", fmt.Sprintf(format, args...))
}
