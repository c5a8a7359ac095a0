package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// codecProducer is compression.type=producer: batches are stored with the
// codec the client chose (Kafka's BrokerCompressionType.PRODUCER).
const codecProducer int16 = -1

// compressionCodecs maps the values of compression.type to batch codecs
// (Kafka's BrokerCompressionType names; the value is case-sensitive, as
// Kafka's ConfigDef.ValidString is).
var compressionCodecs = map[string]int16{
	"producer":     codecProducer,
	"uncompressed": 0,
	"gzip":         codecGzip,
	"snappy":       codecSnappy,
	"lz4":          codecLz4,
	"zstd":         codecZstd,
}

// ValidCompressionType reports whether v is a value of compression.type.
func ValidCompressionType(v string) bool {
	_, ok := compressionCodecs[v]
	return ok
}

// xerialBlockSize is the uncompressed size of one block of the xerial
// snappy framing, snappy-java's SnappyOutputStream default (32 KiB), which
// Kafka's SnappyFactory uses when the broker recompresses.
const xerialBlockSize = 32 << 10

// compressor compresses batch records; it is safe for concurrent use.
type compressor struct {
	gzip sync.Pool // *gzip.Writer
	lz4  sync.Pool // *lz4.Writer
	zstd sync.Pool // *zstd.Encoder
}

// compress appends src compressed with codec to dst, in the framing
// Kafka's own producer and broker write: gzip (RFC 1952), snappy in
// snappy-java's xerial framing, an LZ4 frame with 64 KiB blocks (Kafka's
// KafkaLZ4BlockOutputStream default), one zstd frame.
func (c *compressor) compress(dst, src []byte, codec int16) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	switch codec {
	case 0:
		return append(dst, src...), nil
	case codecGzip:
		w := pooled(&c.gzip, func() *gzip.Writer { return gzip.NewWriter(nil) })
		defer c.gzip.Put(w)
		w.Reset(buf)
		if err := writeFrame(w, src); err != nil {
			return nil, err
		}
	case codecSnappy:
		out := append(dst, xerialMagic...)
		out = binary.BigEndian.AppendUint32(out, 1) // version
		out = binary.BigEndian.AppendUint32(out, 1) // compatible version
		for rest := src; len(rest) > 0; {
			n := min(len(rest), xerialBlockSize)
			block := s2.EncodeSnappy(nil, rest[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			rest = rest[n:]
		}
		return out, nil
	case codecLz4:
		w := pooled(&c.lz4, func() *lz4.Writer { return lz4.NewWriter(nil) })
		defer c.lz4.Put(w)
		w.Reset(buf)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1)); err != nil {
			return nil, err
		}
		if err := writeFrame(w, src); err != nil {
			return nil, err
		}
	case codecZstd:
		e, _ := c.zstd.Get().(*zstd.Encoder)
		if e == nil {
			var err error
			if e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
				return nil, err
			}
		}
		defer c.zstd.Put(e)
		return e.EncodeAll(src, dst), nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	return buf.Bytes(), nil
}

// writeFrame writes src through w, a codec's stream writer, and closes w,
// which ends the frame.
func writeFrame(w io.WriteCloser, src []byte) error {
	if _, err := w.Write(src); err != nil {
		return err
	}
	return w.Close()
}

// recompress returns records with every batch whose codec is not target
// rebuilt with target, as Kafka's LogValidator rebuilds a batch when the
// topic's compression.type differs from the producer's codec: the same
// header (offsets, timestamps, producer id, epoch, sequence, transactional
// bit) and the same records, compressed anew, with the length and CRC32C
// recomputed. batches are records' validated batches. When no batch needs
// it, records itself is returned. Errors wrap a kerr value.
//
// Memory is bounded as the rest of the append path is: every rebuilt batch
// must fit maxBytes (max.message.bytes, else kerr.MessageTooLarge, as
// Kafka's LogValidator refuses it), and the records of all the batches
// rebuilt in one call may decompress to at most
// brokerlab.message.max.decompressed.bytes together (Kafka rebuilds only
// one batch per partition and request: it refuses a second with
// InvalidRecordException).
func (s *Store) recompress(records []byte, batches []validatedBatch, target int16, maxBytes int32) ([]byte, error) {
	need := false
	for i := range batches {
		if batches[i].attributes&attrCompressionMask != target {
			need = true
			break
		}
	}
	if !need {
		return records, nil
	}
	out := make([]byte, 0, len(records))
	decompressed := 0
	for i := range batches {
		b := &batches[i]
		raw := records[b.pos : int64(b.pos)+b.size()]
		codec := b.attributes & attrCompressionMask
		if codec == target {
			out = append(out, raw...)
			continue
		}
		recs := raw[batchHeaderSize:]
		if codec != 0 {
			var err error
			if recs, err = s.dec.decompress(recs, codec); err != nil {
				// validateBatches decompressed it already.
				return nil, fmt.Errorf("recompressing batch at byte %d: %w: %w", b.pos, err, kerr.CorruptMessage)
			}
		}
		if decompressed += len(recs); decompressed > s.dec.max {
			return nil, fmt.Errorf("recompressing batch at byte %d: the rebuilt batches' records exceed %d bytes (brokerlab.message.max.decompressed.bytes): %w", b.pos, s.dec.max, kerr.MessageTooLarge)
		}
		start := len(out)
		out = append(out, raw[:batchHeaderSize]...)
		var err error
		if out, err = s.comp.compress(out, recs, target); err != nil {
			return nil, fmt.Errorf("recompressing batch at byte %d with codec %d: %w: %w", b.pos, target, err, kerr.KafkaStorageError)
		}
		nb := out[start:]
		if int64(len(nb)) > int64(maxBytes) {
			return nil, fmt.Errorf("recompressing batch at byte %d: rebuilt with codec %d it has %d bytes, more than the maximum of %d (message.max.bytes / max.message.bytes): %w", b.pos, target, len(nb), maxBytes, kerr.MessageTooLarge)
		}
		attrs := b.attributes&^attrCompressionMask | target
		binary.BigEndian.PutUint16(nb[offAttributes:], uint16(attrs))
		binary.BigEndian.PutUint32(nb[offLength:], uint32(len(nb)-logOverhead))
		binary.BigEndian.PutUint32(nb[offCRC:], crc32.Checksum(nb[offAttributes:], castagnoli))
	}
	return out, nil
}
