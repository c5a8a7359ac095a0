package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// The misbehaving client mix of the abuse experiment: every client speaks
// raw Kafka (kmsg requests framed by hand) over its own TCP connections,
// from its own loopback source address (127.0.0.0/8 all reaches lo), so
// that max.connections.per.ip is met by the client meant to meet it and not
// by the well-behaved pair on 127.0.0.1. Each class runs until the phase's
// context ends, then closes everything it holds.

// mixClass names one kind of misbehaviour.
type mixClass string

const (
	classSlowSilent      mixClass = "slowloris_silent"   // 2 bytes of a size prefix, then nothing
	classSlowTrickle     mixClass = "slowloris_trickle"  // a socket.request.max.bytes prefix, then a byte now and then
	classBudgetFill      mixClass = "budget_fill"        // queued.max.request.bytes of real bytes, then a byte now and then
	classLongPoll        mixClass = "abandoned_longpoll" // Fetch, max wait, then close or never read
	classBomb            mixClass = "bombs"              // decompression and allocation bombs, oversized prefixes
	classFloodPerIP      mixClass = "flood_per_ip"       // connections past max.connections.per.ip
	classFloodTotal      mixClass = "flood_total"        // connections past max.connections, from many addresses
	classGroupChurn      mixClass = "group_churn"        // join, sync, leave, rejoin; bogus member ids
	classJoinStorm       mixClass = "join_storm"         // first joins only: pending members (KIP-394)
	classMalformed       mixClass = "malformed"          // garbage, unknown keys and versions, truncated bodies
	outcomeClosed                 = "closed_by_broker"
	outcomeRefused                = "refused_at_accept"
	outcomeHeld                   = "held"
	outcomeAnswered               = "answered"
	outcomeDialFailed             = "dial_failed"
	outcomeIdleClosed             = "idle_closed"
	outcomeBudgetHeld             = "budget_reserved"
	outcomeFetchReturned          = "fetch_returned"
	outcomeTimeout                = "no_answer_before_phase_end"
)

// source addresses of the classes; the pair uses 127.0.0.1. flood_total
// uses 127.0.1.0/24.
var classSource = map[mixClass]netip.Addr{
	classSlowSilent:  netip.MustParseAddr("127.0.0.3"),
	classSlowTrickle: netip.MustParseAddr("127.0.0.4"),
	classBudgetFill:  netip.MustParseAddr("127.0.0.11"),
	classLongPoll:    netip.MustParseAddr("127.0.0.5"),
	classBomb:        netip.MustParseAddr("127.0.0.6"),
	classFloodPerIP:  netip.MustParseAddr("127.0.0.7"),
	classGroupChurn:  netip.MustParseAddr("127.0.0.8"),
	classJoinStorm:   netip.MustParseAddr("127.0.0.9"),
	classMalformed:   netip.MustParseAddr("127.0.0.10"),
}

// outcomes counts what each class's attempts came to, by class and outcome
// (a Kafka error name, or one of the outcome* strings); safe for concurrent
// use.
type outcomes struct {
	mu sync.Mutex
	m  map[mixClass]map[string]int64
}

func newOutcomes() *outcomes { return &outcomes{m: map[mixClass]map[string]int64{}} }

func (o *outcomes) add(c mixClass, outcome string, n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[c] == nil {
		o.m[c] = map[string]int64{}
	}
	o.m[c][outcome] += n
}

func (o *outcomes) errCode(c mixClass, code int16) {
	if code == 0 {
		o.add(c, outcomeAnswered, 1)
		return
	}
	o.add(c, kerr.ErrorForCode(code).(*kerr.Error).Message, 1)
}

func (o *outcomes) snapshot() map[string]map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]map[string]int64{}
	for c, m := range o.m {
		out[string(c)] = map[string]int64{}
		for k, v := range m {
			out[string(c)][k] = v
		}
	}
	return out
}

// rawConn is one hand-driven Kafka connection.
type rawConn struct {
	nc   net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
	buf  []byte
}

func dialFrom(ctx context.Context, src netip.Addr, addr string) (*rawConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The phase's end closes every connection, ending any read or write
	// blocked on it.
	context.AfterFunc(ctx, func() { nc.Close() })
	return &rawConn{nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("abuse"))}, nil
}

