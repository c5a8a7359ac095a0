package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// A connection's read path, from the socket to a handler:
//
//	socket --read(2)--> rbuf (16 KiB, one per connection)
//	  frame fits rbuf:  body = a sub-slice of rbuf, valid until the next read
//	  larger frame:     queued.max.request.bytes reserved as bytes arrive,
//	                    body from a pool (<= 1 MiB) or read into pooled 1 MiB
//	                    chunks, joined once complete (> 1 MiB)
//	body --decode--> kmsg request (how depends on the API: bodyUse)
//	handler --> response --> one write(2) (Fetch: sendmsg MSG_MORE + sendfile + write);
//	                         pipelined Produce responses share one write(2)
//	then the body is released: rbuf is read over, a pooled body goes back.
//
// One read usually brings a request's size, its body and often the next
// request, so a small request costs one read(2) instead of two, and no
// allocation for its body.

const (
	// readBufferSize is each connection's read buffer. Requests that fit
	// are decoded where they lie: every Fetch request and a Produce request
	// of a few records at linger 0 (franz-go's default), the kind the lab
	// runs. max.connections x 16 KiB bounds what the buffers take (64 MiB
	// at the default 4096).
	readBufferSize = 16 << 10
	// maxPooledBody is the largest request body taken from the pools; a
	// larger body is allocated as its bytes arrive and left to the GC.
	maxPooledBody = 1 << 20
	// minPooledBody is the smallest pool class: the first power of two
	// above readBufferSize.
	minPooledBody = readBufferSize * 2
)

// bodyPools holds request bodies by power-of-two class, minPooledBody up
// to maxPooledBody.
var bodyPools [7]sync.Pool // 32 KiB .. 1 MiB

func bodyClass(n int) int {
	c, size := 0, minPooledBody
	for size < n {
		size <<= 1
		c++
	}
	return c
}

// Conn is one client connection. A single goroutine (serve) reads its
// requests and handles them one at a time, in order, writing each response
// before reading the next request: Kafka's own per-connection ordering.
type Conn struct {
	b   *Broker
	nc  net.Conn
	raw syscall.RawConn // nil when nc is not a TCP connection (no sendfile)
	ip  netip.Addr      // for max.connections.per.ip
	// zeroCopy is the Fetch write path of this connection, decided once:
	// sendfile(2) when brokerlab.fetch.mode=sendfile and the connection is
	// a TCP socket, else pread(2) into a buffer and write.
	zeroCopy bool

	clientID string

	// Read path; the serve goroutine only. rbuf[rpos:rend] is read but not
	// yet consumed.
	rbuf       []byte
	rpos, rend int
	deadlineAt time.Time   // when the idle deadline was last moved
	stopping   atomic.Bool // set by stopReading

	// Write path (conn_write.go); the serve goroutine only.
	wbuf   []byte // response encoding buffer, reused
	pieces []wirePiece
	stage  []byte   // a Fetch response's fields and small record chunks (writeFetchMixed), reused
	w      rawWrite // arguments and results of the raw write callbacks
	// Callbacks for raw.Write, bound once so that a request makes no closure.
	sendMoreFn, sendfileFn func(fd uintptr) bool

	// Requests and responses of the hot paths, reused: Produce and Fetch
	// decode into these and their handlers answer in these.
	produceReq  kmsg.ProduceRequest
	produceResp kmsg.ProduceResponse
	produceJobs []produceJob
	fetchReq    kmsg.FetchRequest
	fetchResp   fetchResponse
	fetchKResp  kmsg.FetchResponse
	fetchWaits  []<-chan struct{}
	fetchCases  []reflect.SelectCase // a long poll on several partitions
	fetchTimer  *time.Timer          // a long poll's deadline; stopped between Fetches
}

func (b *Broker) newConn(nc net.Conn) *Conn {
	cc := &Conn{b: b, nc: nc, ip: remoteIP(nc)}
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
	cc.zeroCopy = b.cfg.FetchMode == FetchModeSendfile && cc.raw != nil
	cc.sendMoreFn = cc.sendMoreCB
	cc.sendfileFn = cc.sendfileCB
	return cc
}

// ClientID returns the client id of the request being handled.
func (cc *Conn) ClientID() string { return cc.clientID }

// RemoteAddr returns the client's address.
func (cc *Conn) RemoteAddr() net.Addr { return cc.nc.RemoteAddr() }

