package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning/host"
)

// TestPowerCutFsyncOnAckLosesNothing cuts the power 5 times per filesystem
// semantics under idempotent acks=all load with fsync before ack, on the
// FUSE power-cut filesystem (segment rolls, a topic created mid-run and
// retention deletes included): no acknowledged record may be lost, no
// corrupt batch served, and the broker must start every time. `make
// bench-powercut` runs every flush policy with 50 trials.
func TestPowerCutFsyncOnAckLosesNothing(t *testing.T) {
	testutil.RequireFUSE(t, "FUSE mounts (the power-cut filesystem)")
	session, _, err := host.Open(host.Config{StateDir: filepath.Join(t.TempDir(), "journal")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := session.Close(); err != nil {
			t.Errorf("restoring the host: %v", err)
		}
	}()
	rep, err := bench.RunPowercut(context.Background(), bench.PowercutConfig{
		BrokerPath: bin("broker"), WorkDir: t.TempDir(), Session: session, Trials: 5,
		Policies: []bench.FlushPolicy{bench.FlushPolicies[3]}, // fsync-on-ack
	})
	if err != nil {
		t.Fatal(err)
	}
	var acked int64
	for _, tr := range rep.Trials {
		acked += tr.Acked
		if tr.Lost > 0 || tr.Corrupt > 0 || !tr.Started || tr.Duplicates > 0 || tr.OutOfOrder > 0 {
			t.Errorf("%s trial %d (cut after %v): %d acknowledged, %d lost, %d corrupt served, %d duplicates, %d out of order, started %v %s",
				tr.Semantics, tr.N+1, tr.CutAfter, tr.Acked, tr.Lost, tr.Corrupt, tr.Duplicates, tr.OutOfOrder, tr.Started, tr.StartError)
		}
	}
	if acked == 0 {
		t.Fatal("no record was acknowledged in any trial: the test proved nothing")
	}
	t.Logf("%d power cuts, %d acknowledged records (seed %d)", len(rep.Trials), acked, rep.Seed)
}
