package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	rmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// These tests reproduce what a careless or hostile client did to the
// broker before it had bounds (an abandoned long poll held its goroutine
// and socket for 24 days; a 2-byte partial header stayed open forever;
// connections were unbounded; a promised 100 MB frame was allocated at
// once) and check that the bound now holds and others are still served.

func connErrorsValue(t *testing.T, b *testBroker, reason string) float64 {
	t.Helper()
	return metricValue(t, b.metrics.connErrors.WithLabelValues(reason))
}

// waitGauge waits until g reads want.
func waitGauge(t *testing.T, g prometheus.Gauge, want float64, what string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := metricValue(t, g); got != want {
			return fmt.Errorf("%s = %v, want %v", what, got, want)
		}
		return nil
	})
}

// longPoll builds a Fetch v12 of partition 0 of topic at offset, asking to
// wait up to maxWait for a byte.
func longPoll(topic string, offset int64, maxWait int32) *kmsg.FetchRequest {
	req := fetchOne(12, topic, 0, offset, 1<<20)
	req.MaxWaitMillis = maxWait
	req.MinBytes = 1
	return req
}

// TestAbandonedLongPollIsFreed sends a Fetch asking to wait 2^31-1 ms and
// closes the connection: the broker must notice and end the connection's
// goroutine and close its socket, also with a request pipelined behind the
// Fetch (clients do pipeline). The Fetch wait cap is set to an hour here so
// that only the closed peer can end the wait.
func TestAbandonedLongPollIsFreed(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.FetchMaxWait = time.Hour })
	setup := dialRaw(t, b.addr)
	createTopicRaw(t, setup, "poll", 1)
	waitGauge(t, b.metrics.connections, 1, "connections")

	for _, pipelined := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
			rc := dialRaw(t, b.addr)
			waitGauge(t, b.metrics.connections, 2, "connections")
			rc.send(longPoll("poll", 0, 1<<31-1))
			if pipelined {
				rc.send(kmsg.NewPtrApiVersionsRequest())
			}
			testutil.WaitFor(t, 20*time.Second, func() error {
				if !fetchWaiting() {
					return errors.New("no Fetch is waiting")
				}
				return nil
			})
			rc.nc.Close()
			waitGauge(t, b.metrics.connections, 1, "connections after the client closed")
		})
	}
	// The setup connection is still served.
	setup.roundTrip(kmsg.NewPtrApiVersionsRequest())
}

// fetchWaiting reports whether a goroutine is inside handleFetch.
func fetchWaiting() bool {
	buf := make([]byte, 1<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("broker.handleFetch("))
}

// TestLongPollAnswersPipelinedRequests checks that a request pipelined
// behind a waiting Fetch is answered after it, in order, and that the
// Fetch waits no longer than brokerlab.fetch.max.wait.ms.
func TestLongPollAnswersPipelinedRequests(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.FetchMaxWait = 50 * time.Millisecond })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "poll", 1)
	fc := rc.send(longPoll("poll", 0, 1<<31-1))
	ac := rc.send(kmsg.NewPtrApiVersionsRequest())
	for _, want := range []int32{fc, ac} {
		body, err := rc.readFrame() // 10 s deadline: far above the 50 ms cap
		if err != nil {
			t.Fatalf("reading response %d: %v", want, err)
		}
		if got := int32(binary.BigEndian.Uint32(body)); got != want {
			t.Fatalf("response correlation %d, want %d", got, want)
		}
	}
}

// TestIdleConnectionsClose checks connections.max.idle.ms: a connection
// that sent nothing, and one that sent two bytes of a size prefix, are
// closed; one that keeps sending requests for three idle times is not.
func TestIdleConnectionsClose(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond })
	silent := dialRaw(t, b.addr)
	partial := dialRaw(t, b.addr)
	if _, err := partial.nc.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	silent.expectClosed()
	partial.expectClosed()
	if got := connErrorsValue(t, b, "idle"); got < 2 {
		t.Errorf("connection_errors_total{reason=idle} = %v, want 2 or more", got)
	}
	// A connection in use stays open past the idle time.
	active := dialRaw(t, b.addr)
	start := time.Now()
	for time.Since(start) < time.Second {
		active.roundTrip(kmsg.NewPtrApiVersionsRequest())
	}
}

