package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// The write path. Every response but Fetch is encoded into the
// connection's reused buffer and leaves in one write(2), or with the next
// Produce's when that request is already read (holdResponse). A Fetch response
// with records (fetch_wire.go encodes everything but the record bytes)
// leaves by writeFetchMixed: a partition's records of copyBelow or more go
// with sendfile(2), the field run before them sent first with
// sendmsg(MSG_MORE); smaller ones are read with pread(2) into a staging
// buffer between their field runs, so that a Fetch of many partitions with
// a few KiB each leaves in a few large sends instead of two syscalls per
// partition; the rest of the frame leaves with one write(2). One large
// partition is three syscalls. MSG_MORE holds the small run back until the
// file bytes follow, as the TCP_CORK on/off
// pair around the writes did for two more syscalls; measured with
// BenchmarkFetchRoundTrip (5 interleaved runs, shared 2-vCPU VM), MSG_MORE
// took 32.3 µs of broker CPU per Fetch against 35.9 µs with TCP_CORK, and
// 7.8 syscalls against 9.8 per round trip (3 of them storage's preads of
// batch headers, since gone: a tail read is found in memory). In copy mode
// the records are read with pread(2) into the frame buffer and the whole
// response leaves in one write(2).

// maxPooledWrite is the largest response buffer a connection keeps between
// requests; a bigger one is dropped so that an idle connection pins little.
const maxPooledWrite = 1 << 20

// rawWrite holds the arguments and results of the raw.Write callbacks.
type rawWrite struct {
	buf  []byte // sendMoreCB: bytes left to send
	in   int    // sendfileCB: the file's fd
	off  int64  // sendfileCB: file offset of the next byte
	left int64  // sendfileCB: bytes left to send
	n    int64  // bytes sent
	err  error
}

// maxHeldResponses bounds the response bytes a connection holds back
// while pipelined Produce requests are handled (holdResponse).
const maxHeldResponses = 64 << 10

// writeResponse encodes resp after the responses held back, if any, and
// writes them all with one write(2), or holds them back too when the next
// request is a Produce already read (holdResponse).
func (cc *Conn) writeResponse(resp kmsg.Response, correlation int32) error {
	cc.wbuf = appendResponse(cc.wbuf, resp, correlation)
	if cc.holdResponse() {
		return nil
	}
	return cc.flush()
}

// holdResponse says whether the responses in wbuf may wait for the next
// request's: it is a Produce, whole in the read buffer (pipelined by the
// client: franz-go keeps up to five in flight), so it is handled at once
// and both responses leave with one write(2) instead of two. The flush
// comes before the connection reads from the socket again, before any
// other request is handled (a Fetch may wait, a JoinGroup blocks), and
// when the connection closes. Not with log.flush.sync.on.ack, where the
// next Produce may wait for an fdatasync.
func (cc *Conn) holdResponse() bool {
	if len(cc.wbuf) >= maxHeldResponses || cc.b.cfg.FlushSyncOnAck {
		return false
	}
	buf := cc.rbuf[cc.rpos:cc.rend]
	if len(buf) < 6 {
		return false
	}
	n := int(binary.BigEndian.Uint32(buf))
	return 4+n <= len(buf) && n >= 8 && int16(binary.BigEndian.Uint16(buf[4:])) == kmsg.Produce.Int16()
}

// flush writes the responses held in wbuf, if any.
func (cc *Conn) flush() error {
	if len(cc.wbuf) == 0 {
		return nil
	}
	n, err := cc.nc.Write(cc.wbuf)
	cc.b.metrics.bytesOut.Add(float64(n))
	cc.wbuf = cc.wbuf[:0]
	if cap(cc.wbuf) > maxPooledWrite {
		cc.wbuf = nil
	}
	return err
}

// writeFetch writes a Fetch response and releases its file slices.
func (cc *Conn) writeFetch(fr *fetchResponse, correlation int32) error {
	defer fr.release()
	if err := cc.flush(); err != nil {
		return err
	}
	hdr, pieces := fr.encode(cc.wbuf[:0], correlation, cc.pieces[:0])
	cc.pieces = pieces[:0]
	var (
		n   int64
		err error
	)
	switch {
	case len(pieces) == 0:
		var m int
		m, err = cc.nc.Write(hdr)
		n = int64(m)
	case cc.zeroCopy:
		n, err = cc.writeFetchMixed(hdr, pieces)
	default:
		hdr, n, err = cc.writeFetchCopy(hdr, pieces)
	}
	cc.b.metrics.bytesOut.Add(float64(n))
	if cap(hdr) <= maxPooledWrite {
		cc.wbuf = hdr[:0]
	} else {
		cc.wbuf = nil
	}
	return err
}

