package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The real thing, to check the FUSE model against: the broker's log dir on
// ext4 over a loop device with direct I/O, the kernel's writeback held off
// (journaled sysctls, and ext4's journal commit interval raised), the
// broker SIGKILLed, and the loop's backing file copied at once. The copy
// holds exactly what had reached the "disk"; e2fsck repairs it, and the
// broker restarts on it. What it loses is what a power cut at the kill
// would have lost on ext4 (data=ordered), as far as writeback was held off.

// PowercutLoopTrial is one kill-and-copy trial on a loop device.
type PowercutLoopTrial struct {
	Policy   string        `json:"policy"`
	N        int           `json:"n"`
	CutAfter time.Duration `json:"cut_after_ns"`
	KillTrial
	Started    bool   `json:"started"`
	StartError string `json:"start_error,omitempty"`
	Fsck       string `json:"fsck"`
	// Recovery holds the restarted broker's storage warnings (torn tails
	// cut, segments removed): where the loss was.
	Recovery []string `json:"recovery_warnings,omitempty"`
}

// writeback holds the kernel's writeback off for the loop trials (Linux
// Documentation/admin-guide/sysctl/vm.rst): no periodic flusher wakeups,
// dirty data never "old", and dirty limits far above what a trial writes.
// The limits are set as ratios: the *_bytes knobs cannot be written back
// to 0 (EINVAL), so their undo would fail.
var writeback = [][2]string{
	{"vm.dirty_writeback_centisecs", "0"},
	{"vm.dirty_expire_centisecs", "360000"},
	{"vm.dirty_background_ratio", "50"},
	{"vm.dirty_ratio", "80"},
}

// RunPowercutLoop runs trials kill-and-copy trials of each policy on ext4 over a
// loop device, interleaved. It needs root, losetup, mkfs.ext4 and e2fsck.
func RunPowercutLoop(ctx context.Context, cfg PowercutConfig) ([]PowercutLoopTrial, error) {
	cfg.setDefaults()
	s := cfg.Session
	var out []PowercutLoopTrial
	mark := s.Mark()
	defer s.RestoreTo(mark)
	for _, kv := range writeback {
		if err := s.SetSysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	for n := range cfg.Trials {
		for _, pol := range cfg.Policies {
			run := cfg.MinRun + time.Duration(int64(n)*int64(cfg.MaxRun-cfg.MinRun)/int64(max(cfg.Trials-1, 1)))
			tr, err := cutLoopTrial(ctx, cfg, pol, n, run)
			if err != nil {
				return out, fmt.Errorf("%s loop trial %d: %w", pol.Name, n+1, err)
			}
			out = append(out, tr)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "loop %-16s %3d/%d: killed after %-6v acked %6d lost %6d unacked %4d corrupt %d started %v fsck %s\n",
					pol.Name, n+1, cfg.Trials, run.Round(time.Millisecond), tr.Acked, tr.Lost, tr.Unacked, tr.Corrupt, tr.Started, tr.Fsck)
			}
		}
	}
	return out, nil
}

