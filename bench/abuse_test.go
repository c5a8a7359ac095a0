package bench

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestAbuseShort runs the soak in miniature against a freshly built
// bin/broker: one round, a few seconds of each phase, every class of the mix
// pointed at limits low enough to be met at once. It checks what does not
// depend on timing — every acknowledged record in the log and consumed by
// the group, the broker alive and stopped cleanly, its RSS under the bound,
// every class of the mix run — never the throughput ratio.
func TestAbuseShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and soaks the broker")
	}
	bin := testutil.BuildBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunAbuse(ctx, AbuseConfig{
		BrokerPath: bin, WorkDir: t.TempDir(), Duration: 12 * time.Second, Rounds: 1, Solo: 4 * time.Second,
		Warmup: 3 * time.Second, Rate: 2000,
		Limits: AbuseLimits{MaxConnections: 300, MaxConnectionsPerIP: 64, IdleTimeout: 3 * time.Second, FetchMaxWait: 4 * time.Second,
			QueuedMaxBytes: 8 << 20},
		Mix: AbuseMix{SilentConns: 10, LongPolls: 20, FloodTotalEvery: time.Second, FloodPause: time.Second, ChurnMembers: 4,
			JoinStormPerSecond: 50, FillHold: 2 * time.Second},
		Seed:   1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	if err := rep.Invariants(); err != nil {
		t.Error(err)
	}
	if rep.Check.Acked == 0 || rep.Consumed < rep.Check.Acked {
		t.Errorf("%d acknowledged, %d consumed: want some, all consumed", rep.Check.Acked, rep.Consumed)
	}
	for c := range classSource {
		if len(rep.Outcomes[string(c)]) == 0 {
			t.Errorf("class %s recorded no outcome", c)
		}
	}
	if len(rep.Outcomes[string(classFloodTotal)]) == 0 {
		t.Errorf("the flood past max.connections did not run")
	}
	if !strings.Contains(buf.String(), "abuse/solo acked records/s") {
		t.Errorf("table:\n%s", buf.String())
	}
}