// stopReading makes a blocked read return, so that serve ends after the
// request in flight (if any) has been answered. The flag is set before the
// deadline, and read moves the deadline before it checks the flag, so one
// of the two always sees the other.
func (cc *Conn) stopReading() {
	cc.stopping.Store(true)
	_ = cc.nc.SetReadDeadline(time.Unix(1, 0))
}

// errCloseConn reasons; counted, not logged per request.
var (
	errFrameTooLarge = errors.New("request larger than socket.request.max.bytes")
	errBadFrame      = errors.New("malformed request")
	errStopping      = errors.New("broker shutting down")
)

// frame is one request body and who owns its memory.
type frame struct {
	body     []byte
	pooled   *[]byte // the pool buffer behind body, nil if none
	reserved int64   // bytes reserved in the broker's request budget
}

// serve is the connection's goroutine: read, handle, respond, repeat.
func (cc *Conn) serve() {
	ctx, cancel := context.WithCancel(cc.b.reqCtx)
	defer func() {
		cancel()
		_ = cc.flush() // responses held back for a request that closed the connection
		_ = cc.nc.Close()
		cc.rbuf, cc.wbuf, cc.stage = nil, nil, nil
	}()
	for {
		f, err := cc.readFrame()
		if err != nil {
			if !cc.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				cc.b.metrics.connErrors.WithLabelValues("idle").Inc()
				cc.b.logger.Debug("closing idle connection", "remote", cc.nc.RemoteAddr().String(), "idle", cc.b.cfg.ConnectionsMaxIdle)
			}
			return
		}
		err = cc.handle(ctx, f.body)
		if err != nil {
			cc.b.logger.Debug("closing connection", "remote", cc.nc.RemoteAddr().String(), "err", err)
		}
		cc.releaseFrame(f)
		if err != nil {
			return
		}
	}
}

// readFrame reads the next request frame. A frame that fits the read
// buffer is returned in place; a larger one reserves its size in the
// broker's request budget and is read in pieces as they arrive.
func (cc *Conn) readFrame() (frame, error) {
	if cc.rbuf == nil {
		cc.rbuf = make([]byte, readBufferSize)
	}
	if err := cc.fill(4); err != nil {
		return frame{}, err
	}
	n := int32(binary.BigEndian.Uint32(cc.rbuf[cc.rpos:]))
	if n < 8 || n > cc.b.cfg.SocketRequestMaxBytes {
		cc.b.metrics.connErrors.WithLabelValues("frame_size").Inc()
		return frame{}, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	cc.b.metrics.bytesIn.Add(float64(4 + n))
	if total := 4 + int(n); total <= len(cc.rbuf) {
		if err := cc.fill(total); err != nil {
			return frame{}, err
		}
		body := cc.rbuf[cc.rpos+4 : cc.rpos+total : cc.rpos+total]
		cc.rpos += total
		return frame{body: body}, nil
	}
	cc.rpos += 4
	return cc.readLarge(int(n))
}

// readLarge reads a frame body of n bytes that does not fit the read
// buffer. Up to maxPooledBody the body comes from a pool; above, it is read
// in pooled chunks (readChunked), so memory follows what the client sent,
// never what it promised. The request budget is reserved the same way: the
// bytes sent plus budgetWindow, as they arrive.
func (cc *Conn) readLarge(n int) (frame, error) {
	// Responses held for pipelining go out before the budget may make
	// this connection wait.
	if err := cc.flush(); err != nil {
		return frame{}, err
	}
	var f frame
	// reserve makes f hold at least upto bytes of the budget.
	reserve := func(upto int) bool {
		d := int64(upto) - f.reserved
		if d <= 0 {
			return true
		}
		if !cc.b.reqBudget.acquire(cc, d) {
			return false
		}
		f.reserved += d
		cc.b.metrics.queuedRequestBytes.Add(float64(d))
		return true
	}
	k := min(cc.rend-cc.rpos, n)
	if !reserve(min(n, k+budgetWindow)) {
		return frame{}, errStopping
	}
	if n > maxPooledBody {
		return cc.readChunked(&f, n, k, reserve)
	}
	f.pooled = getBody(bodyClass(n))
	body := (*f.pooled)[:0:n]
	body = append(body, cc.rbuf[cc.rpos:cc.rpos+k]...)
	cc.rpos += k
	for len(body) < n {
		if int64(len(body)) >= f.reserved && !reserve(min(n, len(body)+budgetWindow)) {
			f.body = body
			cc.releaseFrame(f)
			return frame{}, errStopping
		}
		m, err := cc.read(body[len(body):min(cap(body), int(f.reserved))])
		body = body[:len(body)+m]
		if err != nil {
			f.body = body
			cc.releaseFrame(f)
			return frame{}, err
		}
	}
	f.body = body
	return f, nil
}

// getBody returns a pooled body buffer of class c.
func getBody(c int) *[]byte {
	if p, _ := bodyPools[c].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, minPooledBody<<c)
	return &b
}

