package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

func TestProbeScopesToAStartedCommand(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs")
	dd := testutil.RequireCommand(t, "dd", "apt-get install coreutils")
	if _, err := os.Stat(filepath.Join(bpf.DefaultTracefsDir, "events")); err != nil {
		// lab probe mounts tracefs; leave the host as it was.
		t.Cleanup(func() { _ = unix.Unmount(bpf.DefaultTracefsDir, 0) })
	}
	out := filepath.Join(t.TempDir(), "dd.out")
	var buf bytes.Buffer
	// dd conv=fsync calls fsync(2) exactly once, right before it exits: the
	// command must not run before the probes are attached, and the last
	// window must be printed after it exits.
	args := []string{"fsync", "-json", "-interval", "50ms", "--", dd, "if=/dev/zero", "of=" + out, "bs=64k", "count=16", "conv=fsync", "status=none"}
	if err := probeTo(context.Background(), slog.New(slog.DiscardHandler), args, &buf); err != nil {
		t.Fatalf("lab probe: %v\n%s", err, buf.String())
	}
	var fsyncs uint64
	windows := 0
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var w struct {
			BPF bpf.Snapshot `json:"bpf"`
		}
		if err := dec.Decode(&w); err != nil {
			t.Fatal(err)
		}
		windows++
		fsyncs += w.BPF.Value(bpf.FamilyFsync, "fsync_calls")
	}
	if windows == 0 || fsyncs != 1 {
		t.Errorf("%d windows with %d fsyncs in total, want dd's one fsync", windows, fsyncs)
	}
}
