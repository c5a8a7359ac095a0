package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func props(t *testing.T, s string) []Property {
	t.Helper()
	p, err := ParseProperties(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFromProperties(t *testing.T) {
	c, warnings, err := ConfigFromProperties(props(t, `
broker.id=3
listeners=PLAINTEXT://0.0.0.0:19092
log.dir=/ignored
log.dirs=/d1, /d2
log.retention.hours=1
log.retention.minutes=30
log.roll.hours=2
num.partitions=4
auto.create.topics.enable=false
default.replication.factor=1
zookeeper.connect=localhost:2181
num.network.threads=3
no.such.key=1
log.flush.interval.messages=9223372036854775807
brokerlab.fetch.mode=COPY
`), []string{"log.segment.bytes=1048576", "log.flush.sync.on.ack=true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 3 || c.ListenAddr != "0.0.0.0:19092" || !cmp.Equal(c.LogDirs, []string{"/d1", "/d2"}) ||
		c.Retention != 30*time.Minute || c.RollInterval != 2*time.Hour || c.NumPartitions != 4 || c.AutoCreateTopics ||
		c.SegmentBytes != 1<<20 || !c.FlushSyncOnAck || c.FlushIntervalMessages != 0 || c.FetchMode != FetchModeCopy {
		t.Errorf("unexpected config: %+v", c)
	}
	joined := strings.Join(warnings, "\n")
	for _, w := range []string{"zookeeper.connect=localhost:2181", "num.network.threads", "no.such.key"} {
		if !strings.Contains(joined, w) {
			t.Errorf("no warning about %s in:\n%s", w, joined)
		}
	}
}

func TestConfigErrorsAllAtOnce(t *testing.T) {
	_, _, err := ConfigFromProperties(props(t, `
log.segment.bytes=abc
num.partitions=0
listeners=SSL://x
brokerlab.fetch.mode=mmap
brokerlab.log.preallocate.bytes=100
default.replication.factor=3
`), []string{"bogus"})
	if err == nil {
		t.Fatal("no error")
	}
	testutil.Contains(t, "error", err.Error(), "log.segment.bytes=abc", "num.partitions=0", "listeners=SSL://x", "brokerlab.fetch.mode=mmap", "brokerlab.log.preallocate.bytes=100", "must be 0 (off) or 4096", "default.replication.factor=3", "--override \"bogus\"", "log.dirs")
}

func TestConfigPrecedence(t *testing.T) {
	c, _, err := ConfigFromProperties(props(t, "log.dirs=/x\nlog.retention.ms=1000\nlog.retention.hours=5\nport=1234\nhost.name=10.0.0.1\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != time.Second {
		t.Errorf("log.retention.ms does not win over hours: %v", c.Retention)
	}
	if c.ListenAddr != "10.0.0.1:1234" {
		t.Errorf("host.name/port: %s", c.ListenAddr)
	}
	c, _, err = ConfigFromProperties(props(t, "log.dirs=/x\nlog.retention.ms=-1\n"), nil)
	if err != nil || c.Retention >= 0 {
		t.Errorf("retention -1: %v %v", c.Retention, err)
	}
	if _, _, err := ConfigFromProperties(props(t, "log.dirs=/x\nbroker.id=1\nnode.id=2\n"), nil); err == nil {
		t.Error("broker.id != node.id accepted")
	}
}

func TestSampleConfig(t *testing.T) {
	c, warnings, err := LoadConfig("../config/server.properties", []string{"log.dirs=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("the sample config has warnings: %q", warnings)
	}
	if c.ListenAddr != "127.0.0.1:9092" || c.FetchMode != FetchModeSendfile {
		t.Errorf("sample config: %+v", c)
	}
	// The effective config printed by --check reads back to the same config.
	back, _, err := ConfigFromProperties(props(t, strings.Join(c.Properties(), "\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Properties round trip (-want +got):\n%s", diff)
	}
}

func TestPyroscopeTagsAndProfileRates(t *testing.T) {
	cfg, _, err := ConfigFromProperties([]Property{{Key: "log.dirs", Value: t.TempDir()}},
		[]string{"brokerlab.pyroscope.tags=plan=quick, cell=c01,rep=2", "brokerlab.metrics.pprof.mutex.fraction=5"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plan": "quick", "cell": "c01", "rep": "2", "node_id": "0"}
	if diff := cmp.Diff(want, cfg.pyroscopeTags()); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if cfg.PprofMutexFraction != 5 {
		t.Errorf("mutex fraction %d, want 5", cfg.PprofMutexFraction)
	}
	for _, bad := range []string{"brokerlab.pyroscope.tags=plan", "brokerlab.pyroscope.tags==x", "brokerlab.metrics.pprof.block.rate=-1"} {
		_, _, err := ConfigFromProperties([]Property{{Key: "log.dirs", Value: t.TempDir()}}, []string{bad})
		key, _, _ := strings.Cut(bad, "=")
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming %s", bad, err, key)
		}
	}
}
