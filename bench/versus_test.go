package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// versusSample is a pass that moved mb MB in one second each way with
// cpu seconds of server CPU per pass.
func versusSample(target string, round, partitions int, mb, cpu float64) VersusSample {
	res := rdkperf.Result{Messages: int64(mb * 1e6 / 1024), Bytes: int64(mb * 1e6), Elapsed: time.Second}
	use := ServerUse{UserSeconds: cpu / 2, SystemSeconds: cpu / 2, Bytes: res.Bytes, Records: res.Messages}
	return VersusSample{Target: target, Round: round, Size: 1024, Partitions: partitions, Produce: res, Consume: res, ProduceUse: use, ConsumeUse: use}
}

func TestVersusSummariesPairRounds(t *testing.T) {
	rep := &VersusReport{Size: 1024, Pairs: 6}
	for round := range 6 {
		drift := 1 + float64(round%3) // the machine's load changes between rounds
		rep.Samples = append(rep.Samples,
			versusSample(TargetBroker, round, 1, 500/drift, 0.5),
			versusSample(TargetKfake, round, 1, 400/drift, 1.0),
			versusSample(TargetBroker, round, 1000, 450/drift, 0.5),
			versusSample(TargetKfake, round, 1000, 300/drift, 1.0))
	}
	s, ok := rep.Summary(VersusCell{Size: 1024, Partitions: 1}, "produce MB/s")
	if !ok {
		t.Fatal("no produce MB/s summary for 1 KiB x 1 partition")
	}
	if math.Abs(s.Ratio-1.25) > 1e-6 || math.Abs(s.CILo-1.25) > 1e-6 || math.Abs(s.CIHi-1.25) > 1e-6 || s.Pairs != 6 {
		t.Errorf("broker/kfake produce MB/s = %+v, want exactly 1.25 in every pair despite the drift", s)
	}
	// CPU per GB: 0.5 s over 500/drift MB against 1.0 s over 400/drift MB.
	s, _ = rep.Summary(VersusCell{Size: 1024, Partitions: 1}, "produce server CPU s/GB")
	if want := (0.5 / 500) / (1.0 / 400); math.Abs(s.Ratio-want) > 1e-6 {
		t.Errorf("broker/kfake CPU s/GB = %v, want %v", s.Ratio, want)
	}
	var found bool
	for _, sc := range rep.Scaling() {
		if sc.Target == TargetBroker && sc.Partitions == 1000 && sc.Metric == "produce MB/s" {
			found = true
			if math.Abs(sc.Ratio.Ratio-0.9) > 1e-6 || sc.Ratio.N != 6 {
				t.Errorf("broker 1000 partitions / 1 partition produce MB/s = %+v, want 0.9 over 6 pairs", sc.Ratio)
			}
		}
	}
	if !found {
		t.Error("no scaling row for the broker's produce MB/s at 1000 partitions")
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out, true); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteScalingTable(&out, true); err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "the tables' text", out.String(), "1 KiB x 1000 partitions", "produce server CPU s/GB", "1.25x .. 1.25x", "0.90x")
}

func TestVersusReadsFilesWrittenBeforeCells(t *testing.T) {
	rep := &VersusReport{Size: 1024, Pairs: 1, Samples: []VersusSample{
		{Target: TargetBroker, Produce: rdkperf.Result{Bytes: 2e6, Elapsed: time.Second}},
		{Target: TargetKfake, Produce: rdkperf.Result{Bytes: 1e6, Elapsed: time.Second}},
	}}
	s, ok := rep.Summary(VersusCell{Size: 1024, Partitions: 1}, "produce MB/s")
	if !ok || s.Ratio != 2 || s.Broker != 2 {
		t.Errorf("an old file's samples read as %+v (found %v), want the 1 KiB x 1 partition cell with ratio 2", s, ok)
	}
}

// TestCreateTopicAcceptsItsOwnEarlierCreation creates a topic twice, as a
// client resending a slow creation does: the second call finds the topic
// with the partitions asked for and succeeds; asking for another count
// fails.
func TestCreateTopicAcceptsItsOwnEarlierCreation(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	ctx := context.Background()
	for i := range 2 {
		if err := createTopic(ctx, addr, "twice", 3, nil); err != nil {
			t.Fatalf("creation %d: %v", i+1, err)
		}
	}
	if err := createTopic(ctx, addr, "twice", 4, nil); err == nil {
		t.Error("creating an existing topic of 3 partitions with 4 succeeded")
	}
}

// TestVersusMetricsReadTheirPass: the report's rows come in their order,
// each named after and reading its own pass of a sample.
func TestVersusMetricsReadTheirPass(t *testing.T) {
	s := VersusSample{CreateSeconds: 0.25,
		Produce:    rdkperf.Result{Messages: 2e6, Bytes: 2e9, Elapsed: time.Second},
		Consume:    rdkperf.Result{Messages: 3e6, Bytes: 6e9, Elapsed: 4 * time.Second},
		ProduceUse: ServerUse{UserSeconds: 1, SystemSeconds: 3, Bytes: 2e9, Records: 2e6, PeakRSS: 64 << 20},
		ConsumeUse: ServerUse{UserSeconds: 5, SystemSeconds: 7, Bytes: 6e9, Records: 3e6, PeakRSS: 96 << 20}}
	type row struct {
		name string
		v    float64
	}
	want := []row{{"topic creation s", 0.25}}
	for _, p := range []struct {
		name string
		r    rdkperf.Result
		u    ServerUse
	}{{"produce", s.Produce, s.ProduceUse}, {"consume", s.Consume, s.ConsumeUse}} {
		want = append(want, row{p.name + " MB/s", p.r.MBps()}, row{p.name + " records/s", p.r.MsgsPerSec()},
			row{p.name + " server CPU s/GB", p.u.CPUPerGB()}, row{p.name + " server user s/GB", p.u.UserPerGB()},
			row{p.name + " server system s/GB", p.u.SystemPerGB()}, row{p.name + " server CPU s/M records", p.u.CPUPerMRecords()},
			row{p.name + " server peak RSS MiB", float64(p.u.PeakRSS) / (1 << 20)})
	}
	var got []row
	for _, m := range versusMetrics {
		got = append(got, row{m.name, m.f(s)})
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
	if want[2].v == want[9].v || want[4].v == want[11].v {
		t.Fatal("the sample does not tell the passes apart")
	}
}

func TestVersusRefusesABrokerEnvironmentEntryWithoutKeyAndValue(t *testing.T) {
	cfg := VersusConfig{BrokerPath: "/bin/true", KfakePath: "/bin/true", RdkPerfPath: "/bin/true", WorkDir: t.TempDir(),
		BrokerEnv: []string{"GOMAXPROCS=1", "GOGC", "=off"}}
	cfg.setDefaults()
	err := cfg.Validate()
	for _, want := range []string{`"GOGC": want KEY=VALUE`, `"=off": want KEY=VALUE`} {
		testutil.Contains(t, "Validate's error", fmt.Sprint(err), want)
	}
	if strings.Contains(fmt.Sprint(err), `"GOMAXPROCS=1"`) {
		t.Errorf("Validate refused the good entry GOMAXPROCS=1: %v", err)
	}
	cfg.BrokerEnv = []string{"GOMAXPROCS=1", "GODEBUG=schedtrace=2147483647"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with a good environment: %v", err)
	}
}
