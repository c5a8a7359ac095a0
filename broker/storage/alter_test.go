package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func TestSetTopicConfigs(t *testing.T) {
	cfg := testConfig(t, 2)
	s := openStore(t, cfg)
	mustCreate(t, s, "alt", 2, map[string]*string{"segment.jitter.ms": ptr("5")})
	p := s.Partition("alt", 0)
	mustAppend(t, p, simple(t, "a", 1, 2000))

	err := s.SetTopicConfigs("alt", map[string]*string{"retention.ms": ptr("soon"), "no.such.key": ptr("1")})
	wantKerr(t, err, kerr.InvalidConfig)
	for _, key := range []string{"retention.ms", "no.such.key"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	if err := s.ValidateTopicConfigs(map[string]*string{"message.timestamp.type": ptr("Never")}); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("ValidateTopicConfigs(bad timestamp type) = %v, want InvalidConfig", err)
	}
	wantKerr(t, s.SetTopicConfigs("missing", nil), kerr.UnknownTopicOrPartition)

	// Live: a smaller max.message.bytes refuses the next append; the old
	// segment.jitter.ms is dropped (replace, not merge).
	if err := s.SetTopicConfigs("alt", map[string]*string{"max.message.bytes": ptr("1000"), "retention.bytes": ptr("0"), "segment.bytes": ptr("1000"), "flush.ms": nil}); err != nil {
		t.Fatal(err)
	}
	_, err = p.Append(simple(t, "b", 1, 2000), false)
	wantKerr(t, err, kerr.MessageTooLarge)
	ti, _ := s.Topic("alt")
	if want := map[string]string{"max.message.bytes": "1000", "retention.bytes": "0", "segment.bytes": "1000"}; !equalMaps(ti.Configs, want) {
		t.Fatalf("configs %v, want %v", ti.Configs, want)
	}
	// segment.bytes 1000 rolls at the next append; retention.bytes 0 then
	// deletes the closed segment.
	mustAppend(t, p, simple(t, "c", 1, 500))
	if n := s.enforceRetention(); n != 1 || p.LogStartOffset() != 1 {
		t.Fatalf("retention deleted %d segments, log start %d; want 1 and 1", n, p.LogStartOffset())
	}

	// Durable: a later version in one partition dir wins over an older
	// copy left in another (a crash half way through SetTopicConfigs).
	if err := s.SetTopicConfigs("alt", map[string]*string{"retention.ms": ptr("60000")}); err != nil {
		t.Fatal(err)
	}
	p1dir := s.Partition("alt", 1).dir
	s.Close()
	stale, err := os.ReadFile(filepath.Join(p1dir, topicMetaFile))
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(stale), `"retention.ms": "60000"`, `"retention.ms": "1"`, 1)
	old = strings.Replace(old, `"config_version": 2`, `"config_version": 1`, 1)
	if old == string(stale) {
		t.Fatalf("topic.json not as expected:\n%s", stale)
	}
	if err := os.WriteFile(filepath.Join(p1dir, topicMetaFile), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, cfg)
	ti, _ = s2.Topic("alt")
	if want := map[string]string{"retention.ms": "60000"}; !equalMaps(ti.Configs, want) {
		t.Fatalf("configs after restart %v, want %v", ti.Configs, want)
	}
	if got := s2.Partition("alt", 1).cfg.Load().retention.Milliseconds(); got != 60000 {
		t.Fatalf("partition 1 retention after restart %dms, want 60000", got)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A topic's flush.ms, also one set after creation, is honoured by Run
// even when it is shorter than Run's default one-second tick.
func TestTopicFlushMsInRun(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "fms", 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if got := s.flushTick(); got != time.Second {
		t.Fatalf("flush tick without flush.ms %v, want 1s", got)
	}
	p := s.Partition("fms", 0)
	mustAppend(t, p, simple(t, "f", 4, 10))
	if err := s.SetTopicConfigs("fms", map[string]*string{"flush.ms": ptr("30")}); err != nil {
		t.Fatal(err)
	}
	if got := s.flushTick(); got != 30*time.Millisecond {
		t.Fatalf("flush tick with flush.ms=30 %v, want 30ms", got)
	}
	waitRecoveryPoint(t, p, 4)
	// And the next append is flushed too. How soon (a few 30 ms ticks, not
	// Run's one-second default) is BenchmarkTopicFlushMsInRun's measure.
	mustAppend(t, p, simple(t, "g", 1, 10))
	waitRecoveryPoint(t, p, 5)
}

func waitRecoveryPoint(tb testing.TB, p *Partition, want int64) {
	tb.Helper()
	testutil.WaitFor(tb, 10*time.Second, func() error {
		if got := p.recoveryPoint(); got != want {
			return fmt.Errorf("recovery point %d, want %d", got, want)
		}
		return nil
	})
}

// BenchmarkTopicFlushMsInRun measures how long Run takes to flush an
// append to a topic with flush.ms=30: a few 30 ms ticks (ns/op well under
// Run's default one-second tick) when Run follows the topic's flush.ms.
func BenchmarkTopicFlushMsInRun(b *testing.B) {
	s := openStore(b, testConfig(b, 1))
	mustCreate(b, s, "fms", 1, map[string]*string{"flush.ms": ptr("30")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	p := s.Partition("fms", 0)
	b.ResetTimer()
	for i := range b.N {
		mustAppend(b, p, simple(b, "g", 1, 10))
		waitRecoveryPoint(b, p, int64(i+1))
	}
}