func (c *rawConn) Close() error { return c.nc.Close() }

// send writes req at version v.
func (c *rawConn) send(req kmsg.Request, v int16) error {
	req.SetVersion(v)
	c.corr++
	c.buf = c.fmt.AppendRequest(c.buf[:0], req, c.corr)
	_, err := c.nc.Write(c.buf)
	return err
}

// recv reads one response into resp (whose version must be set); it
// returns io.EOF-like errors when the broker closed the connection.
func (c *rawConn) recv(resp kmsg.Response) error {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return err
	}
	if len(body) < 4 {
		return errors.New("short response")
	}
	body = body[4:] // correlation id
	// Flexible responses have a tag buffer in their header, except
	// ApiVersions (KIP-511).
	if resp.IsFlexible() && resp.Key() != 18 {
		r := kbin.Reader{Src: body}
		for range r.Uvarint() {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if err := r.Complete(); err != nil && len(r.Src) == 0 {
			return err
		}
		body = r.Src
	}
	return resp.ReadFrom(body)
}

// roundTrip sends req at version v and reads its response.
func (c *rawConn) roundTrip(req kmsg.Request, v int16, deadline time.Time) (kmsg.Response, error) {
	if err := c.send(req, v); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	_ = c.nc.SetReadDeadline(deadline)
	return resp, c.recv(resp)
}

// outcome sends req at version v and names what came of it: the failed
// round trip (closedOr), the error code that code finds in the response,
// or a malformed response where code finds none.
func (c *rawConn) outcome(req kmsg.Request, v int16, deadline time.Time, code func(kmsg.Response) (int16, bool)) string {
	resp, err := c.roundTrip(req, v, deadline)
	if err != nil {
		return closedOr(err)
	}
	if ec, ok := code(resp); ok {
		return errName(ec)
	}
	return "malformed response"
}

// closedByPeer reports whether the broker has closed c: a read that ends
// in EOF or a reset before deadline.
func (c *rawConn) closedByPeer(deadline time.Time) bool {
	return c.peerState(deadline) == outcomeClosed
}

// peerState reads from c until deadline: outcomeClosed when the broker
// closed it, outcomeAnswered when bytes came, outcomeTimeout when nothing.
func (c *rawConn) peerState(deadline time.Time) string {
	_ = c.nc.SetReadDeadline(deadline)
	var b [1]byte
	n, err := c.nc.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		return outcomeAnswered
	case errors.As(err, &ne) && ne.Timeout():
		return outcomeTimeout
	default:
		return outcomeClosed
	}
}

// mixLimits is what the mix aims at (the broker's configured bounds) and
// how hard.
type mixLimits struct {
	AbuseLimits
	AbuseMix
	addr       string
	abuseTopic string
	pairGroup  string
}

