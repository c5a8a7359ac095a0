package tuning

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Designs: how the dimensions of a plan's matrix combine into cells.
const (
	// DesignFull runs every combination of levels (a full factorial).
	DesignFull = "full"
	// DesignOneAtATime runs a baseline (every dimension at its first
	// level) plus one cell per other level of each dimension, the others
	// at baseline: N = 1 + Σ(levels-1) cells instead of Π levels.
	DesignOneAtATime = "one-at-a-time"
)

// Plan is a tuning experiment read from a YAML file under plans/.
type Plan struct {
	// Name identifies the plan in results ([a-z0-9-]).
	Name string `yaml:"name"`
	// Description says what the plan answers.
	Description string `yaml:"description,omitempty"`
	// Workload is the load generator's workload file (workloads/*.yaml),
	// relative to the repository root.
	Workload string `yaml:"workload"`
	// Driver is the load generator's driver file (client settings).
	Driver string `yaml:"driver"`
	// Ceilings measures the disk's and loopback's ceilings first, so
	// tables can show throughput as a share of them.
	Ceilings bool `yaml:"ceilings,omitempty"`
	// Repetitions is how many times each cell runs. The Mann-Whitney U
	// test needs at least 4 per side to reach p < 0.05 (benchmath).
	Repetitions int `yaml:"repetitions"`
	// Seed seeds the per-round shuffle of the cell order.
	Seed uint64 `yaml:"seed"`
	// Warmup runs load before measuring; Measure is the measured window.
	Warmup  time.Duration `yaml:"warmup"`
	Measure time.Duration `yaml:"measure"`
	// DropCaches empties the page cache before every run.
	DropCaches bool `yaml:"drop_caches,omitempty"`
	// RecreateFS makes a fresh disk and filesystem before every run. By
	// default a run reuses the previous run's (emptied) log dir when both
	// have the same disk and filesystem settings, which saves the mkfs and
	// lets the filesystem age as a real log disk does; every other setting
	// is restored and re-applied for every run either way.
	RecreateFS bool `yaml:"recreate_fs,omitempty"`
	// Objective is the metric recommendations optimise (default
	// publish_p99).
	Objective string `yaml:"objective,omitempty"`
	// Design is full (default) or one-at-a-time.
	Design string `yaml:"design,omitempty"`
	// Sequential, when set, makes Repetitions a maximum: the runner stops
	// after a complete round once every target's comparison is precise
	// enough, or before a round that would not fit in the time budget.
	Sequential *Sequential `yaml:"sequential,omitempty"`
	// Affinity pins the broker and the load generator to separate CPUs
	// (sched_setaffinity), where the host allows it; each run records
	// what it got.
	Affinity *Affinity `yaml:"affinity,omitempty"`
	// Target, when set, is the broker under test instead of bin/broker:
	// any Kafka-protocol broker started by command line (External).
	Target *External `yaml:"target,omitempty"`
	// Thresholds set the practical threshold of a metric by key (a
	// fraction: 0.1 = 10%): smaller changes are "no practical difference"
	// even when significant. Unset metrics keep Metric.Threshold.
	Thresholds map[string]float64 `yaml:"thresholds,omitempty"`
	// Base are the settings every cell starts from.
	Base Settings `yaml:"base,omitempty"`
	// Matrix lists the dimensions swept.
	Matrix []Dimension `yaml:"matrix,omitempty"`
	// Invocation is filled by the lab in the copy of the plan it writes to
	// a result dir (plan.yaml): the command line, what it overrode and what
	// it skipped. Plan files under plans/ leave it out.
	Invocation *Invocation `yaml:"invocation,omitempty"`
}

// Sequential is a stopping rule: interleaved rounds continue until the
// 95% bootstrap interval of every targeted comparison is narrow enough,
// or the time budget runs out. Stopping only between complete rounds keeps
// every cell's sample the same size and the interleaving balanced.
type Sequential struct {
	// MinRepetitions is the fewest rounds before the rule may stop (at
	// least 6: a 95% interval of a median needs 6 values).
	MinRepetitions int `yaml:"min_repetitions"`
	// Budget bounds the runs' wall time: a round that, at the pace of the
	// rounds so far, would end after it is not started.
	Budget time.Duration `yaml:"budget"`
	// Targets are the precision goals.
	Targets []Target `yaml:"targets"`
}

