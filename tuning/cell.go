package tuning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/host"
)

// runState is what the runner keeps between runs: the prepared storage,
// when the next run can reuse it (recreate_fs: false and the same disk and
// filesystem settings).
type runState struct {
	storage  string // storageKey of the prepared storage; "" = none
	mark     int    // host journal mark after the storage was prepared
	logDir   string
	dev      string
	n        int                // storage preparations so far (names files)
	ceilings map[string]float64 // storageKey -> measured ceiling, bytes/s
	// pinning is the plan's CPU affinity as this host allowed it (nil
	// without one).
	pinning *Pinning
	// ceilingErr says why the current storage's ceiling is missing.
	ceilingErr string
}

// storageKey identifies the disk and filesystem settings.
func storageKey(s Settings) string {
	b, _ := json.Marshal(struct {
		D *Disk
		F *Filesystem
	}{s.Disk, s.Filesystem})
	return string(b)
}

// runOne is one run's lifecycle: prepare → start broker → attach probes →
// warm up and measure → collect → tear down.
func (r *Runner) runOne(ctx context.Context, st *runState, run Run) (rec Record, err error) {
	p := r.cfg.Plan
	h := r.cfg.Host
	cell := run.Cell
	label := fmt.Sprintf("%s-r%d", cell.ID, run.Round)
	log := r.log.With("run", label, "cell", cell.Name)

	// Prepare the storage, or reuse the previous run's.
	key := storageKey(cell.Settings)
	if st.storage != "" && (p.RecreateFS || key != st.storage) {
		if _, err := h.Restore(); err != nil {
			return rec, &hostError{fmt.Errorf("restoring the host before %s: %w", label, err)}
		}
		st.storage = ""
	}
	if st.storage == "" {
		st.n++
		st.ceilingErr = ""
		logDir, dev, err := r.prepareStorage(cell.Settings, st.n)
		if err != nil {
			if _, rerr := h.Restore(); rerr != nil {
				return rec, &hostError{errors.Join(err, rerr)}
			}
			return rec, fmt.Errorf("preparing the disk of %s: %w", label, err)
		}
		st.storage, st.logDir, st.dev, st.mark = key, logDir, dev, h.Mark()
		if p.Ceilings && r.cfg.Ceilings != nil {
			if st.ceilings == nil {
				st.ceilings = map[string]float64{}
			}
			if _, ok := st.ceilings[key]; !ok {
				c, err := r.cfg.Ceilings.Measure(ctx, logDir)
				if err != nil {
					log.Warn("measuring the ceiling failed", "err", err)
					st.ceilingErr = fmt.Sprintf("ceiling not measured: %v", err)
				}
				st.ceilings[key] = c
			}
		}
	} else if err := emptyDir(st.logDir); err != nil {
		return rec, fmt.Errorf("emptying log dir %s: %w", st.logDir, err)
	}
	// Every per-run change after the mark goes back at the end of the run.
	defer func() {
		if _, rerr := h.RestoreTo(st.mark); rerr != nil {
			err = &hostError{errors.Join(err, fmt.Errorf("restoring the host after %s: %w", label, rerr))}
		}
	}()
	cg, err := r.prepareKnobs(cell.Settings, st.dev, run.Order)
	if err != nil {
		return rec, fmt.Errorf("preparing %s: %w", label, err)
	}
	if p.DropCaches {
		if err := host.DropCaches(r.cfg.ProcRoot); err != nil {
			return rec, fmt.Errorf("dropping caches before %s: %w", label, err)
		}
	}

	// Start the broker and put it in its cgroup.
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	overrides, pprofBase, err := r.profileOverrides(cell, run, cell.Settings.Overrides())
	if err != nil {
		return rec, err
	}
	b, err := r.cfg.Broker.Start(bctx, BrokerSpec{LogDir: st.logDir, Overrides: overrides,
		Env: cell.Settings.Runtime.Env(), Label: label})
	if err != nil {
		return rec, fmt.Errorf("starting the broker for %s: %w", label, err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.StopTimeout)
		defer cancel()
		if serr := b.Stop(sctx); serr != nil {
			log.Warn("stopping the broker", "err", serr)
		}
	}()
	if err := h.TrackProcess(b.PID()); err != nil {
		return rec, &hostError{err}
	}
	pinning := st.pinning
	if pinning != nil && pinning.NotPinned == "" {
		if err := pinTasks(b.PID(), pinning.Broker); err != nil {
			log.Warn("pinning the broker", "err", err)
			pinning = &Pinning{NotPinned: err.Error()}
		}
	}
	cgDir := ""
	if cg != nil {
		if err := cg.AddProcess(b.PID()); err != nil {
			return rec, fmt.Errorf("moving the broker into cgroup %s: %w", cg.Name, err)
		}
		cgDir = cg.Dirs["memory"]
		if cg.V2 {
			cgDir = cg.Dirs[""]
		}
	}

	// Attach the probes: optional (a run without them still counts) unless
	// the cell says probes: all, as an overhead plan's cells do.
	var probes ProbeSession
	switch want := cell.Settings.Probes; {
	case want == ProbesAll && r.cfg.Probes == nil:
		return rec, fmt.Errorf("cell %s asks for probes: all, but the lab runs without probes (-no-probes)", cell.Name)
	case want == ProbesNone || r.cfg.Probes == nil:
	case want == ProbesAll:
		// The cell measures the probes' cost: a run without them is not one.
		if probes, err = r.cfg.Probes.Attach(b.PID(), cgDir); err != nil {
			return rec, fmt.Errorf("attaching the probes for %s (probes: all): %w", label, err)
		}
		defer probes.Close()
	default:
		probes, err = r.cfg.Probes.Attach(b.PID(), cgDir)
		if err != nil {
			log.Warn("probes unavailable for this run", "err", err)
			probes = nil
		} else {
			defer probes.Close()
		}
	}

	// Warm up and measure.
	loadFile := filepath.Join("loadgen", label+".json")
	if err := os.MkdirAll(filepath.Join(r.cfg.OutDir, "loadgen"), 0o755); err != nil {
		return rec, err
	}
	started := time.Now().Add(p.Warmup)
	lctx, profiles := r.profileHook(ctx, pprofBase, label)
	sampler, _ := procsample.New(procsample.Config{PID: b.PID()}) // PID >= 0: cannot fail
	before, beforeErr := sampler.Sample()
	m, notes, err := r.cfg.Load.Run(lctx, b.Addr(), p.Warmup, p.Measure, label, filepath.Join(r.cfg.OutDir, loadFile))
	profFiles, profErr := profiles.Wait(err != nil)
	if err != nil {
		return rec, fmt.Errorf("load for %s: %w", label, err)
	}
	if profErr != nil {
		log.Warn("saving profiles", "err", profErr)
		notes = append(notes, fmt.Sprintf("profiles missing: %v", profErr))
	}
	if after, afterErr := sampler.Sample(); beforeErr == nil && afterErr == nil {
		w := after.Delta(before)
		m.Proc = &w
	} else {
		log.Warn("reading /proc around the run", "err", errors.Join(beforeErr, afterErr))
	}

	// Collect.
	if probes != nil {
		if err := probes.Collect(&m); err != nil {
			log.Warn("collecting probe readings", "err", err)
		}
	}
	if st.ceilings != nil {
		m.CeilingBytes = st.ceilings[key]
	}
	if st.ceilingErr != "" {
		notes = append(notes, st.ceilingErr)
	}
	env := r.cfg.Environment
	env.Sysctls = procsample.ReadSysctls("/proc", procsample.KnownSysctls) // as this run had them
	if eb, ok := r.cfg.Broker.(ExecBroker); ok {
		env.BrokerConfig = eb.EffectiveConfig(cell.Settings.Broker)
	}
	env.Disk, env.Filesystem = describeStorage(cell.Settings)
	if d := cell.Settings.Disk; d == nil || d.Kind == DiskDir {
		env.Disk, env.Filesystem = "plain directory under "+r.cfg.WorkDir, host.FilesystemOf(r.cfg.WorkDir)
	}
	rec = NewRecord(p, run, m)
	rec.Start, rec.Environment, rec.LoadgenResult, rec.Profiles = started.UTC(), env, loadFile, profFiles
	rec.Notes, rec.Pinning, rec.Broker = notes, pinning, r.cfg.BrokerName
	rec.File, err = WriteRecord(r.cfg.OutDir, rec)
	if err != nil {
		return rec, err
	}
	log.Info("run done", "file", rec.File, "throughput_mb_s", m.ThroughputBytes/1e6, "publish_p99_ms", m.PublishP99*1e3)
	return rec, nil
}