// readChunked reads a body of n > maxPooledBody bytes into pooled chunks of
// maxPooledBody as its bytes arrive, and joins them into one buffer of n
// bytes once the last has come. A frame read in part holds what its client
// sent (rounded up to a chunk) and nothing more; growing one buffer by
// doubling held up to twice that, and left as much again as garbage, for
// every frame being read (a soak holding queued.max.request.bytes in two
// frames took the broker past 512 MiB RSS). reserve grows f's reservation
// (readLarge's closure over f).
func (cc *Conn) readChunked(f *frame, n, k int, reserve func(int) bool) (frame, error) {
	class := bodyClass(maxPooledBody)
	var chunks []*[]byte
	defer func() {
		for _, c := range chunks {
			bodyPools[class].Put(c)
		}
	}()
	got := 0
	for got < n {
		if got == len(chunks)*maxPooledBody {
			chunks = append(chunks, getBody(class))
		}
		chunk, off := *chunks[len(chunks)-1], got%maxPooledBody
		if k > 0 { // what the read buffer already holds (k < maxPooledBody)
			got += copy(chunk[off:], cc.rbuf[cc.rpos:cc.rpos+k])
			cc.rpos += k
			k = 0
			continue
		}
		if int64(got) >= f.reserved && !reserve(min(n, got+budgetWindow)) {
			cc.releaseFrame(*f)
			return frame{}, errStopping
		}
		m, err := cc.read(chunk[off:min(maxPooledBody, off+int(f.reserved)-got)])
		got += m
		if err != nil {
			cc.releaseFrame(*f)
			return frame{}, err
		}
	}
	f.body = make([]byte, n)
	for i, c := range chunks {
		copy(f.body[i*maxPooledBody:], *c)
	}
	return *f, nil
}

// releaseFrame gives a frame's memory back: budget, pool. A body in rbuf
// needs nothing: the next read writes over it.
func (cc *Conn) releaseFrame(f frame) {
	if poisonReleasedBodies {
		poison(f.body)
	}
	if f.pooled != nil {
		bodyPools[bodyClass(cap(*f.pooled))].Put(f.pooled)
	}
	if f.reserved > 0 {
		cc.b.reqBudget.release(cc, f.reserved)
		cc.b.metrics.queuedRequestBytes.Sub(float64(f.reserved))
	}
}

// poisonReleasedBodies makes every released request body be overwritten,
// so that bytes a handler kept past its request show up as garbage in
// tests (reuse after release) instead of passing by luck.
var poisonReleasedBodies = false

func poison(b []byte) {
	for i := range b {
		b[i] = 0xA5
	}
}

// fill reads until rbuf holds at least k unconsumed bytes (k <= len(rbuf)),
// moving the unconsumed bytes to the front first when they would not fit.
func (cc *Conn) fill(k int) error {
	if cc.rend-cc.rpos >= k {
		return nil
	}
	if cc.rpos+k > len(cc.rbuf) {
		if poisonReleasedBodies {
			poison(cc.rbuf[:cc.rpos])
		}
		cc.rend = copy(cc.rbuf, cc.rbuf[cc.rpos:cc.rend])
		cc.rpos = 0
	} else if cc.rpos == cc.rend {
		cc.rpos, cc.rend = 0, 0
	}
	for cc.rend-cc.rpos < k {
		m, err := cc.read(cc.rbuf[cc.rend:])
		cc.rend += m
		if err != nil {
			return err
		}
	}
	return nil
}

