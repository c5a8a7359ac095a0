package broker

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

// fetchFixture is a segment-like file and a Fetch response over ranges of
// it, plus the same response as kmsg would encode it.
type fetchFixture struct {
	file *os.File
	data []byte
}

// newFetchFixture writes size bytes that do not repeat (a misplaced range
// cannot match by luck) to a segment-named file and opens it.
func newFetchFixture(t *testing.T, size int) fetchFixture {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16)}).Read(data)
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return fetchFixture{file: f, data: data}
}

// responses builds the same response both ways for version v: ours with
// file ranges, kmsg's with the record bytes filled in.
func (fx fetchFixture) responses(v int16) (*fetchResponse, *kmsg.FetchResponse) {
	type part struct {
		p        int32
		code     int16
		pos, n   int64
		hw, lsta int64
	}
	topics := []struct {
		name  string
		parts []part
	}{
		{"alpha", []part{{0, 0, 0, 1000, 10, 0}, {1, 0, 0, 0, 5, 0}, {2, 1, 0, 0, -1, -1}}},
		{"", nil},
		{"a-much-longer-topic-name.with.dots_and_underscores", []part{{7, 0, 4096, 200 << 10, 1 << 40, 3}, {8, 3, 0, 0, -1, -1}}},
	}
	mk := func() *kmsg.FetchResponse {
		r := kmsg.NewPtrFetchResponse()
		r.Version = v
		r.ThrottleMillis = 17
		r.SessionID = 0
		r.ErrorCode = 0
		return r
	}
	ours, want := &fetchResponse{FetchResponse: mk()}, mk()
	for _, tp := range topics {
		ot, wt := kmsg.NewFetchResponseTopic(), kmsg.NewFetchResponseTopic()
		ot.Topic, wt.Topic = tp.name, tp.name
		var slices []storage.Slice
		for _, p := range tp.parts {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.p, p.code, p.hw, p.hw, p.lsta
			sp.PreferredReadReplica = -1
			switch p.p { // read_committed answers: a list of aborted transactions, or an empty one
			case 1:
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 5, FirstOffset: 2}, {ProducerID: 1 << 40, FirstOffset: 3}}
			case 7:
				sp.AbortedTransactions = noAborted
			}
			ot.Partitions = append(ot.Partitions, sp)
			sp.RecordBatches = append([]byte{}, fx.data[p.pos:p.pos+p.n]...) // non-nil: Kafka never sends null records
			wt.Partitions = append(wt.Partitions, sp)
			var sl storage.Slice
			if p.n > 0 {
				sl = storage.Slice{File: fx.file, Pos: p.pos, Size: p.n}
			}
			slices = append(slices, sl)
		}
		ours.Topics = append(ours.Topics, ot)
		ours.records = append(ours.records, slices)
		want.Topics = append(want.Topics, wt)
	}
	return ours, want
}

// TestFetchEncoderMatchesKmsg checks the hand-written Fetch encoder
// against kmsg's, byte for byte, for every version we serve; the record
// bytes are spliced in with a plain copy from the file.
func TestFetchEncoderMatchesKmsg(t *testing.T) {
	fx := newFetchFixture(t, 300<<10)
	for v := int16(4); v <= 12; v++ {
		ours, want := fx.responses(v)
		wantBytes := appendResponse(nil, want, 42)
		hdr, pieces := ours.encode(nil, 42, nil)
		var got []byte
		prev := 0
		for _, pc := range pieces {
			got = append(got, hdr[prev:pc.end]...)
			got = append(got, fx.data[pc.rec.Pos:pc.rec.Pos+pc.rec.Size]...)
			prev = pc.end
		}
		got = append(got, hdr[prev:]...)
		if !bytes.Equal(got, wantBytes) {
			i := 0
			for i < len(got) && i < len(wantBytes) && got[i] == wantBytes[i] {
				i++
			}
			t.Errorf("v%d: encoding differs from kmsg at byte %d (len %d, kmsg %d)", v, i, len(got), len(wantBytes))
			continue
		}
		// And kmsg decodes it back.
		dec := kmsg.NewPtrFetchResponse()
		dec.Version = v
		body := got[8:]
		if v >= 12 {
			body = body[1:]
		}
		if err := dec.ReadFrom(body); err != nil {
			t.Errorf("v%d: kmsg cannot decode our encoding: %v", v, err)
		}
	}
}

