package rdkperf

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		file string
		mode Mode
		want Result
	}{
		{"produce.txt", Produce, Result{Mode: Produce, Messages: 50000, Bytes: 51200000, Elapsed: 1267 * time.Millisecond}},
		{"consume.txt", Consume, Result{Mode: Consume, Messages: 50000, Bytes: 51200000, Elapsed: 330 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tt.mode, b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCountsOnlyDeliveredBytes(t *testing.T) {
	out := []byte("|    elapsed |       msgs |      bytes |        rtt |         dr |     dr_m/s |    dr_MB/s |     dr_err |     tx_err |       outq |     offset \n" +
		"|       1000 |      100 |   102400 |        1 |      40 |      40 |      0.04 |          60 |          0 |      0 |      39 \n")
	got, err := Parse(Produce, out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Messages != 40 || got.Bytes != 40*1024 || got.Errors != 60 {
		t.Errorf("got %+v, want 40 messages, %d bytes, 60 errors", got, 40*1024)
	}
}

func TestParseRejectsOutputWithoutStatistics(t *testing.T) {
	if _, err := Parse(Consume, []byte("% ERROR: something\n")); err == nil {
		t.Fatal("Parse accepted output without a statistics row")
	}
}
