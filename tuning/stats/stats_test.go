package stats

import (
	"bufio"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readBench reads "BenchmarkName 1 <value> ns/op" lines into samples.
func readBench(t *testing.T, file string) map[string][]float64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		v, err := strconv.ParseFloat(fs[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(fs[0], "Benchmark")
		out[name] = append(out[name], v)
	}
	return out
}

// benchstatRow matches a row of benchstat's output for testdata/old.txt and
// new.txt (testdata/benchstat.txt, printed by golang.org/x/perf/cmd/benchstat
// at the version in go.mod).
var benchstatRow = regexp.MustCompile(`^(\w+)\s+([0-9.]+)n ±\s*(\S+)\s.*?\s([0-9.]+)n ±\s*(\S+)\s.*?\s(~|[+-][0-9.]+%) \((p=[0-9.]+ n=[0-9+]+)\)`)

func TestAgreesWithBenchstat(t *testing.T) {
	old := readBench(t, "testdata/old.txt")
	new := readBench(t, "testdata/new.txt")
	b, err := os.ReadFile("testdata/benchstat.txt")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(b), "\n") {
		m := benchstatRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rows++
		name := m[1]
		t.Run(name, func(t *testing.T) {
			c := Compare(old[name], new[name])
			checkCenter(t, "old median", c.Base.Center, m[2])
			checkCenter(t, "new median", c.New.Center, m[4])
			if got := c.Base.PctRange(); got != m[3] {
				t.Errorf("old ± = %s, benchstat %s", got, m[3])
			}
			if got := c.New.PctRange(); got != m[5] {
				t.Errorf("new ± = %s, benchstat %s", got, m[5])
			}
			if got := c.Delta(); got != m[6] {
				t.Errorf("delta = %s, benchstat %s", got, m[6])
			}
			if got := c.PString(); got != m[7] {
				t.Errorf("%s, benchstat %s", got, m[7])
			}
		})
	}
	if rows != 3 {
		t.Fatalf("parsed %d benchstat rows, want 3", rows)
	}
}

func checkCenter(t *testing.T, what string, got float64, printed string) {
	t.Helper()
	want, _ := strconv.ParseFloat(printed, 64)
	dec := 0
	if i := strings.IndexByte(printed, '.'); i >= 0 {
		dec = len(printed) - i - 1
	}
	if math.Abs(got-want) > 0.5*math.Pow(10, -float64(dec)) {
		t.Errorf("%s = %v, benchstat %s", what, got, printed)
	}
}

func TestSummarizeWarnsWithoutEnoughSamples(t *testing.T) {
	s := Summarize([]float64{1, 2, 3})
	if !math.IsInf(s.Hi, 1) || len(s.Warnings) == 0 || s.PctRange() != "∞" {
		t.Errorf("got %+v %s", s, s.PctRange())
	}
}

func TestBootstrapRatioCoversTheTrueRatio(t *testing.T) {
	base := []float64{100, 101, 99, 102, 98, 100, 101, 99}
	new := []float64{90, 91, 89, 92, 88, 90, 91, 89}
	r, lo, hi := BootstrapRatio(base, new, 2000, 1, 0.95)
	if math.Abs(r-0.9) > 1e-9 {
		t.Errorf("ratio = %v, want 0.9", r)
	}
	if !(lo <= 0.9 && 0.9 <= hi) || lo < 0.85 || hi > 0.95 {
		t.Errorf("interval [%v, %v] should hold 0.9 and be narrow", lo, hi)
	}
	// Deterministic for a seed.
	_, lo2, hi2 := BootstrapRatio(base, new, 2000, 1, 0.95)
	if lo != lo2 || hi != hi2 {
		t.Error("not reproducible")
	}
	if r, _, _ := BootstrapRatio([]float64{0, 0}, new, 10, 1, 0.95); !math.IsNaN(r) {
		t.Errorf("zero base median: ratio %v, want NaN", r)
	}
}

func TestHolm(t *testing.T) {
	// Worked example: p = 0.01, 0.04, 0.03, 0.005 (m = 4). Sorted: 0.005,
	// 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> made
	// monotone: 0.02, 0.03, 0.06, 0.06.
	ps := []float64{0.01, 0.04, 0.03, 0.005}
	want := []float64{0.03, 0.06, 0.06, 0.02}
	var cs []*Comparison
	for _, p := range ps {
		cs = append(cs, &Comparison{P: p})
	}
	Holm(cs)
	for i, c := range cs {
		if math.Abs(c.AdjustedP-want[i]) > 1e-12 {
			t.Errorf("p=%v adjusted %v, want %v", ps[i], c.AdjustedP, want[i])
		}
		if c.Significant != (want[i] <= Alpha) {
			t.Errorf("p=%v significant=%v", ps[i], c.Significant)
		}
	}
	// A difference significant alone stops being so among many tests.
	c := Compare([]float64{1, 2, 3, 4, 5, 6}, []float64{4, 5, 6, 7, 8, 9})
	if !c.Significant {
		t.Fatalf("alone: p=%v, want significant", c.P)
	}
	family := []*Comparison{&c}
	for range 9 {
		family = append(family, &Comparison{P: 0.5})
	}
	Holm(family)
	if c.Significant || c.Delta() != "~" {
		t.Errorf("in a family of 10: adjusted p=%v significant=%v delta=%s; want ~", c.AdjustedP, c.Significant, c.Delta())
	}
}
