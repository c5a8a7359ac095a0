// Package watch is lab probe's loop: the eBPF probe families (package bpf)
// and their /proc twins (package procsample) read once per interval and
// written side by side, as tables or one JSON object per window, optionally
// scoped to a command it starts gated, so the probes hold the command's pid
// before the command runs anything.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/procsample"
)

// ExecWaitEnv marks a re-executed binary that waits for the probes to load
// and then execs the command in place (ExecWhenReleased), so the command
// keeps the pid the probes were scoped to before it ran anything. The
// binary that calls Run with a Command must call ExecWhenReleased from an
// init function when this variable is "1".
const ExecWaitEnv = "BROKERLAB_PROBE_EXEC_WAIT"

// Config says what Run watches.
type Config struct {
	Families []bpf.Family
	// PID or Cgroup scope the probes; Command, when set, is started gated
	// and its pid used (PID must then be 0).
	PID     int
	Cgroup  string
	Command []string
	// Device is the disk ("maj:min") for block latency and diskstats.
	Device string
	// Interval is the window length; Count stops after that many windows
	// (0: until ctx ends or the command exits).
	Interval time.Duration
	Count    int
	// JSON writes one JSON object per window instead of tables.
	JSON bool
	// Listen, when set, also serves the readings as Prometheus metrics at
	// http://Listen/metrics while Run runs (bpf.ServeMetrics).
	Listen string
	Logger *slog.Logger
}

// ExecWhenReleased runs in the re-executed child: it blocks until the parent
// writes to fd 3 (probes loaded), then replaces itself with the command.
func ExecWhenReleased() {
	gate := os.NewFile(3, "probe-gate")
	b := make([]byte, 1)
	if n, _ := gate.Read(b); n != 1 {
		os.Exit(125) // the parent gave up before the probes were ready
	}
	gate.Close()
	if len(os.Args) < 2 {
		os.Exit(125)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab probe:", err)
		os.Exit(127)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, ExecWaitEnv+"=") })
	err = syscall.Exec(path, os.Args[1:], env)
	fmt.Fprintln(os.Stderr, "lab probe: exec:", err)
	os.Exit(126)
}

// Run attaches the probes and writes one window per interval to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		return fmt.Errorf("interval %v: want a positive duration", cfg.Interval)
	}
	if cfg.PID != 0 && len(cfg.Command) > 0 {
		return errors.New("-pid and -- command both name the process: use one")
	}
	// With a command: start it gated, so the probes are scoped to its pid
	// before it runs.
	var (
		child   *exec.Cmd
		release *os.File
		exited  chan error
		waited  bool // exited has delivered the command's status
	)
	if len(cfg.Command) > 0 {
		gateR, gateW, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("creating the command's start gate: %w", err)
		}
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the lab binary: %w", err)
		}
		child = exec.Command(self, cfg.Command...)
		child.Env = append(os.Environ(), ExecWaitEnv+"=1")
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stderr, os.Stderr
		child.ExtraFiles = []*os.File{gateR}
		if err := child.Start(); err != nil {
			gateR.Close()
			gateW.Close()
			return fmt.Errorf("starting %s: %w", cfg.Command[0], err)
		}
		gateR.Close()
		release = gateW
		cfg.PID = child.Process.Pid
		exited = make(chan error, 1)
		// Owned by Run, which receives from exited before returning.
		go pprof.Do(ctx, pprof.Labels("component", "lab-probe", "role", "command-wait"), func(context.Context) {
			exited <- child.Wait()
		})
		defer func() {
			release.Close() // a child still at the gate exits
			if !waited {
				_ = child.Process.Signal(syscall.SIGTERM)
				<-exited
			}
		}()
	}

	pcfg := bpf.Config{Families: cfg.Families, PID: cfg.PID, Cgroup: cfg.Cgroup, Device: cfg.Device, Logger: cfg.Logger}
	probes, err := bpf.New(pcfg)
	if err != nil {
		return err
	}
	defer probes.Close()
	if cfg.Listen != "" {
		srv, err := bpf.ServeMetrics(cfg.Listen, probes, pcfg, cfg.Logger)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	for _, f := range cfg.Families {
		if err := probes.Err(f); err != nil {
			cfg.Logger.Warn("probe family not running", "family", f, "err", err)
		}
	}
	sampler, err := procsample.New(procsample.Config{PID: cfg.PID, Device: cfg.Device})
	if err != nil {
		return err
	}
	prevB, err := probes.Snapshot()
	if err != nil {
		return err
	}
	prevP, err := sampler.Sample()
	if err != nil {
		return err
	}
	if release != nil {
		if _, err := release.Write([]byte{1}); err != nil {
			return fmt.Errorf("releasing %s: %w", cfg.Command[0], err)
		}
		release.Close()
	}

	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()
	var childErr error
	for n := 0; cfg.Count == 0 || n < cfg.Count; n++ {
		done := false
		select {
		case <-ctx.Done():
			done = true
		case childErr = <-exited:
			done, waited = true, true
		case <-ticker.C:
		}
		curB, err := probes.Snapshot()
		if err != nil {
			return err
		}
		curP, err := sampler.Sample()
		if err != nil && child != nil && !done && errors.Is(err, fs.ErrNotExist) {
			// The command exited between the tick and this sample: its
			// /proc directory goes when it is reaped, so its status is
			// already on its way.
			childErr = <-exited
			done, waited = true, true
		}
		if err != nil && cfg.PID != 0 && child != nil && done {
			// The command is gone: sample without it.
			sampler, _ = procsample.New(procsample.Config{Device: cfg.Device})
			curP, err = sampler.Sample()
			prevP.Process = nil
		}
		if err != nil {
			return err
		}
		if err := WriteWindow(out, curB.Delta(prevB), curP.Delta(prevP), cfg.JSON); err != nil {
			return err
		}
		prevB, prevP = curB, curP
		if done {
			break
		}
	}
	if waited && childErr != nil {
		return fmt.Errorf("%s: %w", cfg.Command[0], childErr)
	}
	return nil
}

