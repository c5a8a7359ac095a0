package procsample

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config says what a Sampler reads.
type Config struct {
	// ProcRoot is where procfs is mounted; default /proc.
	ProcRoot string
	// SysRoot is where sysfs is mounted; default /sys.
	SysRoot string
	// PID adds /proc/<pid>/stat and status to each sample; 0 = none.
	PID int
	// Device adds /proc/diskstats for this device ("vda" or "254:0"); "" = none.
	Device string
	// Logger receives sampling problems; nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.PID < 0 {
		errs = append(errs, fmt.Errorf("pid %d: want a process id or 0", c.PID))
	}
	return errors.Join(errs...)
}

// Sample is one reading of every source at one moment.
type Sample struct {
	Time     time.Time  `json:"time"`
	VMStat   VMStat     `json:"vmstat"`
	MemInfo  MemInfo    `json:"meminfo"`
	SockStat SockStat   `json:"sockstat"`
	SNMP     SNMP       `json:"snmp"`
	Disk     *DiskStats `json:"disk,omitempty"`
	Process  *Process   `json:"process,omitempty"`
}

// Delta returns the window from prev to s: counters are subtracted, gauges
// (meminfo, sockstat, RSS, VmSwap) keep s's values.
func (s Sample) Delta(prev Sample) Sample {
	out := s
	out.VMStat = s.VMStat.Delta(prev.VMStat)
	out.SNMP = s.SNMP.Delta(prev.SNMP)
	if s.Disk != nil && prev.Disk != nil {
		d := s.Disk.Delta(*prev.Disk)
		out.Disk = &d
	}
	if s.Process != nil && prev.Process != nil {
		p := s.Process.Delta(*prev.Process)
		out.Process = &p
	}
	return out
}

// Sampler reads the configured sources. It holds no open files and is safe
// for concurrent use.
type Sampler struct {
	cfg Config
}

// New returns a Sampler for cfg.
func New(cfg Config) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("procsample config: %w", err)
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{cfg: cfg}, nil
}

// Sample reads every source; it fails if any source cannot be read.
func (s *Sampler) Sample() (Sample, error) {
	out := Sample{Time: time.Now()}
	var errs []error
	var err error
	if out.VMStat, err = ReadVMStat(s.cfg.ProcRoot); err != nil {
		errs = append(errs, err)
	}
	if out.MemInfo, err = ReadMemInfo(s.cfg.ProcRoot); err != nil {
		errs = append(errs, err)
	}
	if out.SockStat, err = ReadSockStat(s.cfg.ProcRoot); err != nil {
		errs = append(errs, err)
	}
	if out.SNMP, err = ReadSNMP(s.cfg.ProcRoot); err != nil {
		errs = append(errs, err)
	}
	if s.cfg.Device != "" {
		d, err := ReadDiskStats(s.cfg.ProcRoot, s.cfg.SysRoot, s.cfg.Device)
		if err != nil {
			errs = append(errs, err)
		} else {
			out.Disk = &d
		}
	}
	if s.cfg.PID != 0 {
		p, err := ReadProcess(s.cfg.ProcRoot, s.cfg.PID)
		if err != nil {
			errs = append(errs, err)
		} else {
			out.Process = &p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Sample{}, fmt.Errorf("sampling procfs: %w", err)
	}
	return out, nil
}
