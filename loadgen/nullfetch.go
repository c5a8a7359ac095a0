package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"
)

// A null consumer measures a broker's Fetch path alone. A real client
// decodes every record it receives, and on loopback that is slower than the
// broker's sendfile: the client, not the broker, sets the MB/s. NullFetch
// sends raw Fetch requests with large max bytes over several connections,
// reads each response's bytes and checks their framing (the size prefix,
// the correlation id, the response's fields, every record batch's length
// and magic, and optionally its CRC-32C), and decodes no record: what is
// left of its cost is reading the socket.

// NullFetchConfig says what to read. Zero values take the defaults.
type NullFetchConfig struct {
	// Addr is the broker's host:port; Topic and Partition what to read.
	Addr      string
	Topic     string
	Partition int32
	// Start and End bound the offsets read (End exclusive); End 0 reads to
	// the partition's end offset when NullFetch starts (ListOffsets).
	Start, End int64
	// Streams connections (default 16) each read a contiguous share of
	// [Start, End), one request in flight each; a stream's last response
	// may run on into the next share by up to MaxBytes, which it counts
	// (the broker sent it) so the log is read about once.
	Streams int
	// MaxBytes is each request's max bytes and partition max bytes
	// (default 512 KiB; Kafka's fetch.max.bytes default is 50 MiB, its
	// max.partition.fetch.bytes 1 MiB). Many connections with small
	// requests read fastest: on a 2-vCPU VM 16 x 512 KiB read a broker at
	// 4.6 GB/s where 4 x 8 MiB read it at 2.8 and 1 x 32 MiB at 1.6: one
	// connection's round trip leaves the socket idle, the others' fill it.
	MaxBytes int32
	// CheckCRC verifies each batch's CRC-32C (reads every byte in user
	// space: a check of the broker, not a measurement of it).
	CheckCRC bool
}

// NullFetchResult is what a null consumer read.
type NullFetchResult struct {
	Streams  int   `json:"streams"`
	Requests int64 `json:"requests"`
	// ResponseBytes are all bytes read off the sockets; RecordBytes the
	// record batches among them (a batch at a boundary between two
	// streams' shares is read by both).
	ResponseBytes int64         `json:"response_bytes"`
	RecordBytes   int64         `json:"record_bytes"`
	Batches       int64         `json:"batches"`
	Records       int64         `json:"records"` // from the batch headers
	Elapsed       time.Duration `json:"elapsed_ns"`
}

// MBps is record bytes per second in MB (10^6 bytes).
func (r NullFetchResult) MBps() float64 { return float64(r.RecordBytes) / 1e6 / r.Elapsed.Seconds() }

// The Fetch and ListOffsets versions used: the newest non-flexible ones, so
// a response header is only its correlation id (KIP-482 added the tagged
// header fields in Fetch v12 and ListOffsets v6).
const (
	nullFetchVersion       = 11
	nullListOffsetsVersion = 5
)

// NullFetch reads [cfg.Start, cfg.End) of one partition as described on
// NullFetchConfig. It fails on the first framing error or error code.
func NullFetch(ctx context.Context, cfg NullFetchConfig) (NullFetchResult, error) {
	if cfg.Streams <= 0 {
		cfg.Streams = 16
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 512 << 10
	}
	if cfg.End == 0 {
		c, err := dialNull(ctx, cfg.Addr)
		if err != nil {
			return NullFetchResult{}, err
		}
		cfg.End, err = c.endOffset(cfg.Topic, cfg.Partition)
		c.Close()
		if err != nil {
			return NullFetchResult{}, err
		}
	}
	if cfg.End <= cfg.Start {
		return NullFetchResult{}, fmt.Errorf("null fetch of %s[%d]: nothing between offsets %d and %d", cfg.Topic, cfg.Partition, cfg.Start, cfg.End)
	}
	streams := int64(min(int64(cfg.Streams), cfg.End-cfg.Start))
	conns := make([]*nullConn, streams)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		var err error
		if conns[i], err = dialNull(ctx, cfg.Addr); err != nil {
			return NullFetchResult{}, err
		}
	}
	res := NullFetchResult{Streams: int(streams)}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	span := (cfg.End - cfg.Start) / streams
	start := time.Now()
	for i, c := range conns {
		from, to := cfg.Start+int64(i)*span, cfg.Start+int64(i+1)*span
		if i == len(conns)-1 {
			to = cfg.End
		}
		g.Go(func() error {
			stop := context.AfterFunc(gctx, func() { c.Close() })
			defer stop()
			r, err := c.read(cfg, from, to)
			mu.Lock()
			res.Requests += r.Requests
			res.ResponseBytes += r.ResponseBytes
			res.RecordBytes += r.RecordBytes
			res.Batches += r.Batches
			res.Records += r.Records
			mu.Unlock()
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			return err
		})
	}
	err := g.Wait()
	res.Elapsed = time.Since(start)
	return res, err
}

