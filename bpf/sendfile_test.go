package bpf

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// sendFile sends size bytes of f over c with sendfile(2) at explicit offsets
// (as the broker's Fetch path does) and returns the calls it made, including
// those that returned EAGAIN, and the bytes sent.
func sendFile(t *testing.T, c *net.TCPConn, f *os.File, size int64) (calls, eagain uint64, sent int64) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	for off < size {
		var serr error
		err := raw.Write(func(fd uintptr) bool {
			calls++
			n, err := unix.Sendfile(int(fd), int(f.Fd()), &off, int(min(size-off, 1<<20)))
			if errors.Is(err, unix.EAGAIN) {
				eagain++
				return false // wait until writable
			}
			serr = err
			sent += int64(n)
			return true
		})
		if err := errors.Join(err, serr); err != nil {
			t.Fatalf("sendfile at %d: %v", off, err)
		}
	}
	return calls, eagain, sent
}

func TestSendfileCallsAndBytesMatchTheSender(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilySendfile}})
	const size = 6 << 20
	f := tempFile(t, "segment", size)
	w, r := tcpPair(t, 0)
	drained := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, r, 2*size)
		drained <- err
	}()

	before := snapshot(t, p)
	calls, eagain, sent := sendFile(t, w, f, size)
	zc := snapshot(t, p).Delta(before)

	before = snapshot(t, p)
	if _, err := w.Write(make([]byte, size)); err != nil { // the copying path
		t.Fatal(err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	cp := snapshot(t, p).Delta(before)

	share, _ := zc.Ratio(FamilySendfile, "zero_copy_share")
	lat, _ := zc.Histogram(FamilySendfile, "latency")
	t.Logf("sendfile: test made %d calls (%d EAGAIN), sent %d bytes; bpf saw %d calls, %d errors, %d bytes, socket bytes in sendfile %d, zero-copy share %.3f, mean latency %.0fns",
		calls, eagain, sent, zc.Value(FamilySendfile, "calls"), zc.Value(FamilySendfile, "errors"), zc.Value(FamilySendfile, "bytes"),
		zc.Value(FamilySendfile, "socket_bytes_sendfile"), share.Value, lat.Mean())
	if got := zc.Value(FamilySendfile, "calls"); got != calls {
		t.Errorf("bpf sendfile calls %d, test made %d", got, calls)
	}
	if got := zc.Value(FamilySendfile, "errors"); got != eagain {
		t.Errorf("bpf sendfile errors %d, test saw %d EAGAIN", got, eagain)
	}
	if got := zc.Value(FamilySendfile, "bytes"); got != uint64(sent) || sent != size {
		t.Errorf("bpf sendfile bytes %d, test sent %d of %d", got, sent, size)
	}
	if got := zc.Value(FamilySendfile, "socket_bytes_sendfile"); got != size {
		t.Errorf("socket bytes inside sendfile %d, want %d", got, size)
	}
	if !share.Valid || share.Value != 1 {
		t.Errorf("zero-copy share of a sendfile-only window = %+v, want 1", share)
	}
	cshare, _ := cp.Ratio(FamilySendfile, "zero_copy_share")
	t.Logf("copy path: socket bytes copied %d, zero-copy share %.3f", cp.Value(FamilySendfile, "socket_bytes_copy"), cshare.Value)
	if got := cp.Value(FamilySendfile, "socket_bytes_copy"); got != size || cshare.Value != 0 || cp.Value(FamilySendfile, "calls") != 0 {
		t.Errorf("copy path: socket bytes copied %d (want %d), share %.3f (want 0), sendfile calls %d (want 0)",
			got, size, cshare.Value, cp.Value(FamilySendfile, "calls"))
	}
}
