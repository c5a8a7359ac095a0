package broker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatTransactions drives transactions with kcat (librdkafka 2.0's
// transactional producer and read_committed consumer): two kcat
// transactions commit around a franz-go transaction that aborts, and a
// franz-go transaction is left open at the end; read_committed must see
// only kcat's records (and stop at the open transaction), read_uncommitted
// everything.
func TestKcatTransactions(t *testing.T) {
	kc := requireKcat(t)
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "kcat-txn", 2)
	ctx := testContext(t, 90*time.Second)
	run := func(stdin string, args ...string) string {
		t.Helper()
		return kc.run(ctx, t, b.addr, stdin, append([]string{"-t", "kcat-txn", "-q"}, args...)...)
	}
	lines := func(s string) []string {
		out := strings.Fields(s)
		slices.Sort(out)
		return out
	}
	run("k1\nk2\nk3\n", "-P", "-X", "transactional.id=kcat-a")
	cl := newClient(t, b.addr, kgo.TransactionalID("kcat-franz"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	abort := kgo.TryAbort
	produceTxn(t, cl, "kcat-txn", "aborted", 3, &abort)
	run("k4\nk5\n", "-P", "-X", "transactional.id=kcat-b")
	produceTxn(t, cl, "kcat-txn", "open", 2, nil)

	committed := run("", "-C", "-o", "beginning", "-e", "-X", "isolation.level=read_committed")
	if got, want := lines(committed), []string{"k1", "k2", "k3", "k4", "k5"}; !slices.Equal(got, want) {
		t.Errorf("kcat read_committed: %v, want %v", got, want)
	}
	all := run("", "-C", "-o", "beginning", "-e", "-X", "isolation.level=read_uncommitted")
	want := []string{"aborted-0", "aborted-1", "aborted-2", "k1", "k2", "k3", "k4", "k5", "open-0", "open-1"}
	if got := lines(all); !slices.Equal(got, want) {
		t.Errorf("kcat read_uncommitted: %v, want %v", got, want)
	}
}

// TestKafkajsTransactions runs tests/kafkajs/transactions.js: kafkajs
// 2.2.4's transactional producer (commit, abort, sendOffsets) and its
// read_committed and read_uncommitted consumers.
func TestKafkajsTransactions(t *testing.T) {
	kjs := requireKafkajs(t)
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "kafkajs-txn", 2)
	kjs.run(t, "transactions.js", b.addr, "kafkajs-txn", "200")
}
