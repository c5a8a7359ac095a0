package tuning

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerlab/brokerlab/internal/profiling"
)

func TestProfileOverridesGiveThePprofListenerAndTags(t *testing.T) {
	r := &Runner{cfg: RunnerConfig{Plan: &Plan{Name: "quick"}, Profiles: []profiling.Kind{profiling.CPU, profiling.Mutex},
		Pyroscope: "http://127.0.0.1:4040"}}
	got, base, err := r.profileOverrides(Cell{ID: "c02"}, Run{Round: 3}, []string{"--override", "log.flush.sync.on.ack=true"})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(base, "http://")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("pprof base %q, want a loopback address", base)
	}
	want := []string{"--override", "log.flush.sync.on.ack=true",
		"--override", "brokerlab.metrics.listen=" + addr, "--override", "brokerlab.metrics.pprof=true",
		"--override", "brokerlab.metrics.pprof.mutex.fraction=1",
		"--override", "brokerlab.pyroscope.server=http://127.0.0.1:4040",
		"--override", "brokerlab.pyroscope.tags=plan=quick,cell=c02,rep=3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
	r.cfg.Profiles, r.cfg.Pyroscope = nil, ""
	if got, base, _ := r.profileOverrides(Cell{ID: "c02"}, Run{Round: 3}, nil); got != nil || base != "" {
		t.Errorf("without profiles: overrides %v, base %q; want none", got, base)
	}
}
