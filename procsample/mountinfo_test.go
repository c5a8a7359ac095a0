package procsample

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountinfo(t *testing.T) {
	in := []byte(`26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
36 35 98:0 /mnt1 /mnt/with\040space rw,noatime master:1 shared:2 - xfs /dev/loop3 rw,logbufs=8
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`)
	got, err := ParseMountInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{MajorMinor: "254:0", MountPoint: "/", FSType: "ext4", Source: "/dev/vda", Options: "rw,relatime"},
		{MajorMinor: "98:0", MountPoint: "/mnt/with space", FSType: "xfs", Source: "/dev/loop3", Options: "rw,noatime"},
		{MajorMinor: "0:37", MountPoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2", Options: "rw,relatime"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseMountInfo([]byte("1 2 3\n")); err == nil {
		t.Error("malformed line: want an error")
	}
}

func TestParseSwaps(t *testing.T) {
	got := ParseSwaps([]byte("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram1                              partition\t16380\t\t0\t\t100\n"))
	want := []Swap{{Filename: "/dev/zram1", Type: "partition"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseBracketedScheduler(t *testing.T) {
	a, o := ParseBracketed("none [mq-deadline] kyber bfq\n")
	if a != "mq-deadline" || !cmp.Equal(o, []string{"none", "mq-deadline", "kyber", "bfq"}) {
		t.Errorf("got %q %q", a, o)
	}
}

// FuzzParseMountinfo: the safety checks read mountinfo; odd lines must be
// an error or a parse, never a panic.
func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"))
	f.Add([]byte(`36 35 98:0 /mnt1 /mnt/a\040b rw,noatime master:1 - xfs /dev/loop3 rw` + "\n"))
	f.Add([]byte("1 2 3 4 5 6 -\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseMountInfo(data)
		_ = ParseSwaps(data)
		_, _ = ParseBracketed(string(data))
	})
}
