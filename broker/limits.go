package broker

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// This file holds the broker-wide bounds on what clients can make it hold:
// connections (max.connections, max.connections.per.ip) and request bytes
// being read or handled (queued.max.request.bytes). The per-connection ones
// (connections.max.idle.ms, socket.request.max.bytes) live in conn.go.

// requestBudget bounds the request bytes held outside the connections' own
// read buffers, as Kafka's queued.max.request.bytes bounds its MemoryPool
// (SimpleMemoryPool, non-strict): a frame is admitted while any budget is
// left, so one frame larger than the whole budget still gets through alone
// and the bytes held never exceed the limit plus one frame. A frame reserves
// its promised size when its size prefix has been read (as Kafka allocates
// it then), but its memory is allocated only as its bytes arrive. A
// connection waiting for budget is not read from, like Kafka's muted
// channels; small frames that fit the connection's read buffer never wait.
type requestBudget struct {
	limit  int64  // <= 0: no bound (Kafka's -1)
	onWait func() // called when a reader starts to wait; may be nil

	mu     sync.Mutex
	cond   sync.Cond
	used   int64
	closed bool
}

func newRequestBudget(limit int64) *requestBudget {
	rb := &requestBudget{limit: limit}
	rb.cond.L = &rb.mu
	return rb
}

// acquire reserves n bytes, waiting while the budget is spent. It returns
// false once the broker is closing.
func (rb *requestBudget) acquire(n int64) bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.limit > 0 && rb.used >= rb.limit && !rb.closed && rb.onWait != nil {
		rb.onWait()
	}
	for rb.limit > 0 && rb.used >= rb.limit && !rb.closed {
		rb.cond.Wait()
	}
	if rb.closed {
		return false
	}
	rb.used += n
	return true
}

func (rb *requestBudget) release(n int64) {
	rb.mu.Lock()
	rb.used -= n
	rb.mu.Unlock()
	rb.cond.Broadcast()
}

// inUse returns the bytes reserved now.
func (rb *requestBudget) inUse() int64 {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.used
}

// close wakes every waiter; acquire fails from now on.
func (rb *requestBudget) close() {
	rb.mu.Lock()
	rb.closed = true
	rb.mu.Unlock()
	rb.cond.Broadcast()
}

// connLimits counts open connections, in total and per client IP (b.mu held
// by every caller).
type connLimits struct {
	max, perIP int
	total      int
	byIP       map[netip.Addr]int
}

// admit counts a new connection from addr, or returns the reason it is
// refused: "max_connections" or "max_connections_per_ip". Kafka's acceptor
// blocks on max.connections and closes on max.connections.per.ip; here both
// close the new connection at once, so that a client over the limit learns
// it (a refused connect) instead of waiting unseen in the listen backlog,
// and so that the connections already open keep being served.
func (l *connLimits) admit(ip netip.Addr) string {
	if l.total >= l.max {
		return "max_connections"
	}
	if l.byIP[ip] >= l.perIP {
		return "max_connections_per_ip"
	}
	l.total++
	l.byIP[ip]++
	return ""
}

func (l *connLimits) remove(ip netip.Addr) {
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// remoteIP returns the IP of a connection's peer; the zero Addr for a
// non-IP connection (all of those share one count).
func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// effectiveMaxConnections bounds max.connections by the open-file limit:
// every connection is a file descriptor, and the log needs its own (three
// per segment: .log, .index, .timeindex), so connections may take at most
// half of RLIMIT_NOFILE. Without this, clients alone can exhaust the fds
// (600 abandoned long polls did at a limit of 512) and the log then fails
// to roll a segment.
func effectiveMaxConnections(configured int) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return configured
	}
	half := int(min(rl.Cur/2, 1<<30))
	return max(1, min(configured, half))
}
