package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/powercut"
)

// With fsync before ack, every acknowledged batch survives a power cut, also
// right after a segment roll: the new segment's directory entry must be
// durable before its first ack. Runs on the power-cut filesystem, where a
// file whose directory was not fsynced after its creation is gone after a
// cut. The cut comes as the first append to a new segment returns, before
// the roll's background work (which fsyncs the directory too) can finish.
func TestSyncOnAckSurvivesAPowerCutAfterARoll(t *testing.T) {
	testutil.RequireFUSE(t, "a FUSE mount (the power-cut filesystem)")
	for round := range 5 {
		base := t.TempDir()
		disk, mnt := filepath.Join(base, "disk"), filepath.Join(base, "mnt")
		for _, d := range []string{disk, mnt} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		session, _, err := host.Open(host.Config{StateDir: filepath.Join(base, "journal")})
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := powercut.Mount(session, powercut.Options{Dir: disk, Mountpoint: mnt, StateDir: filepath.Join(base, "durable")})
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, 0)
		cfg.Dirs = []string{mnt}
		cfg.SegmentBytes = 3000
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := onePartition(t, s, "acked")
		var acked [][]byte
		for i := 0; len(p.Segments()) < 2; i++ {
			b := simple(t, fmt.Sprintf("r%d-%d-", round, i), 1+i%3, 200)
			if _, err := p.Append(b, true); err != nil { // returns after its fdatasync: acked
				t.Fatal(err)
			}
			acked = append(acked, b)
		}
		fsys.Cut() // the ack of the first batch in the new segment just returned
		s.crash()
		if err := fsys.Unmount(); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Recover(); err != nil {
			t.Fatal(err)
		}
		cfg.Dirs = []string{disk}
		s = openStore(t, cfg)
		if p = s.Partition("acked", 0); p == nil {
			t.Fatal("the topic is gone after the power cut")
		}
		got := readAll(t, p, 0)
		if len(got) != len(acked) {
			t.Fatalf("round %d: %d of %d acknowledged batches after the power cut", round, len(got), len(acked))
		}
		s.Close()
		if err := session.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
