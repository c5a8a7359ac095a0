package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestAdminSurvivesSIGKILL grows a topic (CreatePartitions), deletes the
// head of a partition (DeleteRecords) and sets its compression.type, then
// SIGKILLs the broker process: after a restart on the same log dir the
// topic has its new partitions, the log start offset holds, and the config
// is kept, because each was durable before its answer.
func TestAdminSurvivesSIGKILL(t *testing.T) {
	testutil.RequireCommand(t, "go", "install Go")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := func() (*kadm.Client, *kgo.Client, func()) {
		t.Helper()
		p := startBroker(t, dir)
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic("kept"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl), cl, func() { p.kill(t) }
	}

	adm, cl, kill := start()
	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1024")}, "kept"); err != nil || r.Err != nil {
		t.Fatalf("creating: %v %v", err, r.Err)
	}
	for i := range 40 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: bytes.Repeat([]byte{byte('a' + i%26)}, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := adm.CreatePartitions(ctx, 3, "kept"); err != nil || r["kept"].Err != nil {
		t.Fatalf("CreatePartitions: %v %v", err, r["kept"].Err)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 25})
	if r, err := adm.DeleteRecords(ctx, os); err != nil || r.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, r.Error())
	}
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "compression.type", Value: kmsg.StringPtr("zstd")}}, "kept"); err != nil || r[0].Err != nil {
		t.Fatalf("AlterTopicConfigs: %v %v", err, r[0].Err)
	}
	kill()

	adm, _, _ = start()
	td, err := adm.ListTopics(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["kept"].Partitions); n != 5 {
		t.Errorf("after SIGKILL the topic has %d partitions, want 5", n)
	}
	so, err := adm.ListStartOffsets(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := so.Lookup("kept", 0); o.Offset != 25 {
		t.Errorf("after SIGKILL partition 0 starts at %d, want 25", o.Offset)
	}
	eo, err := adm.ListEndOffsets(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := eo.Lookup("kept", 0); o.Offset != 40 {
		t.Errorf("after SIGKILL partition 0 ends at %d, want 40", o.Offset)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("kept", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range c.Configs {
		if kv.Key == "compression.type" && (kv.Value == nil || *kv.Value != "zstd") {
			t.Errorf("after SIGKILL compression.type is %v, want zstd", kv.MaybeValue())
		}
	}
}
