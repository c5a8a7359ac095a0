package report

import (
	"math"
	"strconv"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The claims the guideline tests: the seed chapter's advice, each with the
// dimension it is about and how to pick the contrasting levels.

// pair is two cells compared: base (the reference or the advice's
// contrast) and cell.
type pair struct{ base, cell *CellResult }

// comparisons holds every comparison the guide makes, Holm-corrected per
// knob and metric: the family is "every comparison of this metric between
// levels of this dimension". A guide-wide family of some twenty pairs
// would make the correction so strict that five runs per cell could never
// show anything; each knob is its own question to ops, and is corrected
// as one.
type comparisons struct {
	pairs []pair
	dims  []string // the dimension each pair varies, by index in pairs
	by    map[[2]string]map[string]*stats.Comparison
}

// add records a comparison of two cells that differ in dimension dim.
func (cs *comparisons) add(dim string, p pair) {
	k := [2]string{p.base.Cell.ID, p.cell.Cell.ID}
	if _, ok := cs.by[k]; ok {
		return
	}
	cs.by[k] = map[string]*stats.Comparison{}
	cs.pairs = append(cs.pairs, p)
	cs.dims = append(cs.dims, dim)
}

// family is the number of pairs Holm corrects together with those of dim:
// the pairs of cells of dim, each pair of cells once whichever way round.
func (cs *comparisons) family(dim string) int {
	n := 0
	for i, p := range cs.pairs {
		if _, twin := cs.by[[2]string{p.cell.Cell.ID, p.base.Cell.ID}]; cs.dims[i] == dim && !(twin && p.base.Cell.ID > p.cell.Cell.ID) {
			n++
		}
	}
	return n
}

func (cs *comparisons) compute() {
	for _, m := range tuning.Metrics {
		families := map[string][]*stats.Comparison{}
		var twins [][2]*stats.Comparison
		for i, p := range cs.pairs {
			c, ok := compare(p.base, p.cell, m.Key)
			if !ok {
				continue
			}
			cs.by[[2]string{p.base.Cell.ID, p.cell.Cell.ID}][m.Key] = &c
			// The same two cells the other way round (a seed check
			// against a reference comparison) are one test, not two.
			if t := cs.by[[2]string{p.cell.Cell.ID, p.base.Cell.ID}][m.Key]; t != nil {
				twins = append(twins, [2]*stats.Comparison{&c, t})
				continue
			}
			families[cs.dims[i]] = append(families[cs.dims[i]], &c)
		}
		for _, f := range families {
			stats.Holm(f)
		}
		for _, t := range twins {
			t[0].AdjustedP, t[0].Significant = t[1].AdjustedP, t[1].Significant
		}
	}
}

func (cs *comparisons) get(p pair, key string) *stats.Comparison {
	return cs.by[[2]string{p.base.Cell.ID, p.cell.Cell.ID}][key]
}

// finding is one level of a dimension against the dimension's first level,
// with the other dimensions at the levels of one context.
type finding struct {
	level tuning.Level
	// ctx names the other dimensions' levels where they are not at their
	// first ("durability=fsync-on-ack"); "" is the reference context.
	ctx string
	p   pair
}

// claim is a piece of the seed's (and Kafka's usual) advice and how to
// test it with a dimension of the plan.
type claim struct {
	advice string
	source string
	// metric is the metric the advice is about; "" = the plan's objective.
	metric string
	// pick chooses, from a dimension's levels (effective settings), the
	// level the advice prefers and the one it advises against.
	pick func(levels []tuning.Settings) (prefer, against int, ok bool)
	// anyLevel: the advice holds if any level beats the first (the advice
	// is "tune it", not a direction).
	anyLevel bool
	// pickMany is pick for advice against several levels at once (the
	// flush policy: no explicit flush against each flushing level); it
	// is used instead of pick when set.
	pickMany func(levels []tuning.Settings) (prefer int, against []int, ok bool)
	// howTo says how to measure it when the plan does not.
	howTo string
	// settings are the host or broker settings the advice is about, as
	// lab check names its rows ("vm.swappiness", "server.properties
	// log.segment.bytes").
	settings []string
	// beside, when set, decides the verdict from what the guide reads
	// beside the run files (a recovery bench, the host's facts), given
	// the verdict and evidence of the plan's dimensions.
	beside func(g *guide, verdict, evidence string) (string, string)
}

// levels is pickMany, or pick as one against level.
func (cl claim) levels(l []tuning.Settings) (int, []int, bool) {
	switch {
	case cl.pickMany != nil:
		return cl.pickMany(l)
	case cl.pick != nil:
		p, a, ok := cl.pick(l)
		return p, []int{a}, ok
	}
	return 0, nil, false
}

var claims = []claim{
	{
		advice:   "Keep vm.swappiness low",
		source:   "seed §6 운영체제 조정하기: \"vm.swappiness를 낮게\"",
		pick:     extremes(func(s tuning.Settings) (float64, bool) { return sysctlNum(s, "vm.swappiness") }, false),
		howTo:    "a dimension with vm.swappiness levels (plans/tune.yaml: swappiness), with swap present (swap:) and memory pressure (memory_limit:)",
		settings: []string{"vm.swappiness"},
	},
	{
		advice:   "Let dirty pages reach 60-80% of memory before writeback (vm.dirty_ratio)",
		source:   "seed §6: \"더티 페이지의 비율을 60-80으로 유지\"",
		pick:     pickDirty,
		howTo:    "a dimension with vm.dirty_ratio levels including one from 60 to 80 (plans/tune.yaml: dirty)",
		settings: []string{"vm.dirty_ratio"},
	},
	{
		advice:   "Use XFS rather than EXT4 for the log disk",
		source:   "seed §6: \"EXT4 vs. XFS(안전, 효율적)\"",
		pick:     pickXFS,
		howTo:    "a dimension with an ext4 and an xfs level (plans/ab-fs.yaml)",
		settings: []string{"log dir filesystem"},
	},
	{
		advice:   "Raise socket send/receive buffer defaults and maxima",
		source:   "seed §6: \"각 socket의 송수신 버퍼로 할당되는 기본과 최대 메모리량을 변경\"",
		pick:     extremes(sockbuf, false),
		howTo:    "a dimension varying net.core.wmem_max/rmem_max and socket.send/receive.buffer.bytes (plans/tune.yaml: sockbuf)",
		settings: []string{"net.core.wmem_max", "net.core.rmem_max"},
		beside:   sockbufBeside,
	},
	{
		advice: "Leave memory to the page cache: consumers read from it",
		source: "seed §4 메모리: \"페이지 캐시로 사용되는 메모리가 더 많을수록 컨슈머 클라이언트의 성능이 좋아진다\"",
		metric: "e2e_p99",
		pick:   extremes(memory, false),
		howTo:  "a dimension with memory_limit levels (plans/tune.yaml: memcg)",
	},
	{
		advice: "The log disk's throughput dominates producer latency",
		source: "seed §4 디스크 처리량: \"프로듀서의 클라이언트 성능에는 ... 디스크의 처리량이 가장 큰 영향을 준다\"",
		metric: "publish_p99",
		pick:   extremes(diskSpeed, false),
		howTo:  "a dimension with disk throttle levels (disk: throttle: write_bps) or disk kinds",
	},
	{
		advice: "Tune the garbage collector (GOGC/GOMEMLIMIT for a Go broker)",
		source: "seed §7 가비지 컬렉션 옵션 (G1 MaxGCPauseMillis, InitiatingHeapOccupancyPercent)",
		pick: func(levels []tuning.Settings) (int, int, bool) {
			return 0, 0, differ(levels, func(s tuning.Settings) string {
				if s.Runtime == nil {
					return "/" // as a runtime setting that leaves both unset (GOMAXPROCS only)
				}
				return s.Runtime.GOGC + "/" + s.Runtime.GOMEMLIMIT
			})
		},
		anyLevel: true,
		howTo:    "a dimension with runtime: gogc/gomemlimit levels (plans/tune.yaml: gc)",
	},
	{
		advice: "Use more than one recovery thread per log dir (num.recovery.threads.per.data.dir) for faster restarts",
		source: "seed §3 브로커 구성: num.recovery.threads.per.data.dir \"많은 수의 스레드를 설정하는 것이 좋다\"",
		howTo: "lab recovery -out RESULT_DIR -threads 1,4 -repetitions 5 (make tune runs it): restart times after a SIGKILL, " +
			"not a sweep dimension, since the setting acts only at start-up",
		settings: []string{"server.properties num.recovery.threads.per.data.dir"},
		beside:   recoveryBeside,
	},
	{
		advice:   "Spread log.dirs over several devices",
		source:   "seed §3: log.dirs \"두 개 이상의 경로가 지정되면 해당 브로커가 모든 경로에 파티션을 저장한다\"",
		howTo:    "a dimension with log.dirs on one device vs two (plans/vm-disks.yaml, on a host with two disks)",
		settings: []string{"server.properties log.dirs"},
		beside:   logDirsBeside,
	},
	{
		advice:   "Tune log.segment.bytes (the segment size; retention acts on closed segments only)",
		source:   "seed §3 토픽의 기본 설정: log.segment.bytes \"로그 세그먼트 파일의 크기\"",
		pick:     brokerKeyDiffers("log.segment.bytes"),
		anyLevel: true,
		howTo:    "a dimension with log.segment.bytes levels (plans/tune.yaml: segment)",
		settings: []string{"server.properties log.segment.bytes"},
	},
	{
		advice:   "Tune message.max.bytes (the largest message the broker accepts)",
		source:   "seed §3 토픽의 기본 설정: message.max.bytes \"카프카 브로커가 쓰려는 메시지의 최대 크기\"",
		pick:     brokerKeyDiffers("message.max.bytes"),
		anyLevel: true,
		howTo:    "a dimension with message.max.bytes levels (plans/tune.yaml: message-max)",
		settings: []string{"server.properties message.max.bytes"},
	},
	{
		advice:   "Leave flushing to the OS: no log.flush.interval.* (Kafka's default)",
		source:   "Kafka docs, Application vs. OS Flush Management (issue 11: the flush policy)",
		pickMany: pickFlush,
		howTo:    "a dimension with flush levels: none vs log.flush.interval.messages/ms (plans/tune.yaml: flush)",
		settings: []string{"server.properties log.flush.interval.messages", "server.properties log.flush.interval.ms"},
	},
}

func differ(levels []tuning.Settings, key func(tuning.Settings) string) bool {
	for _, l := range levels[1:] {
		if key(l) != key(levels[0]) {
			return true
		}
	}
	return false
}

// extremes prefers the level with the lowest score (or highest with
// high) and advises against the opposite extreme.
func extremes(score func(tuning.Settings) (float64, bool), high bool) func([]tuning.Settings) (int, int, bool) {
	return func(levels []tuning.Settings) (int, int, bool) {
		lo, hi := -1, -1
		for i, l := range levels {
			v, ok := score(l)
			if !ok {
				continue
			}
			if lo < 0 || v < must(score(levels[lo])) {
				lo = i
			}
			if hi < 0 || v > must(score(levels[hi])) {
				hi = i
			}
		}
		if lo < 0 || lo == hi || must(score(levels[lo])) == must(score(levels[hi])) {
			return 0, 0, false
		}
		if high {
			return hi, lo, true
		}
		return lo, hi, true
	}
}

func must(v float64, _ bool) float64 { return v }

func sysctlNum(s tuning.Settings, key string) (float64, bool) {
	v, ok := s.Sysctl[key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.Fields(v + " x")[0], 64)
	return f, err == nil
}

func pickDirty(levels []tuning.Settings) (int, int, bool) {
	seed := -1
	for i, l := range levels {
		if v, ok := sysctlNum(l, "vm.dirty_ratio"); ok && v >= 60 && v <= 80 {
			seed = i
			break
		}
	}
	if seed < 0 {
		return 0, 0, false
	}
	against := 0
	if seed == 0 {
		_, against, _ = extremes(func(s tuning.Settings) (float64, bool) { return sysctlNum(s, "vm.dirty_ratio") }, false)(levels)
		if against == seed {
			return 0, 0, false
		}
	}
	return seed, against, true
}

func pickXFS(levels []tuning.Settings) (int, int, bool) {
	x, e := -1, -1
	for i, l := range levels {
		if l.Filesystem == nil {
			continue
		}
		if l.Filesystem.Type == "xfs" && x < 0 {
			x = i
		}
		if l.Filesystem.Type == "ext4" && e < 0 {
			e = i
		}
	}
	return x, e, x >= 0 && e >= 0
}

// sockbuf scores a level by its largest socket buffer setting (the sysctl
// maxima and the broker's SO_SNDBUF/SO_RCVBUF); -1 (kernel autotuning)
// counts as 0. Higher is "raised", so the advice prefers the negated score's
// minimum.
func sockbuf(s tuning.Settings) (float64, bool) {
	best, any := 0.0, false
	for _, k := range []string{"net.core.wmem_max", "net.core.rmem_max"} {
		if v, ok := sysctlNum(s, k); ok {
			best, any = math.Max(best, v), true
		}
	}
	for _, k := range []string{"socket.send.buffer.bytes", "socket.receive.buffer.bytes"} {
		if v, err := strconv.ParseFloat(s.Broker[k], 64); err == nil {
			best, any = math.Max(best, v), true
		}
	}
	return -best, any
}

// memory scores by the memory limit (none = infinite), negated: the advice
// prefers more.
func memory(s tuning.Settings) (float64, bool) {
	if s.MemoryLimit == 0 {
		return math.Inf(-1), true
	}
	return -float64(s.MemoryLimit), true
}

// diskSpeed scores a disk, negated so the advice prefers the lowest: RAM
// disks (tmpfs-loop, zram) before unthrottled disks before throttled ones,
// those by their write limit.
func diskSpeed(s tuning.Settings) (float64, bool) {
	if s.Disk == nil {
		return 0, false
	}
	switch {
	case s.Disk.Throttle != nil && s.Disk.Throttle.WriteBPS > 0:
		return -float64(s.Disk.Throttle.WriteBPS), true
	case s.Disk.Kind == tuning.DiskTmpfsLoop || s.Disk.Kind == tuning.DiskZram:
		return -3e18, true
	}
	return -2e18, true
}
