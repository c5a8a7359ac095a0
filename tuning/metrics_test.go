package tuning

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
)

// get returns metric key's value of m in the unit the tables show.
func get(t *testing.T, key string, m Measurement) (float64, bool) {
	t.Helper()
	metric, err := MetricByKey(key)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := metric.Get(m)
	return v * metric.Scale, ok
}

func TestBrokerCostMetricsDivideTheProcWindowByWhatWasProduced(t *testing.T) {
	m := Measurement{
		Proc: &procsample.Sample{Process: &procsample.Process{
			UserSeconds: 2.5, SystemSeconds: 6.5, CPUSeconds: 9, PeakRSS: 48 << 20,
		}},
		Produced: &Produced{Bytes: 200e6, Records: 200_000},
	}
	for key, want := range map[string]float64{
		"cpu_per_gb":       45,   // 9 s / 0.2 GB
		"user_per_gb":      12.5, // 2.5 s / 0.2 GB
		"system_per_gb":    32.5, // 6.5 s / 0.2 GB
		"cpu_per_mrecords": 45,   // 9 s / 0.2 M records
		"peak_rss":         48,   // MiB
	} {
		got, ok := get(t, key, m)
		if !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, %v; want %v, true", key, got, ok, want)
		}
	}
}

func TestBrokerCostMetricsAreNotMeasuredWithoutTheirInputs(t *testing.T) {
	proc := &procsample.Sample{Process: &procsample.Process{UserSeconds: 1, SystemSeconds: 1}}
	for name, m := range map[string]Measurement{
		"without a /proc window":       {Produced: &Produced{Bytes: 1e9, Records: 1e6}},
		"without the broker's process": {Proc: &procsample.Sample{}, Produced: &Produced{Bytes: 1e9, Records: 1e6}},
		"without produced counts":      {Proc: proc},
		"when nothing was produced":    {Proc: proc, Produced: &Produced{}},
	} {
		for _, key := range []string{"cpu_per_gb", "cpu_per_mrecords", "user_per_gb", "system_per_gb", "peak_rss"} {
			if v, ok := get(t, key, m); ok {
				t.Errorf("%s: %s = %v, want not measured", name, key, v)
			}
		}
	}
}

func TestMeasurementCountsWhatWasProducedInEveryPhase(t *testing.T) {
	res := &loadgen.Result{
		Windows: []loadgen.Window{
			{Phase: "warmup", PublishBytes: 50e6, Acked: 50_000},
			{Phase: "measure", PublishBytes: 150e6, Acked: 150_000},
			{Phase: "tail", PublishBytes: 1024, Acked: 1},
		},
		Totals: loadgen.Totals{Acked: 200_001},
	}
	m, _ := measurementOf(res)
	if want := (Produced{Bytes: 200e6 + 1024, Records: 200_001}); m.Produced == nil || *m.Produced != want {
		t.Errorf("Produced = %+v, want %+v", m.Produced, want)
	}
}

func TestReadRecordsTakesWhatWasProducedFromAnOlderRunsLoadgenResult(t *testing.T) {
	dir := t.TempDir()
	writeJSON := func(rel string, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON("loadgen/c01-r1.json", loadgen.Result{
		SchemaVersion: loadgen.SchemaVersion,
		Windows:       []loadgen.Window{{Phase: "warmup", PublishBytes: 1e6}, {Phase: "measure", PublishBytes: 3e6}},
		Totals:        loadgen.Totals{Acked: 4000},
	})
	// As an older lab wrote them: no produced counts in the run file.
	writeJSON("runs/c01-r1.json", Record{Cell: "c01", Repetition: 1, LoadgenResult: "loadgen/c01-r1.json"})
	writeJSON("runs/c01-r2.json", Record{Cell: "c01", Repetition: 2, LoadgenResult: "loadgen/c01-r2.json"})
	writeJSON("runs/c01-r3.json", Record{Cell: "c01", Repetition: 3, LoadgenResult: "loadgen/c01-r1.json",
		Measurement: Measurement{Produced: &Produced{Bytes: 7, Records: 1}}})

	recs, err := ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("read %d records, want 3", len(recs))
	}
	if got, want := recs[0].Measurement.Produced, (Produced{Bytes: 4e6, Records: 4000}); got == nil || *got != want {
		t.Errorf("run with a load generator result: Produced = %+v, want %+v", got, want)
	}
	if got := recs[1].Measurement.Produced; got != nil {
		t.Errorf("run whose load generator result is gone: Produced = %+v, want nil", got)
	}
	if got, want := recs[2].Measurement.Produced, (Produced{Bytes: 7, Records: 1}); got == nil || *got != want {
		t.Errorf("run that recorded its own counts: Produced = %+v, want %+v", got, want)
	}
}
