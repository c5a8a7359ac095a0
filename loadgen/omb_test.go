package loadgen

import (
	"bytes"
	"encoding/json"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ombFields is every field of OMB's TestResult class
// (benchmark-framework/src/main/java/io/openmessaging/benchmark/TestResult.java),
// spelled as Jackson writes them. It is typed here from OMB's source, not
// derived from OMBResult, so a renamed or missing field fails the test.
var ombFields = []string{
	"workload", "driver", "messageSize", "topics", "partitions", "producersPerTopic", "consumersPerTopic",
	"publishRate", "publishErrorRate", "consumeRate", "backlog",
	"publishLatencyAvg", "publishLatency50pct", "publishLatency75pct", "publishLatency95pct",
	"publishLatency99pct", "publishLatency999pct", "publishLatency9999pct", "publishLatency99999pct",
	"publishLatencyMax",
	"publishDelayLatencyAvg", "publishDelayLatency50pct", "publishDelayLatency75pct",
	"publishDelayLatency95pct", "publishDelayLatency99pct", "publishDelayLatency999pct",
	"publishDelayLatency9999pct", "publishDelayLatency99999pct", "publishDelayLatencyMax",
	"aggregatedPublishLatencyAvg", "aggregatedPublishLatency50pct", "aggregatedPublishLatency75pct",
	"aggregatedPublishLatency95pct", "aggregatedPublishLatency99pct", "aggregatedPublishLatency999pct",
	"aggregatedPublishLatency9999pct", "aggregatedPublishLatency99999pct", "aggregatedPublishLatencyMax",
	"aggregatedPublishDelayLatencyAvg", "aggregatedPublishDelayLatency50pct",
	"aggregatedPublishDelayLatency75pct", "aggregatedPublishDelayLatency95pct",
	"aggregatedPublishDelayLatency99pct", "aggregatedPublishDelayLatency999pct",
	"aggregatedPublishDelayLatency9999pct", "aggregatedPublishDelayLatency99999pct",
	"aggregatedPublishDelayLatencyMax",
	"aggregatedPublishLatencyQuantiles", "aggregatedPublishDelayLatencyQuantiles",
	"endToEndLatencyAvg", "endToEndLatency50pct", "endToEndLatency75pct", "endToEndLatency95pct",
	"endToEndLatency99pct", "endToEndLatency999pct", "endToEndLatency9999pct",
	"endToEndLatency99999pct", "endToEndLatencyMax",
	"aggregatedEndToEndLatencyQuantiles",
	"aggregatedEndToEndLatencyAvg", "aggregatedEndToEndLatency50pct", "aggregatedEndToEndLatency75pct",
	"aggregatedEndToEndLatency95pct", "aggregatedEndToEndLatency99pct", "aggregatedEndToEndLatency999pct",
	"aggregatedEndToEndLatency9999pct", "aggregatedEndToEndLatency99999pct", "aggregatedEndToEndLatencyMax",
}

func TestOMBResultHasOMBFields(t *testing.T) {
	// A real run: make bench's half-rate load on the reference machine.
	r, err := ReadResult("testdata/omb_input.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteOMB(&buf); err != nil {
		t.Fatal(err)
	}

	t.Run("the keys are exactly OMB's", func(t *testing.T) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		want := append([]string(nil), ombFields...)
		sort.Strings(got)
		sort.Strings(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("OMB keys (-want +got):\n%s", diff)
		}
	})

	t.Run("it round-trips through a struct with OMB's field names", func(t *testing.T) {
		dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
		dec.DisallowUnknownFields()
		var back OMBResult
		if err := dec.Decode(&back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r.OMB(), back); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})

	t.Run("the values carry OMB's units", func(t *testing.T) {
		o := r.OMB()
		measured := 0
		for _, w := range r.Windows {
			if w.Phase == PhaseMeasure {
				measured++
			}
		}
		if measured == 0 || len(o.PublishRate) != measured || len(o.EndToEndLatency99pct) != measured {
			t.Errorf("per-window lists: %d publish rates, %d e2e p99s; want one per measured window (%d)",
				len(o.PublishRate), len(o.EndToEndLatency99pct), measured)
		}
		if got, want := o.AggregatedPublishLatency99pct, float64(r.Aggregate.PublishLatency.P99Us)/1000; got != want {
			t.Errorf("aggregatedPublishLatency99pct = %v ms, want %v (p99 %d µs)", got, want, r.Aggregate.PublishLatency.P99Us)
		}
		if got, want := o.AggregatedPublishDelayLatency99pct, r.Aggregate.PublishDelay.P99Us; got != want {
			t.Errorf("aggregatedPublishDelayLatency99pct = %v, want %v µs", got, want)
		}
		if o.AggregatedEndToEndLatency99999pct < o.AggregatedEndToEndLatency9999pct ||
			o.AggregatedEndToEndLatency99999pct > o.AggregatedEndToEndLatencyMax {
			t.Errorf("e2e p99.999 %v ms outside [p99.99 %v, max %v]", o.AggregatedEndToEndLatency99999pct,
				o.AggregatedEndToEndLatency9999pct, o.AggregatedEndToEndLatencyMax)
		}
		if bytes.Contains(buf.Bytes(), []byte("null")) {
			t.Errorf("OMB writes empty lists as [], found null:\n%.400s", buf.String())
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"50.0":`)) {
			t.Errorf("quantile keys are not written as Java doubles (want \"50.0\"):\n%.400s", buf.String())
		}
	})
}
