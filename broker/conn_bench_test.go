package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// The request benchmarks: one Produce or Fetch round trip over a real
// loopback TCP socket to an in-process broker, reporting ns/op, allocs/op
// (the broker's: the client allocates nothing), the broker's CPU per request
// (the process's CPU less the client thread's) and, as root, the broker's
// syscalls per request by kind, counted by bpf.SyscallCounter with the
// client's thread left out. The client runs on one locked OS thread with
// blocking syscalls, so none of its work goes through Go's poller.
//
//	go test -run '^$' -bench 'RoundTrip' -benchtime 20000x ./broker/

// benchClient is a blocking socket on the calling goroutine's OS thread.
type benchClient struct {
	fd  int
	buf []byte
}

func dialBench(b *testing.B, addr string) *benchClient {
	b.Helper()
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	var sa unix.SockaddrInet4
	copy(sa.Addr[:], ap.IP.To4())
	sa.Port = ap.Port
	if err := unix.Connect(fd, &sa); err != nil {
		b.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	b.Cleanup(func() { unix.Close(fd) })
	return &benchClient{fd: fd, buf: make([]byte, 4<<20)}
}

// roundTrip writes frames (n requests) and reads n responses.
func (c *benchClient) roundTrip(frames []byte, n int) error {
	for p := frames; len(p) > 0; {
		w, err := unix.Write(c.fd, p)
		if err != nil {
			return err
		}
		p = p[w:]
	}
	have := 0
	for n > 0 {
		for have < 4 || have < 4+int(binary.BigEndian.Uint32(c.buf)) {
			r, err := unix.Read(c.fd, c.buf[have:])
			if err != nil {
				return err
			}
			if r == 0 {
				return errors.New("connection closed")
			}
			have += r
		}
		size := 4 + int(binary.BigEndian.Uint32(c.buf))
		have = copy(c.buf, c.buf[size:have])
		n--
	}
	return nil
}

// countSyscalls starts the broker-side syscall count (the calling thread
// left out), or returns nil without root or under LAB_SKIP_PRIVILEGED=1:
// the counter is a system-wide syscall tracepoint, which would slow every
// other process's syscalls, a measurement beside this one included.
func countSyscalls(b *testing.B) *bpf.SyscallCounter {
	if os.Geteuid() != 0 {
		return nil
	}
	if testutil.PrivilegedSkipped() {
		b.Logf("no syscall count: %s=1", testutil.SkipPrivilegedEnv)
		return nil
	}
	c, err := bpf.NewSyscallCounter(uint32(os.Getpid()), uint32(unix.Gettid()))
	if err != nil {
		b.Logf("no syscall count: %v", err)
		return nil
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// brokerCPU returns the CPU time of the process but the calling (client)
// thread, in ns: the broker's CPU, less noisy on a shared machine than the
// wall time of a round trip, which waits for the scheduler twice.
func brokerCPU() int64 {
	var self, thread unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &thread)
	ns := func(r *unix.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	return ns(&self) - ns(&thread)
}

// runRoundTrips runs b.N requests, depth at a time, and reports syscalls.
func runRoundTrips(b *testing.B, c *benchClient, frame []byte, depth int) {
	// Each (sub-)benchmark runs on a goroutine of its own: lock it here,
	// where the client's thread id is taken and its syscalls made.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	frames := make([]byte, 0, len(frame)*depth)
	for range depth {
		frames = append(frames, frame...)
	}
	if err := c.roundTrip(frame, 1); err != nil { // warm: buffers, pools
		b.Fatal(err)
	}
	stop := measureBroker(b)
	for i := 0; i < b.N; i += depth {
		n := min(depth, b.N-i)
		if err := c.roundTrip(frames[:n*len(frame)], n); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// measureBroker starts the measured loop of a benchmark: the broker's CPU
// and, where they can be counted, its syscalls (countSyscalls) from here,
// allocations reported, the timer reset. stop stops the timer and reports
// them per op.
func measureBroker(b *testing.B) (stop func()) {
	counter := countSyscalls(b)
	var before bpf.SyscallCounts
	if counter != nil {
		before, _ = counter.Counts()
	}
	cpu0 := brokerCPU()
	b.ReportAllocs()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(brokerCPU()-cpu0)/float64(b.N), "broker-cpu-ns/op")
		if counter == nil {
			return
		}
		after, err := counter.Counts()
		if err != nil {
			b.Fatal(err)
		}
		d := after.Sub(before)
		b.ReportMetric(float64(d.Total())/float64(b.N), "syscalls/op")
		for _, k := range d.Sorted() {
			if per := float64(k.Count) / float64(b.N); per >= 0.05 {
				b.ReportMetric(per, k.Name+"/op")
			}
		}
	}
}

func BenchmarkProduceRoundTrip(b *testing.B) {
	tb := newTestBroker(b)
	setup := dialRaw(b, tb.addr)
	createTopicRaw(b, setup, "bench", 1)
	// One batch of three 1 KiB records: what franz-go sends at linger 0
	// under the held 50,000 msg/s load (17,442 Produce/s).
	v := make([]byte, 1024)
	batch := makeBatch(-1, -1, -1, time.Now().UnixMilli(), v, v, v)
	req := produceReq("bench", 0, 1, batch)
	req.Version = 9
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)
	for _, depth := range []int{1, 4} {
		b.Run(fmt.Sprintf("inflight=%d", depth), func(b *testing.B) {
			runRoundTrips(b, dialBench(b, tb.addr), frame, depth)
		})
	}
}

// BenchmarkFetchRoundTrip reads the same records again and again, more
// than copyBelow of them so that mode=sendfile takes the sendfile path.
func BenchmarkFetchRoundTrip(b *testing.B) {
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run("mode="+mode, func(b *testing.B) {
			tb := newTestBroker(b, func(c *Config) {
				c.FetchMode = FetchModeSendfile
				if mode == "copy" {
					c.FetchMode = FetchModeCopy
				}
			})
			setup := dialRaw(b, tb.addr)
			createTopicRaw(b, setup, "bench", 1)
			v := make([]byte, 1024)
			for filled := 0; filled < copyBelow; filled += 3 * len(v) {
				if p := produceRaw(b, setup, "bench", 0, makeBatch(-1, -1, -1, time.Now().UnixMilli(), v, v, v)); p.ErrorCode != 0 {
					b.Fatalf("produce: error %d", p.ErrorCode)
				}
			}
			req := longPoll("bench", 0, 0)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)
			runRoundTrips(b, dialBench(b, tb.addr), frame, 1)
		})
	}
}

