package broker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestDescribeLogDirs describes two log dirs through kadm: each partition
// in the dir that holds it with the bytes of its segment files on disk,
// and the filesystem's size as df(1) reports it.
func TestDescribeLogDirs(t *testing.T) {
	df := testutil.RequireCommand(t, "df", "apt-get install coreutils")
	dirs := []string{t.TempDir(), t.TempDir()}
	b := newTestBroker(t, func(c *Config) { c.LogDirs = dirs })
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "a", 3, nil)
	createTopic(t, b.addr, "b", 1, nil)
	produceValues(t, b.addr, "a", "value", 0, 300)

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := all[b.cfg.NodeID]
	if len(got) != 2 {
		t.Fatalf("described %d dirs, want 2: %v", len(got), got)
	}
	// The bytes on disk: every .log file of the partition dir (the log
	// files are never preallocated).
	onDisk := func(dir, topic string, p int32) int64 {
		t.Helper()
		logs, err := filepath.Glob(filepath.Join(dir, topic+"-"+strconv.Itoa(int(p)), "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, l := range logs {
			fi, err := os.Stat(l)
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	seen := 0
	var total int64
	for _, dir := range dirs {
		d, ok := got[dir]
		if !ok || d.Err != nil {
			t.Fatalf("dir %s: %+v", dir, d)
		}
		for _, p := range d.Topics.Sorted() {
			seen++
			total += p.Size
			if want := onDisk(dir, p.Topic, p.Partition); p.Size != want || p.OffsetLag != 0 || p.IsFuture {
				t.Errorf("%s %s-%d: size %d lag %d future %v, want %d bytes on disk, lag 0", dir, p.Topic, p.Partition, p.Size, p.OffsetLag, p.IsFuture, want)
			}
		}
		out, err := exec.CommandContext(ctx, df, "-B1", "--output=size,avail", dir).Output()
		if err != nil {
			t.Fatalf("df %s: %v", dir, err)
		}
		f := strings.Fields(string(out))
		size, _ := strconv.ParseInt(f[len(f)-2], 10, 64)
		avail, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		if d.TotalBytes != size {
			t.Errorf("%s: total bytes %d, df says %d", dir, d.TotalBytes, size)
		}
		// Others write to the same filesystem between the two readings.
		if diff := d.UsableBytes - avail; diff > 1<<30 || diff < -(1<<30) || d.UsableBytes <= 0 {
			t.Errorf("%s: usable bytes %d, df says %d", dir, d.UsableBytes, avail)
		}
	}
	if seen != 4 || total == 0 {
		t.Errorf("described %d partitions with %d bytes, want 4 holding the 300 values", seen, total)
	}

	// Only the partitions asked for; those the broker does not hold are
	// left out.
	rc := dialRaw(t, b.addr)
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = 4
	for _, rt := range []struct {
		topic string
		parts []int32
	}{{"a", []int32{1, 7}}, {"missing", []int32{0}}} {
		t := kmsg.NewDescribeLogDirsRequestTopic()
		t.Topic, t.Partitions = rt.topic, rt.parts
		req.Topics = append(req.Topics, t)
	}
	resp := rc.roundTrip(req).(*kmsg.DescribeLogDirsResponse)
	var names []string
	for _, d := range resp.Dirs {
		for _, dt := range d.Topics {
			for _, p := range dt.Partitions {
				names = append(names, dt.Topic+"-"+strconv.Itoa(int(p.Partition)))
			}
		}
	}
	if len(names) != 1 || names[0] != "a-1" {
		t.Errorf("described %v, want [a-1]", names)
	}

	// v0 (no sizes of the filesystem) and an empty topic list.
	req = kmsg.NewPtrDescribeLogDirsRequest()
	req.Version, req.Topics = 0, []kmsg.DescribeLogDirsRequestTopic{}
	resp = rc.roundTrip(req).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 2 || len(resp.Dirs[0].Topics)+len(resp.Dirs[1].Topics) != 0 || resp.Dirs[0].ErrorCode != 0 {
		t.Errorf("v0 with no topics: %+v", resp.Dirs)
	}

	// A dir statfs cannot reach (moved away) is KAFKA_STORAGE_ERROR.
	moved := dirs[1] + ".moved"
	if err := os.Rename(dirs[1], moved); err != nil {
		t.Fatal(err)
	}
	resp = rc.roundTrip(kmsg.NewPtrDescribeLogDirsRequest()).(*kmsg.DescribeLogDirsResponse)
	if err := os.Rename(moved, dirs[1]); err != nil {
		t.Fatal(err)
	}
	if len(resp.Dirs) != 2 || resp.Dirs[1].ErrorCode != kerr.KafkaStorageError.Code || resp.Dirs[0].ErrorCode != 0 {
		t.Errorf("with %s moved away: %+v", dirs[1], resp.Dirs)
	}
}