// runMix runs every class until ctx ends and returns when all have closed
// what they hold.
func runMix(ctx context.Context, l mixLimits, seed uint64, out *outcomes) {
	var wg sync.WaitGroup
	spawn := func(n int, f func(ctx context.Context, rng *rand.Rand)) {
		for i := range n {
			wg.Add(1)
			rng := rand.New(rand.NewPCG(seed, uint64(i)+uint64(len(classSource))<<32))
			seed++
			go func() { defer wg.Done(); f(ctx, rng) }()
		}
	}
	spawn(1, func(ctx context.Context, _ *rand.Rand) { slowSilent(ctx, l, out) })
	spawn(1, func(ctx context.Context, _ *rand.Rand) { slowTrickle(ctx, l, out) })
	spawn(1, func(ctx context.Context, _ *rand.Rand) { budgetFill(ctx, l, out) })
	spawn(1, func(ctx context.Context, rng *rand.Rand) { longPolls(ctx, l, rng, out) })
	spawn(2, func(ctx context.Context, rng *rand.Rand) { bombs(ctx, l, rng, out) })
	spawn(1, func(ctx context.Context, _ *rand.Rand) { floodPerIP(ctx, l, out) })
	spawn(1, func(ctx context.Context, _ *rand.Rand) { floodTotal(ctx, l, out) })
	spawn(l.ChurnMembers, func(ctx context.Context, rng *rand.Rand) { groupChurn(ctx, l, rng, out) })
	spawn(1, func(ctx context.Context, rng *rand.Rand) { joinStorm(ctx, l, rng, out) })
	spawn(2, func(ctx context.Context, rng *rand.Rand) { malformed(ctx, l, rng, out) })
	wg.Wait()
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// holdAll keeps conns open until ctx ends, then closes them.
type held struct {
	mu    sync.Mutex
	conns []*rawConn
}

func (h *held) add(c *rawConn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
}

func (h *held) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// keepConns runs n goroutines, each dialing from class's address and
// handing the connection to hold, which returns when it is done with it;
// until ctx ends.
func keepConns(ctx context.Context, n int, class mixClass, l mixLimits, out *outcomes, hold func(c *rawConn)) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dialFrom(ctx, classSource[class], l.addr)
				if err != nil {
					out.add(class, outcomeDialFailed, 1)
					sleep(ctx, time.Second)
					continue
				}
				hold(c)
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// slowSilent keeps SilentConns connections that sent two bytes of a size
// prefix and nothing more; each must be closed by the broker after
// connections.max.idle.ms (a partial header idles out like no request),
// and is replaced.
func slowSilent(ctx context.Context, l mixLimits, out *outcomes) {
	keepConns(ctx, l.SilentConns, classSlowSilent, l, out, func(c *rawConn) {
		_, _ = c.nc.Write([]byte{0, 0})
		done := make(chan bool, 1)
		go func() { done <- c.closedByPeer(time.Time{}) }()
		select {
		case <-done:
			out.add(classSlowSilent, outcomeIdleClosed, 1)
		case <-ctx.Done():
			out.add(classSlowSilent, outcomeHeld, 1)
		}
	})
}

// slowTrickle keeps TrickleConns connections that each promise a frame of
// socket.request.max.bytes and send one byte every TrickleEvery (below
// connections.max.idle.ms, so the idle timeout never fires): each may hold
// budgetWindow (64 KiB) of queued.max.request.bytes, not the promise.
func slowTrickle(ctx context.Context, l mixLimits, out *outcomes) {
	keepConns(ctx, l.TrickleConns, classSlowTrickle, l, out, func(c *rawConn) {
		err := trickle(ctx, c, l, binary.BigEndian.AppendUint32(nil, uint32(l.RequestMaxBytes)), 0)
		out.add(classSlowTrickle, outcomeBudgetHeld, 1)
		if err != nil && ctx.Err() == nil {
			out.add(classSlowTrickle, outcomeClosed, 1)
		}
	})
}

// trickle writes first, then a byte every TrickleEvery until ctx ends, a
// write fails or, if set, hold has passed.
func trickle(ctx context.Context, c *rawConn, l mixLimits, first []byte, hold time.Duration) error {
	_, err := c.nc.Write(first)
	for t0 := time.Now(); err == nil && (hold == 0 || time.Since(t0) < hold) && sleep(ctx, l.TrickleEvery); {
		_, err = c.nc.Write([]byte{0})
	}
	return err
}

// budgetFill keeps queued.max.request.bytes spent with real bytes:
// BudgetFillers connections each send their share of it (plus a window) of
// a socket.request.max.bytes frame, hold it FillHold sending a byte now and
// then, close, and start again after FillHold. While they hold it, larger
// requests of every client wait to be read (one at a time goes over, the
// overdraft); the broker's memory for them stays bounded.
func budgetFill(ctx context.Context, l mixLimits, out *outcomes) {
	share := int(l.QueuedMaxBytes)/max(1, l.BudgetFillers) + 64<<10
	keepConns(ctx, l.BudgetFillers, classBudgetFill, l, out, func(c *rawConn) {
		frame := binary.BigEndian.AppendUint32(nil, uint32(l.RequestMaxBytes))
		frame = append(frame, make([]byte, share)...)
		err := trickle(ctx, c, l, frame, l.FillHold)
		switch {
		case err == nil:
			out.add(classBudgetFill, "sent_share_then_held", 1)
		case ctx.Err() == nil:
			out.add(classBudgetFill, outcomeClosed, 1)
		}
		c.Close()
		sleep(ctx, l.FillHold)
	})
}

// longPolls sends Fetches that wait as long as a client may ask
// (MaxWaitMillis 2^31-1, MinBytes 2^31-1) on a partition nobody writes,
// then either closes at once (the broker must notice and end the wait) or
// keeps the connection without ever reading (the broker answers at
// brokerlab.fetch.max.wait.ms into the socket buffer; the connection then
// idles out). At most LongPolls are open at a time.
func longPolls(ctx context.Context, l mixLimits, rng *rand.Rand, out *outcomes) {
	var h held
	defer h.closeAll()
	sem := make(chan struct{}, l.LongPolls)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		c, err := dialFrom(ctx, classSource[classLongPoll], l.addr)
		if err != nil {
			out.add(classLongPoll, outcomeDialFailed, 1)
			<-sem
			sleep(ctx, time.Second)
			continue
		}
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = math.MaxInt32
		req.MinBytes = math.MaxInt32
		req.MaxBytes = math.MaxInt32
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = l.abuseTopic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset = 0 // the partition stays empty: the wait is the whole max wait
		fp.PartitionMaxBytes = math.MaxInt32
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		if err := c.send(req, 11); err != nil {
			out.add(classLongPoll, outcomeClosed, 1)
			c.Close()
			<-sem
			continue
		}
		if rng.IntN(2) == 0 {
			// Abandoned: the client goes away mid-wait.
			c.Close()
			out.add(classLongPoll, "sent_then_closed", 1)
			<-sem
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		// Never read: the broker answers into the socket buffer at its
		// wait cap, then closes the silent connection after the idle time.
		out.add(classLongPoll, "sent_never_read", 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			done := make(chan struct{})
			go func() {
				defer close(done)
				// Wait for the broker to close the silent connection; the
				// response stays unread.
				for ctx.Err() == nil {
					if !sleep(ctx, l.FetchMaxWait/2) {
						return
					}
					if closed, _ := unreadClosed(c); closed {
						out.add(classLongPoll, outcomeIdleClosed, 1)
						return
					}
				}
			}()
			select {
			case <-done:
			case <-ctx.Done():
				<-done
			}
			c.Close()
		}()
	}
}

// unreadClosed reports whether the broker closed c, without reading what
// it sent before: poll(2) for POLLRDHUP, which the peer's FIN raises
// whatever is still unread.
func unreadClosed(c *rawConn) (bool, error) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return false, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false, err
	}
	closed := false
	err = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, perr := unix.Poll(fds, 0); perr == nil && n == 1 {
			closed = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return closed, err
}

