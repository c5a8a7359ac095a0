package procsample

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Environment is what a result depends on: the code that measured it, the
// machine, the disk and filesystem of the directory the broker wrote to,
// the kernel settings the lab knows matter, the broker's effective config
// when the result is about a broker, and how the run was made. Every result
// writer records one: load results (loadgen.Result), bench results
// (bench.SaveRun), sweep run files (tuning.Record) and ceilings.
//
// The JSON names of the machine and log-dir fields are the ones
// loadgen/SCHEMA.md promises; a record written before this type existed
// (tuning's "cpu" and "memory_mib") still decodes.
type Environment struct {
	Build         Build  `json:"build"`
	Hostname      string `json:"hostname"`
	Kernel        string `json:"kernel"`
	Arch          string `json:"arch"`
	CPUModel      string `json:"cpu_model"`
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes"`
	GoVersion     string `json:"go_version"`
	// LogDir and the fields below describe the directory the broker
	// writes (or the work dir) when one was given.
	LogDir       string `json:"log_dir,omitempty"`
	FSType       string `json:"fs_type,omitempty"`
	Device       string `json:"device,omitempty"`
	MountPoint   string `json:"mount_point,omitempty"`
	MountOptions string `json:"mount_options,omitempty"`
	// IOScheduler is the active scheduler of the log dir's disk.
	IOScheduler string `json:"io_scheduler,omitempty"`
	// THP is the transparent huge page mode.
	THP string `json:"transparent_hugepage,omitempty"`
	// Sysctls are KnownSysctls' values at capture time.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Host is what the host offers that some measurements need (disks,
	// sch_netem).
	Host *HostCaps `json:"host,omitempty"`
	// Disk and Filesystem describe the disk under test in words, where a
	// sweep prepared one ("loop file on /var/tmp", "xfs (/dev/loop3 on
	// /mnt/x)").
	Disk       string `json:"disk,omitempty"`
	Filesystem string `json:"filesystem,omitempty"`
	// Workload names what ran (sweep records).
	Workload string `json:"workload,omitempty"`
	// BrokerConfig is the broker's effective config, when the result is
	// about one broker.
	BrokerConfig map[string]string `json:"broker_config,omitempty"`
	// Reduced marks a shortened run (a smoke test, not a measurement);
	// Interrupted one stopped before its end.
	Reduced     bool `json:"reduced,omitempty"`
	Interrupted bool `json:"interrupted,omitempty"`
}

// EnvConfig says where ReadEnvironment reads from.
type EnvConfig struct {
	// ProcRoot, SysRoot and ModulesRoot default to /proc, /sys and
	// /lib/modules.
	ProcRoot, SysRoot, ModulesRoot string
	// Dir, when set, is the directory whose disk, filesystem, mount
	// options and I/O scheduler are recorded (the broker's log dir).
	Dir string
}

// ReadEnvironment reads the environment. It fills what it can read and
// returns every problem alongside.
func ReadEnvironment(cfg EnvConfig) (Environment, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	e := Environment{Build: ReadBuild(), Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	e.Hostname, _ = os.Hostname()
	var errs []error
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:])
	} else {
		errs = append(errs, fmt.Errorf("uname: %w", err))
	}
	var err error
	if e.CPUModel, err = ReadCPUModel(cfg.ProcRoot); err != nil {
		errs = append(errs, err)
	}
	if m, err := ReadMemInfo(cfg.ProcRoot); err == nil {
		e.MemTotalBytes = int64(m.MemTotal)
	} else {
		errs = append(errs, err)
	}
	if e.THP, err = ReadTHP(cfg.SysRoot); err != nil {
		errs = append(errs, err)
	}
	e.Sysctls = ReadSysctls(cfg.ProcRoot, KnownSysctls)
	caps := ReadHostCaps(cfg.ProcRoot, cfg.SysRoot, cmp.Or(cfg.ModulesRoot, "/lib/modules"))
	e.Host = &caps
	if cfg.Dir != "" {
		e.LogDir = cfg.Dir
		m, err := MountOf(cfg.ProcRoot, cfg.Dir)
		if err != nil {
			errs = append(errs, err)
		} else {
			e.FSType, e.Device, e.MountPoint, e.MountOptions = m.FSType, m.Source, m.MountPoint, m.Options
			if e.IOScheduler, err = ReadScheduler(cfg.SysRoot, m.MajorMinor); err != nil && m.Source != "" && m.Source[0] == '/' {
				errs = append(errs, err) // a virtual filesystem has no queue
			}
		}
	}
	return e, errors.Join(errs...)
}

// UnmarshalJSON reads an environment, including the fields of tuning run
// files written before this type: "cpu" (now cpu_model) and "memory_mib"
// (now mem_total_bytes).
func (e *Environment) UnmarshalJSON(b []byte) error {
	type plain Environment
	var legacy struct {
		plain
		CPU       string `json:"cpu"`
		MemoryMiB int64  `json:"memory_mib"`
	}
	if err := json.Unmarshal(b, &legacy); err != nil {
		return err
	}
	*e = Environment(legacy.plain)
	if e.CPUModel == "" {
		e.CPUModel = legacy.CPU
	}
	if e.MemTotalBytes == 0 {
		e.MemTotalBytes = legacy.MemoryMiB << 20
	}
	return nil
}
