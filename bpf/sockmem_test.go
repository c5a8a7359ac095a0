package bpf

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

const tcpMemChildEnv = "BROKERLAB_BPF_TCPMEM_CHILD" // the memcg directory the child joins

// tcpMemLimit is the memcg TCP memory limit: smaller than what one stalled
// loopback connection queues.
const tcpMemLimit = 32 << 10

// tcpMemChild writes to a loopback TCP socket nobody reads, until the
// memcg's TCP memory limit refuses more (in the memcg: inCgroup).
func tcpMemChild() error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return err
	}
	defer s.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64<<10)
	for range 256 {
		if _, err := c.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // blocked: the limit holds
			}
			return err
		}
	}
	return nil
}

func TestSocketMemoryLimitFiresExceedBufLimit(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs and a memory cgroup")
	cg := memcgV1(t, 256<<20)
	limit := filepath.Join(cg, "memory.kmem.tcp.limit_in_bytes")
	if _, err := os.Stat(limit); err != nil {
		testutil.Unavailable(t, "no cgroup v1 TCP memory accounting (%s): %v", limit, err)
	}
	writeFile(t, limit, strconv.Itoa(tcpMemLimit))
	p := newTestProbes(t, Config{Families: []Family{FamilySockBuf}, Cgroup: cg})
	before := snapshot(t, p)
	runChild(t, tcpMemChildEnv, cg, "tcp memory")
	w := snapshot(t, p).Delta(before)
	failcnt, _ := os.ReadFile(filepath.Join(cg, "memory.kmem.tcp.failcnt"))
	maxUsage, _ := os.ReadFile(filepath.Join(cg, "memory.kmem.tcp.max_usage_in_bytes"))
	t.Logf("sends %d (%d bytes), EAGAIN %d, exceed_buf_limit %d; memcg tcp failcnt %s max usage %s",
		w.Value(FamilySockBuf, "sends"), w.Value(FamilySockBuf, "send_bytes"), w.Value(FamilySockBuf, "send_eagain"),
		w.Value(FamilySockBuf, "exceed_buf_limit"), bytes.TrimSpace(failcnt), bytes.TrimSpace(maxUsage))
	if got := w.Value(FamilySockBuf, "exceed_buf_limit"); got == 0 {
		t.Errorf("no sock_exceed_buf_limit under a %d KiB memcg TCP limit", tcpMemLimit>>10)
	}
}
