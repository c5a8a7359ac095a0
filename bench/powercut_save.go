package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/procsample"
)

// FlushPoliciesNamed returns the flush policies of names, in that order
// (nil for no names: RunPowercut then runs them all).
func FlushPoliciesNamed(names []string) ([]FlushPolicy, error) {
	var out []FlushPolicy
	for _, name := range names {
		i := -1
		for j, p := range FlushPolicies {
			if p.Name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("-policies %s: unknown policy; want page-cache, every-1000-msgs, every-100ms or fsync-on-ack", name)
		}
		out = append(out, FlushPolicies[i])
	}
	return out, nil
}

// CutSemanticsNamed returns the filesystem semantics of names.
func CutSemanticsNamed(names []string) ([]CutSemantics, error) {
	var out []CutSemantics
	for _, s := range names {
		if s != string(CutDataOnly) && s != string(CutDataAndMetadata) {
			return nil, fmt.Errorf("-semantics %s: want data or data+metadata", s)
		}
		out = append(out, CutSemantics(s))
	}
	return out, nil
}

// PowercutRun is one lab powercut invocation as its result directory
// records it: the configuration, the model's trials, the loop-device
// trials, where and how it ran, and the error it stopped with, if any.
type PowercutRun struct {
	Config  PowercutConfig
	Report  *PowercutReport
	Loop    []PowercutLoopTrial
	Env     procsample.Environment
	WorkDir string
	Command string
	Commit  string
	Took    time.Duration
	Err     error
}

// Save writes powercut.json, loop.json (when there are loop trials) and
// README.md into dir, and the table to stdout.
func (r PowercutRun) Save(dir string, stdout io.Writer) error {
	cfg, rep, env := r.Config, r.Report, r.Env
	if err := SaveRun(dir, "powercut.json", r.WorkDir, rep); err != nil {
		return err
	}
	var table bytes.Buffer
	rep.Markdown(&table)
	var readme strings.Builder
	fmt.Fprintf(&readme, "# Power cuts under acks=all load, by flush policy and filesystem semantics\n\n")
	fmt.Fprintf(&readme, "| | |\n| --- | --- |\n")
	fmt.Fprintf(&readme, "| command | `%s` |\n| commit | %s |\n| kernel | %s |\n| work disk | %s on %s (%s) |\n",
		r.Command, r.Commit, env.Kernel, env.FSType, env.Device, r.WorkDir)
	fmt.Fprintf(&readme, "| cpu | %d x %s |\n| took | %v |\n| seed | %d |\n", env.CPUs, env.CPUModel, r.Took.Round(time.Second), rep.Seed)
	fmt.Fprintf(&readme, "| trial | %d producers and %d partitions per topic, cut %v..%v after they start, segment.bytes %d, first topic retention.ms %d, torn unit %d |\n\n",
		cfg.Producers, cfg.Partitions, cfg.MinRun, cfg.MaxRun, cfg.SegmentBytes, cfg.Retention.Milliseconds(), cfg.Torn)
	if len(rep.Trials) > 0 {
		readme.WriteString(table.String())
		readme.WriteString("\n" + powercutNotes)
	}
	if len(r.Loop) > 0 {
		if err := SaveRun(dir, "loop.json", r.WorkDir, r.Loop); err != nil {
			return err
		}
		readme.WriteString("\n## The model against ext4 on a loop device\n\n")
		PowercutLoopMarkdown(&readme, r.Loop, rep)
		readme.WriteString("\n" + loopNotes)
	}
	if len(rep.SetupRetries) > 0 {
		fmt.Fprintf(&readme, "\n%d trials were run again because their setup failed before the cut (listed in powercut.json).\n", len(rep.SetupRetries))
	}
	if r.Err != nil {
		fmt.Fprintf(&readme, "\n**The run stopped early:** %v\n", r.Err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme.String()), 0o644); err != nil {
		return err
	}
	_, err := stdout.Write(table.Bytes())
	return err
}

// Verdict is the report's failure, if any: fsync-on-ack losing an
// acknowledged record, a trial that could not be read back, or a corrupt
// batch served after the restart.
func (r *PowercutReport) Verdict() error {
	for _, row := range r.Rows() {
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