// describeStorage names a cell's disk and filesystem for its environment.
func describeStorage(s Settings) (disk, fs string) {
	disk, fs = "directory on the root filesystem", "root filesystem"
	if s.Disk != nil {
		disk = s.Disk.Kind
		switch s.Disk.Kind {
		case DiskLoop:
			disk = "loop file on the root disk"
		case DiskTmpfsLoop:
			disk = "loop file in tmpfs (RAM)"
		case DiskZram:
			disk = "zram (compressed RAM)"
		case DiskDevice:
			disk = s.Disk.Device
		}
		if s.Disk.Size != 0 && s.Disk.Kind != DiskDevice {
			disk += " " + s.Disk.Size.String()
		}
		if s.Disk.Scheduler != "" {
			disk += ", " + s.Disk.Scheduler
		}
		if t := s.Disk.Throttle; t != nil {
			disk += fmt.Sprintf(", throttled (write %s/s)", t.WriteBPS)
		}
	}
	if s.Filesystem != nil {
		fs = s.Filesystem.Type
		if len(s.Filesystem.MountOptions) > 0 {
			fs += " (" + strings.Join(s.Filesystem.MountOptions, ",") + ")"
		}
	}
	return disk, fs
}

// prepareStorage makes the cell's disk and filesystem and returns the log
// dir and the block device ("" for a plain directory).
func (r *Runner) prepareStorage(s Settings, n int) (logDir, dev string, err error) {
	h := r.cfg.Host
	base := filepath.Join(r.cfg.WorkDir, fmt.Sprintf("s%d", n))
	if err := h.MakeDir(base, true); err != nil {
		return "", "", err
	}
	d := s.Disk
	if d == nil || d.Kind == DiskDir {
		logDir = filepath.Join(base, "kafka-logs")
		return logDir, "", os.Mkdir(logDir, 0o755)
	}
	switch d.Kind {
	case DiskLoop:
		img := filepath.Join(base, "disk.img")
		if err := h.CreateFile(img, int64(d.Size), d.Preallocate != nil && *d.Preallocate); err != nil {
			return "", "", err
		}
		if dev, err = h.AttachLoop(img); err != nil {
			return "", "", err
		}
	case DiskTmpfsLoop:
		ram := filepath.Join(base, "ram")
		if err := h.MakeDir(ram, false); err != nil {
			return "", "", err
		}
		// Room for the file plus a margin: tmpfs counts its own metadata.
		if err := h.MountTmpfs(ram, int64(d.Size)+64<<20); err != nil {
			return "", "", err
		}
		img := filepath.Join(ram, "disk.img")
		if err := h.CreateFile(img, int64(d.Size), false); err != nil {
			return "", "", err
		}
		if dev, err = h.AttachLoop(img); err != nil {
			return "", "", err
		}
	case DiskZram:
		if dev, err = h.AddZram(int64(d.Size), d.Compression); err != nil {
			return "", "", err
		}
	case DiskDevice:
		dev = d.Device
	}
	fs := s.Filesystem
	if fs == nil {
		fs = &Filesystem{Type: "ext4"}
	}
	if err := h.Mkfs(dev, fs.Type, fs.MkfsOptions); err != nil {
		return "", "", err
	}
	mnt := filepath.Join(base, "mnt")
	if err := h.MakeDir(mnt, false); err != nil {
		return "", "", err
	}
	if err := h.Mount(dev, mnt, fs.Type, fs.MountOptions); err != nil {
		return "", "", err
	}
	logDir = filepath.Join(mnt, "kafka-logs")
	return logDir, dev, os.Mkdir(logDir, 0o755)
}

