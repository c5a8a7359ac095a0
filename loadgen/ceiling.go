package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/procsample"
)

// Ceilings are the machine's physical limits that a broker's numbers are
// read against: how fast the log directory's filesystem takes sequential
// writes (page cache) and durable writes (write + fdatasync), how fast a
// cached file goes out through sendfile(2) over loopback (the broker's Fetch
// path), and how fast plain user-space copies go through loopback TCP (the
// Produce path). Rates are in MB/s (10^6 bytes).
type Ceilings struct {
	Dir          string  `json:"dir"`
	FSType       string  `json:"fs_type,omitempty"`
	Device       string  `json:"device,omitempty"`
	BlockBytes   int     `json:"block_bytes"`
	SecondsEach  float64 `json:"seconds_each"`
	WriteMBps    float64 `json:"write_mb_s"`
	FsyncMBps    float64 `json:"write_fsync_mb_s"`
	FsyncP50Us   int64   `json:"fsync_p50_us"`
	FsyncP99Us   int64   `json:"fsync_p99_us"`
	SendfileMBps float64 `json:"sendfile_loopback_mb_s"`
	TCPMBps      float64 `json:"tcp_loopback_mb_s"`
	// Environment is the machine and dir's disk the ceilings were
	// measured on.
	Environment *procsample.Environment `json:"environment,omitempty"`
}

// CeilingOptions tune MeasureCeilings; zero values take the defaults.
type CeilingOptions struct {
	// Duration of each measurement. Default 2 s.
	Duration time.Duration
	// BlockBytes is the size of each write and send. Default 1 MiB.
	BlockBytes int
	// MaxFileBytes bounds the write test's file (it wraps to the start
	// when reached) and is the sendfile test's cached file size. Default
	// 256 MiB for writes; the sendfile file is min(64 MiB, MaxFileBytes).
	MaxFileBytes int64
}

// Percent returns mbps as a percentage of the named ceiling ("write",
// "fsync", "sendfile", "tcp"), or 0 when that ceiling is unknown.
func (c *Ceilings) Percent(kind string, mbps float64) float64 {
	if c == nil {
		return 0
	}
	var ceil float64
	switch kind {
	case "write":
		ceil = c.WriteMBps
	case "fsync":
		ceil = c.FsyncMBps
	case "sendfile":
		ceil = c.SendfileMBps
	case "tcp":
		ceil = c.TCPMBps
	}
	if ceil <= 0 {
		return 0
	}
	return 100 * mbps / ceil
}

// MeasureCeilings measures the ceilings using temporary files in dir (which
// it removes) and a loopback TCP connection. It runs the four measurements
// one after another, each for o.Duration.
func MeasureCeilings(ctx context.Context, dir string, o CeilingOptions) (*Ceilings, error) {
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.BlockBytes <= 0 {
		o.BlockBytes = 1 << 20
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 256 << 20
	}
	c := &Ceilings{Dir: dir, BlockBytes: o.BlockBytes, SecondsEach: o.Duration.Seconds()}
	// What cannot be read is left empty; the measurement does not need it.
	env, _ := procsample.ReadEnvironment(procsample.EnvConfig{Dir: dir})
	c.Environment, c.FSType, c.Device = &env, env.FSType, env.Device
	var err error
	if c.WriteMBps, _, _, err = writeCeiling(ctx, dir, o, false); err != nil {
		return nil, err
	}
	if c.FsyncMBps, c.FsyncP50Us, c.FsyncP99Us, err = writeCeiling(ctx, dir, o, true); err != nil {
		return nil, err
	}
	if c.SendfileMBps, err = sendfileCeiling(ctx, dir, o); err != nil {
		return nil, err
	}
	if c.TCPMBps, err = tcpCeiling(ctx, o); err != nil {
		return nil, err
	}
	return c, nil
}