// bombs sends, over and over at BombsPerSecond (both goroutines together),
// requests that ask the broker to allocate or decompress far more than
// its bounds allow, and records each answer. Every kind must be refused by
// its bound: a Kafka error or the connection closed.
func bombs(ctx context.Context, l mixLimits, rng *rand.Rand, out *outcomes) {
	kinds := bombKinds(l)
	var c *rawConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	every := time.Duration(float64(2*time.Second) / l.BombsPerSecond)
	for i := rng.IntN(len(kinds)); sleep(ctx, every); i++ {
		k := kinds[i%len(kinds)]
		fresh := c == nil
		if fresh {
			var err error
			if c, err = dialFrom(ctx, classSource[classBomb], l.addr); err != nil {
				out.add(classBomb, outcomeDialFailed, 1)
				continue
			}
		}
		oc := k.send(c, time.Now().Add(l.FetchMaxWait))
		if ctx.Err() != nil {
			return // cut by the phase's end: no outcome
		}
		if fresh && oc == outcomeClosed && k.name != "size_prefix_over_request_max" && k.name != "negative_size_prefix" {
			oc = outcomeRefused // a new connection closed before its first answer: max.connections
		}
		out.add(classBomb, k.name+": "+oc, 1)
		if oc == outcomeClosed || oc == outcomeTimeout {
			c.Close()
			c = nil
		}
	}
}

type bombKind struct {
	name string
	send func(c *rawConn, deadline time.Time) string
}