// nullConn is one connection of a null consumer.
type nullConn struct {
	conn net.Conn
	fmt  *kmsg.RequestFormatter
	corr int32
	req  []byte
	body []byte
}

func dialNull(ctx context.Context, addr string) (*nullConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("null consumer: dialing %s: %w", addr, err)
	}
	return &nullConn{conn: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("lab-null-consumer"))}, nil
}

func (c *nullConn) Close() error { return c.conn.Close() }

// roundTrip sends req and returns the response body after the correlation
// id; the body is reused by the next call. The socket is read without a
// buffer in between: the size prefix alone, then the whole body straight
// into c.body, so each response byte is copied once, as by the ceilings'
// reader (a bufio.Reader copies every byte it holds a second time).
func (c *nullConn) roundTrip(req kmsg.Request) ([]byte, error) {
	c.corr++
	c.req = c.fmt.AppendRequest(c.req[:0], req, c.corr)
	if _, err := c.conn.Write(c.req); err != nil {
		return nil, fmt.Errorf("sending %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, fmt.Errorf("reading %s response size: %w", kmsg.NameForKey(req.Key()), err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 {
		return nil, fmt.Errorf("%s response size %d: shorter than its correlation id", kmsg.NameForKey(req.Key()), n)
	}
	if cap(c.body) < int(n) {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.conn, c.body); err != nil {
		return nil, fmt.Errorf("reading %s response of %d bytes: %w", kmsg.NameForKey(req.Key()), n, err)
	}
	if got := int32(binary.BigEndian.Uint32(c.body)); got != c.corr {
		return nil, fmt.Errorf("%s response has correlation id %d, want %d", kmsg.NameForKey(req.Key()), got, c.corr)
	}
	return c.body[4:], nil
}

// endOffset asks for the partition's end offset (ListOffsets, latest).
func (c *nullConn) endOffset(topic string, partition int32) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = nullListOffsetsVersion
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition, p.Timestamp = partition, -1 // -1: the latest offset
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	body, err := c.roundTrip(req)
	if err != nil {
		return 0, err
	}
	resp := kmsg.NewPtrListOffsetsResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body); err != nil {
		return 0, fmt.Errorf("decoding ListOffsets response: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("ListOffsets response for %s[%d] has %d topics", topic, partition, len(resp.Topics))
	}
	rp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		return 0, fmt.Errorf("end offset of %s[%d]: %w", topic, partition, err)
	}
	return rp.Offset, nil
}