// TestConnectionLimits checks max.connections and max.connections.per.ip:
// a connection over either is closed at once, those already open are
// still served, and a freed slot is usable again.
func TestConnectionLimits(t *testing.T) {
	t.Run("max.connections", func(t *testing.T) {
		b := newTestBroker(t, func(c *Config) { c.MaxConnections = 3 })
		var open []*rawConn
		for range 3 {
			rc := dialRaw(t, b.addr)
			rc.roundTrip(kmsg.NewPtrApiVersionsRequest())
			open = append(open, rc)
		}
		over := dialRaw(t, b.addr)
		over.expectClosed()
		if got := connErrorsValue(t, b, "max_connections"); got != 1 {
			t.Errorf("connection_errors_total{reason=max_connections} = %v, want 1", got)
		}
		for _, rc := range open {
			rc.roundTrip(kmsg.NewPtrApiVersionsRequest())
		}
		open[0].nc.Close()
		waitGauge(t, b.metrics.connections, 2, "connections")
		dialRaw(t, b.addr).roundTrip(kmsg.NewPtrApiVersionsRequest())
	})
	t.Run("max.connections.per.ip", func(t *testing.T) {
		b := newTestBroker(t, func(c *Config) { c.MaxConnectionsPerIP = 2 })
		a, c := dialRaw(t, b.addr), dialRaw(t, b.addr)
		over := dialRaw(t, b.addr)
		over.expectClosed()
		if got := connErrorsValue(t, b, "max_connections_per_ip"); got != 1 {
			t.Errorf("connection_errors_total{reason=max_connections_per_ip} = %v, want 1", got)
		}
		a.roundTrip(kmsg.NewPtrApiVersionsRequest())
		c.roundTrip(kmsg.NewPtrApiVersionsRequest())
		// Another address of the loopback network is another client.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
		nc, err := d.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		(&rawConn{tb: t, nc: nc}).roundTrip(kmsg.NewPtrApiVersionsRequest())
	})
}

// heapObjectBytes returns the bytes of live and not yet swept heap objects
// after a GC.
func heapObjectBytes() uint64 {
	runtime.GC()
	s := []rmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rmetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestPromisedFrameIsNotReserved sends four size prefixes promising 100 MB
// each, and a few bytes of each body: the broker's heap must grow with what
// was sent, not with what was promised (it grew by 400 MB).
func TestPromisedFrameIsNotReserved(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.QueuedMaxRequestBytes = -1 })
	base := heapObjectBytes()
	const promised = 100_000_000
	for range 4 {
		rc := dialRaw(t, b.addr)
		frame := binary.BigEndian.AppendUint32(nil, promised)
		frame = append(frame, make([]byte, 1000)...)
		if _, err := rc.nc.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Each frame reserves what it sent plus one window, not its promise.
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := metricValue(t, b.metrics.queuedRequestBytes); got < 4*budgetWindow || got > 4*(budgetWindow+1000) {
			return fmt.Errorf("queued_request_bytes = %v, want 4 x (%d + at most 1000)", got, budgetWindow)
		}
		return nil
	})
	grown := int64(heapObjectBytes()) - int64(base)
	if grown > 32<<20 {
		t.Errorf("heap grew by %d MiB for 4 frames promising 100 MB with 1000 bytes sent", grown>>20)
	}
	t.Logf("heap grew by %.1f MiB", float64(grown)/(1<<20))
}

// TestPartFrameHoldsWhatWasSent sends 40 MiB of a frame promising 100 MB:
// the broker's live heap must grow by about what was sent. Growing one
// buffer by doubling held a 64 MiB buffer for it (and 63 MiB of garbage
// until the next GC), which took a soak holding queued.max.request.bytes
// past 512 MiB RSS.
func TestPartFrameHoldsWhatWasSent(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.QueuedMaxRequestBytes = -1 })
	base := heapObjectBytes()
	const sent = 40 << 20
	rc := dialRaw(t, b.addr)
	if _, err := rc.nc.Write(append(binary.BigEndian.AppendUint32(nil, 100_000_000), make([]byte, sent)...)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := b.reqBudget.inUse(); got < sent {
			return fmt.Errorf("request budget in use %d, want the %d bytes sent", got, sent)
		}
		return nil
	})
	grown := int64(heapObjectBytes()) - int64(base)
	if grown > sent+sent/5 {
		t.Errorf("live heap grew by %d MiB for 40 MiB sent of a 100 MB frame", grown>>20)
	}
	t.Logf("live heap grew by %.1f MiB for 40 MiB sent", float64(grown)/(1<<20))
}