// bombKinds builds the bombs once: compressed batches are made here, not
// per send.
func bombKinds(l mixLimits) []bombKind {
	// One record of DecompressedMax+1 zero bytes: a few hundred bytes of
	// zstd, ~16 KiB of gzip per 16 MiB.
	big := make([]byte, l.DecompressedMax+1)
	zbomb := recordBatch(zstdCompress(oneRecord(big)), 1, 4)
	gbomb := recordBatch(gzipCompress(oneRecord(big)), 1, 1)
	// A batch over message.max.bytes, uncompressed (a real frame of that
	// size: it takes its share of queued.max.request.bytes while read).
	tooBig := recordBatch(oneRecord(make([]byte, l.MessageMax)), 1, 0)
	produce := func(name string, batch []byte) bombKind {
		return bombKind{name, func(c *rawConn, deadline time.Time) string {
			req := kmsg.NewPtrProduceRequest()
			req.Acks = -1
			req.TimeoutMillis = 30000
			t := kmsg.NewProduceRequestTopic()
			t.Topic = l.abuseTopic
			p := kmsg.NewProduceRequestTopicPartition()
			p.Records = batch
			t.Partitions = append(t.Partitions, p)
			req.Topics = append(req.Topics, t)
			return c.outcome(req, 7, deadline, func(resp kmsg.Response) (int16, bool) {
				r := resp.(*kmsg.ProduceResponse)
				if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
					return r.Topics[0].Partitions[0].ErrorCode, true
				}
				return 0, false
			})
		}}
	}
	return []bombKind{
		produce("zstd_bomb", zbomb),
		produce("gzip_bomb", gbomb),
		produce("batch_over_message_max", tooBig),
		{"size_prefix_over_request_max", func(c *rawConn, deadline time.Time) string {
			return sizePrefixOnly(c, deadline, uint32(l.RequestMaxBytes)+1)
		}},
		{"negative_size_prefix", func(c *rawConn, deadline time.Time) string {
			return sizePrefixOnly(c, deadline, 0x80000000)
		}},
		{"join_metadata_over_max", func(c *rawConn, deadline time.Time) string {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group = "abuse-bomb"
			req.SessionTimeoutMillis = 10000
			req.RebalanceTimeoutMillis = 10000
			req.ProtocolType = "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			p.Metadata = make([]byte, l.GroupMetadataMax+1)
			req.Protocols = append(req.Protocols, p)
			return c.outcome(req, 5, deadline, func(resp kmsg.Response) (int16, bool) {
				return resp.(*kmsg.JoinGroupResponse).ErrorCode, true
			})
		}},
		{"create_topics_2^31-1_partitions", func(c *rawConn, deadline time.Time) string {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 30000
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic = "abuse-huge"
			t.NumPartitions = math.MaxInt32
			t.ReplicationFactor = 1
			req.Topics = append(req.Topics, t)
			return c.outcome(req, 4, deadline, func(resp kmsg.Response) (int16, bool) {
				r := resp.(*kmsg.CreateTopicsResponse)
				if len(r.Topics) == 1 {
					return r.Topics[0].ErrorCode, true
				}
				return 0, false
			})
		}},
		{"group_id_over_32767", func(c *rawConn, deadline time.Time) string {
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Offset = 999999
			return commitOne(c, deadline, string(bytes.Repeat([]byte("g"), 40000)), l.abuseTopic, p)
		}},
		{"commit_metadata_over_max", func(c *rawConn, deadline time.Time) string {
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Offset = 0
			md := string(make([]byte, l.OffsetMetadataMax+1))
			p.Metadata = &md
			return commitOne(c, deadline, "abuse-bomb-commit", l.abuseTopic, p)
		}},
	}
}

// sizePrefixOnly writes a request's size prefix, size, and nothing after
// it: the broker must close the connection by deadline rather than wait
// for (or allocate) the body.
func sizePrefixOnly(c *rawConn, deadline time.Time, size uint32) string {
	if _, err := c.nc.Write(binary.BigEndian.AppendUint32(nil, size)); err != nil {
		return outcomeClosed
	}
	if c.closedByPeer(deadline) {
		return outcomeClosed
	}
	return outcomeTimeout
}

// commitOne commits p of topic for group outside any generation (-1),
// OffsetCommit v8, and names the partition's outcome.
func commitOne(c *rawConn, deadline time.Time, group, topic string, p kmsg.OffsetCommitRequestTopicPartition) string {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return c.outcome(req, 8, deadline, func(resp kmsg.Response) (int16, bool) {
		r := resp.(*kmsg.OffsetCommitResponse)
		if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
			return r.Topics[0].Partitions[0].ErrorCode, true
		}
		return 0, false
	})
}

