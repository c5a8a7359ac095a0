package profiling

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Kind
		err  string
	}{
		{"", nil, ""},
		{"cpu", []Kind{CPU}, ""},
		{"cpu,heap,mutex,cpu", []Kind{CPU, Heap, Mutex}, ""},
		{"cpu,trace", nil, `unknown profile "trace"`},
	} {
		got, err := ParseKinds(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseKinds(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("ParseKinds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestWindowSavesProfilesPprofReads takes every kind from a real
// net/http/pprof server in this process and reads each file with
// go tool pprof.
func TestWindowSavesProfilesPprofReads(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run go tool pprof")
	}
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	t.Cleanup(func() { runtime.SetMutexProfileFraction(0); runtime.SetBlockProfileRate(0) })
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	files, err := Window(context.Background(), srv.URL, dir, "c01-r1", Kinds(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{Block, "profiles/c01-r1.block.pprof"}, {CPU, "profiles/c01-r1.cpu.pprof"},
		{Heap, "profiles/c01-r1.heap.pprof"}, {Mutex, "profiles/c01-r1.mutex.pprof"},
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	for _, f := range files {
		out, err := exec.Command(goBin, "tool", "pprof", "-top", filepath.Join(dir, f.Path)).CombinedOutput()
		if err != nil {
			t.Errorf("go tool pprof -top %s: %v\n%s", f.Path, err, out)
		}
	}
}

func TestWindowNamesAMissingPprofEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := Window(context.Background(), srv.URL, t.TempDir(), "c01-r1", []Kind{CPU}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "brokerlab.metrics.pprof") {
		t.Fatalf("error = %v, want one that names brokerlab.metrics.pprof", err)
	}
}
