package bpf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsServer serves a Collector at /metrics over HTTP. Close stops it
// and waits for its goroutine; it is idempotent.
type MetricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	once sync.Once
}

// ServeMetrics listens on addr and serves p's readings at /metrics, with
// cfg's families and scope (see NewCollector, ScopeLabels), next to the
// serving process's own go_ and process_ metrics.
func ServeMetrics(addr string, p *Probes, cfg Config, logger *slog.Logger) (*MetricsServer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(p, cfg.withDefaults().Families, ScopeLabels(cfg))); err != nil {
		return nil, fmt.Errorf("registering the probe collector: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for probe metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &MetricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	// Owned by s: Close waits for it.
	go pprof.Do(context.Background(), pprof.Labels("component", "bpf", "role", "metrics-server"), func(context.Context) {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serving probe metrics", "addr", ln.Addr().String(), "err", err)
		}
	})
	logger.Info("serving probe metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return s, nil
}

// Addr returns the address the server listens on.
func (s *MetricsServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving and waits until the server's goroutine has returned.
func (s *MetricsServer) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		<-s.done
	})
	return err
}
