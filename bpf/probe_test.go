package bpf

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/cilium/ebpf"
)

func TestFeatureProbeListsEveryFamily(t *testing.T) {
	testutil.RequirePrivileged(t, "reading kernel BTF and tracefs")
	if _, err := EnsureTracefs(DefaultTracefsDir); err != nil { // as New does
		t.Fatal(err)
	}
	feats := ProbeFeatures("")
	var buf bytes.Buffer
	if _, err := feats.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("feature probe:\n%s", buf.String())
	for _, f := range Families() {
		ff, ok := feats.Family(f)
		if !ok {
			t.Fatalf("family %s missing from feature probe", f)
		}
		if len(ff.Events) == 0 {
			t.Errorf("family %s lists no events", f)
		}
		if !strings.Contains(buf.String(), string(f)) {
			t.Errorf("table lacks family %s", f)
		}
	}
	// On the project's kernel (PLATFORM.md) every family's events exist.
	for _, ff := range feats.Families {
		if !ff.Available {
			testutil.Unavailable(t, "family %s unavailable on this kernel: %s", ff.Family, ff.Reason)
		}
	}
}

func TestFeatureProbeReportsMissingTracefs(t *testing.T) {
	testutil.RequirePrivileged(t, "reading kernel BTF")
	feats := ProbeFeatures(t.TempDir())
	ff, _ := feats.Family(FamilyFsync)
	if ff.Available || !strings.Contains(ff.Reason, "tracefs") {
		t.Fatalf("fsync family with an empty tracefs dir: available=%v reason=%q", ff.Available, ff.Reason)
	}
	pc, _ := feats.Family(FamilySockBuf)
	if !pc.Available {
		t.Fatalf("sockbuf needs only tp_btf, want available without tracefs: %s", pc.Reason)
	}
}

func TestUnavailableFamilyWrapsErrNotSupported(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs")
	before := openFDs(t)
	p, err := New(Config{Families: []Family{FamilyFsync, FamilySockBuf}, TracefsDir: t.TempDir(), NoMountTracefs: true, PID: os.Getpid()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if leaked := diffFDs(before, openFDs(t)); len(leaked) > 0 {
			t.Errorf("fds leaked after Close with an unavailable family: %v", leaked)
		}
	}()
	if err := p.Err(FamilyFsync); !errors.Is(err, ebpf.ErrNotSupported) {
		t.Errorf("fsync without tracefs: err = %v, want ErrNotSupported", err)
	}
	if err := p.Err(FamilySockBuf); err != nil {
		t.Errorf("sockbuf: %v", err)
	}
	if got := p.Loaded(); !slices.Equal(got, []Family{FamilySockBuf}) {
		t.Errorf("loaded = %v", got)
	}
	if err := p.Err(FamilySwap); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("swap not asked for: err = %v", err)
	}
}

func TestLoadAllAndCloseLeaksNoFDs(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs")
	before := openFDs(t)
	p, err := New(Config{PID: os.Getpid()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range Families() {
		if err := p.Err(f); err != nil {
			t.Errorf("family %s: %v", f, err)
		}
		t.Logf("%s: %v", f, p.Methods(f))
	}
	s1, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	_ = s2.Delta(s1)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Snapshot(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	after := openFDs(t)
	if leaked := diffFDs(before, after); len(leaked) > 0 {
		t.Errorf("fds leaked after Close: %v", leaked)
	}
}

// openFDs lists /proc/self/fd with each fd's target.
func openFDs(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out[e.Name()] = target
	}
	return out
}

func diffFDs(before, after map[string]string) []string {
	var leaked []string
	for fd, target := range after {
		if before[fd] != target && !strings.HasPrefix(target, "/proc/") {
			leaked = append(leaked, fd+" -> "+target)
		}
	}
	slices.Sort(leaked)
	return leaked
}
