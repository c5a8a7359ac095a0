package bench

import (
	"math"
	"strings"
	"testing"
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