func errName(code int16) string {
	if code == 0 {
		return "accepted"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return "error " + strconv.Itoa(int(code))
}

// closedOr names a failed round trip: no answer in time, the connection
// closed (EOF, reset, or by the phase's end), or a response that did not
// decode.
func closedOr(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return outcomeTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return outcomeClosed
	default:
		return "bad response"
	}
}

// oneRecord encodes one v2 record (no key, no headers) with value v.
func oneRecord(v []byte) []byte {
	var body []byte
	body = append(body, 0)             // attributes
	body = kbin.AppendVarint(body, 0)  // timestamp delta
	body = kbin.AppendVarint(body, 0)  // offset delta
	body = kbin.AppendVarint(body, -1) // key: null
	body = kbin.AppendVarint(body, int32(len(v)))
	body = append(body, v...)
	body = kbin.AppendVarint(body, 0) // headers
	return append(kbin.AppendVarint(nil, int32(len(body))), body...)
}

// recordBatch frames records as a v2 batch with codec (attributes bits
// 0-2: 0 none, 1 gzip, 4 zstd), its length and CRC-32C filled in.
func recordBatch(records []byte, n int32, codec int16) []byte {
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		Magic: 2, Attributes: codec, LastOffsetDelta: n - 1, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: records,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))                                          // Length: after FirstOffset and itself
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))) // CRC from Attributes on
	return b
}

func zstdCompress(b []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		panic(err) // only bad options fail
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func gzipCompress(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// floodPerIP opens connections from one address until the broker refuses
// them (max.connections.per.ip plus FloodExtra), holds them a while, closes
// them, and starts again.
func floodPerIP(ctx context.Context, l mixLimits, out *outcomes) {
	for ctx.Err() == nil {
		flood(ctx, []netip.Addr{classSource[classFloodPerIP]}, l.MaxConnectionsPerIP+l.FloodExtra, l, classFloodPerIP, out)
		if !sleep(ctx, l.FloodPause) {
			return
		}
	}
}

// floodTotal opens connections from as many addresses as it takes, each
// below max.connections.per.ip, past max.connections; holds them
// FloodHold, closes them, and waits FloodTotalEvery. While it holds them,
// new connections of every client are refused: the well-behaved pair keeps
// the ones it has.
func floodTotal(ctx context.Context, l mixLimits, out *outcomes) {
	var srcs []netip.Addr
	per := max(1, l.MaxConnectionsPerIP-1)
	for i := 0; len(srcs)*per < l.MaxConnections+l.FloodExtra && i < 250; i++ {
		srcs = append(srcs, netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}))
	}
	for sleep(ctx, l.FloodTotalEvery) {
		flood(ctx, srcs, l.MaxConnections+l.FloodExtra, l, classFloodTotal, out)
	}
}

// flood opens n connections round-robin over srcs, each checked for an
// immediate close (refused at accept), holds the rest for FloodHold, then
// closes all.
func flood(ctx context.Context, srcs []netip.Addr, n int, l mixLimits, class mixClass, out *outcomes) {
	var h held
	defer h.closeAll()
	per := max(1, l.MaxConnectionsPerIP-1)
	var opened []*rawConn
	for i := 0; i < n && ctx.Err() == nil; i++ {
		src := srcs[0]
		if len(srcs) > 1 {
			src = srcs[(i/per)%len(srcs)]
		}
		c, err := dialFrom(ctx, src, l.addr)
		if err != nil {
			out.add(class, outcomeDialFailed, 1)
			continue
		}
		h.add(c)
		opened = append(opened, c)
	}
	// A refused connection is accepted and closed at once: look for the
	// EOF; the held ones answer an ApiVersions.
	refused, kept := 0, 0
	for _, c := range opened {
		if ctx.Err() != nil {
			break
		}
		if _, err := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 0, time.Now().Add(5*time.Second)); err != nil {
			refused++
		} else {
			kept++
		}
	}
	out.add(class, outcomeRefused, int64(refused))
	out.add(class, outcomeHeld, int64(kept))
	sleep(ctx, l.FloodHold)
}

