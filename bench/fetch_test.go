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
				Server: ServerUse{UserSeconds: 0.1, SystemSeconds: 0.2, PeakRSS: 30 << 20, Bytes: 1e9}},
			FetchPass{Mode: "copy", Reader: ReaderNull, Round: round,
				Null:   &loadgen.NullFetchResult{RecordBytes: int64(0.5 * ceil * 1e6), Elapsed: time.Second},
				Server: ServerUse{UserSeconds: 0.4, SystemSeconds: 0.5, PeakRSS: 60 << 20, Bytes: 1e9}},
			FetchPass{Mode: "sendfile", Reader: ReaderRdkafka, Round: round, Read: rdkperf.Result{Bytes: 5e8, Elapsed: time.Second}})
	}
	modes := []string{"sendfile", "copy"}
	var null FetchModeSummary
	for _, s := range rep.Summaries(modes) {
		if s.Reader == ReaderNull && s.Mode == "sendfile" {
			null = s
		}
		if s.Reader == ReaderNull && s.Mode == "copy" {
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"CPU/GB", s.VsFirstCPU.Ratio, 3},
				{"user CPU/GB", s.VsFirstUser.Ratio, 4},
				{"system CPU/GB", s.VsFirstSystem.Ratio, 2.5},
				{"peak RSS", s.VsFirstPeakRSS.Ratio, 2},
			} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("copy's %s against sendfile's = %v, want %v", c.what, c.got, c.want)
				}
			}
		}
	}
	if math.Abs(null.OfRoundCeiling.Ratio-0.9) > 1e-9 || null.AboveRoundCeiling != 1 || null.OfRoundCeiling.N != 5 {
		t.Errorf("null consumer against its rounds' ceilings: %+v, %d above; want 90%% over 5 rounds, 1 above", null.OfRoundCeiling, null.AboveRoundCeiling)
	}
	v := strings.Join(rep.Verdicts(modes), "\n")
	for _, want := range []string{"0.300 CPU s/GB in sendfile mode (user 0.100 + system 0.200)",
		"sendfile uses 0.33x of copy's CPU per GB", "user 0.25x, CI 0.25x .. 0.25x; system 0.40x",
		"Peak RSS over a read: 30.0 MiB in sendfile mode, 60.0 MiB in copy mode (0.50x", "reached 90.0%", "1 of 5 passes were faster than their round's ceiling: ceiling too low"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdicts lack %q:\n%s", want, v)
		}
	}
}
