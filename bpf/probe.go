package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Config says which families to load and what to scope them to.
type Config struct {
	// Families to load; default: all of Families().
	Families []Family
	// PID limits process-context events to this process (tgid); 0 = off.
	PID int
	// Cgroup limits process-context events to tasks in this cgroup directory
	// (exact match, not descendants): a cgroup v2 directory, or a cgroup v1
	// directory of the memory controller (e.g. /sys/fs/cgroup/memory/lab);
	// "" = off. PID and Cgroup may be combined.
	Cgroup string
	// Device limits block request latency to one whole disk, "MAJOR:MINOR";
	// "" = every device.
	Device string
	// TracefsDir is where the feature probe looks for tracepoints and where
	// New mounts tracefs if needed; default /sys/kernel/tracing. (cilium/ebpf
	// itself attaches through /sys/kernel/tracing or
	// /sys/kernel/debug/tracing.)
	TracefsDir string
	// NoMountTracefs stops New from mounting tracefs at TracefsDir when it is
	// missing. By default New mounts it (as systemd does at boot) and leaves
	// it mounted: the syscall and filemap tracepoints are found through it.
	NoMountTracefs bool
	// Logger receives load and attach messages; nil discards them.
	Logger *slog.Logger
}

// DefaultTracefsDir is the standard tracefs mount point.
const DefaultTracefsDir = "/sys/kernel/tracing"