// read fetches [from, to) and checks each response.
func (c *nullConn) read(cfg NullFetchConfig, from, to int64) (NullFetchResult, error) {
	var r NullFetchResult
	req := kmsg.NewPtrFetchRequest()
	req.Version = nullFetchVersion
	req.ReplicaID = -1
	req.MaxWaitMillis = 0 // the data is there; never wait
	req.MinBytes = 1
	req.MaxBytes = cfg.MaxBytes
	req.SessionEpoch = -1 // no fetch session (KIP-227)
	t := kmsg.NewFetchRequestTopic()
	t.Topic = cfg.Topic
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.PartitionMaxBytes, p.CurrentLeaderEpoch, p.LogStartOffset = cfg.Partition, cfg.MaxBytes, -1, -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrFetchResponse()
	for next := from; next < to; {
		req.Topics[0].Partitions[0].FetchOffset = next
		body, err := c.roundTrip(req)
		if err != nil {
			return r, err
		}
		r.Requests++
		r.ResponseBytes += int64(len(body)) + 8 // size prefix and correlation id
		resp.Default()
		resp.Version = req.Version
		// Field by field, record batches left as the bytes they are.
		if err := resp.UnsafeReadFrom(body); err != nil {
			return r, fmt.Errorf("decoding Fetch response at offset %d: %w", next, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return r, fmt.Errorf("fetch at offset %d: %w", next, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return r, fmt.Errorf("fetch at offset %d: response has %d topics, want 1 with 1 partition", next, len(resp.Topics))
		}
		rp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
			return r, fmt.Errorf("fetch of %s[%d] at offset %d: %w", cfg.Topic, cfg.Partition, next, err)
		}
		f, err := CheckBatches(rp.RecordBatches, cfg.CheckCRC)
		if err != nil {
			return r, fmt.Errorf("fetch of %s[%d] at offset %d: %w", cfg.Topic, cfg.Partition, next, err)
		}
		if f.Batches == 0 || f.Next <= next {
			return r, fmt.Errorf("fetch of %s[%d] at offset %d: no whole batch in %d bytes (high watermark %d)", cfg.Topic, cfg.Partition, next, len(rp.RecordBatches), rp.HighWatermark)
		}
		r.RecordBytes += int64(len(rp.RecordBatches))
		r.Batches += f.Batches
		r.Records += f.Records
		next = f.Next
	}
	return r, nil
}

// Framing is what CheckBatches found in a partition's record bytes.
type Framing struct {
	Batches, Records int64
	// Next is the offset after the last whole batch (0 without one).
	Next int64
	// Partial is the length of a trailing partial batch, which a broker
	// may send when max bytes cuts one (Kafka's FetchResponse contract).
	Partial int
}

// Offsets within a v2 record batch (Kafka's DefaultRecordBatch).
const (
	batchLengthOffset     = 8  // after baseOffset (int64)
	batchMagicOffset      = 16 // after batchLength, partitionLeaderEpoch
	batchCRCOffset        = 17
	batchAttrOffset       = 21 // the CRC covers attributes to the end
	batchLastDeltaOffset  = 23
	batchRecordsOffset    = 57
	batchHeaderBytes      = 61 // RECORD_BATCH_OVERHEAD
	batchLogOverheadBytes = 12 // baseOffset + batchLength (LOG_OVERHEAD)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CheckBatches walks the record batches in b by their headers: every
// batch's length must cover its header and fit, its magic must be 2 and,
// with crc, its CRC-32C must match; one trailing partial batch is allowed.
// Records are counted from the headers, never decoded.
func CheckBatches(b []byte, crc bool) (Framing, error) {
	var f Framing
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < batchHeaderBytes {
			f.Partial = len(rest)
			return f, nil
		}
		length := int32(binary.BigEndian.Uint32(rest[batchLengthOffset:]))
		if length < batchHeaderBytes-batchLogOverheadBytes {
			return f, fmt.Errorf("batch at byte %d: length %d is shorter than a batch header", off, length)
		}
		size := batchLogOverheadBytes + int(length)
		if magic := rest[batchMagicOffset]; magic != 2 {
			return f, fmt.Errorf("batch at byte %d: magic %d, want 2", off, magic)
		}
		if size > len(rest) {
			f.Partial = len(rest)
			return f, nil
		}
		if crc {
			want := binary.BigEndian.Uint32(rest[batchCRCOffset:])
			if got := crc32.Checksum(rest[batchAttrOffset:size], castagnoli); got != want {
				return f, fmt.Errorf("batch at byte %d: CRC-32C %08x, header says %08x", off, got, want)
			}
		}
		base := int64(binary.BigEndian.Uint64(rest))
		lastDelta := int32(binary.BigEndian.Uint32(rest[batchLastDeltaOffset:]))
		count := int32(binary.BigEndian.Uint32(rest[batchRecordsOffset:]))
		if lastDelta < 0 || count < 0 {
			return f, fmt.Errorf("batch at byte %d: last offset delta %d, %d records", off, lastDelta, count)
		}
		f.Batches++
		f.Records += int64(count)
		f.Next = base + int64(lastDelta) + 1
		off += size
	}
	return f, nil
}
