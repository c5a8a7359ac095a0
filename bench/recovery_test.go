package bench

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestMeasureSmall runs the whole benchmark in miniature against a freshly
// built bin/broker: 20 partitions, 4 MB, two thread counts, two pairs.
func TestMeasureSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and starts the broker 9 times")
	}
	bin := testutil.BuildBroker(t)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunRecovery(ctx, RecoveryConfig{
		BrokerPath: bin, WorkDir: work, Partitions: 20, LogBytes: 4_000_000, RecordSize: 1000,
		BatchRecords: 8, SegmentBytes: 100_000, Threads: []int{1, 4}, Pairs: 2, StartTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Data.Records != 4000 || rep.Data.LogFileBytes < 4_000_000 || rep.Data.SegmentFiles < 40 {
		t.Errorf("log built: %+v, want 4000 records in more than 4 MB of .log files, several segments per partition", rep.Data)
	}
	if len(rep.Runs) != 2*2*2 {
		t.Fatalf("%d runs, want 8", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		// Measure fails unless every partition was recovered; cold runs
		// start with (almost) nothing of the log cached.
		if r.RecoveredPartitions != 20 || r.Seconds <= 0 || r.RecoverySeconds <= 0 || r.RecoverySeconds > r.Seconds {
			t.Errorf("run %+v", r)
		}
		if r.Cache == Cold && r.ResidentBytes > rep.Data.DirBytes/10 {
			t.Errorf("cold run with %d of %d bytes resident", r.ResidentBytes, rep.Data.DirBytes)
		}
		if r.Cache == Warm && r.ResidentBytes < rep.Data.LogFileBytes/2 {
			t.Errorf("warm run with only %d of %d bytes resident", r.ResidentBytes, rep.Data.LogFileBytes)
		}
	}
	if got := len(rep.Summaries()); got != 4 {
		t.Errorf("%d summaries, want 4", got)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "cold") || !strings.Contains(buf.String(), "warm") {
		t.Errorf("table:\n%s", buf.String())
	}
	t.Logf("\n%s", buf.String())
}

func TestDropCache(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("x"), 1<<20)
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	before, err := ResidentBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := DropCache(dir); err != nil {
		t.Fatal(err)
	}
	after, err := ResidentBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before < 1<<19 || after > before/4 {
		t.Fatalf("resident %d bytes before DropCache, %d after; want most of 1 MiB, then little", before, after)
	}
}