func (c Config) withDefaults() Config {
	if len(c.Families) == 0 {
		c.Families = Families()
	}
	var uniq []Family
	for _, f := range c.Families {
		if !slices.Contains(uniq, f) {
			uniq = append(uniq, f)
		}
	}
	c.Families = uniq
	if c.TracefsDir == "" {
		c.TracefsDir = DefaultTracefsDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.Families {
		if _, ok := familyDefs[f]; !ok {
			errs = append(errs, &familyError{name: string(f)})
		}
	}
	if c.PID < 0 {
		errs = append(errs, fmt.Errorf("pid %d: want a process id or 0 for no filter", c.PID))
	}
	if c.Device != "" {
		if _, err := parseDevice(c.Device); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parseDevice turns "MAJOR:MINOR" into the kernel's dev_t (major<<20|minor).
func parseDevice(s string) (uint32, error) {
	maj, mnr, ok := strings.Cut(s, ":")
	ma, err1 := strconv.ParseUint(maj, 10, 12)
	mi, err2 := strconv.ParseUint(mnr, 10, 20)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("device %q: want MAJOR:MINOR as in /proc/diskstats (e.g. 8:0)", s)
	}
	return uint32(ma)<<20 | uint32(mi), nil
}

// scope is the resolved filter written into each object's rodata.
type scope struct {
	tgid     uint32
	cgroupID uint64
	cgroupV1 bool
	dev      uint32
}

// Cgroup filesystem magic numbers (include/uapi/linux/magic.h).
const (
	cgroupSuperMagic  = 0x27e0eb
	cgroup2SuperMagic = 0x63677270
)

// resolveCgroup returns the id a probe compares with for a cgroup directory:
// its inode number, which is the kernfs node id (bpf_get_current_cgroup_id on
// v2; memcg->css.cgroup->kn->id on v1).
func resolveCgroup(dir string) (id uint64, v1 bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, false, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, false, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	switch fs.Type {
	case cgroup2SuperMagic:
		return st.Ino, false, nil
	case cgroupSuperMagic:
		if _, err := os.Stat(dir + "/memory.limit_in_bytes"); err != nil {
			return 0, false, fmt.Errorf("cgroup %s: a cgroup v1 scope must be a memory controller directory (under /sys/fs/cgroup/memory): %w", dir, err)
		}
		return st.Ino, true, nil
	}
	return 0, false, fmt.Errorf("cgroup %s: not on a cgroup filesystem (type %#x)", dir, fs.Type)
}

// loaded is one family's collection and links.
type loaded struct {
	family Family
	def    familyDef
	coll   *ebpf.Collection
	links  []link.Link
	// methods are the program sections attached, progs the programs
	// attached there, index by index.
	methods []string
	progs   []*ebpf.Program
	// dropNames maps skb drop reasons to names (sockbuf only).
	dropNames map[uint32]string
}

func (l *loaded) close() error {
	var errs []error
	for i := len(l.links) - 1; i >= 0; i-- {
		if err := l.links[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing link of %s: %w", l.family, err))
		}
	}
	l.links = nil
	if l.coll != nil {
		l.coll.Close()
		l.coll = nil
	}
	return errors.Join(errs...)
}

// Probes is a set of loaded and attached probe families. Snapshot is safe
// for concurrent use; Close detaches everything and is idempotent.
type Probes struct {
	mu     sync.Mutex
	fams   []*loaded
	errs   map[Family]error
	asked  []Family
	logger *slog.Logger
	ncpu   int
	closed bool
}

// New loads and attaches the configured families. A family the kernel cannot
// run is left out with an error (see Err) while the others run; the error
// wraps ebpf.ErrNotSupported only when the feature probe (ProbeFeatures) or
// cilium/ebpf's own probes say the kernel lacks an event, type or program
// type. Any other failure (a verifier rejection, an attach error) is an
// error of its own, so a regression is never mistaken for an old kernel. New fails only when the
// configuration is invalid or no family could be loaded. The caller must
// Close the returned Probes.
func New(cfg Config) (*Probes, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("probe config: %w", err)
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("component", "bpf")

	sc := scope{tgid: uint32(cfg.PID)}
	if cfg.Cgroup != "" {
		id, v1, err := resolveCgroup(cfg.Cgroup)
		if err != nil {
			return nil, err
		}
		sc.cgroupID, sc.cgroupV1 = id, v1
	}
	if cfg.Device != "" {
		sc.dev, _ = parseDevice(cfg.Device)
	}
	if !cfg.NoMountTracefs {
		if mounted, err := EnsureTracefs(cfg.TracefsDir); err != nil {
			logger.Warn("tracefs unavailable: tracepoint programs will not attach", "dir", cfg.TracefsDir, "err", err)
		} else if mounted {
			logger.Info("mounted tracefs", "dir", cfg.TracefsDir)
		}
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones
	// (and containers without CAP_SYS_RESOURCE) make this a no-op or refuse.
	if err := rlimit.RemoveMemlock(); err != nil {
		logger.Debug("memlock rlimit not raised", "err", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("counting possible cpus: %w", err)
	}
	feats := ProbeFeatures(cfg.TracefsDir)

	p := &Probes{errs: map[Family]error{}, asked: cfg.Families, logger: logger, ncpu: ncpu}
	for _, f := range cfg.Families {
		if ff, ok := feats.Family(f); ok && !ff.Available {
			p.errs[f] = fmt.Errorf("probe family %s: %s: %w", f, ff.Reason, ebpf.ErrNotSupported)
			logger.Warn("probe family unavailable", "family", f, "err", p.errs[f])
			continue
		}
		l, err := loadFamily(f, sc)
		if err != nil {
			p.errs[f] = err
			logger.Warn("probe family unavailable", "family", f, "err", err)
			continue
		}
		logger.Debug("probe family attached", "family", f, "methods", l.methods)
		p.fams = append(p.fams, l)
	}
	if len(p.fams) == 0 {
		errs := make([]error, 0, len(p.errs))
		for _, f := range cfg.Families {
			errs = append(errs, p.errs[f])
		}
		return nil, fmt.Errorf("loading probes: no family could be loaded: %w", errors.Join(errs...))
	}
	return p, nil
}

// loadFamily loads one family's object with the scope in its rodata and
// attaches every program by its section name. On error it releases
// everything it took.
func loadFamily(f Family, sc scope) (_ *loaded, err error) {
	def := familyDefs[f]
	spec, err := def.load()
	if err != nil {
		return nil, fmt.Errorf("loading %s object: %w", f, err)
	}
	if err := def.setVars(spec, sc); err != nil {
		return nil, fmt.Errorf("%s object: %w", f, err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("loading %s programs: %w", f, err)
	}
	l := &loaded{family: f, def: def, coll: coll}
	defer func() {
		if err != nil {
			_ = l.close()
		}
	}()
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		section := spec.Programs[name].SectionName
		lk, err := attach(section, coll.Programs[name])
		if err != nil {
			return nil, fmt.Errorf("attaching %s (%s): %w", section, f, err)
		}
		l.links = append(l.links, lk)
		l.methods = append(l.methods, section)
		l.progs = append(l.progs, coll.Programs[name])
	}
	if f == FamilySockBuf {
		l.dropNames = dropReasonNames()
	}
	return l, nil
}

// tracepointArgs returns how many arguments the kernel passes to a BTF
// tracepoint (not counting the leading void *__data), or -1 if unknown.
func tracepointArgs(name string) int {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return -1
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_"+name, &td); err != nil {
		return -1
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return -1
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return -1
	}
	return len(proto.Params) - 1
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func pageShift() int {
	n := 0
	for s := os.Getpagesize(); s > 1; s >>= 1 {
		n++
	}
	return n
}

// attach links a program by its ELF section: tracepoint/GROUP/NAME,
// tp_btf/NAME or raw_tp/NAME.
func attach(section string, prog *ebpf.Program) (link.Link, error) {
	kind, rest, _ := strings.Cut(section, "/")
	switch kind {
	case "tracepoint", "tp":
		group, name, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, fmt.Errorf("section %q: want tracepoint/GROUP/NAME", section)
		}
		return link.Tracepoint(group, name, prog, nil)
	case "tp_btf":
		return link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	case "raw_tp", "raw_tracepoint":
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: rest, Program: prog})
	}
	return nil, fmt.Errorf("section %q: no attach method for %q", section, kind)
}

// Err returns why a family asked for is not running (wrapping
// ebpf.ErrNotSupported when the kernel lacks what it needs), nil when it
// runs, or ErrNotLoaded when it was not asked for.
func (p *Probes) Err(f Family) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.asked, f) {
		return fmt.Errorf("%s: %w", f, ErrNotLoaded)
	}
	return p.errs[f]
}