// Target asks that each comparison of Metric (every level against its
// dimension's first, as the guide compares them) whose cells both have the
// Where levels reach a 95% interval of the ratio of medians whose
// half-width, relative to the ratio, is at most HalfWidth.
type Target struct {
	Metric    string            `yaml:"metric"`
	HalfWidth float64           `yaml:"half_width"`
	Where     map[string]string `yaml:"where,omitempty"`
}

// Affinity names the CPUs of the broker and of the lab's own process (the
// load generator runs in it).
type Affinity struct {
	Broker []int `yaml:"broker"`
	Load   []int `yaml:"load"`
}

// Invocation records how a result dir's plan was run, so that a reduced
// or unprivileged run is labelled as one in its tables and guide.
type Invocation struct {
	// Command is the lab's full command line.
	Command string `yaml:"command,omitempty"`
	// Overrides name the plan values the command line replaced
	// ("repetitions: 4 -> 2").
	Overrides []string `yaml:"overrides,omitempty"`
	// Reduced is set when the overrides ran fewer repetitions or shorter
	// warm-up or measure windows than the plan asks for.
	Reduced bool `yaml:"reduced,omitempty"`
	// Skipped says what the lab could not do on this host and why
	// (Plan.Degrade).
	Skipped []string `yaml:"skipped,omitempty"`
	// LeftOut names the plan's dimensions Degrade removed.
	LeftOut []string `yaml:"left_out,omitempty"`
	// Stop says how a sequential plan ended (the runner fills it in).
	Stop *StopReport `yaml:"stop,omitempty"`
	// Interrupted marks a run stopped by a signal before its end.
	Interrupted bool `yaml:"interrupted,omitempty"`
}

// StopReport is the outcome of a plan's sequential rule.
type StopReport struct {
	// Rounds completed, of the plan's Repetitions at most.
	Rounds int `yaml:"rounds"`
	// Reason: "targets met", "time budget", "max repetitions".
	Reason string `yaml:"reason"`
	// Elapsed is the runs' wall time.
	Elapsed time.Duration `yaml:"elapsed"`
	// HalfWidths are the targeted comparisons' precision at the stop.
	HalfWidths []HalfWidth `yaml:"half_widths,omitempty"`
}

// HalfWidth is one targeted comparison's 95% interval half-width at the
// stop, relative to the ratio of medians (+Inf is written as .inf).
type HalfWidth struct {
	Metric string  `yaml:"metric"`
	Base   string  `yaml:"base"`
	Cell   string  `yaml:"cell"`
	Value  float64 `yaml:"value"`
	Target float64 `yaml:"target"`
}

// Overrides replace a plan's run lengths and seed for a shorter or longer
// run than the plan's (lab sweep -repetitions, -warmup, -measure, -seed).
// Nil fields keep the plan's values.
type Overrides struct {
	Repetitions *int
	Warmup      *time.Duration
	Measure     *time.Duration
	Seed        *uint64
}

