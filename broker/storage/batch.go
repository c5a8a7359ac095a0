package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record batch v2 layout (Kafka's DefaultRecordBatch):
//
//	0  baseOffset           int64  \ outside the CRC; the broker rewrites both
//	8  batchLength          int32   | (bytes after this field)
//	12 partitionLeaderEpoch int32  /
//	16 magic                int8
//	17 crc                  uint32   CRC32C of bytes 21..end
//	21 attributes           int16
//	23 lastOffsetDelta      int32
//	27 baseTimestamp        int64
//	35 maxTimestamp         int64
//	43 producerId           int64
//	51 producerEpoch        int16
//	53 baseSequence         int32
//	57 recordCount          int32
//	61 records
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	logOverhead     = 12 // baseOffset + batchLength (Kafka's Records.LOG_OVERHEAD)
	batchHeaderSize = 61 // Kafka's DefaultRecordBatch.RECORD_BATCH_OVERHEAD

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the decoded fixed part of one v2 batch.
type batchHeader struct {
	baseOffset      int64
	length          int32 // batchLength: total size is length+12
	magic           int8
	crc             uint32
	attributes      int16
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	recordCount     int32
}

func (h *batchHeader) size() int64      { return int64(h.length) + logOverhead }
func (h batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }

// lastSequence is the sequence of the batch's last record; sequences wrap
// from MaxInt32 to 0 (Kafka's DefaultRecordBatch.incrementSequence).
func (h *batchHeader) lastSequence() int32 {
	return incrementSequence(h.baseSequence, h.lastOffsetDelta)
}

func incrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// parseHeader decodes the first batchHeaderSize bytes of b; it does not check
// anything.
func parseHeader(b []byte) batchHeader {
	be := binary.BigEndian
	return batchHeader{
		baseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		length:          int32(be.Uint32(b[offLength:])),
		magic:           int8(b[offMagic]),
		crc:             be.Uint32(b[offCRC:]),
		attributes:      int16(be.Uint16(b[offAttributes:])),
		lastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		baseTimestamp:   int64(be.Uint64(b[offBaseTimestamp:])),
		maxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		producerID:      int64(be.Uint64(b[offProducerID:])),
		producerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		baseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		recordCount:     int32(be.Uint32(b[offRecordCount:])),
	}
}

// validatedBatch is one batch of an append, in place in the caller's buffer.
type validatedBatch struct {
	batchHeader
	pos int // position of the batch in the appended buffer
}

// validateBatches checks every batch in records before anything touches the
// log, following Kafka's ByteBufferLogInputStream, UnifiedLog
// analyzeAndValidateRecords and LogValidator. maxBytes is the largest batch
// accepted (message.max.bytes or the topic's max.message.bytes, counted with
// the 12-byte log overhead as Kafka does). The error wraps a kerr value:
//   - fewer than 61 bytes, a bad batchLength, a truncated batch, an unknown
//     magic, a CRC mismatch or an unknown compression codec: CorruptMessage;
//   - magic 0 or 1: UnsupportedForMessageFormat (this broker does not
//     up-convert legacy message sets);
//   - a batch larger than maxBytes: MessageTooLarge;
//   - a record count that disagrees with lastOffsetDelta, a control batch
//     from a client, a negative sequence for an idempotent producer or
//     records that do not decode (after decompression): InvalidRecord;
//   - compressed records that do not decompress: CorruptMessage;
//   - compressed records that decompress to more than dec's bound
//     (brokerlab.message.max.decompressed.bytes): MessageTooLarge, found
//     after at most that many bytes were produced.
//
// The batches are appended to out (which may come from the caller's stack).
func validateBatches(records []byte, maxBytes int32, dec *decompressor, out []validatedBatch) ([]validatedBatch, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("validating batch: no record batch in produce data: %w", kerr.InvalidRecord)
	}
	for pos := 0; pos < len(records); {
		rest := records[pos:]
		if len(rest) < logOverhead+5 { // up to and including magic
			return nil, fmt.Errorf("validating batch at byte %d: %d trailing bytes are not a batch: %w", pos, len(rest), kerr.CorruptMessage)
		}
		length := int32(binary.BigEndian.Uint32(rest[offLength:]))
		magic := int8(rest[offMagic])
		switch {
		case magic == 0 || magic == 1:
			return nil, fmt.Errorf("validating batch at byte %d: magic %d: only record batch v2 is supported: %w", pos, magic, kerr.UnsupportedForMessageFormat)
		case magic != 2:
			return nil, fmt.Errorf("validating batch at byte %d: invalid magic %d: %w", pos, magic, kerr.CorruptMessage)
		}
		if length < batchHeaderSize-logOverhead {
			return nil, fmt.Errorf("validating batch at byte %d: batch length %d is below the v2 header size: %w", pos, length, kerr.CorruptMessage)
		}
		size := int64(length) + logOverhead
		if size > int64(maxBytes) {
			return nil, fmt.Errorf("validating batch at byte %d: batch of %d bytes exceeds the maximum of %d (message.max.bytes / max.message.bytes): %w", pos, size, maxBytes, kerr.MessageTooLarge)
		}
		if size > int64(len(rest)) {
			return nil, fmt.Errorf("validating batch at byte %d: batch length says %d bytes but only %d are present: %w", pos, size, len(rest), kerr.CorruptMessage)
		}
		b := rest[:size]
		h := parseHeader(b)
		if got := crc32.Checksum(b[offAttributes:], castagnoli); got != h.crc {
			return nil, fmt.Errorf("validating batch at byte %d: crc32c is %08x, batch says %08x: %w", pos, got, h.crc, kerr.CorruptMessage)
		}
		if codec := h.attributes & attrCompressionMask; codec > 4 {
			return nil, fmt.Errorf("validating batch at byte %d: unknown compression codec %d: %w", pos, codec, kerr.CorruptMessage)
		}
		if h.attributes&attrControl != 0 {
			return nil, fmt.Errorf("validating batch at byte %d: clients may not write control batches: %w", pos, kerr.InvalidRecord)
		}
		if h.lastOffsetDelta < 0 {
			return nil, fmt.Errorf("validating batch at byte %d: invalid offset range, lastOffsetDelta %d: %w", pos, h.lastOffsetDelta, kerr.InvalidRecord)
		}
		if h.recordCount <= 0 {
			return nil, fmt.Errorf("validating batch at byte %d: invalid record count %d: %w", pos, h.recordCount, kerr.InvalidRecord)
		}
		if int64(h.recordCount) != int64(h.lastOffsetDelta)+1 {
			return nil, fmt.Errorf("validating batch at byte %d: inconsistent offset range: %d records but lastOffsetDelta %d: %w", pos, h.recordCount, h.lastOffsetDelta, kerr.InvalidRecord)
		}
		if h.producerID >= 0 && h.baseSequence < 0 {
			return nil, fmt.Errorf("validating batch at byte %d: invalid sequence number %d for producer %d: %w", pos, h.baseSequence, h.producerID, kerr.InvalidRecord)
		}
		recs := b[batchHeaderSize:]
		if codec := h.attributes & attrCompressionMask; codec != 0 {
			// Kafka's LogValidator decompresses to check the records too
			// (record by record, streaming); here the output is bounded.
			var err error
			if recs, err = dec.decompress(recs, codec); err != nil {
				code := kerr.CorruptMessage
				if errors.Is(err, errDecompressedTooLarge) {
					code = kerr.MessageTooLarge
					err = fmt.Errorf("%w: %d bytes (brokerlab.message.max.decompressed.bytes)", err, dec.max)
				}
				return nil, fmt.Errorf("validating batch at byte %d: decompressing codec %d: %w: %w", pos, codec, err, code)
			}
		}
		if err := walkRecords(recs, h.recordCount); err != nil {
			return nil, fmt.Errorf("validating batch at byte %d: %w: %w", pos, err, kerr.InvalidRecord)
		}
		out = append(out, validatedBatch{batchHeader: h, pos: pos})
		pos += int(size)
	}
	return out, nil
}

