package bpf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"golang.org/x/sys/unix"
)

const (
	sockTotal   = 16 << 20
	sockChunk   = 64 << 10
	sockSndBuf  = 256 << 10 // the kernel doubles it
	sockRcvBuf  = 128 << 10
	fullPercent = 70
)

// tcpPair returns a connected loopback pair; the dialled side gets a fixed
// send buffer (no autotuning), the accepted side a small receive buffer when
// rcvBuf > 0 (set on the listener, so it holds from the handshake on).
func tcpPair(t *testing.T, rcvBuf int) (writer, reader *net.TCPConn) {
	t.Helper()
	return tcpPairRcvBuf(t, rcvBuf)
}

// tcpPairTB is tcpPair with the receive buffer left to autotune.
func tcpPairTB(tb testing.TB) (writer, reader *net.TCPConn) {
	tb.Helper()
	return tcpPairRcvBuf(tb, 0)
}

func tcpPairRcvBuf(t testing.TB, rcvBuf int) (writer, reader *net.TCPConn) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if rcvBuf == 0 {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	writer, reader = c.(*net.TCPConn), s.(*net.TCPConn)
	t.Cleanup(func() { writer.Close(); reader.Close() })
	if err := writer.SetWriteBuffer(sockSndBuf); err != nil {
		t.Fatal(err)
	}
	return writer, reader
}

// writeAll writes sockTotal bytes in chunks from a goroutine the caller
// waits for through the returned channel.
func writeAll(w *net.TCPConn) <-chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, sockChunk)
		for sent := 0; sent < sockTotal; sent += len(buf) {
			if _, err := w.Write(buf); err != nil {
				done <- fmt.Errorf("writing: %w", err)
				return
			}
		}
		done <- nil
	}()
	return done
}

func TestSendBufferFillsWithSlowReaderOnly(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilySockBuf}})

	t.Run("a slow reader lets the send buffer fill and counts EAGAIN", func(t *testing.T) {
		w, r := tcpPair(t, sockRcvBuf)
		before := snapshot(t, p)
		done := writeAll(w)
		// Do not read until the writer has hit a full send buffer.
		testutil.WaitFor(t, 10*time.Second, func() error {
			if n := snapshot(t, p).Delta(before).Value(FamilySockBuf, "send_eagain"); n == 0 {
				return errors.New("no EAGAIN yet")
			}
			return nil
		})
		if _, err := io.CopyN(io.Discard, r, sockTotal); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		win := snapshot(t, p).Delta(before)
		logSockbuf(t, win)
		if got := win.Value(FamilySockBuf, "send_eagain"); got == 0 {
			t.Error("no EAGAIN counted with a slow reader")
		}
		if got := fillMax(win); got < fullPercent {
			t.Errorf("send buffer max fill %d%%, want above %d%%", got, fullPercent)
		}
		if r, _ := win.Ratio(FamilySockBuf, "send_fill_over_70_share"); r.Num == 0 {
			t.Errorf("no send seen above %d%% fill: %+v", fullPercent, r)
		}
	})

	t.Run("a reader that keeps up leaves the send buffer below 70 percent", func(t *testing.T) {
		w, r := tcpPair(t, 0) // the receive buffer autotunes
		before := snapshot(t, p)
		// The writer sends the next chunk once the reader has taken the last
		// one: the reader is never the bottleneck.
		read := make(chan error, 1)
		next := make(chan struct{}, 1)
		go func() {
			buf := make([]byte, sockChunk)
			for got := 0; got < sockTotal; got += sockChunk {
				if _, err := io.ReadFull(r, buf); err != nil {
					read <- err
					return
				}
				next <- struct{}{}
			}
			read <- nil
		}()
		buf := make([]byte, sockChunk)
		for sent := 0; sent < sockTotal; sent += sockChunk {
			if _, err := w.Write(buf); err != nil {
				t.Fatal(err)
			}
			<-next
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		win := snapshot(t, p).Delta(before)
		logSockbuf(t, win)
		if got := win.Value(FamilySockBuf, "send_bytes"); got != sockTotal {
			t.Errorf("send bytes %d, want %d", got, sockTotal)
		}
		if got := win.Value(FamilySockBuf, "send_eagain"); got != 0 {
			t.Errorf("EAGAIN %d times with a reader that keeps up, want 0", got)
		}
		if got := fillMax(win); got >= fullPercent {
			t.Errorf("send buffer max fill %d%% with a reader that keeps up, want below %d%%", got, fullPercent)
		}
	})
}

func logSockbuf(t *testing.T, w Snapshot) {
	t.Helper()
	srtt, _ := w.Histogram(FamilySockBuf, "srtt")
	cwnd, _ := w.Histogram(FamilySockBuf, "snd_cwnd")
	t.Logf("sends %d (%d bytes), EAGAIN %d, max send fill %d%%, max recv fill %d%%, tcp_probe %d (srtt p50<=%dus, cwnd p50<=%d), drops %d",
		w.Value(FamilySockBuf, "sends"), w.Value(FamilySockBuf, "send_bytes"), w.Value(FamilySockBuf, "send_eagain"),
		fillMax(w), recvMax(w), w.Value(FamilySockBuf, "tcp_probes"),
		srtt.Quantile(0.5), cwnd.Quantile(0.5), w.Value(FamilySockBuf, "drops"))
}

func fillMax(w Snapshot) uint64 {
	h, _ := w.Histogram(FamilySockBuf, "send_fill")
	return h.Max()
}

func recvMax(w Snapshot) uint64 {
	h, _ := w.Histogram(FamilySockBuf, "recv_fill")
	return h.Max()
}