// Override returns a copy of p with o applied and validated; the copy's
// Invocation lists each value that changed, as "key: old -> new".
func (p *Plan) Override(o Overrides) (*Plan, error) {
	q := p.clone()
	var changed []string
	reduced := false
	if o.Repetitions != nil && *o.Repetitions != q.Repetitions {
		reduced = reduced || *o.Repetitions < q.Repetitions
		changed = append(changed, fmt.Sprintf("repetitions: %d -> %d", q.Repetitions, *o.Repetitions))
		q.Repetitions = *o.Repetitions
	}
	if o.Warmup != nil && *o.Warmup != q.Warmup {
		reduced = reduced || *o.Warmup < q.Warmup
		changed = append(changed, fmt.Sprintf("warmup: %s -> %s", q.Warmup, *o.Warmup))
		q.Warmup = *o.Warmup
	}
	if o.Measure != nil && *o.Measure != q.Measure {
		reduced = reduced || *o.Measure < q.Measure
		changed = append(changed, fmt.Sprintf("measure: %s -> %s", q.Measure, *o.Measure))
		q.Measure = *o.Measure
	}
	if o.Seed != nil && *o.Seed != q.Seed {
		changed = append(changed, fmt.Sprintf("seed: %d -> %d", q.Seed, *o.Seed))
		q.Seed = *o.Seed
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("plan %s with the command line's overrides: %w", p.Name, err)
	}
	if len(changed) > 0 {
		inv := q.invocation()
		inv.Overrides = append(inv.Overrides, changed...)
		inv.Reduced = inv.Reduced || reduced
	}
	return q, nil
}

func (p *Plan) invocation() *Invocation {
	if p.Invocation == nil {
		p.Invocation = &Invocation{}
	}
	return p.Invocation
}

// clone is a deep enough copy of p for Override and Degrade: the matrix
// and invocation are copied; settings are replaced, never mutated.
func (p *Plan) clone() *Plan {
	q := *p
	q.Matrix = make([]Dimension, len(p.Matrix))
	for i, d := range p.Matrix {
		q.Matrix[i] = Dimension{Name: d.Name, Levels: slices.Clone(d.Levels)}
	}
	if p.Invocation != nil {
		inv := *p.Invocation
		inv.Overrides = slices.Clone(inv.Overrides)
		inv.Skipped = slices.Clone(inv.Skipped)
		inv.LeftOut = slices.Clone(inv.LeftOut)
		q.Invocation = &inv
	}
	return &q
}

// Dimension is one knob (or a group of knobs that go together) and the
// levels it takes. The first level is the reference the others are
// compared with.
type Dimension struct {
	// Name is the dimension's name in cell names and tables ("fs").
	Name string `yaml:"name"`
	// Levels are the values; each sets some Settings.
	Levels []Level `yaml:"levels"`
}

// Level is one value of a dimension.
type Level struct {
	// Name is the level's name ("xfs", "1").
	Name string `yaml:"name"`
	// Settings are laid over the plan's base.
	Settings `yaml:",inline"`
}

// MaxRepetitions bounds the rounds of a plan.
const MaxRepetitions = 100

// MaxCells bounds a plan's size: beyond it, a sweep takes days on the
// machines this lab targets.
const MaxCells = 128

// ParsePlan decodes a plan (unknown keys are errors, with their line),
// fills defaults and validates it.
func ParsePlan(data []byte) (*Plan, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Plan
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decoding plan: the file is empty")
		}
		return nil, fmt.Errorf("decoding plan: %w", err)
	}
	p.setDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// LoadPlan reads and parses a plan file.
func LoadPlan(file string) (*Plan, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}
	p, err := ParsePlan(b)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", file, err)
	}
	return p, nil
}

func (p *Plan) setDefaults() {
	if p.Objective == "" {
		p.Objective = "publish_p99"
	}
	if p.Design == "" {
		p.Design = DesignFull
	}
}

