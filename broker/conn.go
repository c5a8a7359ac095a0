package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Conn is one client connection. A single goroutine (serve) reads its
// requests and handles them one at a time, in order, writing each response
// before reading the next request: Kafka's own per-connection ordering.
type Conn struct {
	b   *Broker
	nc  net.Conn
	raw syscall.RawConn // nil when nc is not a TCP connection (no sendfile)

	clientID string
	wbuf     []byte // response encoding buffer, reused

	mu      sync.Mutex // guards onClose
	onClose []func()
}

func (b *Broker) newConn(nc net.Conn) *Conn {
	cc := &Conn{b: b, nc: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		if n := b.cfg.SocketSendBufferBytes; n > 0 {
			_ = tc.SetWriteBuffer(n)
		}
		if n := b.cfg.SocketReceiveBufferBytes; n > 0 {
			_ = tc.SetReadBuffer(n)
		}
		if raw, err := tc.SyscallConn(); err == nil {
			cc.raw = raw
		}
	}
	return cc
}

// ClientID returns the client id of the request being handled.
func (cc *Conn) ClientID() string { return cc.clientID }

// RemoteAddr returns the client's address.
func (cc *Conn) RemoteAddr() net.Addr { return cc.nc.RemoteAddr() }

// OnClose registers fn to run once when the connection closes (after its
// last request). Handlers of this connection may call it.
func (cc *Conn) OnClose(fn func()) {
	cc.mu.Lock()
	cc.onClose = append(cc.onClose, fn)
	cc.mu.Unlock()
}

// stopReading makes a blocked read return, so that serve ends after the
// request in flight (if any) has been answered.
func (cc *Conn) stopReading() { _ = cc.nc.SetReadDeadline(time.Unix(1, 0)) }

// errCloseConn reasons; counted, not logged per request.
var (
	errFrameTooLarge = errors.New("request larger than socket.request.max.bytes")
	errBadFrame      = errors.New("malformed request")
)

// serve is the connection's goroutine: read, handle, respond, repeat.
func (cc *Conn) serve() {
	ctx, cancel := context.WithCancel(cc.b.reqCtx)
	defer func() {
		cancel()
		_ = cc.nc.Close()
		cc.mu.Lock()
		fns := cc.onClose
		cc.onClose = nil
		cc.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}()
	var size [4]byte
	for {
		if _, err := io.ReadFull(cc.nc, size[:]); err != nil {
			return
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 8 || n > cc.b.cfg.SocketRequestMaxBytes {
			cc.b.metrics.connErrors.WithLabelValues("frame_size").Inc()
			cc.b.logger.Debug("closing connection", "remote", cc.nc.RemoteAddr().String(), "err", errFrameTooLarge, "size", n)
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(cc.nc, body); err != nil {
			return
		}
		cc.b.metrics.bytesIn.Add(float64(4 + n))
		if err := cc.handle(ctx, body); err != nil {
			cc.b.logger.Debug("closing connection", "remote", cc.nc.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// requestHeader is a decoded request header (v1 or v2).
type requestHeader struct {
	key, version int16
	correlation  int32
	clientID     *string
}

// parseRequest decodes a request frame (without its size prefix) into its
// header and body with kmsg. It returns the header even when the body is
// not decoded: an ApiVersions request of a version above ours is answered
// without decoding its body (KIP-511), returned as a nil request.
func parseRequest(frame []byte) (requestHeader, kmsg.Request, error) {
	r := kbin.Reader{Src: frame}
	h := requestHeader{key: r.Int16(), version: r.Int16(), correlation: r.Int32(), clientID: r.NullableString()}
	if !r.Ok() {
		return h, nil, fmt.Errorf("%w: short header", errBadFrame)
	}
	a, ok := lookupAPI(h.key)
	if !ok {
		return h, nil, fmt.Errorf("%w: unsupported api key %d", errBadFrame, h.key)
	}
	if h.version < a.minVersion || h.version > a.maxVersion {
		if h.key == kmsg.ApiVersions.Int16() && h.version > a.maxVersion {
			return h, nil, nil
		}
		return h, nil, fmt.Errorf("%w: %s version %d outside %d-%d", errBadFrame, kmsg.NameForKey(h.key), h.version, a.minVersion, a.maxVersion)
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return h, nil, fmt.Errorf("%w: bad header tags", errBadFrame)
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return h, nil, fmt.Errorf("%w: decoding %s v%d: %v", errBadFrame, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, nil
}

// handle decodes and serves one request, and writes its response.
// A returned error closes the connection.
func (cc *Conn) handle(ctx context.Context, frame []byte) error {
	start := time.Now()
	h, req, err := parseRequest(frame)
	if err != nil {
		cc.b.metrics.connErrors.WithLabelValues("malformed").Inc()
		return err
	}
	cc.clientID = ""
	if h.clientID != nil {
		cc.clientID = *h.clientID
	}
	name := kmsg.NameForKey(h.key)
	var resp kmsg.Response
	if req == nil { // ApiVersions above our range: v0 answer with UNSUPPORTED_VERSION
		resp = unsupportedApiVersions()
	} else {
		a, _ := lookupAPI(h.key)
		resp, err = a.handle(ctx, cc.b, cc, req)
		if err != nil {
			cc.b.metrics.connErrors.WithLabelValues("handler").Inc()
			return fmt.Errorf("handling %s v%d: %w", name, h.version, err)
		}
	}
	defer func() {
		cc.b.metrics.requests.WithLabelValues(name).Inc()
		cc.b.metrics.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}()
	if resp == nil {
		return nil // acks=0
	}
	if w, ok := resp.(wireWriter); ok {
		n, err := w.WriteWire(cc, h.correlation)
		cc.b.metrics.bytesOut.Add(float64(n))
		return err
	}
	cc.wbuf = appendResponse(cc.wbuf[:0], resp, h.correlation)
	n, err := cc.nc.Write(cc.wbuf)
	cc.b.metrics.bytesOut.Add(float64(n))
	if cap(cc.wbuf) > 1<<20 {
		cc.wbuf = nil // do not pin a big buffer per idle connection
	}
	if err != nil {
		return fmt.Errorf("writing %s response: %w", name, err)
	}
	return nil
}

// appendResponse appends a whole response frame: size, response header
// (v0, or v1 with empty tagged fields when the response is flexible,
// except ApiVersions whose response header is always v0) and body.
func appendResponse(dst []byte, resp kmsg.Response, correlation int32) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlation))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// kafkaErrorCode maps an error from storage to the Kafka error code the
// client sees: a wrapped kerr.Error keeps its code, anything else is
// KAFKA_STORAGE_ERROR.
func kafkaErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.KafkaStorageError.Code
}