// copyBelow is the size under which a partition's records are read into
// the response buffer (pread(2)) instead of sent with sendfile(2). A Fetch
// over many partitions, each with a few KiB (a consumer keeping up with a
// producer spread over them), otherwise costs a sendmsg and a sendfile per
// partition; copied, such chunks cost a pread each and the whole run leaves
// with one write. BenchmarkFetchPartitions, 3 interleaved runs on a loaded
// shared 2-vCPU VM (medians of the broker's CPU per Fetch of 200
// partitions): 1 KiB each 2.36 -> 1.11 ms, 4 KiB each 4.71 -> 1.73 ms;
// chunks of 16 KiB and more go by sendfile as before. The bound is not
// tuned between 4 and 16 KiB.
const copyBelow = 16 << 10

// maxStaged bounds the bytes read into the staging buffer before they are
// sent, so that a response of many small chunks does not need a buffer the
// size of the response.
const maxStaged = maxPooledWrite

// writeFetchMixed sends a Fetch response on a zero-copy connection: the
// field runs and the records of partitions under copyBelow are gathered
// in the connection's staging buffer (the records by pread(2)); before a
// larger partition's records, which go by sendfile(2), what is staged is
// sent with sendmsg(MSG_MORE), and the rest of the frame leaves with one
// write(2) at the end.
func (cc *Conn) writeFetchMixed(hdr []byte, pieces []wirePiece) (int64, error) {
	var (
		written int64
		prev    int
		copied  int // records read into out, counted once per response
		out     = cc.stage[:0]
	)
	defer func() {
		if copied > 0 {
			cc.b.metrics.fetchCopyBytes.Add(float64(copied))
		}
		if cap(out) <= maxPooledWrite {
			cc.stage = out[:0]
		} else {
			cc.stage = nil
		}
	}()
	sendStaged := func() error {
		m, err := cc.sendMore(out)
		written += m
		out = out[:0]
		if err != nil {
			return fmt.Errorf("writing fetch response: %w", err)
		}
		return nil
	}
	for _, pc := range pieces {
		out = append(out, hdr[prev:pc.end]...)
		prev = pc.end
		size := int(pc.rec.Size)
		if pc.rec.Size < copyBelow {
			if len(out)+size > maxStaged {
				if err := sendStaged(); err != nil {
					return written, err
				}
			}
			at := len(out)
			out = slices.Grow(out, size)[:at+size]
			if err := readFull(pc.rec.File, out[at:], pc.rec.Pos); err != nil {
				return written, err
			}
			copied += size
			continue
		}
		if err := sendStaged(); err != nil {
			return written, err
		}
		m, err := cc.sendfile(pc.rec.File, pc.rec.Pos, pc.rec.Size)
		cc.b.metrics.fetchSendfileBytes.Add(float64(m))
		written += m
		if err != nil {
			return written, fmt.Errorf("sending fetch records: %w", err)
		}
	}
	out = append(out, hdr[prev:]...)
	m, err := cc.nc.Write(out)
	written += int64(m)
	if err != nil {
		return written, fmt.Errorf("writing fetch response: %w", err)
	}
	return written, nil
}

// writeFetchPieces sends each field run with write(2) and then its
// partition's records in runs of pread+write (copy mode, frames above
// maxPooledWrite); then the trailing fields with one write(2).
func (cc *Conn) writeFetchPieces(hdr []byte, pieces []wirePiece) (int64, error) {
	var (
		written int64
		prev    int
	)
	for _, pc := range pieces {
		k, err := cc.nc.Write(hdr[prev:pc.end])
		written += int64(k)
		if err != nil {
			return written, fmt.Errorf("writing fetch response: %w", err)
		}
		prev = pc.end
		m, err := cc.copyFile(pc.rec.File, pc.rec.Pos, pc.rec.Size)
		cc.b.metrics.fetchCopyBytes.Add(float64(m))
		written += m
		if err != nil {
			return written, fmt.Errorf("sending fetch records: %w", err)
		}
	}
	m, err := cc.nc.Write(hdr[prev:])
	written += int64(m)
	if err != nil {
		return written, fmt.Errorf("writing fetch response: %w", err)
	}
	return written, nil
}