// BenchmarkTailRoundTrip is a consumer that keeps up with a producer: each
// op sends a Fetch for the next offset (it finds nothing and long-polls,
// unless the broker reads the Produce first), then a Produce of three
// 1 KiB records on a second connection, and reads both answers, the Fetch
// with the new batch. The counts are per op: one Produce and one Fetch.
func BenchmarkTailRoundTrip(b *testing.B) {
	tb := newTestBroker(b)
	setup := dialRaw(b, tb.addr)
	createTopicRaw(b, setup, "bench", 1)
	v := make([]byte, 1024)
	req := produceReq("bench", 0, 1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), v, v, v))
	req.Version = 9
	produce := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)
	// The Fetch frame with a marker offset, patched in place per op.
	const marker = 0x7ead_beef_cafe_1234
	fetch := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, longPoll("bench", marker, 10_000), 2)
	at := bytes.Index(fetch, binary.BigEndian.AppendUint64(nil, marker))
	if at < 0 {
		b.Fatal("no fetch offset in the frame")
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	consumer, producer := dialBench(b, tb.addr), dialBench(b, tb.addr)
	next := int64(0)
	op := func() {
		binary.BigEndian.PutUint64(fetch[at:], uint64(next))
		for _, w := range []struct {
			c     *benchClient
			frame []byte
		}{{consumer, fetch}, {producer, produce}} {
			if _, err := unix.Write(w.c.fd, w.frame); err != nil {
				b.Fatal(err)
			}
		}
		if err := producer.roundTrip(nil, 1); err != nil {
			b.Fatal(err)
		}
		if err := consumer.roundTrip(nil, 1); err != nil {
			b.Fatal(err)
		}
		next += 3
	}
	op() // warm: buffers, pools
	stop := measureBroker(b)
	for range b.N {
		op()
	}
	stop()
}
