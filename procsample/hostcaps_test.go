package procsample

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func writeConfigGz(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fakeRoots is a /proc, /sys and /lib/modules tree: kernel 6.1.0-test,
// one virtio disk vda beside loop0, zram0 and dm-0.
func fakeRoots(t *testing.T) (proc, sys, modules string) {
	root := t.TempDir()
	proc, sys, modules = filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "lib/modules")
	testutil.WriteFile(t, filepath.Join(proc, "sys/kernel/osrelease"), "6.1.0-test\n")
	testutil.WriteFile(t, filepath.Join(sys, "block/vda/device/vendor"), "0x1af4\n")
	for _, d := range []string{"loop0", "zram0", "dm-0"} {
		testutil.WriteFile(t, filepath.Join(sys, "block", d, "size"), "0\n")
	}
	return proc, sys, modules
}

func TestReadHostCaps(t *testing.T) {
	t.Run("not set in config.gz", func(t *testing.T) {
		proc, sys, mods := fakeRoots(t)
		writeConfigGz(t, filepath.Join(proc, "config.gz"), "CONFIG_NET_SCHED=y", "# CONFIG_NET_SCH_NETEM is not set")
		h := ReadHostCaps(proc, sys, mods)
		if !slices.Equal(h.Disks, []string{"vda"}) {
			t.Errorf("disks %v, want [vda]: loop, zram and dm have no device link", h.Disks)
		}
		if h.Netem != "no" || !strings.Contains(h.NetemWhy, "CONFIG_NET_SCH_NETEM is not set") {
			t.Errorf("netem %q (%s), want no from config.gz", h.Netem, h.NetemWhy)
		}
	})
	for _, tc := range []struct {
		name   string
		config []string          // config.gz's lines; nil for no config.gz
		files  map[string]string // under the modules root
		want   string
	}{
		{"module installed", []string{"CONFIG_NET_SCH_NETEM=m"}, map[string]string{"6.1.0-test/modules.dep": "kernel/net/sched/sch_netem.ko.xz:\n"}, "yes"},
		{"module configured but not installed", []string{"CONFIG_NET_SCH_NETEM=m"}, map[string]string{"6.1.0-test/modules.dep": "kernel/net/sched/sch_fq.ko:\n"}, "no"},
		{"no config.gz, builtin", nil, map[string]string{"6.1.0-test/modules.builtin": "kernel/net/sched/sch_netem.ko\n"}, "yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, sys, mods := fakeRoots(t)
			if tc.config != nil {
				writeConfigGz(t, filepath.Join(proc, "config.gz"), tc.config...)
			}
			for name, content := range tc.files {
				testutil.WriteFile(t, filepath.Join(mods, name), content)
			}
			if h := ReadHostCaps(proc, sys, mods); h.Netem != tc.want {
				t.Errorf("netem %q (%s), want %s", h.Netem, h.NetemWhy, tc.want)
			}
		})
	}
	t.Run("nothing readable", func(t *testing.T) {
		proc, sys, mods := fakeRoots(t)
		if h := ReadHostCaps(proc, sys, mods); h.Netem != "unknown" {
			t.Errorf("netem %q (%s), want unknown", h.Netem, h.NetemWhy)
		}
	})
}
