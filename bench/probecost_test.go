package bench

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

func TestProbeCostDefaultsAreAValidWorkload(t *testing.T) {
	var cfg ProbeCostConfig
	cfg.setDefaults()
	if cfg.Workload.ProducerRate != 20000 || cfg.Workload.PartitionsPerTopic != 16 || cfg.Pairs != 10 {
		t.Errorf("defaults %+v, %d pairs; want 20k/s over 16 partitions, 10 pairs", cfg.Workload, cfg.Pairs)
	}
}

func TestProbeCostComparesWithinPairs(t *testing.T) {
	rep := &ProbeCostReport{Rate: 20000, Size: 1024, Pairs: 10}
	for round := range 10 {
		drift := 1 + 0.5*float64(round%4)
		for _, arm := range []string{ProbesNone, ProbesAll} {
			cpu := 1.0 * drift
			if arm == ProbesAll {
				cpu *= 1.02
			}
			rep.Passes = append(rep.Passes, ProbeCostPass{Arm: arm, Round: round, PublishP99Us: 3000,
				Server: ServerUse{UserSeconds: cpu / 2, SystemSeconds: cpu / 2, Bytes: 1e9, Records: 1e6}})
		}
	}
	s := rep.Summaries()[0]
	if s.Metric != "server CPU s/GB" || math.Abs(s.Ratio.Ratio-1.02) > 1e-9 || math.Abs(s.Ratio.Lo-1.02) > 1e-9 || s.Ratio.N != 10 {
		t.Errorf("%s all/none = %+v, want 1.02 with no spread over 10 pairs", s.Metric, s.Ratio)
	}
	if v := rep.Verdict(); !strings.Contains(v, "+2.0% CPU per GB") || !strings.Contains(v, "+2.0% to +2.0%") {
		t.Errorf("verdict %q, want +2.0%% with its interval", v)
	}
}

// TestProbeCostInMiniature runs one pair and the attribution pass against a
// freshly built broker: the probes attach to it, and the attribution names
// programs that ran during its load.
func TestProbeCostInMiniature(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs")
	if testing.Short() {
		t.Skip("-short: builds and loads the broker three times")
	}
	bin := filepath.Join(testutil.GoBuild(t, t.TempDir(), "../cmd/broker"), "broker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunProbeCost(ctx, ProbeCostConfig{BrokerPath: bin, WorkDir: t.TempDir(), Pairs: 1,
		Warmup: time.Second, Measure: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Passes) != 2 {
		t.Fatalf("%d passes, want one per arm", len(rep.Passes))
	}
	a := rep.Attribution
	if a == nil {
		t.Fatal("no attribution pass")
	}
	if a.Server.CPUSeconds() <= 0 || a.Seconds <= 0 || a.Runtime() <= 0 {
		t.Fatalf("attribution: broker CPU %.3f s over %.1f s, programs %v", a.Server.CPUSeconds(), a.Seconds, a.Runtime())
	}
	// The load sends and receives on the broker's sockets all along: the
	// socket-buffer family's send hook must have run.
	i := slices.IndexFunc(a.Programs, func(p bpf.ProgramRun) bool {
		return p.Family == bpf.FamilySockBuf && p.Section == "tp_btf/sock_send_length"
	})
	if i < 0 || a.Programs[i].Runs == 0 {
		t.Errorf("sock_send_length did not run under the load: %+v", a.Programs)
	}
	var buf bytes.Buffer
	if err := rep.WriteAttribution(&buf, true); err != nil {
		t.Fatal(err)
	}
	text := rep.AttributionText()
	if !strings.Contains(text, string(a.Programs[0].Family)+" "+a.Programs[0].Section) {
		t.Errorf("attribution %q does not name the longest-running program %+v", text, a.Programs[0])
	}
	t.Logf("%s\n%s", buf.String(), text)
}
