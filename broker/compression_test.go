package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestTopicCompressionType produces uncompressed records to topics of every
// compression.type, checks the codec of the stored batches, and consumes
// them back with franz-go and with kcat (librdkafka), whose decompressors
// are not ours.
func TestTopicCompressionType(t *testing.T) {
	kcat := testutil.RequireCommand(t, "kcat", "apt-get install kcat")
	b := newTestBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, b.addr))
	types := map[string]int16{"producer": 0, "uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for typ, codec := range types {
		t.Run(typ, func(t *testing.T) {
			topic := "ct-" + typ
			r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kmsg.StringPtr(typ)}, topic)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := newClient(t, b.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
			var want []string
			for i := range 200 {
				v := fmt.Sprintf("%s-value-%03d-%s", typ, i, strings.Repeat("z", 100))
				want = append(want, v)
				cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			sl, err := b.Store().Partition(topic, 0).Read(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var hdr [23]byte
			_, err = sl.File.ReadAt(hdr[:], sl.Pos)
			sl.Release()
			if err != nil {
				t.Fatal(err)
			}
			if got := int16(binary.BigEndian.Uint16(hdr[21:])) & 7; got != codec {
				t.Errorf("stored codec %d, want %d", got, codec)
			}

			cons := newClient(t, b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var got []string
			for len(got) < len(want) {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("franz-go consumed %d records, not the %d produced", len(got), len(want))
			}
			out, err := exec.CommandContext(ctx, kcat, "-b", b.addr, "-t", topic, "-C", "-o", "beginning", "-e", "-q", "-f", "%s\n").CombinedOutput()
			if err != nil {
				t.Fatalf("kcat: %v\n%s", err, out)
			}
			if string(out) != strings.Join(want, "\n")+"\n" {
				t.Errorf("kcat consumed:\n%.300s", out)
			}
		})
	}

	t.Run("bad values get INVALID_CONFIG", func(t *testing.T) {
		r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kmsg.StringPtr("brotli")}, "ct-bad")
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("compression.type=brotli: %v, want INVALID_CONFIG", err)
		}
		ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "compression.type", Value: kmsg.StringPtr("Snappy")}}, "ct-gzip")
		if err == nil {
			err = ar[0].Err
		}
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("compression.type=Snappy: %v, want INVALID_CONFIG", err)
		}
	})
}
