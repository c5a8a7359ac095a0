package tuning

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mustParsePlan is ParsePlan of src, failing the test on an error.
func mustParsePlan(t testing.TB, src string) *Plan {
	t.Helper()
	p, err := ParsePlan([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShippedPlansParse(t *testing.T) {
	files, err := filepath.Glob("../plans/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("plans: %v %v", files, err)
	}
	want := map[string]int{"quick.yaml": 2, "ab-fs.yaml": 8, "tune.yaml": 22, "overhead.yaml": 2, "overhead-fixed.yaml": 2, "flush.yaml": 8, "flush-max.yaml": 8, "runtime.yaml": 2}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := LoadPlan(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.CheckFiles(".."); err != nil {
				t.Error(err)
			}
			if n, ok := want[filepath.Base(f)]; ok && len(p.Cells()) != n {
				t.Errorf("%d cells, want %d", len(p.Cells()), n)
			}
			if got := len(p.Schedule()); got != len(p.Cells())*p.Repetitions {
				t.Errorf("schedule has %d runs, want cells x repetitions = %d", got, len(p.Cells())*p.Repetitions)
			}
		})
	}
}

const goodPlan = `
name: t
workload: workloads/w.yaml
driver: workloads/drivers/d.yaml
repetitions: 3
seed: 42
warmup: 1s
measure: 2s
base:
  disk: {kind: loop, size: 1GiB}
  filesystem: {type: ext4}
matrix:
  - name: fs
    levels:
      - name: ext4
        filesystem: {type: ext4, mount_options: [noatime, data=writeback]}
      - name: xfs
        filesystem: {type: xfs, mount_options: [logbsize=256k]}
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
      - {name: "10", sysctl: {vm.swappiness: "10"}}
`

func TestPlanValidateNamesKeyValueAndFix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace [2]string
		want    []string // substrings of the error
	}{
		{"missing workload", [2]string{"workload: workloads/w.yaml", "workload: \"\""},
			[]string{"workload", "missing", "workloads/"}},
		{"workload outside workloads", [2]string{"workload: workloads/w.yaml", "workload: /etc/w.yaml"},
			[]string{"workload", `"/etc/w.yaml"`, "relative"}},
		{"no repetitions", [2]string{"repetitions: 3", "repetitions: 0"},
			[]string{"repetitions: 0", "at least 1"}},
		{"short measure", [2]string{"measure: 2s", "measure: 10ms"},
			[]string{"measure: 10ms", "at least 1s"}},
		{"bad swappiness", [2]string{`{name: "10", sysctl: {vm.swappiness: "10"}}`, `{name: "10", sysctl: {vm.swappiness: "300"}}`},
			[]string{"matrix[1].levels[2].sysctl[vm.swappiness]", `"300"`, "0 to 200"}},
		{"xfs option on ext4", [2]string{"data=writeback", "logbufs=8"},
			[]string{"matrix[0].levels[0].filesystem.mount_options", `"logbufs=8"`, "xfs option"}},
		{"xfs on a small disk", [2]string{"size: 1GiB", "size: 128MiB"},
			[]string{"matrix[0].levels[1].disk.size", `"128MiB"`, "300MiB"}},
		{"unknown filesystem", [2]string{"type: xfs,", "type: btrfs,"},
			[]string{"filesystem.type", `"btrfs"`, "ext4 or xfs"}},
		{"one level", [2]string{"      - name: xfs\n        filesystem: {type: xfs, mount_options: [logbsize=256k]}\n", ""},
			[]string{"matrix[0].levels", "at least 2 levels"}},
		{"duplicate level", [2]string{`{name: "10",`, `{name: "1",`},
			[]string{"matrix[1].levels[2].name", `"1"`, "another level"}},
		{"knob in two dimensions", [2]string{`{name: "60", sysctl: {vm.swappiness: "60"}}`, `{name: "60", sysctl: {vm.swappiness: "60"}, filesystem: {type: ext4}}`},
			[]string{"matrix[1].levels[0]", "filesystem", "dimension fs sets this knob too"}},
		{"log.dirs override", [2]string{"  filesystem: {type: ext4}\n", "  filesystem: {type: ext4}\n  broker: {log.dirs: /tmp/x}\n"},
			[]string{"base.broker[log.dirs]", `"/tmp/x"`, "disk:"}},
		{"bad fetch mode", [2]string{"  filesystem: {type: ext4}\n", "  filesystem: {type: ext4}\n  broker: {brokerlab.fetch.mode: mmap}\n"},
			[]string{"base.broker[brokerlab.fetch.mode]", `"mmap"`, "sendfile, copy"}},
		{"bad GOMEMLIMIT", [2]string{"  filesystem: {type: ext4}\n", "  filesystem: {type: ext4}\n  runtime: {gomemlimit: 1G}\n"},
			[]string{"base.runtime.gomemlimit", `"1G"`, "GiB"}},
		{"bad GOMAXPROCS", [2]string{"  filesystem: {type: ext4}\n", "  filesystem: {type: ext4}\n  runtime: {gomaxprocs: all}\n"},
			[]string{"base.runtime.gomaxprocs", `"all"`, "positive number"}},
		{"bad objective", [2]string{"seed: 42", "seed: 42\nobjective: speed"},
			[]string{"objective", `"speed"`, "publish_p99"}},
		{"disk kind", [2]string{"kind: loop", "kind: nvme"},
			[]string{"base.disk.kind", `"nvme"`, "tmpfs-loop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(goodPlan, tc.replace[0], tc.replace[1], 1)
			if src == goodPlan {
				t.Fatalf("replacement %q not found", tc.replace[0])
			}
			_, err := ParsePlan([]byte(src))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPlanReportsEveryProblemAtOnce(t *testing.T) {
	_, err := ParsePlan([]byte("name: BAD\nworkload: w.yaml\nrepetitions: 0\nmeasure: 0s\n"))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{"name:", "workload:", "driver:", "repetitions:", "measure:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestPlanRejectsUnknownKeysWithTheirLine(t *testing.T) {
	_, err := ParsePlan([]byte(goodPlan + "repetition: 5\n"))
	if err == nil || !strings.Contains(err.Error(), "repetition") || !strings.Contains(err.Error(), "line") {
		t.Fatalf("err = %v, want one naming the unknown key and its line", err)
	}
}

func TestCheckFilesNamesMissingFiles(t *testing.T) {
	p := mustParsePlan(t, goodPlan)
	err := p.CheckFiles("..")
	if err == nil || !strings.Contains(err.Error(), `workload: "workloads/w.yaml"`) || !strings.Contains(err.Error(), `driver: "workloads/drivers/d.yaml"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCellsFullFactorial(t *testing.T) {
	p := mustParsePlan(t, goodPlan)
	var names []string
	for _, c := range p.Cells() {
		names = append(names, c.ID+" "+c.Name)
	}
	want := []string{
		"c01 fs=ext4,swappiness=60", "c02 fs=ext4,swappiness=1", "c03 fs=ext4,swappiness=10",
		"c04 fs=xfs,swappiness=60", "c05 fs=xfs,swappiness=1", "c06 fs=xfs,swappiness=10",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c := p.Cells()[4]
	if c.Settings.Filesystem.Type != "xfs" || c.Settings.Sysctl["vm.swappiness"] != "1" || c.Settings.Disk.Size != 1<<30 {
		t.Errorf("merged settings wrong: %+v", c.Settings)
	}
	if !slices.Equal(c.Settings.Filesystem.MountOptions, []string{"logbsize=256k"}) {
		t.Errorf("mount options %v", c.Settings.Filesystem.MountOptions)
	}
}

func TestCellsOneAtATime(t *testing.T) {
	p := mustParsePlan(t, goodPlan+"design: one-at-a-time\n")
	var names []string
	for _, c := range p.Cells() {
		names = append(names, c.Name)
	}
	want := []string{"baseline", "fs=xfs", "swappiness=1", "swappiness=10"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestScheduleInterleavesAndShufflesEachRound(t *testing.T) {
	p := mustParsePlan(t, goodPlan)
	runs := p.Schedule()
	n := len(p.Cells())
	orders := map[string]bool{}
	for r := 0; r < p.Repetitions; r++ {
		seen := map[string]bool{}
		var order []string
		for _, run := range runs[r*n : (r+1)*n] {
			if run.Round != r+1 {
				t.Fatalf("run %d in round %d, want %d", run.Order, run.Round, r+1)
			}
			seen[run.Cell.ID] = true
			order = append(order, run.Cell.ID)
		}
		if len(seen) != n {
			t.Errorf("round %d runs %d distinct cells, want all %d", r+1, len(seen), n)
		}
		orders[strings.Join(order, " ")] = true
	}
	if len(orders) < 2 {
		t.Errorf("every round has the same order: %v", orders)
	}
	// The same seed gives the same schedule; another seed another.
	again := p.Schedule()
	if !cmp.Equal(ids(runs), ids(again)) {
		t.Error("schedule is not reproducible from the seed")
	}
	p.Seed++
	if cmp.Equal(ids(runs), ids(p.Schedule())) {
		t.Error("another seed gave the same schedule")
	}
}

func ids(runs []Run) []string {
	var s []string
	for _, r := range runs {
		s = append(s, r.Cell.ID)
	}
	return s
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"4096": 4096, "64m": 64 << 20, "512MiB": 512 << 20, "2GiB": 2 << 30, "1.5GiB": 3 << 29, "10kB": 10000} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "1XB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q): want an error", bad)
		}
	}
	if s := ByteSize(3 << 30).String(); s != "3GiB" {
		t.Errorf("String = %s", s)
	}
}

func TestSettingsToBrokerProcess(t *testing.T) {
	s := Settings{
		Broker:  map[string]string{"log.flush.interval.ms": "100", "brokerlab.fetch.mode": "copy"},
		Runtime: &Runtime{GOGC: "50", GOMEMLIMIT: "1GiB", GOMAXPROCS: "1"},
	}
	if diff := cmp.Diff([]string{"--override", "brokerlab.fetch.mode=copy", "--override", "log.flush.interval.ms=100"}, s.Overrides()); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"GOGC=50", "GOMEMLIMIT=1GiB", "GOMAXPROCS=1"}, s.Runtime.Env()); diff != "" {
		t.Error(diff)
	}
	_ = time.Second
}

func TestPlanRefusesTooManyCellsWithoutMakingThem(t *testing.T) {
	src := "name: big\nworkload: workloads/w.yaml\ndriver: workloads/d.yaml\nrepetitions: 1\nmeasure: 1s\nmatrix:\n"
	for i := range 40 { // 2^40 cells if expanded
		src += fmt.Sprintf("  - name: d%d\n    levels:\n      - {name: a, broker: {k%d: \"1\"}}\n      - {name: b, broker: {k%d: \"2\"}}\n", i, i, i)
	}
	_, err := ParsePlan([]byte(src))
	if err == nil || !strings.Contains(err.Error(), "one-at-a-time") {
		t.Fatalf("err = %v", err)
	}
}