// TestFetchSendfileAndCopySendSameBytes writes the same response through a
// real TCP connection with sendfile and with copy, and compares both with
// kmsg's encoding. In sendfile mode the 200 KiB partition goes by
// sendfile and the 1000-byte one is copied (copyBelow).
func TestFetchSendfileAndCopySendSameBytes(t *testing.T) {
	fx := newFetchFixture(t, 300<<10)
	for _, c := range []struct {
		mode           string
		sendfile, copy float64 // record bytes, three versions
	}{
		{FetchModeSendfile, 3 * 200 << 10, 3 * 1000},
		{FetchModeCopy, 0, 3 * (1000 + 200<<10)},
	} {
		b := &Broker{cfg: DefaultConfig()}
		b.metrics = newMetrics(b)
		b.cfg.FetchMode = c.mode
		for _, v := range []int16{4, 11, 12} {
			ours, want := fx.responses(v)
			wantBytes := appendResponse(nil, want, 9)
			got := writeThroughTCP(t, b, ours, 9)
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("%s v%d: %d bytes on the wire differ from kmsg's %d", c.mode, v, len(got), len(wantBytes))
			}
		}
		if got := metricValue(t, b.metrics.fetchSendfileBytes); got != c.sendfile {
			t.Errorf("%s: fetch_sendfile_bytes_total = %v, want %v", c.mode, got, c.sendfile)
		}
		if got := metricValue(t, b.metrics.fetchCopyBytes); got != c.copy {
			t.Errorf("%s: fetch_copy_bytes_total = %v, want %v", c.mode, got, c.copy)
		}
	}
}

// TestFetchManySmallPartitionsSameBytes sends, with sendfile, a response
// of many partitions whose chunks are under and over copyBelow in turn,
// with more small bytes than one staging buffer holds (maxStaged), and
// compares the bytes on the wire with kmsg's encoding.
func TestFetchManySmallPartitionsSameBytes(t *testing.T) {
	const small = copyBelow - 1
	fx := newFetchFixture(t, 8<<20)
	data, f := fx.data, fx.file

	ours := &fetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	want := kmsg.NewPtrFetchResponse()
	ours.Version, want.Version = 12, 12
	ot, wt := kmsg.NewFetchResponseTopic(), kmsg.NewFetchResponseTopic()
	ot.Topic, wt.Topic = "many", "many"
	var slices []storage.Slice
	var pos, smallBytes, largeBytes int64
	for p := range int32(200) {
		n := int64(small - int(p)) // under copyBelow, sizes differing
		switch {
		case p%50 == 49:
			n = copyBelow + int64(p) // at or over copyBelow: sendfile
		case p%7 == 3:
			n = 0 // no records
		}
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p, int64(p)*10, int64(p)*10, 0
		sp.PreferredReadReplica = -1
		ot.Partitions = append(ot.Partitions, sp)
		sp.RecordBatches = append([]byte{}, data[pos:pos+n]...)
		wt.Partitions = append(wt.Partitions, sp)
		var sl storage.Slice
		if n > 0 {
			sl = storage.Slice{File: f, Pos: pos, Size: n}
		}
		slices = append(slices, sl)
		switch {
		case n >= copyBelow:
			largeBytes += n
		default:
			smallBytes += n
		}
		pos += n
	}
	if smallBytes <= maxStaged {
		t.Fatalf("the small chunks (%d bytes) fit one staging buffer (%d): the test would not cross it", smallBytes, maxStaged)
	}
	ours.Topics = append(ours.Topics, ot)
	ours.records = append(ours.records, slices)
	want.Topics = append(want.Topics, wt)

	b := &Broker{cfg: DefaultConfig()}
	b.metrics = newMetrics(b)
	b.cfg.FetchMode = FetchModeSendfile
	wantBytes := appendResponse(nil, want, 3)
	if got := writeThroughTCP(t, b, ours, 3); !bytes.Equal(got, wantBytes) {
		i := 0
		for i < len(got) && i < len(wantBytes) && got[i] == wantBytes[i] {
			i++
		}
		t.Errorf("%d bytes on the wire differ from kmsg's %d at byte %d", len(got), len(wantBytes), i)
	}
	if got := metricValue(t, b.metrics.fetchSendfileBytes); got != float64(largeBytes) {
		t.Errorf("fetch_sendfile_bytes_total = %v, want %v", got, largeBytes)
	}
	if got := metricValue(t, b.metrics.fetchCopyBytes); got != float64(smallBytes) {
		t.Errorf("fetch_copy_bytes_total = %v, want %v", got, smallBytes)
	}
}

// writeThroughTCP sends r over a loopback TCP connection and returns what
// the peer read.
func writeThroughTCP(t *testing.T, b *Broker, r *fetchResponse, corr int32) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			got <- nil
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		_, _ = io.ReadFull(c, body)
		got <- append(size[:], body...)
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cc := b.newConn(nc)
	if err := cc.writeFetch(r, corr); err != nil {
		t.Fatal(err)
	}
	return <-got
}

// metricValue reads a counter's or a gauge's current value.
func metricValue(t *testing.T, metric prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := metric.Write(&m); err != nil {
		t.Fatal(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}
