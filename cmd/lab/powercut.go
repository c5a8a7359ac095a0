package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/powercut"
)

func init() {
	register("powercut", command{
		summary: "cut the power under acks=all load on a FUSE power-cut filesystem; count acknowledged records lost per flush policy",
		run:     runPowercut,
	})
}

func runPowercut(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("powercut")
	out := fs.String("out", "results", "directory under which results/<timestamp>-powercut/ is written")
	trials := fs.Int("trials", 50, "power cuts per flush policy and filesystem semantics")
	policies := fs.String("policies", "", "comma-separated flush policies (default all: page-cache, every-1000-msgs, every-100ms, fsync-on-ack)")
	semantics := fs.String("semantics", "", "comma-separated filesystem semantics (default both: data, data+metadata)")
	producers := fs.Int("producers", 2, "idempotent acks=all producers per topic")
	partitions := fs.Int("partitions", 2, "partitions per topic")
	minRun := fs.Duration("min-run", 300*time.Millisecond, "earliest cut after the producers start")
	maxRun := fs.Duration("max-run", 1500*time.Millisecond, "latest cut after the producers start")
	segment := fs.Int("segment-bytes", 16<<10, "log.segment.bytes (small: segments roll during a trial)")
	retention := fs.Duration("retention", 1500*time.Millisecond, "retention.ms of the first topic (short: retention deletes during a trial)")
	torn := fs.Int64("torn", powercut.TornSector, "torn-write unit in bytes (512 sector, 4096 page, -1 off)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	loopTrials := fs.Int("loop-trials", 0, "also run this many kill-and-copy trials per policy on ext4 over a loop device with writeback held off (the model's check against a real filesystem)")
	state := fs.String("state", "", "journal directory (default $"+host.StateDirEnv+" or "+host.DefaultStateDir+")")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("lab powercut mounts a FUSE filesystem: run it as root")
	}

	cfg := bench.PowercutConfig{
		Trials: *trials, Producers: *producers, Partitions: *partitions, MinRun: *minRun, MaxRun: *maxRun, SegmentBytes: *segment, Retention: *retention,
		Torn: *torn, Seed: *seed, Progress: os.Stderr, Logger: logger.With("component", "powercut"),
	}
	for _, name := range splitList(*policies) {
		i := -1
		for j, p := range bench.FlushPolicies {
			if p.Name == name {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("-policies %s: unknown policy; want page-cache, every-1000-msgs, every-100ms or fsync-on-ack", name)
		}
		cfg.Policies = append(cfg.Policies, bench.FlushPolicies[i])
	}
	for _, s := range splitList(*semantics) {
		if s != string(bench.CutDataOnly) && s != string(bench.CutDataAndMetadata) {
			return fmt.Errorf("-semantics %s: want data or data+metadata", s)
		}
		cfg.Semantics = append(cfg.Semantics, bench.CutSemantics(s))
	}
	bin, err := executableDir()
	if err != nil {
		return err
	}
	cfg.BrokerPath = filepath.Join(bin, "broker")
	work, err := os.MkdirTemp("", "brokerlab-powercut-")
	if err != nil {
		return err
	}
	keepWork := false
	defer func() {
		if !keepWork {
			os.RemoveAll(work)
		}
	}()
	cfg.WorkDir = work

	session, undone, err := host.Open(host.Config{StateDir: *state, Logger: logger})
	if err != nil {
		return err
	}
	for _, u := range undone {
		fmt.Fprintf(os.Stderr, ">> restored from an earlier run: %s\n", u)
	}
	defer func() {
		if err := session.Close(); err != nil {
			fmt.Fprintf(os.Stderr, ">> restoring the host: %v (run lab restore)\n", err)
		}
	}()
	cfg.Session = session
	env := bench.Environment(work)
	began := time.Now()
	rep, runErr := &bench.PowercutReport{}, error(nil)
	if *trials > 0 {
		rep, runErr = bench.RunPowercut(ctx, cfg)
	}
	keepWork = runErr != nil // the failing trial's directory, for a look
	if rep == nil {
		return runErr
	}
	var loop []bench.PowercutLoopTrial
	if runErr == nil && *loopTrials > 0 {
		lcfg := cfg
		lcfg.Trials = *loopTrials
		if len(lcfg.Policies) == 0 {
			lcfg.Policies = bench.FlushPolicies
		}
		loop, runErr = bench.RunPowercutLoop(ctx, lcfg)
	}
	took := time.Since(began)
	runDir, err := bench.NewRunDir(*out, "-powercut")
	if err != nil {
		return err
	}
	if err := bench.SaveRun(runDir, "powercut.json", work, rep); err != nil {
		return err
	}
	var table bytes.Buffer
	rep.Markdown(&table)
	var readme strings.Builder
	fmt.Fprintf(&readme, "# Power cuts under acks=all load, by flush policy and filesystem semantics\n\n")
	fmt.Fprintf(&readme, "| | |\n| --- | --- |\n")
	fmt.Fprintf(&readme, "| command | `%s` |\n| commit | %s |\n| kernel | %s |\n| work disk | %s on %s (%s) |\n",
		commandLine(), buildCommit(), env.Kernel, env.FSType, env.Device, work)
	fmt.Fprintf(&readme, "| cpu | %d x %s |\n| took | %v |\n| seed | %d |\n", env.CPUs, env.CPUModel, took.Round(time.Second), rep.Seed)
	fmt.Fprintf(&readme, "| trial | %d producers and %d partitions per topic, cut %v..%v after they start, segment.bytes %d, first topic retention.ms %d, torn unit %d |\n\n",
		cfg.Producers, cfg.Partitions, *minRun, *maxRun, *segment, retention.Milliseconds(), *torn)
	if len(rep.Trials) > 0 {
		readme.WriteString(table.String())
		readme.WriteString("\n" + powercutNotes)
	}
	if len(loop) > 0 {
		if err := bench.SaveRun(runDir, "loop.json", work, loop); err != nil {
			return err
		}
		readme.WriteString("\n## The model against ext4 on a loop device\n\n")
		bench.PowercutLoopMarkdown(&readme, loop, rep)
		readme.WriteString("\n" + loopNotes)
	}
	if len(rep.SetupRetries) > 0 {
		fmt.Fprintf(&readme, "\n%d trials were run again because their setup failed before the cut (listed in powercut.json).\n", len(rep.SetupRetries))
	}
	if runErr != nil {
		fmt.Fprintf(&readme, "\n**The run stopped early:** %v\n", runErr)
	}
	if err := os.WriteFile(filepath.Join(runDir, "README.md"), []byte(readme.String()), 0o644); err != nil {
		return err
	}
	os.Stdout.Write(table.Bytes())
	fmt.Fprintf(os.Stderr, ">> results in %s\n", runDir)
	if runErr != nil {
		return runErr
	}
	for _, row := range rep.Rows() {
		if row.Policy == "fsync-on-ack" && row.LostMax > 0 {
			return fmt.Errorf("fsync-on-ack lost acknowledged records (%s, up to %d in a trial): a broker durability bug", row.Semantics, row.LostMax)
		}
		if row.CheckFailed > 0 {
			return fmt.Errorf("%s/%s: %d trials could not be read back (see check_error in powercut.json)", row.Policy, row.Semantics, row.CheckFailed)
		}
		if row.Corrupt > 0 {
			return fmt.Errorf("%s/%s: the restarted broker served %d corrupt batches", row.Policy, row.Semantics, row.Corrupt)
		}
	}
	return nil
}

const powercutNotes = `How to read it: each trial starts a broker on a fresh log dir on the FUSE power-cut filesystem
(tuning/powercut), creates topic "first" (short retention, so segments are deleted during the run),
runs idempotent acks=all producers, creates topic "late" at a random moment, and cuts the power at a random
moment: everything not fsynced is dropped, and the last unsynced write keeps a prefix cut at the torn unit.
The broker is then restarted on what survived (a plain directory). "acked lost" counts acknowledged records
missing or at another offset, except records older than the retention at the cut; "unacked present" are
records that survived without their ack reaching the producer (allowed); "corrupt served" counts partitions
whose fetch failed franz-go's batch checks (must be 0); "recovery" is the time from the restart to the first
answered ApiVersions request (polled every 50 ms). Semantics "data": directory changes are durable at once,
so only unsynced file data is lost; "data+metadata": creates, renames and deletes also need the directory's
fsync. The FUSE filesystem is slow on purpose: throughput here says nothing about a real disk.
`

const loopNotes = `Each loop trial puts the broker's log dir on ext4 (data=ordered, commit=600) over a loop device
with direct I/O, holds the kernel's writeback off with journaled sysctls (vm.dirty_writeback_centisecs=0,
vm.dirty_expire_centisecs=360000, dirty_background_ratio=50, dirty_ratio=80), SIGKILLs the broker at a set moment, copies
the loop's backing file at once (what reached the "disk"), runs e2fsck -f -y on the copy, mounts it and
restarts the broker on it. The FUSE column is the model's data+metadata row for the same policy.
`

// buildCommit says which commit the lab was built from (procsample.ReadBuild).
func buildCommit() string {
	b := procsample.ReadBuild()
	switch {
	case b.Commit == "":
		return "unknown"
	case b.CommitFrom == "checkout":
		return b.Commit + " (HEAD of the checkout at run time; the binary has no VCS stamp)"
	case b.Modified:
		return b.Commit + " (with uncommitted changes)"
	}
	return b.Commit
}
