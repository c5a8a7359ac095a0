package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// plainConn is a raw Kafka connection that reports errors instead of
// failing the test, so many of them can run in goroutines.
type plainConn struct {
	nc   net.Conn
	corr int32
}

func (pc *plainConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	pc.corr++
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("many")).AppendRequest(nil, req, pc.corr)
	_ = pc.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := pc.nc.Write(buf); err != nil {
		return nil, fmt.Errorf("writing %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	var size [4]byte
	if _, err := io.ReadFull(pc.nc, size[:]); err != nil {
		return nil, fmt.Errorf("reading %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(pc.nc, body); err != nil {
		return nil, fmt.Errorf("reading %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return decodeResponse(req, pc.corr, body)
}

// hello sends ApiVersions v3 and Metadata v9 for topic.
func (pc *plainConn) hello(topic string) error {
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "many", "1"
	resp, err := pc.roundTrip(av)
	if err != nil {
		return err
	}
	if c := resp.(*kmsg.ApiVersionsResponse).ErrorCode; c != 0 {
		return fmt.Errorf("ApiVersions: %w", kerr.ErrorForCode(c))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	resp, err = pc.roundTrip(md)
	if err != nil {
		return err
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || mr.Topics[0].ErrorCode != 0 || len(mr.Brokers) != 1 {
		return fmt.Errorf("metadata of %s: %+v", topic, mr.Topics)
	}
	return nil
}

// produceFetch appends one record to topic/partition and reads it back.
func (pc *plainConn) produceFetch(topic string, partition int32, value []byte) error {
	resp, err := pc.roundTrip(produceReq(topic, partition, -1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), value)))
	if err != nil {
		return err
	}
	pr := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if pr.ErrorCode != 0 {
		return fmt.Errorf("produce to %s/%d: %w", topic, partition, kerr.ErrorForCode(pr.ErrorCode))
	}
	f := fetchOne(11, topic, partition, pr.BaseOffset, 1<<20)
	f.MinBytes, f.MaxWaitMillis = 1, 1000
	resp, err = pc.roundTrip(f)
	if err != nil {
		return err
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].ErrorCode != 0 {
		return fmt.Errorf("fetch of %s/%d: %+v", topic, partition, fr)
	}
	if recs := fr.Topics[0].Partitions[0].RecordBatches; !bytes.Contains(recs, value) {
		return fmt.Errorf("fetch of %s/%d at %d: %d bytes without the value produced", topic, partition, pr.BaseOffset, len(recs))
	}
	return nil
}

// TestManyConnections holds 1,000 client connections open at once: each
// says ApiVersions and Metadata, every 50th also produces and fetches,
// and with all of them open a fresh franz-go client still produces and
// consumes promptly. Then every connection closes and the broker lets go of
// all of them (connection table and goroutines).
//
// The process holds both ends of every connection (over 2,000 fds); the
// test raises the RLIMIT_NOFILE soft limit towards the hard limit if it is
// lower than that (Go already does so at start-up on Linux) and skips if
// the hard limit is too low.
func TestManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 1,000 connections")
	}
	const n = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(2*n + 512); lim.Cur < need {
		if lim.Max < need {
			testutil.Unavailable(t, "RLIMIT_NOFILE hard limit %d is below the %d fds this test needs", lim.Max, need)
		}
		old := lim
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("raising RLIMIT_NOFILE soft limit to %d: %v", need, err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}

	b := newTestBroker(t)
	const topic = "many"
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, topic, 4)
	rc.nc.Close()
	countConns := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.conns)
	}
	testutil.WaitFor(t, 5*time.Second, func() error {
		if c := countConns(); c != 0 {
			return fmt.Errorf("%d connections open before the test", c)
		}
		return nil
	})
	goroutinesBefore := runtime.NumGoroutine()

	conns := make([]*plainConn, n)
	t.Cleanup(func() {
		for _, pc := range conns {
			if pc != nil {
				pc.nc.Close()
			}
		}
	})
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(64)
	for i := range conns {
		g.Go(func() error {
			nc, err := net.DialTimeout("tcp", b.addr, 10*time.Second)
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			pc := &plainConn{nc: nc}
			conns[i] = pc
			if err := pc.hello(topic); err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			if i%50 == 0 {
				if err := pc.produceFetch(topic, int32(i/50%4), fmt.Appendf(nil, "value-from-connection-%d", i)); err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d connections opened and answered in %v", n, time.Since(start))
	if c := countConns(); c != n {
		t.Fatalf("broker holds %d connections, want %d", c, n)
	}

	// A fresh client is served promptly with 1,000 idle connections open.
	ctx := testContext(t, 30*time.Second)
	start = time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {3: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 3, Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for found := false; !found; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == "fresh" })
	}
	cl.Close()
	t.Logf("fresh client produced and consumed in %v with %d connections open", time.Since(start), n)

	// Every old connection is still served, in a second round.
	for i := range conns {
		g.Go(func() error { return conns[i].hello(topic) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("second round: %v", err)
	}

	start = time.Now()
	for _, pc := range conns {
		pc.nc.Close()
	}
	defer func() { t.Logf("closed in %v", time.Since(start)) }()
	testutil.WaitFor(t, 20*time.Second, func() error {
		if c := countConns(); c != 0 {
			return fmt.Errorf("broker still holds %d connections after the clients closed them", c)
		}
		return nil
	})
	// Each connection had its goroutine: they must be gone too (a little
	// slack for the runtime's and franz-go's own).
	testutil.WaitFor(t, 20*time.Second, func() error {
		if g := runtime.NumGoroutine(); g > goroutinesBefore+20 {
			return fmt.Errorf("%d goroutines, %d before the connections", g, goroutinesBefore)
		}
		return nil
	})
}
