package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/loadgen"
)

func TestFetchSummariesReadEachRoundsCeiling(t *testing.T) {
	rep := &FetchReport{Ceilings: &loadgen.Ceilings{SendfileMBps: 2000}}
	for round := range 5 {
		ceil := 1000 * float64(1+round%2) // the machine's ceiling moves between rounds
		rep.RoundSendfileMBps = append(rep.RoundSendfileMBps, ceil)
		null := 0.9 * ceil
		if round == 4 {
			null = 1.1 * ceil // faster than its round's ceiling
		}
		rep.Passes = append(rep.Passes,
			FetchPass{Mode: "sendfile", Reader: ReaderNull, Round: round,
				Null:   &loadgen.NullFetchResult{RecordBytes: int64(null * 1e6), Elapsed: time.Second},
				Server: ServerUse{SystemSeconds: 0.2, Bytes: 1e9}},
			FetchPass{Mode: "copy", Reader: ReaderNull, Round: round,
				Null:   &loadgen.NullFetchResult{RecordBytes: int64(0.5 * ceil * 1e6), Elapsed: time.Second},
				Server: ServerUse{SystemSeconds: 0.5, Bytes: 1e9}},
			FetchPass{Mode: "sendfile", Reader: ReaderRdkafka, Round: round, Read: rdkperf.Result{Bytes: 5e8, Elapsed: time.Second}})
	}
	modes := []string{"sendfile", "copy"}
	var null FetchModeSummary
	for _, s := range rep.Summaries(modes) {
		if s.Reader == ReaderNull && s.Mode == "sendfile" {
			null = s
		}
		if s.Reader == ReaderNull && s.Mode == "copy" && math.Abs(s.VsFirstCPU.Ratio-2.5) > 1e-9 {
			t.Errorf("copy's CPU/GB against sendfile's = %v, want 2.5", s.VsFirstCPU.Ratio)
		}
	}
	if math.Abs(null.OfRoundCeiling.Ratio-0.9) > 1e-9 || null.AboveRoundCeiling != 1 || null.OfRoundCeiling.N != 5 {
		t.Errorf("null consumer against its rounds' ceilings: %+v, %d above; want 90%% over 5 rounds, 1 above", null.OfRoundCeiling, null.AboveRoundCeiling)
	}
	v := strings.Join(rep.Verdicts(modes), "\n")
	for _, want := range []string{"sendfile uses 0.40x of copy's CPU per GB", "reached 90.0%", "1 of 5 passes were faster than their round's ceiling: ceiling too low"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdicts lack %q:\n%s", want, v)
		}
	}
}