// groupChurn is one churning member: join (MEMBER_ID_REQUIRED, then with
// its id), sync, heartbeat, leave or walk away, rejoin; among them
// requests with bogus member ids on its own groups and on the
// well-behaved pair's group, which must change nothing there.
func groupChurn(ctx context.Context, l mixLimits, rng *rand.Rand, out *outcomes) {
	var c *rawConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	deadline := func() time.Time { return time.Now().Add(l.FetchMaxWait) }
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = dialFrom(ctx, classSource[classGroupChurn], l.addr); err != nil {
				out.add(classGroupChurn, outcomeDialFailed, 1)
				sleep(ctx, time.Second)
				continue
			}
		}
		group := "abuse-churn-" + strconv.Itoa(rng.IntN(l.ChurnGroups))
		if rng.IntN(4) == 0 {
			group = fmt.Sprintf("abuse-fresh-%d", rng.Uint64()) // a new empty group every time
		}
		fail := func(err error) {
			if ctx.Err() == nil {
				out.add(classGroupChurn, closedOr(err), 1)
			}
			c.Close()
			c = nil
		}
		// ask sends req at version v; a failed round trip closes the connection.
		ask := func(req kmsg.Request, v int16) (kmsg.Response, bool) {
			resp, err := c.roundTrip(req, v, deadline())
			if err != nil {
				fail(err)
				return nil, false
			}
			return resp, true
		}
		// Bogus member ids first: on this group and on the pair's.
		for _, g := range []string{group, l.pairGroup} {
			bogus := fmt.Sprintf("bogus-%x", rng.Uint64())
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Group, hb.MemberID, hb.Generation = g, bogus, rng.Int32N(5)
			resp, ok := ask(hb, 3)
			if !ok {
				break
			}
			out.add(classGroupChurn, "bogus heartbeat: "+errName(resp.(*kmsg.HeartbeatResponse).ErrorCode), 1)
			if resp, ok = ask(leaveGroupRequest(g, bogus), 3); !ok {
				break
			}
			lr := resp.(*kmsg.LeaveGroupResponse)
			code := lr.ErrorCode
			if code == 0 && len(lr.Members) == 1 {
				code = lr.Members[0].ErrorCode
			}
			out.add(classGroupChurn, "bogus leave: "+errName(code), 1)
			if resp, ok = ask(syncGroupRequest(g, bogus, rng.Int32N(5)), 3); !ok {
				break
			}
			out.add(classGroupChurn, "bogus sync: "+errName(resp.(*kmsg.SyncGroupResponse).ErrorCode), 1)
		}
		if c == nil {
			continue
		}
		// The real churn: join twice (KIP-394), sync, leave or not.
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group = group
		join.SessionTimeoutMillis = int32(l.ChurnSession / time.Millisecond)
		join.RebalanceTimeoutMillis = int32(l.ChurnSession / time.Millisecond)
		join.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		p.Metadata = []byte("abuse")
		join.Protocols = append(join.Protocols, p)
		resp, ok := ask(join, 5)
		if !ok {
			continue
		}
		jr := resp.(*kmsg.JoinGroupResponse)
		if jr.ErrorCode != kerr.MemberIDRequired.Code {
			out.add(classGroupChurn, "first join: "+errName(jr.ErrorCode), 1)
			continue
		}
		join.MemberID = jr.MemberID
		if resp, ok = ask(join, 5); !ok {
			continue
		}
		jr = resp.(*kmsg.JoinGroupResponse)
		out.add(classGroupChurn, "join: "+errName(jr.ErrorCode), 1)
		if jr.ErrorCode != 0 {
			continue
		}
		sy := syncGroupRequest(group, jr.MemberID, jr.Generation)
		if jr.LeaderID == jr.MemberID {
			for _, m := range jr.Members {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID = m.MemberID
				sy.GroupAssignment = append(sy.GroupAssignment, a)
			}
		}
		if resp, ok = ask(sy, 3); !ok {
			continue
		}
		out.add(classGroupChurn, "sync: "+errName(resp.(*kmsg.SyncGroupResponse).ErrorCode), 1)
		if rng.IntN(3) == 0 {
			out.add(classGroupChurn, "walked away", 1) // left to its session timeout
			continue
		}
		if resp, ok = ask(leaveGroupRequest(group, jr.MemberID), 3); !ok {
			continue
		}
		out.add(classGroupChurn, "leave: "+errName(resp.(*kmsg.LeaveGroupResponse).ErrorCode), 1)
	}
}

