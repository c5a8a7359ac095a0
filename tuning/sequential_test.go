package tuning

import (
	"math"
	"strings"
	"testing"
	"time"
)

const seqPlan = `
name: seq
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 20
warmup: 1s
measure: 2s
sequential:
  min_repetitions: 6
  budget: 10m
  targets:
    - {metric: publish_p99, half_width: 0.15, where: {durability: page-cache}}
matrix:
  - name: fs
    levels:
      - {name: ext4, filesystem: {type: ext4}}
      - {name: xfs, filesystem: {type: xfs}}
  - name: durability
    levels:
      - {name: page-cache, broker: {log.flush.sync.on.ack: "false"}}
      - {name: fsync-on-ack, broker: {log.flush.sync.on.ack: "true"}}
`

// records makes rounds of every cell with publish p99 from f(cell, round).
func seqRecords(p *Plan, rounds int, f func(c Cell, round int) float64) []Record {
	var out []Record
	for _, run := range p.Schedule() {
		if run.Round > rounds {
			break
		}
		out = append(out, NewRecord(p, run, Measurement{PublishP99: f(run.Cell, run.Round)}))
	}
	return out
}

func TestComparisonsPairEachLevelWithItsReference(t *testing.T) {
	p := mustParsePlan(t, seqPlan)
	var got []string
	for _, c := range p.Comparisons() {
		got = append(got, c[0].Name+" vs "+c[1].Name)
	}
	want := "fs=ext4,durability=page-cache vs fs=xfs,durability=page-cache; fs=ext4,durability=fsync-on-ack vs fs=xfs,durability=fsync-on-ack; " +
		"fs=ext4,durability=page-cache vs fs=ext4,durability=fsync-on-ack; fs=xfs,durability=page-cache vs fs=xfs,durability=fsync-on-ack"
	if s := strings.Join(got, "; "); s != want {
		t.Errorf("comparisons:\n%s\nwant\n%s", s, want)
	}
}

func TestSequentialStopsWhenTargetsAreMetOrTheBudgetRunsOut(t *testing.T) {
	p := mustParsePlan(t, seqPlan)
	tight := func(c Cell, round int) float64 { return 0.005 * (1 + 0.01*float64(round%3)) }
	noisy := func(c Cell, round int) float64 { return 0.005 * []float64{0.5, 1.8, 0.9, 1.4, 0.6, 2.0}[round%6] }

	// Five rounds: below min_repetitions, however tight.
	if reason, _ := sequentialStop(p, seqRecords(p, 5, tight), 6, time.Minute, 10*time.Second); reason != "" {
		t.Errorf("stopped after 5 rounds (%s); min_repetitions is 6", reason)
	}
	reason, hw := sequentialStop(p, seqRecords(p, 6, tight), 7, time.Minute, 10*time.Second)
	if reason != StopTargetsMet {
		t.Errorf("tight samples after 6 rounds: reason %q, want %q (%s)", reason, StopTargetsMet, describeHalfWidths(hw))
	}
	// Only the page-cache comparison is targeted: fsync-on-ack's may be wide.
	if len(hw) != 1 || hw[0].Base != "c01 fs=ext4,durability=page-cache" || hw[0].Cell != "c03 fs=xfs,durability=page-cache" {
		t.Errorf("targeted comparisons: %+v, want c01 vs c03 only", hw)
	}
	// Noisy: goes on while the budget allows another round, then stops.
	if reason, hw := sequentialStop(p, seqRecords(p, 6, noisy), 7, 5*time.Minute, time.Minute); reason != "" {
		t.Errorf("noisy samples with budget left: stopped (%s, %s)", reason, describeHalfWidths(hw))
	} else if hw[0].Value <= 0.15 || math.IsNaN(hw[0].Value) {
		t.Errorf("noisy half-width %v, want above the target", hw[0].Value)
	}
	if reason, _ := sequentialStop(p, seqRecords(p, 6, noisy), 7, 9*time.Minute+30*time.Second, time.Minute); reason != StopBudget {
		t.Errorf("a round that would end past the budget: reason %q, want %q", reason, StopBudget)
	}
}

func TestSequentialPlanValidation(t *testing.T) {
	bad := strings.Replace(seqPlan, "min_repetitions: 6", "min_repetitions: 3", 1)
	bad = strings.Replace(bad, "where: {durability: page-cache}", "where: {durability: none}", 1)
	_, err := ParsePlan([]byte(bad))
	for _, want := range []string{"sequential.min_repetitions: 3: want 6", "sequential.targets[0].where.durability: none: no dimension durability with this level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", err, want)
		}
	}
}