// read is one read from the socket under the idle deadline
// (connections.max.idle.ms). The deadline is moved at most every 1/16 of
// the idle time and set 1/16 beyond it, so that a connection closes between
// idle and 17/16 idle after its last byte, without a timer update per read.
// A partial request header idles out like no request at all.
func (cc *Conn) read(p []byte) (int, error) {
	if idle := cc.b.cfg.ConnectionsMaxIdle; idle > 0 {
		if now := time.Now(); now.Sub(cc.deadlineAt) > idle/16 {
			_ = cc.nc.SetReadDeadline(now.Add(idle + idle/16))
			cc.deadlineAt = now
			if cc.stopping.Load() {
				return 0, errStopping
			}
		}
	}
	if err := cc.flush(); err != nil {
		return 0, err
	}
	n, err := cc.nc.Read(p)
	if n > 0 {
		err = nil // the bytes count; the error comes back on the next read
	}
	return n, err
}

// requestHeader is a decoded request header (v1 or v2).
type requestHeader struct {
	key, version int16
	correlation  int32
	clientID     *string
}

// parseRequest decodes a request frame (without its size prefix) into its
// header and body with kmsg, into a new request that owns copies of every
// string and shares byte fields with frame. It returns the header even when
// the body is not decoded: an ApiVersions request of a version above ours
// is answered without decoding its body (KIP-511), returned as a nil
// request.
func parseRequest(frame []byte) (requestHeader, kmsg.Request, error) {
	r := kbin.Reader{Src: frame}
	h := requestHeader{key: r.Int16(), version: r.Int16(), correlation: r.Int32(), clientID: r.NullableString()}
	if !r.Ok() {
		return h, nil, fmt.Errorf("%w: short header", errBadFrame)
	}
	req, err := decodeBody(&h, r.Src, nil, false)
	return h, req, err
}

// decodeBody decodes the body after the client id: header tags (flexible
// versions), then the request, into reuse when it is of the right key, with
// strings sharing src when unsafe.
func decodeBody(h *requestHeader, src []byte, reuse kmsg.Request, unsafe bool) (kmsg.Request, error) {
	a, ok := lookupAPI(h.key)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported api key %d", errBadFrame, h.key)
	}
	if h.version < a.minVersion || h.version > a.maxVersion {
		if h.key == kmsg.ApiVersions.Int16() && h.version > a.maxVersion {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s version %d outside %d-%d", errBadFrame, kmsg.NameForKey(h.key), h.version, a.minVersion, a.maxVersion)
	}
	req := reuse
	if req == nil {
		req = kmsg.RequestForKey(h.key)
	}
	req.SetVersion(h.version)
	if req.IsFlexible() {
		if len(src) > 0 && src[0] == 0 {
			src = src[1:] // no header tags, what clients send (no Reader to allocate)
		} else {
			r := kbin.Reader{Src: src}
			kmsg.SkipTags(&r)
			if !r.Ok() {
				return nil, fmt.Errorf("%w: bad header tags", errBadFrame)
			}
			src = r.Src
		}
	}
	var err error
	if ur, ok := req.(kmsg.UnsafeReadFrom); ok && unsafe {
		err = ur.UnsafeReadFrom(src)
	} else {
		err = req.ReadFrom(src)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decoding %s v%d: %v", errBadFrame, kmsg.NameForKey(h.key), h.version, err)
	}
	return req, nil
}

// parse decodes one request of this connection. How depends on what the
// API's handler keeps (bodyUse): Produce and Fetch decode into the
// connection's reused requests with strings and bytes borrowed from the
// body; an API whose request has no byte fields decodes where it lies with
// strings copied; any other (JoinGroup, SyncGroup: their handlers keep
// member metadata and assignments) decodes from its own copy of the body.
func (cc *Conn) parse(body []byte) (requestHeader, kmsg.Request, error) {
	var h requestHeader
	if len(body) < 10 {
		return h, nil, fmt.Errorf("%w: short header", errBadFrame)
	}
	h.key = int16(binary.BigEndian.Uint16(body))
	h.version = int16(binary.BigEndian.Uint16(body[2:]))
	h.correlation = int32(binary.BigEndian.Uint32(body[4:]))
	idLen := int(int16(binary.BigEndian.Uint16(body[8:])))
	src := body[10:]
	switch {
	case idLen < -1 || idLen > len(src):
		return h, nil, fmt.Errorf("%w: short header", errBadFrame)
	case idLen == -1:
		cc.clientID = ""
	default:
		if id := src[:idLen]; string(id) != cc.clientID { // no allocation when unchanged
			cc.clientID = string(id)
		}
		src = src[idLen:]
		h.clientID = &cc.clientID
	}
	var (
		reuse  kmsg.Request
		unsafe bool
	)
	switch useOf(h.key) {
	case bodyBorrowed:
		unsafe = true
		switch h.key {
		case kmsg.Produce.Int16():
			topics := cc.produceReq.Topics[:0]
			cc.produceReq = kmsg.ProduceRequest{Topics: topics}
			reuse = &cc.produceReq
		case kmsg.Fetch.Int16():
			topics := cc.fetchReq.Topics[:0]
			cc.fetchReq = kmsg.FetchRequest{Topics: topics}
			reuse = &cc.fetchReq
		}
	case bodyCopied:
		src = bytes.Clone(src)
	}
	req, err := decodeBody(&h, src, reuse, unsafe)
	return h, req, err
}