// Loaded returns the families that are attached, in display order.
func (p *Probes) Loaded() []Family {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Family, 0, len(p.fams))
	for _, l := range p.fams {
		out = append(out, l.family)
	}
	return out
}

// Methods returns the program sections attached for a family.
func (p *Probes) Methods(f Family) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.fams {
		if l.family == f {
			return slices.Clone(l.methods)
		}
	}
	return nil
}

// Snapshot reads every loaded family's maps: totals since load.
func (p *Probes) Snapshot() (Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Snapshot{}, fmt.Errorf("reading probes: %w", os.ErrClosed)
	}
	s := Snapshot{Time: time.Now()}
	for _, l := range p.fams {
		if err := p.read(l, &s); err != nil {
			return Snapshot{}, fmt.Errorf("reading %s probes: %w", l.family, err)
		}
	}
	s.Ratios = deriveRatios(s)
	return s, nil
}

func (p *Probes) read(l *loaded, s *Snapshot) error {
	raw, err := p.perCPU(l.coll.Maps["counters"])
	if err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	sum := func(i int) uint64 { return sumCPUs(raw, i, p.ncpu) }
	for _, c := range l.def.counters {
		s.Counters = append(s.Counters, Counter{Family: l.family, Name: c.name, Method: c.method, Unit: c.unit, Value: sum(int(c.idx))})
	}
	hraw, err := p.perCPU(l.coll.Maps["hists"])
	if err != nil {
		return fmt.Errorf("histograms: %w", err)
	}
	for _, hd := range l.def.hists {
		h := Histogram{Family: l.family, Name: hd.name, Method: hd.method, Unit: hd.unit, Scale: "log2"}
		if hd.width > 0 {
			h.Scale = "linear"
		}
		for slot := range hd.slots {
			b := Bucket{Count: sumCPUs(hraw, int(hd.kind)*histSlots+slot, p.ncpu)}
			if hd.width > 0 {
				b.Low, b.High = uint64(slot)*hd.width, uint64(slot+1)*hd.width
				if slot == hd.slots-1 {
					b.High = math.MaxUint64 // the last linear bucket is open-ended
				}
			} else {
				b.Low, b.High = log2Bounds(slot)
			}
			h.Buckets = append(h.Buckets, b)
			h.Count += b.Count
		}
		if hd.sumIdx >= 0 {
			h.Sum, h.HasSum = sum(hd.sumIdx), true
		}
		s.Histograms = append(s.Histograms, h)
	}
	if l.def.extra != nil {
		if err := l.def.extra(l.coll, l, s); err != nil {
			return err
		}
	}
	return nil
}

// histSlots is LAB_HIST_SLOTS in c/lab.h.
const histSlots = 64

func log2Bounds(slot int) (uint64, uint64) {
	if slot == 0 {
		return 0, 2
	}
	lo := uint64(1) << slot
	if slot >= 63 {
		return lo, ^uint64(0)
	}
	return lo, lo << 1
}

// perCPU reads a per-CPU array of u64 with batch lookups and returns the
// values as [key*ncpu + cpu].
func (p *Probes) perCPU(m *ebpf.Map) ([]uint64, error) {
	n := int(m.MaxEntries())
	keys := make([]uint32, n)
	vals := make([]uint64, n*p.ncpu)
	var cursor ebpf.MapBatchCursor
	got := 0
	for got < n {
		c, err := m.BatchLookup(&cursor, keys[got:], vals[got*p.ncpu:], nil)
		got += c
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		if c == 0 {
			break
		}
	}
	// Batch lookups return keys in order for arrays; put values by key to be safe.
	out := make([]uint64, n*p.ncpu)
	for i := range got {
		k := int(keys[i])
		if k < n {
			copy(out[k*p.ncpu:(k+1)*p.ncpu], vals[i*p.ncpu:(i+1)*p.ncpu])
		}
	}
	return out, nil
}

func sumCPUs(raw []uint64, idx, ncpu int) uint64 {
	var s uint64
	for _, v := range raw[idx*ncpu : (idx+1)*ncpu] {
		s += v
	}
	return s
}

// Close detaches every program and releases the maps. It is idempotent.
func (p *Probes) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for i := len(p.fams) - 1; i >= 0; i-- {
		errs = append(errs, p.fams[i].close())
	}
	p.fams = nil
	return errors.Join(errs...)
}