// TestQueuedMaxRequestBytes checks that once queued.max.request.bytes is
// held by a large request still arriving (its bytes sent, over the limit:
// it holds the overdraft), another large request waits to be read, a
// small request is still served, and the waiting request is served once
// the budget is freed.
func TestQueuedMaxRequestBytes(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.QueuedMaxRequestBytes = 1 << 20 })
	setup := dialRaw(t, b.addr)
	createTopicRaw(t, setup, "queued", 1)

	hog := dialRaw(t, b.addr)
	const sent = 1<<20 + 100<<10
	if _, err := hog.nc.Write(append(binary.BigEndian.AppendUint32(nil, 4<<20), make([]byte, sent)...)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := b.reqBudget.inUse(); got < sent {
			return fmt.Errorf("request budget in use %d, want at least the %d bytes sent", got, sent)
		}
		return nil
	})
	waits := metricValue(t, b.metrics.requestBudgetWaits)

	waiter := dialRaw(t, b.addr)
	batch := makeBatch(-1, -1, -1, time.Now().UnixMilli(), make([]byte, 100<<10))
	corr := waiter.send(produceReq("queued", 0, -1, batch))
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := metricValue(t, b.metrics.requestBudgetWaits); got <= waits {
			return fmt.Errorf("queued_request_bytes_waits_total = %v, want more than %v (queued %v, in use %d)", got, waits, metricValue(t, b.metrics.queuedRequestBytes), b.reqBudget.inUse())
		}
		return nil
	})
	// Small requests are read from the connection's own buffer: served.
	setup.roundTrip(kmsg.NewPtrApiVersionsRequest())

	hog.nc.Close() // frees its reservation
	body, err := waiter.readFrame()
	if err != nil {
		t.Fatalf("the waiting produce was not answered after the budget was freed: %v", err)
	}
	resp, err := decodeResponse(produceReq("queued", 0, -1, nil), corr, body)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Errorf("produce error code %d", c)
	}
	waitGauge(t, b.metrics.queuedRequestBytes, 0, "queued_request_bytes")
}

// TestTrickledPrefixesDoNotHoldTheBudget is the slowloris of the request
// budget: connections that each promise a socket.request.max.bytes frame and
// then send a byte now and then reserved the whole queued.max.request.bytes
// between them, and every larger request of every client waited behind them
// for as long as they trickled. Now each holds one window; another client's
// 200 KiB produce is served while they stay open.
func TestTrickledPrefixesDoNotHoldTheBudget(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.QueuedMaxRequestBytes = 1 << 20 })
	setup := dialRaw(t, b.addr)
	createTopicRaw(t, setup, "trickled", 1)
	for range 4 {
		slow := dialRaw(t, b.addr)
		if _, err := slow.nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(b.cfg.SocketRequestMaxBytes)), 0)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := b.reqBudget.inUse(); got < 4*budgetWindow {
			return fmt.Errorf("request budget in use %d, want the 4 trickling frames' windows", got)
		}
		return nil
	})
	good := dialRaw(t, b.addr)
	batch := makeBatch(-1, -1, -1, time.Now().UnixMilli(), make([]byte, 200<<10))
	resp, err := good.tryRoundTrip(produceReq("trickled", 0, -1, batch))
	if err != nil {
		t.Fatalf("a 200 KiB produce beside 4 trickled 100 MB prefixes: %v", err)
	}
	if c := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Errorf("produce error code %d", c)
	}
}

// TestMalformedRequestClosesOnlyItsConnection sends an unknown API key on
// one connection: that connection is closed, another one is not.
func TestMalformedRequestClosesOnlyItsConnection(t *testing.T) {
	b := newTestBroker(t)
	good := dialRaw(t, b.addr)
	good.roundTrip(kmsg.NewPtrApiVersionsRequest())
	bad := dialRaw(t, b.addr)
	frame := binary.BigEndian.AppendUint32(nil, 10)
	frame = binary.BigEndian.AppendUint16(frame, 999) // no such API key
	frame = append(frame, make([]byte, 8)...)
	if _, err := bad.nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	bad.expectClosed()
	good.roundTrip(kmsg.NewPtrApiVersionsRequest())
	if got := connErrorsValue(t, b, "malformed"); got != 1 {
		t.Errorf("connection_errors_total{reason=malformed} = %v, want 1", got)
	}
}