func cutLoopTrial(ctx context.Context, cfg PowercutConfig, pol FlushPolicy, n int, run time.Duration) (PowercutLoopTrial, error) {
	s := cfg.Session
	tr := PowercutLoopTrial{Policy: pol.Name, N: n, CutAfter: run}
	mark := s.Mark()
	defer s.RestoreTo(mark)
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("loop-%03d-%s", n, pol.Name))
	if err := s.MakeDir(dir, true); err != nil {
		return tr, err
	}
	img, img2 := filepath.Join(dir, "disk.img"), filepath.Join(dir, "copy.img")
	mnt, mnt2 := filepath.Join(dir, "mnt"), filepath.Join(dir, "mnt-copy")
	const size = 1 << 30
	if err := s.CreateFile(img, size, false); err != nil {
		return tr, err
	}
	dev, err := s.AttachLoopDirectIO(img)
	if err != nil {
		return tr, err
	}
	if err := s.Mkfs(dev, "ext4", []string{"-E", "lazy_itable_init=0,lazy_journal_init=0"}); err != nil {
		return tr, err
	}
	for _, d := range []string{mnt, mnt2} {
		if err := s.MakeDir(d, false); err != nil {
			return tr, err
		}
	}
	// commit=600: jbd2 would otherwise commit (and, with data=ordered,
	// write the data) every 5 s.
	if err := s.Mount(dev, mnt, "ext4", []string{"noatime", "data=ordered", "commit=600"}); err != nil {
		return tr, err
	}
	if err := os.Mkdir(filepath.Join(mnt, "logs"), 0o755); err != nil {
		return tr, err
	}
	if err := syncPath(mnt); err != nil {
		return tr, err
	}

	p, addr, err := startCutBroker(ctx, cfg, dir, "a", filepath.Join(mnt, "logs"), slices.Clone(pol.Props))
	if err != nil {
		return tr, err
	}
	defer p.Kill()
	if err := createTopic(ctx, addr, "first", cfg.Partitions, nil); err != nil {
		return tr, err
	}
	acks := NewAcks()
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := produceCut(pctx, &wg, addr, "first", 0, cfg, acks); err != nil {
		return tr, err
	}
	select {
	case <-time.After(run):
	case <-ctx.Done():
		return tr, ctx.Err()
	}
	p.Kill()
	// The power goes now: copy what reached the device.
	if err := s.CreateFile(img2, size, false); err != nil {
		return tr, err
	}
	if err := copyInto(img2, img); err != nil {
		return tr, err
	}
	stop()
	wg.Wait()

	// e2fsck the copy (exit 1: errors corrected), then mount and restart.
	fsck := exec.CommandContext(ctx, "e2fsck", "-f", "-y", img2)
	fout, ferr := fsck.CombinedOutput()
	tr.Fsck = "clean"
	if ferr != nil {
		code := -1
		if ee, ok := ferr.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 1 {
			return tr, fmt.Errorf("e2fsck %s: %w: %s", img2, ferr, strings.TrimSpace(string(fout)))
		}
		tr.Fsck = "repaired"
	}
	dev2, err := s.AttachLoopDirectIO(img2)
	if err != nil {
		return tr, err
	}
	if err := s.Mount(dev2, mnt2, "ext4", []string{"noatime"}); err != nil {
		return tr, err
	}
	p2, addr2, err := startCutBroker(ctx, cfg, dir, "b", filepath.Join(mnt2, "logs"), nil)
	if err != nil {
		tr.StartError = err.Error()
		v := VerifyMissing(acks, nil)
		tr.Acked, tr.Lost = v.Acked, v.Lost
		return tr, nil
	}
	defer p2.Stop(time.Minute)
	tr.Started = true
	tr.Recovery = loopWarnings(filepath.Join(dir, "broker-b.log"), 20)
	exists, err := topicExists(ctx, addr2, "first")
	if err != nil {
		return tr, err
	}
	v := VerifyMissing(acks, nil)
	if exists {
		if v, err = Verify(ctx, addr2, "first", acks, nil); err != nil {
			return tr, err
		}
	}
	v.Trial, v.KilledAfter = n, run
	tr.KillTrial = v
	return tr, p2.Stop(time.Minute)
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// copyInto overwrites dst (an existing file) with src's bytes.
func copyInto(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// PowercutLoopMarkdown renders the loop trials beside the FUSE model's rows for the
// same policies (data+metadata semantics: ext4 loses both).
func PowercutLoopMarkdown(w io.Writer, loop []PowercutLoopTrial, model *PowercutReport) {
	fmt.Fprintln(w, "| flush policy | loop trials | acked | acked lost (median) | acked lost (max) | broker did not start | fsck repaired | FUSE model (data+metadata): lost median / max |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	var rows []PowercutRow
	if model != nil {
		rows = model.Rows()
	}
	seen := map[string]bool{}
	for _, t := range loop {
		if seen[t.Policy] {
			continue
		}
		seen[t.Policy] = true
		var lost []float64
		var acked, lmax int64
		var n, notStarted, repaired int
		for _, u := range loop {
			if u.Policy != t.Policy {
				continue
			}
			n++
			acked += u.Acked
			lost = append(lost, float64(u.Lost))
			lmax = max(lmax, u.Lost)
			if !u.Started {
				notStarted++
			}
			if u.Fsck == "repaired" {
				repaired++
			}
		}
		m := "not run"
		for _, r := range rows {
			if r.Policy == t.Policy && r.Semantics == CutDataAndMetadata {
				m = fmt.Sprintf("%.0f / %d", r.LostMedian, r.LostMax)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %d | %d | %d | %s |\n", t.Policy, n, acked, stats.Median(lost), lmax, notStarted, repaired, m)
	}
}

// warnings returns up to n WARN lines of a broker log.
func loopWarnings(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") && len(out) < n {
			out = append(out, l)
		}
	}
	return out
}
