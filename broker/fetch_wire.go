package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

// This file encodes Fetch responses so that their record bytes need not be
// copied through user space, the way Kafka's FileRecords.writeTo does: the
// response size is computed first, the header and every non-record field
// are encoded here (mirroring kmsg's FetchResponse.AppendTo field order for
// v4-v12), and the connection sends each partition's records from the
// segment file (conn_write.go: sendfile(2) at an explicit offset, or pread
// in copy mode). fetch_wire_test.go checks the bytes against kmsg for
// every version.

// fetchResponse is a Fetch response whose record bytes are byte ranges of
// segment files. It embeds the kmsg response (every field but
// RecordBatches, which stays nil); the connection writes it (conn_write.go).
type fetchResponse struct {
	*kmsg.FetchResponse
	// records[t][p] is the byte range of Topics[t].Partitions[p]; a zero
	// Slice (Size 0) sends empty records.
	records [][]storage.Slice
}

// release releases every slice; the response must not be written after.
func (r *fetchResponse) release() {
	for _, ps := range r.records {
		for i := range ps {
			if ps[i].File != nil {
				ps[i].Release()
			}
			ps[i] = storage.Slice{}
		}
	}
	r.records = r.records[:0]
}

// wirePiece is a run of encoded bytes followed by one partition's records.
type wirePiece struct {
	end int // hdr[prev end:end] precedes the records
	rec storage.Slice
}

// encode appends the response frame, except record bytes, to dst: size
// prefix, correlation id, response header tags (v12), body. It returns
// the buffer and the pieces (appended to pieces): each says where in the
// buffer a partition's records go. The size prefix accounts for the record bytes.
func (r *fetchResponse) encode(dst []byte, correlation int32, pieces []wirePiece) ([]byte, []wirePiece) {
	v := r.Version
	flex := v >= 12
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlation))
	if flex {
		dst = append(dst, 0) // response header v1: empty tagged fields
	}
	var recLen int64
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.ThrottleMillis))
	if v >= 7 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(r.ErrorCode))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.SessionID))
	}
	dst = appendArrayLen(dst, len(r.Topics), flex)
	for ti := range r.Topics {
		t := &r.Topics[ti]
		dst = appendString(dst, t.Topic, flex)
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			var rec storage.Slice
			if ti < len(r.records) && pi < len(r.records[ti]) {
				rec = r.records[ti][pi]
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(p.Partition))
			dst = binary.BigEndian.AppendUint16(dst, uint16(p.ErrorCode))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.HighWatermark))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.LastStableOffset))
			if v >= 5 {
				dst = binary.BigEndian.AppendUint64(dst, uint64(p.LogStartOffset))
			}
			// Aborted transactions: null for read_uncommitted, a list
			// (maybe empty) for read_committed.
			switch {
			case p.AbortedTransactions == nil && flex:
				dst = append(dst, 0)
			case p.AbortedTransactions == nil:
				dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)
			default:
				dst = appendArrayLen(dst, len(p.AbortedTransactions), flex)
				for _, a := range p.AbortedTransactions {
					dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
					dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
					if flex {
						dst = append(dst, 0) // tagged fields
					}
				}
			}
			if v >= 11 {
				dst = binary.BigEndian.AppendUint32(dst, uint32(p.PreferredReadReplica))
			}
			if flex {
				dst = kbin.AppendUvarint(dst, uint32(rec.Size+1))
			} else {
				dst = binary.BigEndian.AppendUint32(dst, uint32(rec.Size))
			}
			if rec.Size > 0 {
				pieces = append(pieces, wirePiece{end: len(dst), rec: rec})
				recLen += rec.Size
			}
			if flex {
				dst = append(dst, 0) // partition tagged fields: none
			}
		}
		if flex {
			dst = append(dst, 0) // topic tagged fields
		}
	}
	if flex {
		dst = append(dst, 0) // response tagged fields
	}
	binary.BigEndian.PutUint32(dst, uint32(int64(len(dst))-4+recLen))
	return dst, pieces
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendUvarint(dst, uint32(n+1))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendString(dst []byte, s string, flex bool) []byte {
	if flex {
		dst = kbin.AppendUvarint(dst, uint32(len(s)+1))
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	}
	return append(dst, s...)
}
