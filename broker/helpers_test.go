package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// testBroker is a broker on 127.0.0.1:0 with its log in a temp dir,
// serving until the test ends (or stop is called).
type testBroker struct {
	*Broker
	addr string
	cfg  Config
	done chan error
	stop func() error
}

// newTestBroker starts a broker with a fresh log dir; opts adjust the
// config (the log dir and listener are set before opts run).
func newTestBroker(tb testing.TB, opts ...func(*Config)) *testBroker {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.LogDirs = []string{tb.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	return startTestBroker(tb, cfg)
}

// startTestBroker starts a broker with cfg (its listener is replaced by a
// fresh 127.0.0.1:0 one).
func startTestBroker(tb testing.TB, cfg Config) *testBroker {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Listener = ln
	b, err := New(cfg)
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tbk := &testBroker{Broker: b, addr: ln.Addr().String(), cfg: cfg, done: make(chan error, 1)}
	go func() { tbk.done <- b.Run(ctx) }()
	var stopped bool
	var stopErr error
	tbk.stop = func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		cancel()
		select {
		case stopErr = <-tbk.done:
		case <-time.After(30 * time.Second):
			stopErr = errors.New("broker did not stop within 30s")
		}
		return stopErr
	}
	tb.Cleanup(func() {
		if err := tbk.stop(); err != nil {
			tb.Errorf("stopping broker: %v", err)
		}
	})
	return tbk
}

// restart stops the broker and starts a new one on the same log dirs.
func (tbk *testBroker) restart(tb testing.TB) *testBroker {
	tb.Helper()
	if err := tbk.stop(); err != nil {
		tb.Fatalf("stopping broker: %v", err)
	}
	cfg := tbk.cfg
	cfg.Listener = nil
	return startTestBroker(tb, cfg)
}

// newClient returns a franz-go client for addr, closed at the end of the test.
func newClient(tb testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client for addr, closed at the end of the test.
func newAdmin(tb testing.TB, addr string) *kadm.Client {
	tb.Helper()
	return kadm.NewClient(newClient(tb, addr))
}

// testContext returns a context that ends after timeout, or at the end of
// the test.
func testContext(tb testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	tb.Cleanup(cancel)
	return ctx
}

// createTopic creates topic with the given partitions and configs through
// kadm.
func createTopic(tb testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := newAdmin(tb, addr).CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.Fatalf("creating %s: %v", topic, err)
	}
}

// rawConn speaks the Kafka protocol over a plain net.Conn, with kmsg.
type rawConn struct {
	tb   testing.TB
	nc   net.Conn
	corr int32
}

func dialRaw(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	return &rawConn{tb: tb, nc: nc}
}

// send writes req with version v.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.tb.Helper()
	rc.corr++
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test")).AppendRequest(nil, req, rc.corr)
	if _, err := rc.nc.Write(buf); err != nil {
		rc.tb.Fatalf("writing request: %v", err)
	}
	return rc.corr
}

// readFrame reads one response frame (without its size prefix).
func (rc *rawConn) readFrame() ([]byte, error) {
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.nc, body); err != nil {
		return nil, err
	}
	return body, nil
}

// roundTrip sends req and decodes its response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.tb.Helper()
	resp, err := rc.tryRoundTrip(req)
	if err != nil {
		rc.tb.Fatal(err)
	}
	return resp
}

func (rc *rawConn) tryRoundTrip(req kmsg.Request) (kmsg.Response, error) {
	corr := rc.send(req)
	body, err := rc.readFrame()
	if err != nil {
		return nil, fmt.Errorf("reading %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return decodeResponse(req, corr, body)
}

func decodeResponse(req kmsg.Request, corr int32, body []byte) (kmsg.Response, error) {
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// expectClosed checks that the broker closes the connection.
func (rc *rawConn) expectClosed() {
	rc.tb.Helper()
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1)
	_, err := rc.nc.Read(buf)
	if err == nil {
		rc.tb.Fatal("connection still open: read a byte")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.tb.Fatal("connection still open after 10s")
	}
}

// makeBatch encodes a v2 record batch (uncompressed, CreateTime) with the
// given producer id, epoch and base sequence (-1, -1, -1 for none).
func makeBatch(producerID int64, epoch int16, seq int32, ts int64, values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                        // attributes
		r = kbin.AppendVarlong(r, 0)            // timestamp delta
		r = kbin.AppendVarint(r, int32(i))      // offset delta
		r = kbin.AppendVarint(r, -1)            // key: null
		r = kbin.AppendVarint(r, int32(len(v))) // value
		r = append(r, v...)
		r = kbin.AppendVarint(r, 0) // headers
		recs = kbin.AppendVarint(recs, int32(len(r)))
		recs = append(recs, r...)
	}
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // batch length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, below
	b = binary.BigEndian.AppendUint16(b, 0)          // attributes
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)-1))
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, uint64(producerID))
	b = binary.BigEndian.AppendUint16(b, uint16(epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(seq))
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// produceReq builds a Produce v7 request of one batch to topic/partition.
func produceReq(topic string, partition int32, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchOne builds a Fetch request of the given version for one partition of
// topic from offset, asking for at most maxBytes in all and from the
// partition; the caller sets the rest (wait, min bytes, isolation).
func fetchOne(version int16, topic string, partition int32, offset int64, maxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxBytes = maxBytes
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = partition, offset, maxBytes
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}

// produceRaw sends one batch and returns the partition's answer.
func produceRaw(tb testing.TB, rc *rawConn, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	tb.Helper()
	resp := rc.roundTrip(produceReq(topic, partition, -1, batch)).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// createTopicRaw creates a topic through the broker's own API.
func createTopicRaw(tb testing.TB, rc *rawConn, topic string, partitions int32) {
	tb.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 4
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if c := resp.Topics[0].ErrorCode; c != 0 {
		tb.Fatalf("creating %s: %v", topic, kerr.ErrorForCode(c))
	}
}

// kafkajs is tests/kafkajs with its installed kafkajs and the node that
// runs its scripts.
type kafkajs struct{ node, dir string }

// requireKafkajs finds node and tests/kafkajs, and skips the test when
// either is missing (npm ci not run).
func requireKafkajs(t *testing.T) kafkajs {
	t.Helper()
	node := testutil.RequireCommand(t, "node", "apt-get install nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "tests", "kafkajs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		testutil.Unavailable(t, "kafkajs not installed: run npm ci in %s (.ci/run does)", dir)
	}
	return kafkajs{node: node, dir: dir}
}

// run runs the script with args, for at most two minutes, and fails the
// test with its output when it fails.
func (k kafkajs) run(t *testing.T, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.node, append([]string{filepath.Join(k.dir, script)}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running node: %v", err)
	}
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", script, err, out)
	}
	t.Logf("%s: %s", script, bytes.TrimSpace(out))
}

// kcat is the path of kcat, librdkafka's command-line client.
type kcat string

// requireKcat finds kcat, and skips the test where it is not installed.
func requireKcat(tb testing.TB) kcat {
	tb.Helper()
	return kcat(testutil.RequireCommand(tb, "kcat", "apt-get install kcat"))
}

// command returns kcat with args, talking to the broker at addr.
func (k kcat) command(ctx context.Context, addr string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, string(k), append([]string{"-b", addr}, args...)...)
}

// run runs kcat with args and stdin as its input, and returns what it
// wrote to standard output; the test fails with its output when it fails.
func (k kcat) run(ctx context.Context, tb testing.TB, addr, stdin string, args ...string) string {
	tb.Helper()
	cmd := k.command(ctx, addr, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("kcat %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}