var planName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Validate reports every problem at once; each error names the key, the
// value and the fix.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(key string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %v: %s", key, value, fmt.Sprintf(format, args...)))
	}
	if !planName.MatchString(p.Name) {
		bad("name", fmt.Sprintf("%q", p.Name), "want lowercase letters, digits and dashes, such as ab-fs")
	}
	checkRef := func(key, v, example string) {
		switch {
		case v == "":
			bad(key, `""`, "missing; name a file under workloads/, such as %s", example)
		case filepath.IsAbs(v) || strings.Contains(v, ".."):
			bad(key, fmt.Sprintf("%q", v), "want a path relative to the repository root, under workloads/ (such as %s)", example)
		case !strings.HasPrefix(v, "workloads/"):
			bad(key, fmt.Sprintf("%q", v), "workload and driver files live under workloads/ (such as %s)", example)
		case !slices.Contains([]string{".yaml", ".yml"}, path.Ext(v)):
			bad(key, fmt.Sprintf("%q", v), "want a .yaml file")
		}
	}
	checkRef("workload", p.Workload, "workloads/1-topic-16-partitions-1kb.yaml")
	checkRef("driver", p.Driver, "workloads/driver-default.yaml")
	if p.Repetitions < 1 {
		bad("repetitions", p.Repetitions, "want at least 1 (at least 4 for a significance test at alpha 0.05, 5 or more recommended)")
	} else if p.Repetitions > MaxRepetitions {
		bad("repetitions", p.Repetitions, "want at most %d; more rounds do not fit in a day of runs", MaxRepetitions)
	}
	if p.Warmup < 0 {
		bad("warmup", p.Warmup, "want a duration of 0s or more, such as 10s")
	}
	if p.Measure < time.Second {
		bad("measure", p.Measure, "want a duration of at least 1s, such as 30s")
	}
	if !slices.Contains(objectiveKeys, p.Objective) {
		bad("objective", fmt.Sprintf("%q", p.Objective), "want one of %s", strings.Join(objectiveKeys, ", "))
	}
	if p.Design != DesignFull && p.Design != DesignOneAtATime {
		bad("design", fmt.Sprintf("%q", p.Design), "want %s or %s", DesignFull, DesignOneAtATime)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Thresholds)) {
		if _, err := MetricByKey(k); err != nil {
			bad("thresholds."+k, p.Thresholds[k], "no metric has this key; use one of the table's keys, such as publish_p99")
		} else if v := p.Thresholds[k]; !(v > 0 && v <= 10) {
			bad("thresholds."+k, v, "want a fraction above 0 and at most 10, such as 0.05 for 5%%")
		}
	}
	if q := p.Sequential; q != nil {
		if q.MinRepetitions < 6 || q.MinRepetitions > p.Repetitions {
			bad("sequential.min_repetitions", q.MinRepetitions, "want 6 (a 95%% interval of a median needs 6 values) up to repetitions (%d)", p.Repetitions)
		}
		if q.Budget < time.Minute {
			bad("sequential.budget", q.Budget, "want a wall-time budget of at least 1m, such as 40m")
		}
		if len(q.Targets) == 0 {
			bad("sequential.targets", "[]", "name at least one target, such as {metric: publish_p99, half_width: 0.15}")
		}
		for i, t := range q.Targets {
			at := fmt.Sprintf("sequential.targets[%d]", i)
			if _, err := MetricByKey(t.Metric); err != nil {
				bad(at+".metric", fmt.Sprintf("%q", t.Metric), "no metric has this key; use one such as publish_p99")
			}
			if !(t.HalfWidth > 0 && t.HalfWidth < 10) {
				bad(at+".half_width", t.HalfWidth, "want a fraction above 0, such as 0.15 for ±15%%")
			}
			for _, k := range slices.Sorted(maps.Keys(t.Where)) {
				if !slices.ContainsFunc(p.Matrix, func(d Dimension) bool {
					return d.Name == k && slices.ContainsFunc(d.Levels, func(l Level) bool { return l.Name == t.Where[k] })
				}) {
					bad(at+".where."+k, t.Where[k], "no dimension %s with this level in the matrix", k)
				}
			}
		}
	}
	if t := p.Target; t != nil {
		errs = append(errs, t.validate("target")...)
		if t.Config == "" && p.cellCount() <= MaxCells {
			for _, c := range p.Cells() {
				if len(c.Settings.Broker) > 0 {
					bad("target.config", `""`, "cell %s sets broker keys, which need a config template to reach %s", c.Name, t.Name)
					break
				}
			}
		}
	}
	if a := p.Affinity; a != nil {
		if len(a.Broker) == 0 || len(a.Load) == 0 {
			bad("affinity", fmt.Sprintf("%v/%v", a.Broker, a.Load), "name CPUs for both broker: and load:, such as broker: [1], load: [0]")
		}
		for _, c := range a.Broker {
			if slices.Contains(a.Load, c) || c < 0 {
				bad("affinity.broker", c, "want CPUs (from 0) that load: does not also name")
			}
		}
	}
	baseErrs := p.Base.validate("base")
	errs = append(errs, baseErrs...)

	dimNames := map[string]int{}
	knobOwner := map[string]string{}
	for i, d := range p.Matrix {
		at := fmt.Sprintf("matrix[%d]", i)
		if !planName.MatchString(d.Name) {
			bad(at+".name", fmt.Sprintf("%q", d.Name), "want lowercase letters, digits and dashes, such as fs")
		} else if j, dup := dimNames[d.Name]; dup {
			bad(at+".name", fmt.Sprintf("%q", d.Name), "matrix[%d] has the same name; names must be unique", j)
		}
		dimNames[d.Name] = i
		if len(d.Levels) < 2 {
			bad(at+".levels", len(d.Levels), "a dimension needs at least 2 levels to compare; move a single setting to base:")
		}
		levelNames := map[string]bool{}
		for j, l := range d.Levels {
			lat := fmt.Sprintf("%s.levels[%d]", at, j)
			if l.Name == "" || strings.ContainsAny(l.Name, ",= \t") {
				bad(lat+".name", fmt.Sprintf("%q", l.Name), "want a short name without spaces, commas or '=', such as xfs")
			} else if levelNames[l.Name] {
				bad(lat+".name", fmt.Sprintf("%q", l.Name), "another level of %s has this name", d.Name)
			}
			levelNames[l.Name] = true
			if len(baseErrs) == 0 {
				errs = append(errs, Merge(p.Base, l.Settings).validate(lat)...)
			} else { // base's own problems are reported once, under base
				errs = append(errs, l.Settings.validate(lat)...)
			}
			for _, k := range l.Settings.knobs() {
				if owner, ok := knobOwner[k]; ok && owner != d.Name {
					bad(lat, k, "dimension %s sets this knob too; a knob belongs to one dimension (combine them into one dimension with combined levels)", owner)
				}
				knobOwner[k] = d.Name
			}
		}
	}
	if n := p.cellCount(); n > MaxCells {
		bad("matrix", fmt.Sprintf("%d cells or more", n), "more than %d; use design: one-at-a-time or fewer levels", MaxCells)
	}
	return errors.Join(errs...)
}