// writeFetchCopy reads the records into the frame buffer after the fields
// and writes the whole frame at once; a frame above maxPooledWrite goes in
// runs instead, so that the buffer stays bounded.
func (cc *Conn) writeFetchCopy(hdr []byte, pieces []wirePiece) ([]byte, int64, error) {
	total := len(hdr)
	for _, pc := range pieces {
		total += int(pc.rec.Size)
	}
	if total > maxPooledWrite {
		n, err := cc.writeFetchPieces(hdr, pieces)
		return hdr, n, err
	}
	// Lay the frame out at the buffer's end, past hdr: [hdr | frame].
	buf := hdr
	if cap(buf) < len(hdr)+total {
		buf = make([]byte, len(hdr), len(hdr)+total)
		copy(buf, hdr)
	}
	out := buf[len(hdr) : len(hdr)+total]
	at, prev := 0, 0
	for _, pc := range pieces {
		at += copy(out[at:], hdr[prev:pc.end])
		prev = pc.end
		dst := out[at : at+int(pc.rec.Size)]
		if err := readFull(pc.rec.File, dst, pc.rec.Pos); err != nil {
			return buf, 0, err
		}
		cc.b.metrics.fetchCopyBytes.Add(float64(len(dst)))
		at += len(dst)
	}
	copy(out[at:], hdr[prev:])
	n, err := cc.nc.Write(out)
	if err != nil {
		err = fmt.Errorf("writing fetch response: %w", err)
	}
	return buf, int64(n), err
}

func readFull(f *os.File, dst []byte, off int64) error {
	r, err := f.ReadAt(dst, off)
	if r < len(dst) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading %s at %d: %w", f.Name(), off, err)
	}
	return nil
}

// sendMore sends p with MSG_MORE: the kernel holds it back until the bytes
// that follow (the sendfile) fill a segment.
func (cc *Conn) sendMore(p []byte) (int64, error) {
	cc.w = rawWrite{buf: p}
	if err := cc.raw.Write(cc.sendMoreFn); err != nil {
		return cc.w.n, err
	}
	return cc.w.n, cc.w.err
}

func (cc *Conn) sendMoreCB(fd uintptr) bool {
	for len(cc.w.buf) > 0 {
		n, err := unix.SendmsgN(int(fd), cc.w.buf, nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
		if n > 0 {
			cc.w.buf = cc.w.buf[n:]
			cc.w.n += int64(n)
		}
		switch {
		case err == unix.EAGAIN:
			return false // wait until writable, then called again
		case err == unix.EINTR:
		case err != nil:
			cc.w.err = err
			return true
		}
	}
	return true
}

// sendfile sends n bytes of f starting at off to the socket with
// sendfile(2). The offset is passed explicitly, so the file's shared
// offset is never used or moved. EAGAIN parks the goroutine on Go's
// network poller until the socket is writable again. The caller holds a
// reference on f (a storage.Slice), so its descriptor stays open.
func (cc *Conn) sendfile(f *os.File, off, n int64) (int64, error) {
	cc.w = rawWrite{in: int(f.Fd()), off: off, left: n}
	if err := cc.raw.Write(cc.sendfileFn); err != nil {
		return cc.w.n, fmt.Errorf("sendfile from %s: %w", f.Name(), err)
	}
	if cc.w.err != nil {
		return cc.w.n, fmt.Errorf("sendfile from %s at %d: %w", f.Name(), cc.w.off, cc.w.err)
	}
	return cc.w.n, nil
}

func (cc *Conn) sendfileCB(fd uintptr) bool {
	for cc.w.left > 0 {
		chunk := min(cc.w.left, 1<<30)
		m, err := unix.Sendfile(int(fd), cc.w.in, &cc.w.off, int(chunk))
		if m > 0 {
			cc.w.n += int64(m)
			cc.w.left -= int64(m)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
		case err != nil:
			cc.w.err = err
			return true
		case m == 0:
			cc.w.err = io.ErrUnexpectedEOF // the file is shorter than the slice
			return true
		}
	}
	return true
}

// copyFile sends n bytes of f starting at off by pread into a buffer and
// write, in runs of at most maxPooledWrite.
func (cc *Conn) copyFile(f *os.File, off, n int64) (int64, error) {
	// The connection's staging buffer (writeFetchMixed's, unused in copy
	// mode), kept for the next response: one buffer per connection, not
	// one per partition.
	size := int(min(n, maxPooledWrite))
	buf := slices.Grow(cc.stage[:0], size)[:size]
	cc.stage = buf[:0]
	var sent int64
	for sent < n {
		chunk := buf[:min(int64(len(buf)), n-sent)]
		if err := readFull(f, chunk, off+sent); err != nil {
			return sent, err
		}
		w, err := cc.nc.Write(chunk)
		sent += int64(w)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}