// handle decodes and serves one request, and writes its response.
// A returned error closes the connection.
func (cc *Conn) handle(ctx context.Context, body []byte) error {
	start := time.Now()
	h, req, err := cc.parse(body)
	if err != nil {
		cc.b.metrics.connErrors.WithLabelValues("malformed").Inc()
		return err
	}
	am := cc.b.metrics.forAPI(h.key)
	if h.key != kmsg.Produce.Int16() {
		// Only a Produce lets held responses wait (holdResponse).
		if err := cc.flush(); err != nil {
			return fmt.Errorf("writing responses before %s: %w", kmsg.NameForKey(h.key), err)
		}
	}
	var resp kmsg.Response
	if req == nil { // ApiVersions above our range: v0 answer with UNSUPPORTED_VERSION
		resp = unsupportedApiVersions()
	} else {
		a, _ := lookupAPI(h.key)
		resp, err = a.handle(ctx, cc.b, cc, req)
		if err != nil {
			cc.b.metrics.connErrors.WithLabelValues("handler").Inc()
			return fmt.Errorf("handling %s v%d: %w", kmsg.NameForKey(h.key), h.version, err)
		}
	}
	switch r := resp.(type) {
	case nil: // acks=0
	case *fetchResponse:
		err = cc.writeFetch(r, h.correlation)
	default:
		err = cc.writeResponse(resp, h.correlation)
	}
	am.requests.Inc()
	am.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("writing %s response: %w", kmsg.NameForKey(h.key), err)
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

// fetchResponse returns the connection's Fetch response, emptied for a
// request of the given version; its slices keep their capacity.
func (cc *Conn) fetchResponse(version int16) *fetchResponse {
	kr := &cc.fetchKResp
	*kr = kmsg.FetchResponse{Version: version, Topics: kr.Topics[:0]}
	cc.fetchResp.FetchResponse = kr
	cc.fetchResp.records = cc.fetchResp.records[:0]
	return &cc.fetchResp
}

// watchPeer returns a context that ends with ctx or when the client closes
// its end of the connection, for a handler that waits (a Fetch long poll).
// stop ends the watch; it must be called before the connection reads again.
//
// Clients do pipeline: franz-go and librdkafka may send further requests
// on a connection whose Fetch is waiting, and Kafka, like this broker,
// reads them only after the response (the connection is muted). So the
// watch cannot read from the socket to learn of an EOF: it would consume
// those requests. It waits on Go's network poller (edge-triggered epoll,
// which reports EPOLLRDHUP) and asks poll(2) with POLLRDHUP whether the
// peer has shut down, which is true even with unread requests queued.
// Pipelined requests only wake it to look again. A peer that merely shut
// down its sending side still gets its answer: the Fetch answers at once
// and the next read sees the EOF.
func (cc *Conn) watchPeer(ctx context.Context) (_ context.Context, stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	if cc.raw == nil {
		return wctx, cancel
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cc.raw.Read(func(fd uintptr) bool {
			fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
			for {
				n, err := unix.Poll(fds[:], 0)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
					cancel()
					return true
				}
				return false // park until the next event; stop's deadline ends it
			}
		})
	}()
	return wctx, func() {
		cancel()
		_ = cc.nc.SetReadDeadline(time.Unix(1, 0)) // wakes the watch
		<-done
		// The next read sets the idle deadline again and checks stopping.
		cc.deadlineAt = time.Time{}
		if cc.b.cfg.ConnectionsMaxIdle <= 0 {
			_ = cc.nc.SetReadDeadline(time.Time{})
			if cc.stopping.Load() {
				_ = cc.nc.SetReadDeadline(time.Unix(1, 0))
			}
		}
	}
}
