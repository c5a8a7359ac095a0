package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// newTestProbes loads the given families scoped to this test process and
// closes them at the end of the test. A family that cannot load fails the
// test (or skips it where privileges are missing).
func newTestProbes(t testing.TB, cfg Config) *Probes {
	t.Helper()
	testutil.RequirePrivileged(t, "loading eBPF programs")
	if cfg.PID == 0 && cfg.Cgroup == "" {
		cfg.PID = os.Getpid()
	}
	p, err := New(cfg)
	if err != nil {
		testutil.Unavailable(t, "loading probes: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing probes: %v", err)
		}
	})
	for _, f := range cfg.Families {
		if err := p.Err(f); errors.Is(err, ebpf.ErrNotSupported) {
			testutil.Unavailable(t, "probe family %s: %v", f, err)
		} else if err != nil {
			t.Fatalf("probe family %s failed to load (not a missing kernel feature): %v", f, err)
		}
	}
	return p
}

func snapshot(t testing.TB, p *Probes) Snapshot {
	t.Helper()
	s, err := p.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}
