package bpf

import (
	"io"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkSyscallLoop measures the probes' overhead on a syscall-heavy
// loop — a 4 KiB pread from the page cache, a 4 KiB send on loopback TCP and
// an fdatasync-free getppid — with no probes and with every family attached
// (scoped to this process, so the filters run on every event).
func BenchmarkSyscallLoop(b *testing.B) {
	for _, tc := range []struct {
		name     string
		families []Family
	}{
		{"probes=none", nil},
		{"probes=all", Families()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.families != nil {
				newTestProbes(b, Config{Families: tc.families})
			}
			f := tempFile(b, "data", 1<<20)
			w, r := tcpPairTB(b)
			go func() { _, _ = io.Copy(io.Discard, r) }()
			buf := make([]byte, 4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.ReadAt(buf, int64(i%256)*4096); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
				unix.Getppid()
			}
		})
	}
}
