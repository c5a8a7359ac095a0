package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
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
	// SendfileStreams and TCPStreams are the parallel connections of the
	// best loopback trial; LoopbackRuns how many rounds of trials (1, 2
	// and 4 streams each) it was the best of, ReadBytes each read's size.
	// Zero in files written before the ceiling had streams: those came
	// from one connection read 1 MiB at a time, and a fast client could
	// beat them.
	SendfileStreams int `json:"sendfile_streams,omitempty"`
	TCPStreams      int `json:"tcp_streams,omitempty"`
	LoopbackRuns    int `json:"loopback_runs,omitempty"`
	ReadBytes       int `json:"read_bytes,omitempty"`
	// SendfileSendBuffer and TCPSendBuffer are the sender's SO_SNDBUF in
	// the best trial, 0 when the kernel autotuned it. Absent in files
	// written before the ceilings tried several: those autotuned only,
	// which on some machines is the slowest (a server with a fixed buffer
	// could beat them).
	SendfileSendBuffer *int `json:"sendfile_send_buffer_bytes,omitempty"`
	TCPSendBuffer      *int `json:"tcp_send_buffer_bytes,omitempty"`
	// SendfileFileBytes is the size of the cached file the sendfile
	// ceiling sent (CeilingOptions.SendfileFileBytes). Absent in files
	// written before it was larger than the CPU's caches: those sent 64
	// MiB, which a large last-level cache holds, so their reader copied
	// from cache and the ceiling was above what a large log allows.
	SendfileFileBytes int64 `json:"sendfile_file_bytes,omitempty"`
	// ReaderOwnProcess says that the loopback ceilings' reader ran in a
	// process of its own, as a client does. Without it (a program that
	// did not call InitCeilingReader, and files written before the reader
	// had a process) it ran in the measuring process, where the Go
	// scheduler hands it each batch without a kernel wakeup: such
	// ceilings are above what a client and a server reach.
	ReaderOwnProcess bool `json:"reader_own_process,omitempty"`
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
	// when reached). Default 256 MiB.
	MaxFileBytes int64
	// SendfileFileBytes is the sendfile test's cached file. A reader
	// copies every byte it receives out of the file's pages, so a file
	// the CPU's last-level cache holds is read from cache, where a broker
	// serving a large log is read from memory: the ceiling would bound
	// nothing that fetches more than the cache. Default: twice the
	// largest CPU cache sysfs reports, at least 64 MiB and at most 2 GiB.
	SendfileFileBytes int64
	// SendfileFile, when set, is the file the sendfile ceiling sends
	// (NewSendfileFile), and SendfileFileBytes is its size.
	SendfileFile *SendfileFile
	// The loopback ceilings (sendfile, TCP) must bound every client and
	// server, so their reader must be faster than any and their sender
	// as well placed as any: each trial runs Streams connections side by
	// side (default 1, 2, 4, 8 and 16: a null consumer on 16 connections
	// outran the best of 1, 2 and 4), read by a process of its own
	// (InitCeilingReader) ReadBytes at a time (default 4 MiB; also
	// sendfile's and write's chunk), sent with each of SendBuffers as
	// SO_SNDBUF (0: the kernel autotunes; default 0, 100 KiB as Kafka's
	// socket.send.buffer.bytes, and 1 MiB), for a quarter of Duration (at
	// least 250 ms) after a warm-up, and the best of Runs rounds (default
	// 3) is the ceiling. The send buffer matters: on a 2-vCPU VM the best
	// autotuned sendfile trial reached 0.5-0.65x of the best 100 KiB one.
	Streams     []int
	SendBuffers []int
	ReadBytes   int
	Runs        int
}

