package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func fetchReq(version int16, topic string, partition int32, offset int64, maxWait, minBytes int32) *kmsg.FetchRequest {
	req := fetchOne(version, topic, partition, offset, 10<<20)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, minBytes, 50<<20
	return req
}

// TestFetchModesSendSameBytes fetches the same data in sendfile mode and,
// after a restart on the same log, in copy mode: the responses must be
// byte-identical, and each mode must be counted in its own metric.
func TestFetchModesSendSameBytes(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.SegmentBytes = 64 << 10 })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "modes", 1)
	for i := range 30 {
		batch := makeBatch(-1, -1, -1, int64(1700000000000+i), bytes.Repeat([]byte{byte(i)}, 5000), []byte("tail"))
		if p := produceRaw(t, rc, "modes", 0, batch); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
	}
	fetchAll := func(b *testBroker) [][]byte {
		rc := dialRaw(t, b.addr)
		var frames [][]byte
		for _, v := range []int16{4, 11, 12} {
			for _, off := range []int64{0, 7, 31, 59} {
				rc.send(fetchReq(v, "modes", 0, off, 0, 0))
				f, err := rc.readFrame()
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, f)
			}
		}
		return frames
	}
	sendfile := fetchAll(b)
	if got := metricValue(t, b.metrics.fetchSendfileBytes); got == 0 {
		t.Error("sendfile mode sent no bytes with sendfile")
	}
	b.cfg.FetchMode = FetchModeCopy
	b = b.restart(t)
	cp := fetchAll(b)
	if got := metricValue(t, b.metrics.fetchSendfileBytes); got != 0 {
		t.Errorf("copy mode sent %v bytes with sendfile", got)
	}
	if got := metricValue(t, b.metrics.fetchCopyBytes); got == 0 {
		t.Error("copy mode copied no bytes")
	}
	for i := range sendfile {
		if !bytes.Equal(sendfile[i], cp[i]) {
			t.Errorf("response %d differs between sendfile (%d bytes) and copy (%d bytes)", i, len(sendfile[i]), len(cp[i]))
		}
	}
	// And the records decode: the 12-version fetch from 0 has batches.
	resp, err := decodeResponse(fetchReq(12, "modes", 0, 0, 0, 0), 9, sendfile[8])
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.HighWatermark != 60 || len(p.RecordBatches) == 0 {
		t.Errorf("fetch v12 from 0: high watermark %d, %d record bytes", p.HighWatermark, len(p.RecordBatches))
	}
}

// TestFetchLongPoll checks that a fetch waiting for data returns when the
// data arrives (not at max.wait.ms), returns empty at max.wait.ms
// otherwise, and answers errors at once.
func TestFetchLongPoll(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "poll", 1)

	t.Run("an append wakes the fetch", func(t *testing.T) {
		fc := dialRaw(t, b.addr)
		start := time.Now()
		fc.send(fetchReq(12, "poll", 0, 0, 20000, 1))
		waitFetchParked(t, b)
		if p := produceRaw(t, rc, "poll", 0, makeBatch(-1, -1, -1, 1, []byte("wake"))); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
		f, err := fc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		// Before max.wait.ms (20 s), which is when a fetch the append did
		// not wake would be answered: no timer fires early.
		if d := time.Since(start); d >= 20*time.Second {
			t.Errorf("fetch returned after %v, at max.wait.ms: not woken by the append", d)
		}
		resp, err := decodeResponse(fetchReq(12, "poll", 0, 0, 0, 0), fc.corr, f)
		if err != nil {
			t.Fatal(err)
		}
		if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
			t.Errorf("woken fetch: hw %d, %d record bytes", p.HighWatermark, len(p.RecordBatches))
		}
	})

	t.Run("max.wait.ms ends an empty fetch", func(t *testing.T) {
		start := time.Now()
		resp := rc.roundTrip(fetchReq(12, "poll", 0, 1, 300, 1)).(*kmsg.FetchResponse)
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("empty fetch returned after %v, before max.wait.ms 300ms", d)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
			t.Errorf("empty fetch: %v, %d record bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
		}
	})

	t.Run("errors answer at once", func(t *testing.T) {
		// max.wait.ms 60 s: each answer must come before it.
		start := time.Now()
		resp := rc.roundTrip(fetchReq(12, "poll", 0, 99, 60000, 1)).(*kmsg.FetchResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Errorf("offset 99: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
		}
		resp = rc.roundTrip(fetchReq(12, "nope", 0, 0, 60000, 1)).(*kmsg.FetchResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(p.ErrorCode))
		}
		if d := time.Since(start); d >= 60*time.Second {
			t.Errorf("error fetches took %v: answered at max.wait.ms, not at once", d)
		}
	})

	t.Run("a fetch session id is refused", func(t *testing.T) {
		req := fetchReq(12, "poll", 0, 0, 0, 0)
		req.SessionID = 77
		if resp := rc.roundTrip(req).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
			t.Errorf("session 77: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
	})
}

// TestShutdownEndsLongPolls checks that stopping the broker does not wait
// for max.wait.ms of a fetch in flight.
func TestShutdownEndsLongPolls(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "shutdown", 1)
	rc.send(fetchReq(12, "shutdown", 0, 0, 60000, 1))
	waitFetchParked(t, b)
	start := time.Now()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 60*time.Second {
		t.Errorf("shutdown took %v with a long poll in flight: it waited for max.wait.ms", d)
	}
	// The fetch was answered (empty) before the connection closed.
	if f, err := rc.readFrame(); err != nil {
		t.Errorf("long poll not answered at shutdown: %v", err)
	} else if _, err := decodeResponse(fetchReq(12, "shutdown", 0, 0, 0, 0), rc.corr, f); err != nil {
		t.Error(err)
	}
}

// TestCloseWhileRunning checks that Close, called directly, makes Run
// return, and that Close is idempotent.
func TestCloseWhileRunning(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	dialRaw(t, b.addr).roundTrip(kmsg.NewPtrApiVersionsRequest())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		b.done <- nil // for the cleanup's stop
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

// waitFetchParked waits until the broker holds one fetch in a long poll.
func waitFetchParked(t *testing.T, b *testBroker) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := metricValue(t, b.metrics.fetchWaiting); n != 1 {
			return fmt.Errorf("%v fetches waiting, want 1", n)
		}
		return nil
	})
}
