package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWorkloadValidationNamesTheKey(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string // each must appear in the error
	}{
		{"no topics", "topics: 0\npartitionsPerTopic: 1\nmessageSize: 1024\nproducersPerTopic: 1\ntestDurationSeconds: 1", []string{"topics: 0", "want at least 1"}},
		{"tiny messages", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 8\nproducersPerTopic: 1\ntestDurationSeconds: 1", []string{"messageSize: 8", "at least 16"}},
		{"unknown key distributor", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\nkeyDistributor: ZIPF\ntestDurationSeconds: 1", []string{`keyDistributor: "ZIPF"`, "NO_KEY"}},
		{"no duration", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1", []string{"testDurationMinutes", "testDurationSeconds above 0"}},
		{"negative rate", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\nproducerRate: -5\ntestDurationSeconds: 1", []string{"producerRate: -5"}},
		{"backlog without consumers", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\nconsumerBacklogSizeGB: 1\nproducerRate: 10\ntestDurationSeconds: 1", []string{"consumerBacklogSizeGB: 1", "needs consumers"}},
		{"backlog with max rate", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\nsubscriptionsPerTopic: 1\nconsumerPerSubscription: 1\nconsumerBacklogSizeGB: 1\ntestDurationSeconds: 1", []string{"producerRate: 0", "backlog mode"}},
		{"drain ratio", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\nbacklogDrainRatio: 1.5\ntestDurationSeconds: 1", []string{"backlogDrainRatio: 1.5"}},
		{"unknown key", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nproducersPerTopic: 1\ntestDurationSeconds: 1\nproducerRat: 5", []string{"producerRat"}},
		{"several at once", "topics: 0\npartitionsPerTopic: 0\nmessageSize: 100\nproducersPerTopic: 0\ntestDurationSeconds: 1", []string{"topics: 0", "partitionsPerTopic: 0", "producersPerTopic: 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(c.yaml), "")
			wantErrorNaming(t, err, c.yaml, c.want)
		})
	}
}

// wantErrorNaming fails the test unless err, the error parsing yaml, says
// every one of want.
func wantErrorNaming(t *testing.T, err error, yaml string, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error for:\n%s", yaml)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestDriverValidationNamesTheKey(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"bad acks", "producerConfig: |\n  acks=2\n", []string{"producerConfig acks=2", "want 0, 1 or all"}},
		{"idempotence needs acks=all", "producerConfig: |\n  acks=1\n  enable.idempotence=true\n", []string{"enable.idempotence", "acks=all"}},
		{"unknown producer key", "producerConfig: |\n  lingerr.ms=5\n", []string{"lingerr.ms=5", "unknown key"}},
		{"bad compression", "producerConfig: |\n  compression.type=brotli\n", []string{"compression.type=brotli"}},
		{"partition above fetch max", "consumerConfig: |\n  fetch.max.bytes=1000\n  max.partition.fetch.bytes=2000\n", []string{"max.partition.fetch.bytes=2000", "fetch.max.bytes"}},
		{"bad offset reset", "consumerConfig: |\n  auto.offset.reset=none\n", []string{"auto.offset.reset=none"}},
		{"bad line", "producerConfig: |\n  linger\n", []string{"producerConfig", `"linger"`}},
		{"unknown top-level key", "produceConfig: |\n  acks=1\n", []string{"produceConfig"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseDriver([]byte(c.yaml))
			wantErrorNaming(t, err, c.yaml, c.want)
		})
	}
}

func TestDriverParsesOMBStyle(t *testing.T) {
	d, err := ParseDriver([]byte(`name: Kafka
driverClass: io.openmessaging.benchmark.driver.kafka.KafkaBenchmarkDriver
replicationFactor: 1
reset: true
topicConfig: |
  min.insync.replicas=1
commonConfig: |
  bootstrap.servers=localhost:9092
  default.api.timeout.ms=600000
producerConfig: |
  acks=1
  linger.ms=1
  batch.size=131072
  compression.type=lz4
consumerConfig: |
  auto.offset.reset=earliest
  enable.auto.commit=false
  max.partition.fetch.bytes=10485760
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDriver()
	want.Name = "Kafka"
	want.TopicConfig = map[string]string{"min.insync.replicas": "1"}
	want.BootstrapServers = []string{"localhost:9092"}
	want.Producer.Acks, want.Producer.Idempotent = "1", false
	want.Producer.Linger = time.Millisecond
	want.Producer.BatchBytes = 131072
	want.Producer.Compression = "lz4"
	want.Consumer.MaxPartitionFetchBytes = 10485760
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("driver (-want +got):\n%s", diff)
	}
}

// TestShippedFilesParse loads every workload and driver in workloads/.
func TestShippedFilesParse(t *testing.T) {
	files, _ := filepath.Glob("../workloads/*.yaml")
	if len(files) == 0 {
		t.Fatal("no files in ../workloads")
	}
	var drivers, workloads int
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "driver-") {
			drivers++
			if _, err := LoadDriver(f); err != nil {
				t.Errorf("%v", err)
			}
			continue
		}
		workloads++
		if _, err := LoadWorkload(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	if drivers < 3 || workloads < 3 {
		t.Errorf("found %d drivers and %d workloads, want at least 3 of each", drivers, workloads)
	}
}

func TestPayloadsHaveTheRequestedRandomness(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "p.data")
	if err := os.WriteFile(pf, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := ParseWorkload([]byte("topics: 1\npartitionsPerTopic: 1\nmessageSize: 20\nproducersPerTopic: 1\ntestDurationSeconds: 1\npayloadFile: p.data\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := makePayloads(&w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p[0]); got != "abcabcabcabcabcabcab" {
		t.Errorf("payload from file = %q", got)
	}
	w = testWorkload(1, 1)
	w.RandomBytesRatio = 0.5
	w.RandomizedPayloadPoolSize = 10
	p, err = makePayloads(&w, testRand())
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, b := range p[3] {
		if b == 0 {
			zeros++
		}
	}
	// Half the positions drawn with replacement: about 1-e^-0.5 = 39% set.
	if set := 1024 - zeros; set < 300 || set > 500 {
		t.Errorf("%d of 1024 bytes random, want about 400", set)
	}
}

func TestCeilingsAreMeasured(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Two send buffers, not the default three, to keep the trials short.
	c, err := MeasureCeilings(ctx, dir, CeilingOptions{Duration: 150 * time.Millisecond, MaxFileBytes: 8 << 20, SendfileFileBytes: 8 << 20, SendBuffers: []int{0, 102400}})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"write": c.WriteMBps, "fsync": c.FsyncMBps, "sendfile": c.SendfileMBps, "tcp": c.TCPMBps} {
		if v <= 0 {
			t.Errorf("%s ceiling %v MB/s, want above 0", name, v)
		}
	}
	if c.FSType == "" {
		t.Errorf("no filesystem type for %s", dir)
	}
	if p := c.Percent("tcp", c.TCPMBps/2); p < 49.9 || p > 50.1 {
		t.Errorf("half the tcp ceiling is %v%%", p)
	}
	if c.SendfileStreams == 0 || c.TCPStreams == 0 || c.LoopbackRuns != 3 {
		t.Errorf("loopback ceilings from %d/%d streams over %d rounds; want the best trial's streams over 3 rounds", c.SendfileStreams, c.TCPStreams, c.LoopbackRuns)
	}
	for name, sb := range map[string]*int{"sendfile": c.SendfileSendBuffer, "tcp": c.TCPSendBuffer} {
		if sb == nil || !slices.Contains([]int{0, 102400}, *sb) {
			t.Errorf("%s ceiling's send buffer %v, want one of the tried sizes", name, sb)
		}
	}
	if !c.ReaderOwnProcess {
		t.Error("the loopback ceilings' reader ran in the test's process, want a process of its own (TestMain calls InitCeilingReader)")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".lab-ceiling-*"))
	if len(left) != 0 {
		t.Errorf("left files behind: %v", left)
	}
}

func TestLoopbackTrialReadsInProcessWhereTheProgramCannotBeItsReader(t *testing.T) {
	readerInitCalled.Store(false) // as in a program that did not call InitCeilingReader
	t.Cleanup(func() { readerInitCalled.Store(true) })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	best, err := tcpCeiling(ctx, CeilingOptions{Duration: 100 * time.Millisecond, Streams: []int{2}, SendBuffers: []int{0}}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !best.readerInProcess || best.mbps <= 0 {
		t.Errorf("trial %+v: want an in-process reader and a rate above 0", best)
	}
}

func TestCeilingReaderRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"127.0.0.1:1"}, {"127.0.0.1:1", "0", "4096"}, {"127.0.0.1:1", "2", "x"}} {
		if err := ceilingReader(args); err == nil {
			t.Errorf("ceilingReader(%q): no error", args)
		}
	}
}

func TestResultsAboveACeilingAreFlagged(t *testing.T) {
	c := &Ceilings{SendfileMBps: 2000, TCPMBps: 1500}
	for _, tt := range []struct {
		kind  string
		mbps  float64
		want  string
		above bool
	}{
		{"sendfile", 1660, "83.0% of sendfile", false},
		{"sendfile", 2000, "100.0% of sendfile", false},
		{"sendfile", 3400, "above the sendfile ceiling (2000 MB/s): ceiling too low", true},
		{"tcp", 1501, "above the tcp ceiling (1500 MB/s): ceiling too low", true},
		{"write", 100, "", false}, // not measured
	} {
		if got := c.ShareText(tt.kind, tt.mbps); got != tt.want {
			t.Errorf("ShareText(%s, %v) = %q, want %q", tt.kind, tt.mbps, got, tt.want)
		}
		if got := c.Above(tt.kind, tt.mbps); got != tt.above {
			t.Errorf("Above(%s, %v) = %v, want %v", tt.kind, tt.mbps, got, tt.above)
		}
	}
	var none *Ceilings
	if got := none.ShareText("sendfile", 1); got != "" || none.Above("sendfile", 1) {
		t.Errorf("no ceilings: ShareText = %q, want nothing flagged", got)
	}
}

// TestSendfileFileServesEveryRound sends one written file in two ceiling
// measurements, as a bench does round by round: both measure, neither
// removes the file, and Close does.
func TestSendfileFileServesEveryRound(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	o := CeilingOptions{Duration: 150 * time.Millisecond, SendfileFileBytes: 4 << 20, Streams: []int{1}, SendBuffers: []int{102400}, Runs: 1}
	sf, err := NewSendfileFile(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sf.f.Name()); err != nil || fi.Size() != 4<<20 {
		t.Fatalf("ceiling file %v, %v: want 4 MiB", fi, err)
	}
	o.SendfileFile = sf
	o.SendfileFileBytes = 0 // the file's size is what counts
	for round := range 2 {
		mbps, streams, err := SendfileCeiling(ctx, dir, o)
		if err != nil || mbps <= 0 || streams != 1 {
			t.Fatalf("round %d: %v MB/s on %d streams, %v", round, mbps, streams, err)
		}
		if _, err := os.Stat(sf.f.Name()); err != nil {
			t.Fatalf("round %d removed the shared file: %v", round, err)
		}
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".lab-ceiling-sendfile-*")); len(left) > 0 {
		t.Errorf("left after Close: %v", left)
	}
}