// cellCount is the number of cells Cells would make, computed without
// making them; it stops counting past MaxCells.
func (p *Plan) cellCount() int {
	n := 1
	for _, d := range p.Matrix {
		if p.Design == DesignOneAtATime {
			n += max(len(d.Levels)-1, 0)
		} else {
			n *= max(len(d.Levels), 1)
		}
		if n > MaxCells {
			return n
		}
	}
	return n
}

// Cell is one combination of levels.
type Cell struct {
	// ID is "c01", "c02", ... in expansion order.
	ID string
	// Name is "fs=xfs,swappiness=1"; "baseline" when every dimension is at
	// its first level (or the plan has no matrix).
	Name string
	// Levels maps each dimension's name to this cell's level name.
	Levels map[string]string
	// Settings are the effective settings (base plus levels).
	Settings Settings
}

// Cells expands the matrix into cells (full factorial or one at a time),
// in a stable order: the baseline first.
func (p *Plan) Cells() []Cell {
	var combos [][]int // level index per dimension
	switch p.Design {
	case DesignOneAtATime:
		combos = append(combos, make([]int, len(p.Matrix)))
		for d, dim := range p.Matrix {
			for l := 1; l < len(dim.Levels); l++ {
				c := make([]int, len(p.Matrix))
				c[d] = l
				combos = append(combos, c)
			}
		}
	default:
		combos = [][]int{{}}
		for _, dim := range p.Matrix {
			var next [][]int
			for _, c := range combos {
				for l := range dim.Levels {
					next = append(next, append(slices.Clone(c), l))
				}
			}
			combos = next
		}
	}
	cells := make([]Cell, 0, len(combos))
	for i, c := range combos {
		cell := Cell{ID: fmt.Sprintf("c%02d", i+1), Levels: map[string]string{}, Settings: p.Base}
		var parts []string
		baseline := true
		for d, l := range c {
			dim := p.Matrix[d]
			lv := dim.Levels[l]
			cell.Levels[dim.Name] = lv.Name
			cell.Settings = Merge(cell.Settings, lv.Settings)
			parts = append(parts, dim.Name+"="+lv.Name)
			baseline = baseline && l == 0
		}
		switch {
		case len(parts) == 0:
			cell.Name = "baseline"
		case p.Design == DesignOneAtATime && baseline:
			cell.Name = "baseline"
		case p.Design == DesignOneAtATime:
			for d, l := range c {
				if l != 0 {
					cell.Name = p.Matrix[d].Name + "=" + p.Matrix[d].Levels[l].Name
				}
			}
		default:
			cell.Name = strings.Join(parts, ",")
		}
		cells = append(cells, cell)
	}
	return cells
}

