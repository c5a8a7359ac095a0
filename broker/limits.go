package broker

import (
	"net"
	"net/netip"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// This file holds the broker-wide bounds on what clients can make it hold:
// connections (max.connections, max.connections.per.ip) and request bytes
// being read or handled (queued.max.request.bytes). The per-connection ones
// (connections.max.idle.ms, socket.request.max.bytes) live in conn.go.

// requestBudget bounds the request bytes held outside the connections' own
// read buffers, as Kafka's queued.max.request.bytes bounds its MemoryPool.
// A frame reserves the bytes it has sent plus one budgetWindow ahead, as
// they arrive, not the size its prefix promised: a client that sends a
// 100 MB size prefix and then a byte now and then holds budgetWindow, not
// the whole budget (it did, and every larger request of every client
// waited behind it for as long as it trickled). A reader that finds the
// budget spent waits before reading more, like Kafka's muted channels;
// small frames that fit the connection's read buffer never wait. So that
// frames read in part cannot wait on each other for ever, the oldest
// waiter may go over the limit, one frame at a time (the overdraft), until
// its frame is read: the bytes held never exceed the limit plus one window
// plus one frame, the bound Kafka's non-strict pool gives.
type requestBudget struct {
	limit  int64  // <= 0: no bound (Kafka's -1)
	onWait func() // called when a reader starts to wait; may be nil

	mu        sync.Mutex
	cond      sync.Cond
	used      int64
	closed    bool
	waiting   []*Conn // readers waiting, oldest first
	overdraft *Conn   // the reader allowed over the limit until its frame is read
}

// budgetWindow is how far a frame may reserve beyond the bytes it has sent:
// the most a client holds by promising and not sending.
const budgetWindow = 64 << 10

func newRequestBudget(limit int64) *requestBudget {
	rb := &requestBudget{limit: limit}
	rb.cond.L = &rb.mu
	return rb
}

// acquire reserves n more bytes for cc's frame, waiting while the budget
// is spent (unless cc holds the overdraft or is the oldest waiter and the
// overdraft is free). It returns false once the broker is closing.
func (rb *requestBudget) acquire(cc *Conn, n int64) bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	spent := func() bool { return rb.limit > 0 && rb.used >= rb.limit && rb.overdraft != cc && !rb.closed }
	if spent() {
		if rb.onWait != nil {
			rb.onWait()
		}
		rb.waiting = append(rb.waiting, cc)
		for spent() {
			if rb.overdraft == nil && rb.waiting[0] == cc {
				rb.overdraft = cc
				break
			}
			rb.cond.Wait()
		}
		rb.waiting = slices.DeleteFunc(rb.waiting, func(w *Conn) bool { return w == cc })
	}
	if rb.closed {
		return false
	}
	rb.used += n
	return true
}

// release returns n bytes of cc's frame, which has been read and handled
// (or failed): cc gives up the overdraft if it held it.
func (rb *requestBudget) release(cc *Conn, n int64) {
	rb.mu.Lock()
	rb.used -= n
	if rb.overdraft == cc {
		rb.overdraft = nil
	}
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