// syncGroupRequest is a SyncGroup of member at generation in group, with
// no assignments.
func syncGroupRequest(group, member string, generation int32) *kmsg.SyncGroupRequest {
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.MemberID, sy.Generation = group, member, generation
	return sy
}

// leaveGroupRequest is member leaving group (v3 and later: by the members list).
func leaveGroupRequest(group, member string) *kmsg.LeaveGroupRequest {
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	lv.Members = append(lv.Members, m)
	return lv
}

// joinStorm sends first joins only, JoinStormPerSecond of them, each with
// the longest session timeout the broker allows: every one makes a
// pending member (KIP-394) that the broker keeps until that timeout.
func joinStorm(ctx context.Context, l mixLimits, rng *rand.Rand, out *outcomes) {
	var c *rawConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := l.JoinStormPerSecond / 100
	carry := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		carry += per
		for ; carry >= 1; carry-- {
			if c == nil {
				var err error
				if c, err = dialFrom(ctx, classSource[classJoinStorm], l.addr); err != nil {
					out.add(classJoinStorm, outcomeDialFailed, 1)
					continue
				}
			}
			join := kmsg.NewPtrJoinGroupRequest()
			join.Group = "abuse-storm-" + strconv.Itoa(rng.IntN(l.ChurnGroups))
			join.SessionTimeoutMillis = int32(l.GroupMaxSession / time.Millisecond)
			join.RebalanceTimeoutMillis = join.SessionTimeoutMillis
			join.ProtocolType = "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			join.Protocols = append(join.Protocols, p)
			resp, err := c.roundTrip(join, 5, time.Now().Add(l.FetchMaxWait))
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				out.add(classJoinStorm, closedOr(err), 1)
				c.Close()
				c = nil
				continue
			}
			out.add(classJoinStorm, errName(resp.(*kmsg.JoinGroupResponse).ErrorCode), 1)
		}
	}
}

// malformed sends requests the broker cannot take: random bodies behind a
// valid size, unknown API keys, unsupported versions, truncated bodies.
// Each must get an error response or the connection closed, never a hang
// or a crash.
func malformed(ctx context.Context, l mixLimits, rng *rand.Rand, out *outcomes) {
	every := time.Duration(float64(2*time.Second) / l.MalformedPerSecond)
	for sleep(ctx, every) {
		c, err := dialFrom(ctx, classSource[classMalformed], l.addr)
		if err != nil {
			out.add(classMalformed, outcomeDialFailed, 1)
			continue
		}
		var frame []byte
		var name string
		switch k := rng.IntN(4); k {
		case 0:
			name = "random_body"
			frame = make([]byte, 8+rng.IntN(2000))
			for i := range frame {
				frame[i] = byte(rng.Uint32())
			}
		case 1:
			name = "unknown_api_key"
			frame = kbin.AppendInt16(nil, int16(1000+rng.IntN(30000)))
			frame = kbin.AppendInt16(frame, 0)
			frame = kbin.AppendInt32(frame, 1)
			frame = kbin.AppendNullableString(frame, nil)
		case 2:
			name = "unsupported_version"
			frame = kbin.AppendInt16(nil, int16(rng.IntN(48)))
			frame = kbin.AppendInt16(frame, 999)
			frame = kbin.AppendInt32(frame, 1)
			frame = kbin.AppendNullableString(frame, nil)
		default:
			name = "truncated_body"
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(7)
			t := kmsg.NewProduceRequestTopic()
			t.Topic = l.abuseTopic
			p := kmsg.NewProduceRequestTopicPartition()
			p.Records = recordBatch(oneRecord([]byte("x")), 1, 0)
			t.Partitions = append(t.Partitions, p)
			req.Topics = append(req.Topics, t)
			full := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:]
			frame = full[:8+rng.IntN(len(full)-8)]
		}
		frame = append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
		if _, err := c.nc.Write(frame); err != nil {
			out.add(classMalformed, name+": "+outcomeClosed, 1)
			c.Close()
			continue
		}
		// Closed, or an answer (an error response), within the fetch cap.
		if st := c.peerState(time.Now().Add(l.FetchMaxWait)); ctx.Err() == nil {
			out.add(classMalformed, name+": "+st, 1)
		}
		c.Close()
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
