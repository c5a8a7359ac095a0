package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/broker/storage"
)

// This file writes Fetch responses without copying record bytes through
// user space, the way Kafka's FileRecords.writeTo does: the response size
// is computed first, the header and every non-record field are encoded
// here (mirroring kmsg's FetchResponse.AppendTo field order for v4-v12),
// and each partition's records are sent from the segment file with
// sendfile(2) at an explicit offset. fetch_wire_test.go checks the bytes
// against kmsg for every version.

// fetchResponse is a Fetch response whose record bytes are byte ranges of
// segment files. It embeds the kmsg response (every field but
// RecordBatches, which stays nil) and implements wireWriter.
type fetchResponse struct {
	*kmsg.FetchResponse
	// records[t][p] is the byte range of Topics[t].Partitions[p]; a zero
	// Slice (Size 0) sends empty records.
	records [][]storage.Slice
	mode    string // FetchModeSendfile or FetchModeCopy
}

// release releases every slice; the response must not be written after.
func (r *fetchResponse) release() {
	for _, ps := range r.records {
		for _, s := range ps {
			if s.File != nil {
				s.Release()
			}
		}
	}
	r.records = nil
}

// wirePiece is a run of encoded bytes followed by one partition's records.
type wirePiece struct {
	end int // hdr[prev end:end] precedes the records
	rec storage.Slice
}

// encode appends the response frame, except record bytes, to dst: size
// prefix, correlation id, response header tags (v12), body. It returns
// the buffer and the pieces: each says where in the buffer a partition's
// records go. The size prefix accounts for the record bytes.
func (r *fetchResponse) encode(dst []byte, correlation int32) ([]byte, []wirePiece) {
	v := r.Version
	flex := v >= 12
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlation))
	if flex {
		dst = append(dst, 0) // response header v1: empty tagged fields
	}
	var (
		pieces []wirePiece
		recLen int64
	)
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
			// Aborted transactions: always null (no transactions).
			if flex {
				dst = append(dst, 0)
			} else {
				dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)
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

// WriteWire writes the whole response to the connection and releases the
// slices. Record bytes go by sendfile(2) when the mode is sendfile and the
// connection is a TCP socket, else by pread into a buffer and write.
func (r *fetchResponse) WriteWire(cc *Conn, correlation int32) (int64, error) {
	defer r.release()
	hdr, pieces := r.encode(cc.wbuf[:0], correlation)
	defer func() {
		if cap(hdr) <= 1<<20 {
			cc.wbuf = hdr[:0]
		}
	}()
	zeroCopy := r.mode == FetchModeSendfile && cc.raw != nil
	if zeroCopy && len(pieces) > 0 {
		// Cork so that the small field runs and the file bytes leave in
		// full segments rather than one tiny packet per write.
		setCork(cc, true)
		defer setCork(cc, false)
	}
	var (
		written int64
		prev    int
	)
	for _, pc := range pieces {
		n, err := cc.nc.Write(hdr[prev:pc.end])
		written += int64(n)
		if err != nil {
			return written, fmt.Errorf("writing fetch response: %w", err)
		}
		prev = pc.end
		var m int64
		if zeroCopy {
			m, err = cc.sendfile(pc.rec.File, pc.rec.Pos, pc.rec.Size)
			cc.b.metrics.fetchSendfileBytes.Add(float64(m))
		} else {
			m, err = cc.copyFile(pc.rec.File, pc.rec.Pos, pc.rec.Size)
			cc.b.metrics.fetchCopyBytes.Add(float64(m))
		}
		written += m
		if err != nil {
			return written, fmt.Errorf("sending fetch records: %w", err)
		}
	}
	n, err := cc.nc.Write(hdr[prev:])
	written += int64(n)
	if err != nil {
		return written, fmt.Errorf("writing fetch response: %w", err)
	}
	return written, nil
}

func setCork(cc *Conn, on bool) {
	v := 0
	if on {
		v = 1
	}
	_ = cc.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	})
}

// sendfile sends n bytes of f starting at off to the socket with
// sendfile(2). The offset is passed explicitly, so the file's shared
// offset is never used or moved. EAGAIN parks the goroutine on Go's
// network poller until the socket is writable again.
func (cc *Conn) sendfile(f *os.File, off, n int64) (int64, error) {
	fc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("sendfile from %s: %w", f.Name(), err)
	}
	var (
		sent int64
		serr error
	)
	cerr := fc.Control(func(infd uintptr) {
		werr := cc.raw.Write(func(outfd uintptr) bool {
			for sent < n {
				chunk := min(n-sent, 1<<30)
				m, e := unix.Sendfile(int(outfd), int(infd), &off, int(chunk))
				if m > 0 {
					sent += int64(m)
				}
				switch {
				case errors.Is(e, unix.EAGAIN):
					return false // wait until writable, then call again
				case errors.Is(e, unix.EINTR):
					continue
				case e != nil:
					serr = e
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF // the file is shorter than the slice
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if cerr != nil {
		return sent, fmt.Errorf("sendfile from %s: %w", f.Name(), cerr)
	}
	if serr != nil {
		return sent, fmt.Errorf("sendfile from %s at %d: %w", f.Name(), off, serr)
	}
	return sent, nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyFile sends n bytes of f starting at off by pread into a buffer and
// write: the copying path that brokerlab.fetch.mode=copy selects.
func (cc *Conn) copyFile(f *os.File, off, n int64) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var sent int64
	for sent < n {
		chunk := buf[:min(int64(len(buf)), n-sent)]
		r, err := f.ReadAt(chunk, off+sent)
		if r < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return sent, fmt.Errorf("reading %s at %d: %w", f.Name(), off+sent, err)
		}
		w, err := cc.nc.Write(chunk)
		sent += int64(w)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}