// writeCeiling writes blocks sequentially to a new file in dir for
// o.Duration, with an fdatasync after each block when sync is set.
func writeCeiling(ctx context.Context, dir string, o CeilingOptions, sync bool) (mbps float64, p50, p99 int64, err error) {
	f, err := os.CreateTemp(dir, ".lab-ceiling-write-*")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("creating write test file in %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, o.BlockBytes)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	h := newHist()
	var off, total int64
	start := time.Now()
	for time.Since(start) < o.Duration && ctx.Err() == nil {
		if off+int64(len(buf)) > o.MaxFileBytes {
			off = 0
		}
		n, err := f.WriteAt(buf, off)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("writing %s: %w", f.Name(), err)
		}
		off += int64(n)
		total += int64(n)
		if sync {
			t := time.Now()
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, 0, 0, fmt.Errorf("fdatasync %s: %w", f.Name(), err)
			}
			recordUs(h, int64(time.Since(t)))
		}
	}
	if !sync {
		// Count the write-back too, or page-cache speed would pass as the
		// filesystem's: the buffered ceiling is "write then one fsync".
		if err := f.Sync(); err != nil {
			return 0, 0, 0, fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	secs := time.Since(start).Seconds()
	q := quantilesOf(h)
	return float64(total) / secs / 1e6, q.P50Us, q.P99Us, ctx.Err()
}

// loopbackPair returns both ends of a fresh loopback TCP connection.
func loopbackPair() (send, recv *net.TCPConn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("listening on loopback: %w", err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	s, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		<-ch
		return nil, nil, fmt.Errorf("dialing loopback: %w", err)
	}
	a := <-ch
	if a.err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("accepting on loopback: %w", a.err)
	}
	return s.(*net.TCPConn), a.c.(*net.TCPConn), nil
}

// drainConn reads and discards until the connection closes; it returns
// the bytes read. The caller waits for it via wg.
func drainConn(c net.Conn, bufSize int, n *int64, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, bufSize)
	for {
		k, err := c.Read(buf)
		*n += int64(k)
		if err != nil {
			return
		}
	}
}

// sendfileCeiling sends a cached file over loopback TCP with sendfile(2)
// for o.Duration, from the start of the file again whenever it ends.
func sendfileCeiling(ctx context.Context, dir string, o CeilingOptions) (float64, error) {
	size := min(int64(64<<20), o.MaxFileBytes)
	f, err := os.CreateTemp(dir, ".lab-ceiling-sendfile-*")
	if err != nil {
		return 0, fmt.Errorf("creating sendfile test file in %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, o.BlockBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			return 0, fmt.Errorf("writing %s: %w", f.Name(), err)
		}
	}
	// Read it once so every page is cached.
	if _, err := io.Copy(io.Discard, io.NewSectionReader(f, 0, size)); err != nil {
		return 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	send, recv, err := loopbackPair()
	if err != nil {
		return 0, err
	}
	var got int64
	var wg sync.WaitGroup
	wg.Add(1)
	go drainConn(recv, o.BlockBytes, &got, &wg)
	raw, err := send.SyscallConn()
	if err != nil {
		send.Close()
		recv.Close()
		wg.Wait()
		return 0, fmt.Errorf("raw loopback conn: %w", err)
	}
	var sendErr error
	var off int64
	start := time.Now()
	for time.Since(start) < o.Duration && ctx.Err() == nil && sendErr == nil {
		werr := raw.Write(func(fd uintptr) bool {
			pos := off
			n, err := unix.Sendfile(int(fd), int(f.Fd()), &pos, int(min(off+int64(len(buf)), size)-off))
			if errors.Is(err, unix.EAGAIN) {
				return false // wait until writable
			}
			if err != nil {
				sendErr = fmt.Errorf("sendfile: %w", err)
				return true
			}
			off += int64(n)
			if off >= size {
				off = 0
			}
			return true
		})
		if werr != nil && sendErr == nil {
			sendErr = fmt.Errorf("sendfile: %w", werr)
		}
	}
	send.Close()
	wg.Wait()
	recv.Close()
	secs := time.Since(start).Seconds()
	if sendErr != nil {
		return 0, sendErr
	}
	return float64(got) / secs / 1e6, ctx.Err()
}

// tcpCeiling copies a user-space buffer through loopback TCP for o.Duration.
func tcpCeiling(ctx context.Context, o CeilingOptions) (float64, error) {
	send, recv, err := loopbackPair()
	if err != nil {
		return 0, err
	}
	var got int64
	var wg sync.WaitGroup
	wg.Add(1)
	go drainConn(recv, o.BlockBytes, &got, &wg)
	buf := make([]byte, o.BlockBytes)
	start := time.Now()
	var werr error
	for time.Since(start) < o.Duration && ctx.Err() == nil {
		if _, werr = send.Write(buf); werr != nil {
			break
		}
	}
	send.Close()
	wg.Wait()
	recv.Close()
	secs := time.Since(start).Seconds()
	if werr != nil {
		return 0, fmt.Errorf("writing to loopback: %w", werr)
	}
	return float64(got) / secs / 1e6, ctx.Err()
}