// walkRecords decodes count uncompressed v2 records (Kafka's
// DefaultRecord.readFrom) and checks that they fill b exactly.
func walkRecords(b []byte, count int32) error {
	for i := int32(0); i < count; i++ {
		n, used, err := varint(b)
		if err != nil {
			return fmt.Errorf("record %d length: %w", i, err)
		}
		b = b[used:]
		if n < 0 || n > int64(len(b)) {
			return fmt.Errorf("record %d: length %d with %d bytes left", i, n, len(b))
		}
		if err := walkRecord(b[:n]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the last of %d records", len(b), count)
	}
	return nil
}

// walkRecord decodes one record body: attributes, timestampDelta,
// offsetDelta, key, value and headers, which must use every byte.
func walkRecord(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("empty record")
	}
	b = b[1:] // attributes
	for _, field := range []string{"timestamp delta", "offset delta"} {
		_, used, err := varint(b)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		b = b[used:]
	}
	var err error
	if b, err = skipBytes(b, "key", true); err != nil {
		return err
	}
	if b, err = skipBytes(b, "value", true); err != nil {
		return err
	}
	nh, used, err := varint(b)
	if err != nil {
		return fmt.Errorf("header count: %w", err)
	}
	if nh < 0 {
		return fmt.Errorf("negative header count %d", nh)
	}
	b = b[used:]
	for j := int64(0); j < nh; j++ {
		if b, err = skipBytes(b, "header key", false); err != nil {
			return err
		}
		if b, err = skipBytes(b, "header value", true); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes left after the record's fields", len(b))
	}
	return nil
}