// Run is one slot of the schedule.
type Run struct {
	// Order counts runs from 1 across the schedule.
	Order int
	// Round is the repetition this run belongs to, from 1.
	Round int
	// Cell is the cell to run.
	Cell Cell
}

// Schedule interleaves the cells: every round runs each cell once, in an
// order shuffled per round from the plan's seed (A B, B A, A B, ...), so a
// drift of the machine over time (thermal, background jobs, a filling disk)
// spreads over all cells instead of biasing the ones that run last.
func (p *Plan) Schedule() []Run {
	cells := p.Cells()
	var runs []Run
	for r := 1; r <= p.Repetitions; r++ {
		rng := rand.New(rand.NewPCG(p.Seed, uint64(r)))
		for _, i := range rng.Perm(len(cells)) {
			runs = append(runs, Run{Order: len(runs) + 1, Round: r, Cell: cells[i]})
		}
	}
	return runs
}

// RunDuration estimates one run's duration (warm-up plus measure plus a
// fixed allowance for preparing and tearing down the cell).
func (p *Plan) RunDuration() time.Duration {
	const setup = 15 * time.Second // mkfs, mount, broker start, probe attach, teardown
	return p.Warmup + p.Measure + setup
}

// Comparisons are the pairs of cells the guide compares: for every
// dimension, each cell not at the dimension's first level against the cell
// that differs from it only there (the baseline, in a one-at-a-time plan).
func (p *Plan) Comparisons() [][2]Cell {
	cells := p.Cells()
	var out [][2]Cell
	for _, d := range p.Matrix {
		ref := d.Levels[0].Name
		for _, c := range cells {
			if c.Levels[d.Name] == ref {
				continue
			}
			want := maps.Clone(c.Levels)
			want[d.Name] = ref
			for _, b := range cells {
				if maps.Equal(b.Levels, want) {
					out = append(out, [2]Cell{b, c})
					break
				}
			}
		}
	}
	return out
}

// CheckFiles reports workload and driver files missing under root (the
// repository root); Validate checks only their form.
func (p *Plan) CheckFiles(root string) error {
	var errs []error
	files := map[string]string{"workload": p.Workload, "driver": p.Driver}
	if p.Target != nil && p.Target.Config != "" {
		files["target.config"] = p.Target.Config
	}
	for key, v := range files {
		if _, err := os.Stat(filepath.Join(root, v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w; create it or point the plan at an existing file under workloads/", key, v, err))
		}
	}
	return errors.Join(errs...)
}

// Devices lists the spare block devices the plan names (disk kind device):
// naming them in the plan is the user's explicit consent to format them.
func (p *Plan) Devices() []string {
	var out []string
	for _, c := range p.Cells() {
		if d := c.Settings.Disk; d != nil && d.Kind == DiskDevice && !slices.Contains(out, d.Device) {
			out = append(out, d.Device)
		}
	}
	return out
}