// twin pairs a BPF reading with the /proc figure that answers the same
// question.
type twin struct {
	Question string `json:"question"`
	BPF      string `json:"bpf"`
	BPFValue string `json:"bpf_value"`
	Proc     string `json:"procfs"`
	Value    string `json:"procfs_value"`
}

// crossCheck builds the twin rows for a window. System-wide /proc counters
// equal the scoped BPF ones only when nothing else on the host contributes.
func crossCheck(b bpf.Snapshot, p procsample.Sample) []twin {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	has := func(f bpf.Family) bool {
		for _, c := range b.Counters {
			if c.Family == f {
				return true
			}
		}
		return false
	}
	val := func(f bpf.Family, name string) string {
		if !has(f) {
			return "-"
		}
		return u(b.Value(f, name))
	}
	rows := []twin{
		{"swap-ins (pages)", "swap/swapin_pages", val(bpf.FamilySwap, "swapin_pages"), "/proc/vmstat pswpin", u(p.VMStat.PswpIn)},
		{"swap-outs (pages)", "swap/swapout_pages", val(bpf.FamilySwap, "swapout_pages"), "/proc/vmstat pswpout", u(p.VMStat.PswpOut)},
	}
	missKiB := "-"
	if has(bpf.FamilyPageCache) {
		miss := b.Value(bpf.FamilyPageCache, "insert_pages") - min(b.Value(bpf.FamilyPageCache, "insert_pages"), b.Value(bpf.FamilyPageCache, "write_insert_pages"))
		missKiB = u(miss * uint64(os.Getpagesize()) / 1024)
	}
	rows = append(rows, twin{"page-cache read misses (KiB)", "pagecache/insert_pages-write_insert_pages", missKiB, "/proc/vmstat pgpgin", u(p.VMStat.PgpgIn)})
	if r, ok := b.Ratio(bpf.FamilyPageCache, "hit_ratio"); ok && r.Valid {
		rows = append(rows, twin{"page-cache hit ratio", "pagecache/hit_ratio", fmt.Sprintf("%.1f%%", 100*r.Value), "/proc/meminfo Cached (MiB)", u(p.MemInfo.Cached >> 20)})
	}
	rows = append(rows, twin{"dirty / writeback (MiB)", "-", "-", "/proc/meminfo Dirty / Writeback", u(p.MemInfo.Dirty>>20) + " / " + u(p.MemInfo.Writeback>>20)})
	if p.Disk != nil {
		rows = append(rows,
			twin{"block requests", "fsync/block_requests", val(bpf.FamilyFsync, "block_requests"), "/proc/diskstats " + p.Disk.Device + " reads+writes+flushes", u(p.Disk.ReadIOs + p.Disk.WriteIOs + p.Disk.FlushIOs)},
			twin{"block bytes", "fsync/block_bytes", val(bpf.FamilyFsync, "block_bytes"), "/proc/diskstats " + p.Disk.Device + " sectors*512", u((p.Disk.ReadSectors + p.Disk.WriteSectors) * 512)},
		)
	}
	if p.Process != nil {
		rows = append(rows,
			twin{"page faults", "swap/page_faults", val(bpf.FamilySwap, "page_faults"), fmt.Sprintf("/proc/%d/stat minflt+majflt", p.Process.PID), u(p.Process.MinFlt + p.Process.MajFlt)},
			twin{"swapped out (MiB)", "-", "-", fmt.Sprintf("/proc/%d/status VmSwap / VmRSS", p.Process.PID), u(p.Process.VmSwap>>20) + " / " + u(p.Process.RSS>>20)},
		)
	}
	rows = append(rows,
		twin{"TCP retransmits", "-", "-", "/proc/net/snmp RetransSegs", u(p.SNMP.TCPRetransSegs)},
		twin{"TCP memory pressure", "sockbuf/exceed_buf_limit", val(bpf.FamilySockBuf, "exceed_buf_limit"), "/proc/net/sockstat TCP mem (pages)", strconv.Itoa(p.SockStat.TCPMemPages)},
	)
	return rows
}

// WriteWindow prints one window: the BPF tables and histograms, then
// the cross-check against /proc; or one JSON line.
func WriteWindow(w io.Writer, b bpf.Snapshot, p procsample.Sample, asJSON bool) error {
	twins := crossCheck(b, p)
	if asJSON {
		return json.NewEncoder(w).Encode(struct {
			Time       time.Time         `json:"time"`
			BPF        bpf.Snapshot      `json:"bpf"`
			Procfs     procsample.Sample `json:"procfs"`
			CrossCheck []twin            `json:"cross_check"`
		}{b.Time, b, p, twins})
	}
	if err := bpf.WriteText(w, b); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n[cross-check with /proc]")
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignRight}}),
	)
	t.Header("question", "bpf", "value", "procfs", "value")
	for _, r := range twins {
		if err := t.Append(r.Question, r.BPF, r.BPFValue, r.Proc, r.Value); err != nil {
			return fmt.Errorf("rendering cross-check: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering cross-check: %w", err)
	}
	fmt.Fprintln(w)
	return nil
}
