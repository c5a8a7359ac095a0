package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
	"golang.org/x/sys/unix"
)

func probeWindowFixture() (bpf.Snapshot, procsample.Sample) {
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	b := bpf.Snapshot{Time: t0, Window: bpf.Duration(time.Second), Counters: []bpf.Counter{
		{Family: bpf.FamilySwap, Name: "swapin_pages", Method: "tp_btf/count_memcg_events(PSWPIN)", Unit: bpf.UnitPages, Value: 40960},
		{Family: bpf.FamilySwap, Name: "swapout_pages", Method: "tp_btf/count_memcg_events(PSWPOUT)", Unit: bpf.UnitPages, Value: 65655},
		{Family: bpf.FamilySwap, Name: "page_faults", Method: "tp_btf/page_fault_user+page_fault_kernel", Unit: bpf.UnitEvents, Value: 41000},
	}}
	p := procsample.Sample{
		Time:    t0,
		VMStat:  procsample.VMStat{PswpIn: 40960, PswpOut: 65655, PgpgIn: 12},
		MemInfo: procsample.MemInfo{Cached: 3 << 30, Dirty: 5 << 20},
		SNMP:    procsample.SNMP{TCPRetransSegs: 2},
		Process: &procsample.Process{PID: 4242, MinFlt: 40990, MajFlt: 10, RSS: 64 << 20, VmSwap: 96 << 20},
	}
	return b, p
}

func TestProbeWindowText(t *testing.T) {
	b, p := probeWindowFixture()
	var buf bytes.Buffer
	if err := writeProbeWindow(&buf, b, p, false); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, buf.Bytes())
}

func TestProbeWindowJSONPairsTwins(t *testing.T) {
	b, p := probeWindowFixture()
	var buf bytes.Buffer
	if err := writeProbeWindow(&buf, b, p, true); err != nil {
		t.Fatal(err)
	}
	var got struct {
		CrossCheck []twin `json:"cross_check"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, buf.String())
	}
	want := map[string][2]string{
		"swap-ins (pages)":  {"40960", "40960"},
		"swap-outs (pages)": {"65655", "65655"},
		"page faults":       {"41000", "41000"},
	}
	for _, tw := range got.CrossCheck {
		if w, ok := want[tw.Question]; ok {
			if tw.BPFValue != w[0] || tw.Value != w[1] {
				t.Errorf("%s: bpf %s procfs %s, want %s and %s", tw.Question, tw.BPFValue, tw.Value, w[0], w[1])
			}
			delete(want, tw.Question)
		}
	}
	if len(want) > 0 {
		t.Errorf("cross-check rows missing: %v", want)
	}
}

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
