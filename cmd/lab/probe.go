package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

// probeExecEnv marks a re-executed lab that waits for the probes to load
// and then execs the command of `lab probe -- command args` in place, so the
// command keeps the pid the probes were scoped to before it ran anything.
const probeExecEnv = "BROKERLAB_PROBE_EXEC_WAIT"

func init() {
	if os.Getenv(probeExecEnv) == "1" {
		execWhenReleased()
	}
	register("probe", command{
		summary: "attach eBPF probes (fsync, pagecache, swap, sockbuf, sendfile) and show them next to /proc each interval",
		run:     runProbe,
	})
}

// execWhenReleased runs in the re-executed child: it blocks until the parent
// writes to fd 3 (probes loaded), then replaces itself with the command.
func execWhenReleased() {
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
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, probeExecEnv+"=") })
	err = syscall.Exec(path, os.Args[1:], env)
	fmt.Fprintln(os.Stderr, "lab probe: exec:", err)
	os.Exit(126)
}

func runProbe(ctx context.Context, logger *slog.Logger, args []string) error {
	return probeTo(ctx, logger, args, os.Stdout)
}

// probeTo runs lab probe writing its windows to out.
func probeTo(ctx context.Context, logger *slog.Logger, args []string, out io.Writer) error {
	var command []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	fs := flag.NewFlagSet("lab probe", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: lab probe [FAMILY...] [-pid N | -cgroup DIR] [-device MAJ:MIN|PATH] [-interval 1s] [-count N] [-json] [-listen ADDR] [-features] [-- command args]\n\nfamilies: fsync pagecache swap sockbuf sendfile (default: all)\n\n")
		fs.PrintDefaults()
	}
	pid := fs.Int("pid", 0, "scope to this process (tgid)")
	cgroup := fs.String("cgroup", "", "scope to this cgroup directory (cgroup v2, or a cgroup v1 memory controller directory)")
	device := fs.String("device", "", "block latency for this disk: MAJOR:MINOR, or a path whose disk to use (default every disk)")
	interval := fs.Duration("interval", time.Second, "window length")
	count := fs.Int("count", 0, "stop after this many windows (0: until interrupted or the command exits)")
	asJSON := fs.Bool("json", false, "print one JSON object per window instead of tables")
	features := fs.Bool("features", false, "print which events and types this kernel has, then exit")
	listen := fs.String("listen", "", "also serve the readings as Prometheus metrics at http://ADDR/metrics (dashboards/prometheus.yml scrapes "+bpf.DefaultListenAddr+")")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *features {
		if mounted, err := bpf.EnsureTracefs(bpf.DefaultTracefsDir); err != nil {
			logger.Warn("tracefs unavailable", "err", err)
		} else if mounted {
			logger.Info("mounted tracefs", "dir", bpf.DefaultTracefsDir)
		}
		f := bpf.ProbeFeatures("")
		if *asJSON {
			return json.NewEncoder(out).Encode(f)
		}
		_, err := f.WriteTo(out)
		return err
	}
	var families []bpf.Family
	for _, name := range pos {
		if name == "all" {
			families = append(families, bpf.Families()...)
			continue
		}
		f, err := bpf.ParseFamily(name)
		if err != nil {
			return err
		}
		families = append(families, f)
	}
	if *interval <= 0 {
		return fmt.Errorf("-interval %v: want a positive duration", *interval)
	}
	if *pid != 0 && len(command) > 0 {
		return errors.New("-pid and -- command both name the process: use one")
	}
	if *device != "" && strings.Contains(*device, "/") {
		if *device, err = bpf.DiskOf("/sys", *device); err != nil {
			return err
		}
	}

	// With a command: start it gated, so the probes are scoped to its pid
	// before it runs.
	var (
		child   *exec.Cmd
		release *os.File
		exited  chan error
		waited  bool // exited has delivered the command's status
	)
	if len(command) > 0 {
		gateR, gateW, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("creating the command's start gate: %w", err)
		}
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the lab binary: %w", err)
		}
		child = exec.Command(self, command...)
		child.Env = append(os.Environ(), probeExecEnv+"=1")
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stderr, os.Stderr
		child.ExtraFiles = []*os.File{gateR}
		if err := child.Start(); err != nil {
			gateR.Close()
			gateW.Close()
			return fmt.Errorf("starting %s: %w", command[0], err)
		}
		gateR.Close()
		release = gateW
		*pid = child.Process.Pid
		exited = make(chan error, 1)
		// Owned by probeTo, which receives from exited before returning.
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

	pcfg := bpf.Config{Families: families, PID: *pid, Cgroup: *cgroup, Device: *device, Logger: logger}
	probes, err := bpf.New(pcfg)
	if err != nil {
		return err
	}
	defer probes.Close()
	if *listen != "" {
		srv, err := bpf.ServeMetrics(*listen, probes, pcfg, logger)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	for _, f := range families {
		if err := probes.Err(f); err != nil {
			logger.Warn("probe family not running", "family", f, "err", err)
		}
	}
	sampler, err := procsample.New(procsample.Config{PID: *pid, Device: *device})
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
			return fmt.Errorf("releasing %s: %w", command[0], err)
		}
		release.Close()
	}

	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	var childErr error
	for n := 0; *count == 0 || n < *count; n++ {
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
		if err != nil && *pid != 0 && child != nil && done {
			// The command is gone: sample without it.
			sampler, _ = procsample.New(procsample.Config{Device: *device})
			curP, err = sampler.Sample()
			prevP.Process = nil
		}
		if err != nil {
			return err
		}
		if err := writeProbeWindow(out, curB.Delta(prevB), curP.Delta(prevP), *asJSON); err != nil {
			return err
		}
		prevB, prevP = curB, curP
		if done {
			break
		}
	}
	if waited && childErr != nil {
		return fmt.Errorf("%s: %w", command[0], childErr)
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

// writeProbeWindow prints one window: the BPF tables and histograms, then
// the cross-check against /proc; or one JSON line.
func writeProbeWindow(w io.Writer, b bpf.Snapshot, p procsample.Sample, asJSON bool) error {
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
