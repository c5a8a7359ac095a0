package tuning

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Settings is what one cell of a plan sets: on the host (sysctls, the disk
// and filesystem the broker's log dir lives on, the broker's cgroup) and on
// the broker process (Go runtime environment, --override flags). Every field
// is optional; a level's settings are laid over the plan's base.
type Settings struct {
	// Sysctl maps a key ("vm.swappiness") to the value to write.
	Sysctl map[string]string `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	// Disk is the device the broker's log dir lives on.
	Disk *Disk `yaml:"disk,omitempty" json:"disk,omitempty"`
	// Filesystem is made on Disk and mounted for the log dir; a disk other
	// than kind dir without one gets ext4 with default options.
	Filesystem *Filesystem `yaml:"filesystem,omitempty" json:"filesystem,omitempty"`
	// Runtime is the broker's Go runtime settings.
	Runtime *Runtime `yaml:"runtime,omitempty" json:"runtime,omitempty"`
	// Broker maps a server.properties key to a value passed as
	// `--override key=value` (flush policy, fetch mode, socket buffers).
	Broker map[string]string `yaml:"broker,omitempty" json:"broker,omitempty"`
	// MemoryLimit caps the broker's cgroup (heap and page cache); 0 = none.
	MemoryLimit ByteSize `yaml:"memory_limit,omitempty" json:"memory_limit,omitempty"`
	// Swap adds a zram swap device of this size for the run (the machine
	// may have none, and vm.swappiness means nothing without swap); 0 = none.
	Swap ByteSize `yaml:"swap,omitempty" json:"swap,omitempty"`
	// Probes is all (attach every eBPF probe family to the broker) or none
	// (attach nothing: the run measures the broker without the probes'
	// overhead, and its probe columns read n/a); "" = all unless the lab
	// runs with -no-probes.
	Probes string `yaml:"probes,omitempty" json:"probes,omitempty"`
}

// Probe settings.
const (
	ProbesAll  = "all"
	ProbesNone = "none"
)

// Disk kinds.
const (
	DiskDir       = "dir"        // a directory on the root filesystem (no mkfs)
	DiskLoop      = "loop"       // a loop device on a file on the root disk
	DiskTmpfsLoop = "tmpfs-loop" // a loop device on a file in a tmpfs (RAM)
	DiskZram      = "zram"       // a zram disk (compressed RAM)
	DiskDevice    = "device"     // a spare block device the plan names
)

var diskKinds = []string{DiskDir, DiskLoop, DiskTmpfsLoop, DiskZram, DiskDevice}

// Disk describes the block device under the broker's log dir.
type Disk struct {
	// Kind is dir, loop, tmpfs-loop, zram or device.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Size of the loop file or zram disk.
	Size ByteSize `yaml:"size,omitempty" json:"size,omitempty"`
	// Device is the spare block device for kind device ("/dev/vdb"); naming
	// it here is the explicit consent to format it.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
	// Preallocate allocates the loop file's blocks before the run.
	Preallocate *bool `yaml:"preallocate,omitempty" json:"preallocate,omitempty"`
	// Scheduler is the I/O scheduler (none, mq-deadline, kyber, bfq); ""
	// keeps the device's.
	Scheduler string `yaml:"scheduler,omitempty" json:"scheduler,omitempty"`
	// Throttle limits the broker cgroup's I/O on the device to imitate a
	// slower disk.
	Throttle *Throttle `yaml:"throttle,omitempty" json:"throttle,omitempty"`
	// Compression is the zram algorithm (lz4, zstd); "" keeps the default.
	Compression string `yaml:"compression,omitempty" json:"compression,omitempty"`
}

// Throttle holds blkio limits; 0 means unlimited.
type Throttle struct {
	ReadBPS   ByteSize `yaml:"read_bps,omitempty" json:"read_bps,omitempty"`
	WriteBPS  ByteSize `yaml:"write_bps,omitempty" json:"write_bps,omitempty"`
	ReadIOPS  int64    `yaml:"read_iops,omitempty" json:"read_iops,omitempty"`
	WriteIOPS int64    `yaml:"write_iops,omitempty" json:"write_iops,omitempty"`
}

// Filesystem is the filesystem made on the disk.
type Filesystem struct {
	// Type is ext4 or xfs.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// MkfsOptions are extra arguments to mkfs ("-l", "size=64m").
	MkfsOptions []string `yaml:"mkfs_options,omitempty" json:"mkfs_options,omitempty"`
	// MountOptions are mount -o options ("noatime", "data=writeback",
	// "logbufs=8", "logbsize=256k").
	MountOptions []string `yaml:"mount_options,omitempty" json:"mount_options,omitempty"`
}

// Runtime holds the broker's Go runtime settings, passed as environment.
type Runtime struct {
	// GOGC is "off" or a percentage ("100").
	GOGC string `yaml:"gogc,omitempty" json:"gogc,omitempty"`
	// GOMEMLIMIT is a Go memory limit ("1GiB", "512MiB", "off").
	GOMEMLIMIT string `yaml:"gomemlimit,omitempty" json:"gomemlimit,omitempty"`
	// GOMAXPROCS is how many threads run Go code at once ("1", "2"); by
	// default the host's CPUs (or the cgroup's CPU limit). At a held rate
	// of small requests fewer can cost less: an idle P makes the runtime
	// wake a thread to look for work (make bench-runtime).
	GOMAXPROCS string `yaml:"gomaxprocs,omitempty" json:"gomaxprocs,omitempty"`
}

// Env returns the environment entries ("GOGC=50") the broker runs with.
func (r *Runtime) Env() []string {
	if r == nil {
		return nil
	}
	var env []string
	if r.GOGC != "" {
		env = append(env, "GOGC="+r.GOGC)
	}
	if r.GOMEMLIMIT != "" {
		env = append(env, "GOMEMLIMIT="+r.GOMEMLIMIT)
	}
	if r.GOMAXPROCS != "" {
		env = append(env, "GOMAXPROCS="+r.GOMAXPROCS)
	}
	return env
}

// Overrides returns the broker's --override arguments in key order.
func (s Settings) Overrides() []string {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(s.Broker)) {
		args = append(args, "--override", k+"="+s.Broker[k])
	}
	return args
}

// Merge returns base with over laid on top: maps merge key by key, a set
// field of over replaces base's, structs merge field by field.
func Merge(base, over Settings) Settings {
	out := Settings{
		Sysctl:      mergeMap(base.Sysctl, over.Sysctl),
		Broker:      mergeMap(base.Broker, over.Broker),
		MemoryLimit: base.MemoryLimit,
		Swap:        base.Swap,
		Probes:      base.Probes,
	}
	overlay(&out.MemoryLimit, over.MemoryLimit)
	overlay(&out.Swap, over.Swap)
	overlay(&out.Probes, over.Probes)
	out.Disk = mergeStruct(base.Disk, over.Disk, mergeDisk)
	out.Filesystem = mergeStruct(base.Filesystem, over.Filesystem, mergeFS)
	out.Runtime = mergeStruct(base.Runtime, over.Runtime, mergeRuntime)
	return out
}

// overlay sets *v to over when over is set (not its type's zero value).
func overlay[T comparable](v *T, over T) {
	var zero T
	if over != zero {
		*v = over
	}
}

// mergeStruct merges the settings a and b point to: nil when neither is
// set, else a copy of *a (or of the zero value) with b laid on by merge.
func mergeStruct[T any](a, b *T, merge func(out, b *T)) *T {
	if a == nil && b == nil {
		return nil
	}
	var out T
	if a != nil {
		out = *a
	}
	if b != nil {
		merge(&out, b)
	}
	return &out
}

func mergeMap(a, b map[string]string) map[string]string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

func mergeDisk(out, b *Disk) {
	overlay(&out.Kind, b.Kind)
	overlay(&out.Size, b.Size)
	overlay(&out.Device, b.Device)
	overlay(&out.Preallocate, b.Preallocate)
	overlay(&out.Scheduler, b.Scheduler)
	if b.Throttle != nil {
		t := *b.Throttle
		out.Throttle = &t
	}
	overlay(&out.Compression, b.Compression)
}

func mergeFS(out, b *Filesystem) {
	if b.Type != "" && b.Type != out.Type {
		// Options of one filesystem do not carry over to another.
		*out = Filesystem{Type: b.Type}
	}
	if b.MkfsOptions != nil {
		out.MkfsOptions = b.MkfsOptions
	}
	if b.MountOptions != nil {
		out.MountOptions = b.MountOptions
	}
}

func mergeRuntime(out, b *Runtime) {
	overlay(&out.GOGC, b.GOGC)
	overlay(&out.GOMEMLIMIT, b.GOMEMLIMIT)
	overlay(&out.GOMAXPROCS, b.GOMAXPROCS)
}

// knobs lists the knobs s sets, as "sysctl vm.swappiness", "filesystem",
// "broker log.flush.interval.ms", ...: two dimensions of a plan must not
// set the same knob.
func (s Settings) knobs() []string {
	var k []string
	for key := range s.Sysctl {
		k = append(k, "sysctl "+key)
	}
	for key := range s.Broker {
		k = append(k, "broker "+key)
	}
	if s.Disk != nil {
		k = append(k, "disk")
	}
	if s.Filesystem != nil {
		k = append(k, "filesystem")
	}
	if s.Runtime != nil {
		if s.Runtime.GOGC != "" {
			k = append(k, "runtime GOGC")
		}
		if s.Runtime.GOMEMLIMIT != "" {
			k = append(k, "runtime GOMEMLIMIT")
		}
		if s.Runtime.GOMAXPROCS != "" {
			k = append(k, "runtime GOMAXPROCS")
		}
	}
	if s.MemoryLimit != 0 {
		k = append(k, "memory_limit")
	}
	if s.Swap != 0 {
		k = append(k, "swap")
	}
	if s.Probes != "" {
		k = append(k, "probes")
	}
	slices.Sort(k)
	return k
}

// sysctlRanges are the documented ranges of the sysctls the seed's advice
// is about (Documentation/admin-guide/sysctl/vm.rst).
var sysctlRanges = map[string][2]int{
	"vm.swappiness":                {0, 200},
	"vm.dirty_ratio":               {0, 100},
	"vm.dirty_background_ratio":    {0, 100},
	"vm.dirty_expire_centisecs":    {0, 1 << 31},
	"vm.dirty_writeback_centisecs": {0, 1 << 31},
}

var sysctlKey = regexp.MustCompile(`^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$`)

// brokerKeys are the broker overrides whose values the plan checks; other
// keys pass through (`bin/broker --check` validates them).
var brokerKeys = map[string]func(string) error{
	"log.flush.interval.messages": intAtLeast(1),
	"log.flush.interval.ms":       intAtLeast(0),
	"log.flush.sync.on.ack":       oneOf("true", "false"),
	"brokerlab.fetch.mode":        oneOf("sendfile", "copy"),
	"socket.send.buffer.bytes":    intAtLeast(-1),
	"socket.receive.buffer.bytes": intAtLeast(-1),
	"log.segment.bytes":           intAtLeast(14),
	"num.partitions":              intAtLeast(1),
	"message.max.bytes":           intAtLeast(0),
}

func intAtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("want an integer >= %d", min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

var goMemLimit = regexp.MustCompile(`^(off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$`)

// validate reports every problem with s; at is the key path ("base",
// "matrix[0].levels[1]") the errors name.
func (s Settings) validate(at string) []error {
	var errs []error
	bad := func(key, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %q: %s", at, key, value, fmt.Sprintf(format, args...)))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Sysctl)) {
		v := s.Sysctl[k]
		key := fmt.Sprintf("sysctl[%s]", k)
		if !sysctlKey.MatchString(k) {
			bad(key, k, "not a sysctl key; write it dotted, as sysctl(8) does (vm.swappiness)")
			continue
		}
		if k == "vm.drop_caches" {
			bad(key, v, "drop_caches is an action, not a setting; use drop_caches: true in the plan")
			continue
		}
		if strings.TrimSpace(v) == "" {
			bad(key, v, "empty value; give the value to write")
			continue
		}
		if r, ok := sysctlRanges[k]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < r[0] || n > r[1] {
				bad(key, v, "want an integer from %d to %d", r[0], r[1])
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Broker)) {
		v := s.Broker[k]
		key := fmt.Sprintf("broker[%s]", k)
		switch k {
		case "log.dirs", "log.dir":
			bad(key, v, "the lab sets the log dir to the disk under test; describe the disk with disk: and filesystem: instead")
			continue
		case "listeners", "port":
			bad(key, v, "the lab chooses the listener; remove this key")
			continue
		}
		if check, ok := brokerKeys[k]; ok {
			if err := check(v); err != nil {
				bad(key, v, "%v", err)
			}
		}
	}
	if d := s.Disk; d != nil {
		switch {
		case d.Kind == "":
			bad("disk.kind", d.Kind, "missing; want one of %s", strings.Join(diskKinds, ", "))
		case !slices.Contains(diskKinds, d.Kind):
			bad("disk.kind", d.Kind, "want one of %s", strings.Join(diskKinds, ", "))
		}
		switch d.Kind {
		case DiskLoop, DiskTmpfsLoop, DiskZram:
			if d.Size < 64<<20 {
				bad("disk.size", d.Size.String(), "a %s disk needs size: of at least 64MiB (xfs needs 300MiB)", d.Kind)
			}
		case DiskDevice:
			if !strings.HasPrefix(d.Device, "/dev/") {
				bad("disk.device", d.Device, "kind device needs the spare disk's path, such as /dev/vdb")
			}
		}
		if d.Kind != DiskDevice && d.Device != "" {
			bad("disk.device", d.Device, "only kind device takes a device; remove it or set kind: device")
		}
		if d.Scheduler != "" && !slices.Contains([]string{"none", "mq-deadline", "kyber", "bfq"}, d.Scheduler) {
			bad("disk.scheduler", d.Scheduler, "want none, mq-deadline, kyber or bfq")
		}
		if d.Throttle != nil && d.Kind == DiskDir {
			bad("disk.throttle", "", "throttling needs a device of its own; use kind loop")
		}
		if d.Compression != "" && d.Kind != DiskZram {
			bad("disk.compression", d.Compression, "only zram disks compress; remove it or set kind: zram")
		}
	}
	if f := s.Filesystem; f != nil {
		if f.Type != "ext4" && f.Type != "xfs" {
			bad("filesystem.type", f.Type, "want ext4 or xfs")
		}
		if s.Disk != nil && s.Disk.Kind == DiskDir {
			bad("filesystem.type", f.Type, "disk kind dir uses the root filesystem as it is; use kind loop to make a filesystem")
		}
		if f.Type == "xfs" && s.Disk != nil && s.Disk.Size != 0 && s.Disk.Size < 300<<20 {
			bad("disk.size", s.Disk.Size.String(), "mkfs.xfs refuses filesystems under 300MiB; make the disk at least 300MiB")
		}
		for _, o := range f.MountOptions {
			name, val, _ := strings.Cut(o, "=")
			switch name {
			case "data":
				if f.Type != "ext4" {
					bad("filesystem.mount_options", o, "data= is an ext4 option")
				} else if !slices.Contains([]string{"ordered", "writeback", "journal"}, val) {
					bad("filesystem.mount_options", o, "want data=ordered, data=writeback or data=journal")
				}
			case "logbufs":
				n, err := strconv.Atoi(val)
				if f.Type != "xfs" {
					bad("filesystem.mount_options", o, "logbufs is an xfs option")
				} else if err != nil || n < 2 || n > 8 {
					bad("filesystem.mount_options", o, "want logbufs from 2 to 8")
				}
			case "logbsize":
				if f.Type != "xfs" {
					bad("filesystem.mount_options", o, "logbsize is an xfs option")
				} else if !slices.Contains([]string{"16k", "32k", "64k", "128k", "256k"}, val) {
					bad("filesystem.mount_options", o, "want logbsize 16k, 32k, 64k, 128k or 256k")
				}
			}
		}
	}
	if r := s.Runtime; r != nil {
		if r.GOGC != "" && r.GOGC != "off" {
			if n, err := strconv.Atoi(r.GOGC); err != nil || n < 1 {
				bad("runtime.gogc", r.GOGC, "want off or a positive percentage such as 100")
			}
		}
		if r.GOMEMLIMIT != "" && !goMemLimit.MatchString(r.GOMEMLIMIT) {
			bad("runtime.gomemlimit", r.GOMEMLIMIT, "want off or bytes with a Go unit such as 512MiB or 2GiB (B, KiB, MiB, GiB, TiB)")
		}
		if r.GOMAXPROCS != "" {
			if n, err := strconv.Atoi(r.GOMAXPROCS); err != nil || n < 1 {
				bad("runtime.gomaxprocs", r.GOMAXPROCS, "want a positive number of threads such as 1 or 2")
			}
		}
	}
	if s.MemoryLimit != 0 && s.MemoryLimit < 64<<20 {
		bad("memory_limit", s.MemoryLimit.String(), "below 64MiB the broker cannot start; use at least 64MiB")
	}
	if s.Probes != "" && s.Probes != ProbesAll && s.Probes != ProbesNone {
		bad("probes", s.Probes, "want all or none")
	}
	if s.Swap != 0 && s.Swap < 16<<20 {
		bad("swap", s.Swap.String(), "use at least 16MiB of zram swap, or leave swap out")
	}
	return errs
}
