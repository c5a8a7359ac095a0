package host

import (
	"testing"
)

func TestFilesystemOf(t *testing.T) {
	mounts := []Mount{
		{MountPoint: "/", FSType: "ext4", Source: "/dev/vda1"},
		{MountPoint: "/tmp", FSType: "tmpfs", Source: "tmpfs"},
		{MountPoint: "/tmp/x", FSType: "xfs", Source: "/dev/loop3"},
	}
	for dir, want := range map[string]string{
		"/var/lib/brokerlab/work": "ext4 (/dev/vda1 on /)",
		"/tmp":                    "tmpfs (tmpfs on /tmp)",
		"/tmp/brokerlab-65534":    "tmpfs (tmpfs on /tmp)",
		"/tmp/xy":                 "tmpfs (tmpfs on /tmp)",
		"/tmp/x/kafka-logs":       "xfs (/dev/loop3 on /tmp/x)",
	} {
		if got := filesystemOf(mounts, dir); got != want {
			t.Errorf("filesystemOf(%s) = %q, want %q", dir, got, want)
		}
	}
}
