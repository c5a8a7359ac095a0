package tuning

import (
	"os"
	"testing"
)

// FuzzParsePlan: a malformed plan is an error, never a panic, and a plan
// that validates expands into a schedule.
func FuzzParsePlan(f *testing.F) {
	for _, p := range []string{"../plans/quick.yaml", "../plans/tune.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(goodPlan))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			return
		}
		if n := len(p.Cells()); n == 0 || n > MaxCells {
			t.Fatalf("a valid plan with %d cells", n)
		}
		if got, want := len(p.Schedule()), len(p.Cells())*p.Repetitions; got != want {
			t.Fatalf("schedule of %d runs, want %d", got, want)
		}
	})
}