// prepareKnobs applies the per-run host settings: sysctls, zram swap, the
// broker's cgroup (memory limit, blkio throttle) and the I/O scheduler.
func (r *Runner) prepareKnobs(s Settings, dev string, order int) (*host.Cgroup, error) {
	h := r.cfg.Host
	for _, k := range slices.Sorted(maps.Keys(s.Sysctl)) {
		if err := h.SetSysctl(k, s.Sysctl[k]); err != nil {
			return nil, err
		}
	}
	if s.Swap != 0 {
		z, err := h.AddZram(int64(s.Swap), "")
		if err != nil {
			return nil, err
		}
		if err := h.Mkswap(z); err != nil {
			return nil, err
		}
		if err := h.Swapon(z, 100); err != nil {
			return nil, err
		}
	}
	if s.Disk != nil && s.Disk.Scheduler != "" && dev != "" {
		if err := h.SetScheduler(dev, s.Disk.Scheduler); err != nil {
			return nil, err
		}
	}
	throttle := s.Disk != nil && s.Disk.Throttle != nil && dev != ""
	if r.cfg.NoCgroups {
		if s.MemoryLimit != 0 || throttle {
			return nil, errors.New("the cell sets a memory limit or a throttle, but the lab runs without cgroups here")
		}
		return nil, nil
	}
	controllers := []string{"memory"} // always: the probes and the page-cache accounting scope to it
	if throttle {
		controllers = append(controllers, "blkio")
	}
	cg, err := h.CreateCgroup(fmt.Sprintf("%s-%d-%d", r.cfg.CgroupName, os.Getpid(), order), controllers...)
	if err != nil {
		if s.MemoryLimit == 0 && !throttle {
			// Only the probes' scope is lost; they still filter by pid.
			r.log.Warn("running the broker without a cgroup", "err", err)
			return nil, nil
		}
		return nil, err
	}
	if s.MemoryLimit != 0 {
		if err := cg.SetMemoryLimit(int64(s.MemoryLimit)); err != nil {
			return nil, err
		}
	}
	if throttle {
		t := s.Disk.Throttle
		if err := cg.Throttle(dev, host.Throttle{ReadBPS: int64(t.ReadBPS), WriteBPS: int64(t.WriteBPS), ReadIOPS: t.ReadIOPS, WriteIOPS: t.WriteIOPS}); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

// emptyDir removes everything inside dir, keeping dir.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
