package e2e

import (
	"context"
	"testing"

	"github.com/brokerlab/brokerlab/bench"
)

// TestKillLosesNoAcknowledgedRecord SIGKILLs the broker (fsync before ack)
// 20 times under idempotent acks=all load and checks after each restart that
// every acknowledged record is at its acknowledged offset, once, in order.
// `make bench-kill` runs the same with 100 trials.
func TestKillLosesNoAcknowledgedRecord(t *testing.T) {
	rep, err := bench.RunKill(context.Background(), bench.KillConfig{
		BrokerPath: bin("broker"), WorkDir: t.TempDir(), Trials: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range rep.Trials {
		if !tr.OK() {
			t.Errorf("trial %d (killed after %v): %d acknowledged, %d lost, %d duplicates, %d out of order",
				tr.Trial+1, tr.KilledAfter, tr.Acked, tr.Lost, tr.Duplicates, tr.OutOfOrder)
		}
	}
	tot := rep.Totals()
	if tot.Acked == 0 {
		t.Fatal("no record was acknowledged in any trial: the test proved nothing")
	}
	t.Logf("%d trials: %d acknowledged, %d lost, %d duplicates, %d unacknowledged but present (seed %d)",
		len(rep.Trials), tot.Acked, tot.Lost, tot.Duplicates, tot.Unacked, rep.Seed)
}

// TestKillTxnExactlyOnce SIGKILLs the broker during a stream of
// transactions 3 times; after each restart a read_committed consumer must
// see every committed transaction exactly once and nothing of an aborted
// or unfinished one. `make bench-kill-txn` runs the same with 20 trials.
func TestKillTxnExactlyOnce(t *testing.T) {
	rep, err := bench.RunKillTxn(context.Background(), bench.KillTxnConfig{KillConfig: bench.KillConfig{
		BrokerPath: bin("broker"), WorkDir: t.TempDir(), Trials: 3,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range rep.Trials {
		if !tr.OK() {
			t.Errorf("trial %d (killed after %v): %d committed missing, %d uncommitted visible, %d partial, %d duplicates",
				tr.Trial+1, tr.KilledAfter, tr.MissingCommitted, tr.VisibleUncommitted, tr.Partial, tr.Duplicates)
		}
	}
	tot := rep.Totals()
	if tot.Committed == 0 || tot.Aborted == 0 {
		t.Fatalf("%d committed and %d aborted transactions in all trials: the test proved nothing", tot.Committed, tot.Aborted)
	}
	t.Logf("%d trials: %d committed (%d records), %d aborted, %d in doubt, %d open (seed %d)",
		len(rep.Trials), tot.Committed, tot.Records, tot.Aborted, tot.InDoubt, tot.Open, rep.Seed)
}