// skipBytes skips a varint-length-prefixed field; -1 is null when nullable.
func skipBytes(b []byte, what string, nullable bool) ([]byte, error) {
	n, used, err := varint(b)
	if err != nil {
		return nil, fmt.Errorf("%s length: %w", what, err)
	}
	b = b[used:]
	if n == -1 && nullable {
		return b, nil
	}
	if n < 0 || n > int64(len(b)) {
		return nil, fmt.Errorf("%s length %d with %d bytes left", what, n, len(b))
	}
	return b[n:], nil
}

// varint reads a zig-zag varint, Kafka's (and protobuf's) encoding.
func varint(b []byte) (int64, int, error) {
	v, n := binary.Varint(b)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("truncated varint")
	case n < 0:
		return 0, 0, fmt.Errorf("varint overflows 64 bits")
	}
	return v, n, nil
}

// setBaseOffset rewrites the two fields outside the CRC: baseOffset and
// partitionLeaderEpoch (always 0: this is a single-node broker).
func setBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0)
}

// setLogAppendTime stamps the batch with the broker's time as Kafka's
// DefaultRecordBatch.setMaxTimestamp(LOG_APPEND_TIME, now) does: it sets the
// timestamp-type attribute bit and maxTimestamp, both inside the CRC, and
// recomputes the CRC.
func setLogAppendTime(b []byte, now int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(now))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// checkStoredBatch checks a batch read back from a segment during recovery:
// header sanity and CRC. It returns the header.
func checkStoredBatch(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, fmt.Errorf("short batch of %d bytes", len(b))
	}
	h := parseHeader(b)
	if h.magic != 2 {
		return h, fmt.Errorf("magic %d", h.magic)
	}
	if int64(len(b)) != h.size() {
		return h, fmt.Errorf("batch length %d does not match %d bytes", h.length, len(b))
	}
	if h.lastOffsetDelta < 0 {
		return h, fmt.Errorf("lastOffsetDelta %d", h.lastOffsetDelta)
	}
	if got := crc32.Checksum(b[offAttributes:], castagnoli); got != h.crc {
		return h, fmt.Errorf("crc32c is %08x, batch says %08x", got, h.crc)
	}
	return h, nil
}
