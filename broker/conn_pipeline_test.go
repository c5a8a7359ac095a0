package broker

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pipelined Produce responses may leave together (holdResponse); these
// tests pin down that they leave in order, before anything that can wait,
// and even when a later request closes the connection.

// pipeline writes reqs in one write and returns their correlation ids.
func (rc *rawConn) pipeline(reqs ...kmsg.Request) []int32 {
	rc.tb.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))
	var buf []byte
	var corrs []int32
	for _, r := range reqs {
		rc.corr++
		buf = append(buf, f.AppendRequest(nil, r, rc.corr)...) // it sizes from dst[0]
		corrs = append(corrs, rc.corr)
	}
	if _, err := rc.nc.Write(buf); err != nil {
		rc.tb.Fatalf("writing requests: %v", err)
	}
	return corrs
}

func (rc *rawConn) expectResponse(req kmsg.Request, corr int32) kmsg.Response {
	rc.tb.Helper()
	body, err := rc.readFrame()
	if err != nil {
		rc.tb.Fatalf("reading response %d: %v", corr, err)
	}
	resp, err := decodeResponse(req, corr, body)
	if err != nil {
		rc.tb.Fatalf("response %d: %v", corr, err)
	}
	return resp
}

func TestPipelinedProduceAnsweredInOrder(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "pipe", 1)
	var reqs []kmsg.Request
	for i := range 8 {
		reqs = append(reqs, produceReq("pipe", 0, 1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte{byte(i)})))
	}
	corrs := rc.pipeline(reqs...)
	for i, c := range corrs {
		p := rc.expectResponse(reqs[i], c).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: error %d, base offset %d; want 0, %d", i, p.ErrorCode, p.BaseOffset, i)
		}
	}
}

// A Fetch that waits behind pipelined Produce requests does not hold their
// responses: they arrive while it waits, and the append that ends the wait
// comes from another connection after they were read.
func TestHeldResponsesLeaveBeforeALongPoll(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.FetchMaxWait = time.Hour })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "pipe", 1)
	p1 := produceReq("pipe", 0, 1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("a")))
	p2 := produceReq("pipe", 0, 0, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("b"))) // acks=0: no response
	p3 := produceReq("pipe", 0, 1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("c")))
	fetch := longPoll("pipe", 3, 3_600_000)
	corrs := rc.pipeline(p1, p3, p2, fetch)
	rc.expectResponse(p1, corrs[0])
	rc.expectResponse(p3, corrs[1])

	other := dialRaw(t, b.addr)
	if p := produceRaw(t, other, "pipe", 0, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("d"))); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("produce from another connection: error %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
	fr := rc.expectResponse(fetch, corrs[3]).(*kmsg.FetchResponse)
	if recs := fr.Topics[0].Partitions[0].RecordBatches; len(recs) == 0 {
		t.Fatal("the long poll answered without the record appended after the held responses were read")
	}
}

// A request that closes the connection does not lose the responses held
// for the requests before it.
func TestHeldResponsesLeaveBeforeTheConnectionCloses(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "pipe", 1)
	p1 := produceReq("pipe", 0, 1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("a")))
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test")).AppendRequest(nil, p1, 2)
	// Right behind it, in the same write, a Produce frame of an unsupported
	// version: p1's response is held for it, then the connection closes.
	buf = binary.BigEndian.AppendUint32(buf, 10)
	buf = binary.BigEndian.AppendUint16(buf, uint16(kmsg.Produce.Int16()))
	buf = binary.BigEndian.AppendUint16(buf, 99)
	buf = binary.BigEndian.AppendUint32(buf, 3)
	buf = binary.BigEndian.AppendUint16(buf, 0xffff) // null client id
	if _, err := rc.nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	rc.expectResponse(p1, 2)
	if _, err := rc.readFrame(); err != io.EOF {
		t.Fatalf("after the bad frame: %v, want EOF", err)
	}
}