// withDefaults fills in the documented defaults of the zero fields.
func (o CeilingOptions) withDefaults() CeilingOptions {
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.BlockBytes <= 0 {
		o.BlockBytes = 1 << 20
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 256 << 20
	}
	if o.SendfileFile != nil {
		o.SendfileFileBytes = o.SendfileFile.size
	}
	if o.SendfileFileBytes <= 0 {
		o.SendfileFileBytes = 64 << 20
		if c, err := procsample.ReadLargestCPUCache("/sys"); err == nil {
			o.SendfileFileBytes = min(max(2*c, 64<<20), 2<<30)
		}
	}
	if len(o.Streams) == 0 {
		o.Streams = []int{1, 2, 4, 8, 16}
	}
	if len(o.SendBuffers) == 0 {
		o.SendBuffers = []int{0, 102400, 1 << 20}
	}
	if o.ReadBytes <= 0 {
		o.ReadBytes = 4 << 20
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	return o
}

// SendfileCeiling measures only the sendfile-over-loopback ceiling, as
// MeasureCeilings does, with a cached file in dir: a bench that compares a
// fetch rate with the ceiling round by round measures it in every round, so
// that a busy machine lowers both sides of the ratio alike.
func SendfileCeiling(ctx context.Context, dir string, o CeilingOptions) (mbps float64, streams int, err error) {
	best, err := sendfileCeiling(ctx, dir, o.withDefaults())
	return best.mbps, best.streams, err
}

// trial is one loopback trial's length.
func (o CeilingOptions) trial() time.Duration { return max(o.Duration/4, 250*time.Millisecond) }

// Percent returns mbps as a percentage of the named ceiling ("write",
// "fsync", "sendfile", "tcp"), or 0 when that ceiling is unknown. A result
// above 100 means the ceiling was measured too low (Above).
func (c *Ceilings) Percent(kind string, mbps float64) float64 {
	ceil := c.of(kind)
	if ceil <= 0 {
		return 0
	}
	return 100 * mbps / ceil
}

// Above says mbps exceeds the named ceiling: the ceiling's measurement was
// the bottleneck, not the machine, and no share of it means anything.
func (c *Ceilings) Above(kind string, mbps float64) bool {
	ceil := c.of(kind)
	return ceil > 0 && mbps > ceil
}

// ShareText is mbps against the named ceiling for tables: "83.1% of
// sendfile", "above the sendfile ceiling (1800 MB/s): ceiling too low", or
// "" when that ceiling is unknown.
func (c *Ceilings) ShareText(kind string, mbps float64) string {
	switch {
	case c.of(kind) <= 0:
		return ""
	case c.Above(kind, mbps):
		return fmt.Sprintf("above the %s ceiling (%.0f MB/s): ceiling too low", kind, c.of(kind))
	default:
		return fmtPercent(c.Percent(kind, mbps)) + " of " + kind
	}
}

func (c *Ceilings) of(kind string) float64 {
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
	return ceil
}

// MeasureCeilings measures the ceilings using temporary files in dir (which
// it removes) and loopback TCP connections. It runs the four measurements
// one after another: each disk one for o.Duration, each loopback one as
// o.Runs rounds of trials on each of o.Streams connections with each send
// buffer.
func MeasureCeilings(ctx context.Context, dir string, o CeilingOptions) (*Ceilings, error) {
	o = o.withDefaults()
	c := &Ceilings{Dir: dir, BlockBytes: o.BlockBytes, SecondsEach: o.Duration.Seconds(), LoopbackRuns: o.Runs, ReadBytes: o.ReadBytes,
		SendfileFileBytes: o.SendfileFileBytes}
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
	sf, err := sendfileCeiling(ctx, dir, o)
	c.SendfileMBps, c.SendfileStreams, c.SendfileSendBuffer = sf.mbps, sf.streams, &sf.sendBuffer
	c.ReaderOwnProcess = !sf.readerInProcess
	if err != nil {
		return nil, err
	}
	tcp, err := tcpCeiling(ctx, o)
	c.TCPMBps, c.TCPStreams, c.TCPSendBuffer = tcp.mbps, tcp.streams, &tcp.sendBuffer
	if err != nil {
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

// loopbackBest is the best loopback trial: its rate, streams and send
// buffer (0: autotuned), and whether its reader ran in this process.
type loopbackBest struct {
	mbps                float64
	streams, sendBuffer int
	readerInProcess     bool
}

// sendFunc writes into c until stop is closed, adding what it wrote to sent.
type sendFunc func(c *net.TCPConn, stop <-chan struct{}, sent *atomic.Int64) error

// bestLoopback runs a trial for every stream count and send buffer,
// o.Runs times over, and returns the best. A ceiling is the most the
// machine can do, so a slow trial (a reader descheduled by a neighbour, a
// buffer this kernel handles badly) says nothing about it: the best one
// does.
func bestLoopback(ctx context.Context, o CeilingOptions, send sendFunc) (loopbackBest, error) {
	var best loopbackBest
	for range o.Runs {
		for _, n := range o.Streams {
			for _, sb := range o.SendBuffers {
				mbps, inProcess, err := loopbackTrial(ctx, n, sb, o.trial(), o.ReadBytes, send)
				if err != nil {
					return loopbackBest{}, err
				}
				if mbps > best.mbps {
					best = loopbackBest{mbps, n, sb, inProcess}
				}
			}
		}
	}
	return best, ctx.Err()
}

// loopbackTrial runs streams loopback connections side by side: send writes
// into each (SO_SNDBUF sendBuffer, or autotuned at 0) until stop is closed,
// and the reader process (startCeilingReader; goroutines of this one where
// it cannot start) drains the other ends with reads of readBytes. The rate
// is the bytes sent over d after a warm-up of a tenth of d (at least 50
// ms): by then the sockets' buffers are as full as they stay, so what sits
// in them unread is the same at both ends of the window.
func loopbackTrial(ctx context.Context, streams, sendBuffer int, d time.Duration, readBytes int, send sendFunc) (mbps float64, readerInProcess bool, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, false, fmt.Errorf("listening on loopback: %w", err)
	}
	defer ln.Close()
	reader, err := startCeilingReader(ln, streams, readBytes)
	if err != nil {
		return 0, false, err
	}
	readerDone := make(chan error, 1)
	if reader == nil {
		readerInProcess = true
		go func() {
			readerDone <- ceilingReader([]string{ln.Addr().String(), strconv.Itoa(streams), strconv.Itoa(readBytes)})
		}()
	} else {
		go func() { readerDone <- reader.Wait() }()
	}
	conns, err := acceptStreams(ln.(*net.TCPListener), streams, readerDone)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		if rerr := <-readerDone; rerr != nil && err == nil {
			err = fmt.Errorf("ceiling reader: %w", rerr)
		}
	}()
	if err != nil {
		// Closing the listener resets the connections not yet accepted,
		// so an in-process reader's reads end too.
		ln.Close()
		if reader != nil {
			reader.Process.Kill()
		}
		return 0, readerInProcess, err
	}
	if sendBuffer > 0 {
		for _, c := range conns {
			if err := c.SetWriteBuffer(sendBuffer); err != nil {
				return 0, readerInProcess, fmt.Errorf("setting a %d-byte send buffer: %w", sendBuffer, err)
			}
		}
	}
	var (
		sent    atomic.Int64
		senders errgroup.Group
	)
	stop := make(chan struct{})
	for _, c := range conns {
		senders.Go(func() error {
			defer c.CloseWrite() // the reader sees EOF
			return send(c, stop, &sent)
		})
	}
	var n int64
	var secs float64
	warm, endWarm := context.WithTimeout(ctx, max(d/10, 50*time.Millisecond))
	<-warm.Done()
	endWarm()
	if ctx.Err() == nil {
		n0, t0 := sent.Load(), time.Now()
		window, endWindow := context.WithTimeout(ctx, d)
		<-window.Done()
		endWindow()
		n, secs = sent.Load()-n0, time.Since(t0).Seconds()
	}
	close(stop)
	if err := senders.Wait(); err != nil {
		return 0, readerInProcess, err
	}
	if secs == 0 {
		return 0, readerInProcess, ctx.Err()
	}
	return float64(n) / secs / 1e6, readerInProcess, ctx.Err()
}

// acceptStreams accepts streams connections from the reader, giving up if
// the reader exits first or none comes within 30 s.
func acceptStreams(ln *net.TCPListener, streams int, readerDone chan error) ([]*net.TCPConn, error) {
	if err := ln.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	var conns []*net.TCPConn
	for range streams {
		c, err := ln.AcceptTCP()
		if err != nil {
			select {
			case rerr := <-readerDone:
				readerDone <- rerr
				return conns, fmt.Errorf("accepting the ceiling reader's connections: the reader exited (%v): %w", rerr, err)
			default:
			}
			return conns, fmt.Errorf("accepting the ceiling reader's connections: %w", err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// stopped says whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// SendfileFile is the sendfile ceiling's file, written once: a bench that
// measures the ceiling in every round passes it in CeilingOptions instead
// of writing up to 2 GiB again each time. Close removes it.
type SendfileFile struct {
	f    *os.File
	size int64
}

// NewSendfileFile writes a file of o.SendfileFileBytes (default: twice the
// largest CPU cache, see CeilingOptions) in dir for SendfileCeiling.
func NewSendfileFile(dir string, o CeilingOptions) (*SendfileFile, error) {
	o = o.withDefaults()
	f, err := os.CreateTemp(dir, ".lab-ceiling-sendfile-*")
	if err != nil {
		return nil, fmt.Errorf("creating sendfile test file in %s: %w", dir, err)
	}
	sf := &SendfileFile{f: f, size: o.SendfileFileBytes}
	buf := make([]byte, o.BlockBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < sf.size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			sf.Close()
			return nil, fmt.Errorf("writing %s: %w", f.Name(), err)
		}
	}
	return sf, nil
}

// Close closes and removes the file.
func (sf *SendfileFile) Close() error {
	err := sf.f.Close()
	if rerr := os.Remove(sf.f.Name()); err == nil {
		err = rerr
	}
	return err
}

// sendfileCeiling sends a cached file (o.SendfileFile, or one written for
// this call) over loopback TCP with sendfile(2), from the start of the file
// again whenever it ends, on each of o.Streams connections at once with
// each send buffer, and keeps the best of o.Runs rounds.
func sendfileCeiling(ctx context.Context, dir string, o CeilingOptions) (loopbackBest, error) {
	sf := o.SendfileFile
	if sf == nil {
		var err error
		if sf, err = NewSendfileFile(dir, o); err != nil {
			return loopbackBest{}, err
		}
		defer sf.Close()
	}
	f, size := sf.f, sf.size
	// Read it once so every page is cached (again, if a bench's reads
	// since the last call pushed it out).
	if _, err := io.Copy(io.Discard, io.NewSectionReader(f, 0, size)); err != nil {
		return loopbackBest{}, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	chunk := int64(o.ReadBytes)
	send := func(c *net.TCPConn, stop <-chan struct{}, sent *atomic.Int64) error {
		raw, err := c.SyscallConn()
		if err != nil {
			return fmt.Errorf("raw loopback conn: %w", err)
		}
		var sendErr error
		var off int64
		for !stopped(stop) && sendErr == nil {
			werr := raw.Write(func(fd uintptr) bool {
				pos := off
				n, err := unix.Sendfile(int(fd), int(f.Fd()), &pos, int(min(off+chunk, size)-off))
				if errors.Is(err, unix.EAGAIN) {
					return false // wait until writable
				}
				if err != nil {
					sendErr = fmt.Errorf("sendfile: %w", err)
					return true
				}
				sent.Add(int64(n))
				if off += int64(n); off >= size {
					off = 0
				}
				return true
			})
			if werr != nil && sendErr == nil {
				sendErr = fmt.Errorf("sendfile: %w", werr)
			}
		}
		return sendErr
	}
	return bestLoopback(ctx, o, send)
}

// tcpCeiling copies a user-space buffer through loopback TCP, on each of
// o.Streams connections at once with each send buffer, and keeps the best
// of o.Runs rounds.
func tcpCeiling(ctx context.Context, o CeilingOptions) (loopbackBest, error) {
	send := func(c *net.TCPConn, stop <-chan struct{}, sent *atomic.Int64) error {
		buf := make([]byte, o.ReadBytes)
		for !stopped(stop) {
			n, err := c.Write(buf)
			sent.Add(int64(n))
			if err != nil {
				return fmt.Errorf("writing to loopback: %w", err)
			}
		}
		return nil
	}
	return bestLoopback(ctx, o, send)
}
