// Package brokertest runs the project's broker in-process for the tests of
// the packages that drive it from outside (loadgen, bpf): on a loopback
// port with a fresh log dir, stopped at cleanup. The broker's own tests
// keep their helpers in package broker; this package imports it, so
// internal/testutil, which the broker's tests use, cannot hold it.
//
//	addr := brokertest.Start(t, func(cfg *broker.Config) { cfg.FetchMode = broker.FetchModeCopy })
//	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
package brokertest

import (
	"context"
	"net"
	"testing"

	"github.com/brokerlab/brokerlab/broker"
)

// Start runs a broker with broker.DefaultConfig, a fresh log dir from
// tb.TempDir and a listener on 127.0.0.1:0, changed by configure if it is
// not nil, and returns its address. Cleanup stops the broker and waits for
// Run to return; an error from Run fails the test.
func Start(tb testing.TB, configure func(*broker.Config)) string {
	tb.Helper()
	cfg := broker.DefaultConfig()
	cfg.LogDirs = []string{tb.TempDir()}
	if configure != nil {
		configure(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Listener = ln
	b, err := broker.New(cfg)
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("broker: %v", err)
		}
	})
	return ln.Addr().String()
}
