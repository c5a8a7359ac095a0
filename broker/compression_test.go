package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
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
	kc := requireKcat(t)
	b := newTestBroker(t)
	ctx := testContext(t, 90*time.Second)
	adm := newAdmin(t, b.addr)
	types := map[string]int16{"producer": 0, "uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for typ, codec := range types {
		t.Run(typ, func(t *testing.T) {
			topic := "ct-" + typ
			createTopic(t, b.addr, topic, 1, map[string]*string{"compression.type": kmsg.StringPtr(typ)})
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
			testutil.PollRecords(ctx, t, cons, len(want), func(r *kgo.Record) { got = append(got, string(r.Value)) })
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("franz-go consumed %d records, not the %d produced", len(got), len(want))
			}
			out := kc.run(ctx, t, b.addr, "", "-t", topic, "-C", "-o", "beginning", "-e", "-q", "-f", "%s\n")
			if out != strings.Join(want, "\n")+"\n" {
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

// TestBrokerCompressionType: the broker's compression.type is the default
// of topics that set none, and a bad value is refused naming the key.
func TestBrokerCompressionType(t *testing.T) {
	_, _, err := ConfigFromProperties(props(t, "log.dirs=/tmp/x\ncompression.type=brotli\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "compression.type") || !strings.Contains(err.Error(), "brotli") {
		t.Fatalf("compression.type=brotli: %v, want an error naming the key and value", err)
	}
	b := newTestBroker(t, func(c *Config) { c.CompressionType = "lz4" })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "default-lz4", 1)
	if p := produceRaw(t, rc, "default-lz4", 0, makeBatch(-1, -1, -1, 1, []byte("v"))); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	sl, err := b.Store().Partition("default-lz4", 0).Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Release()
	var hdr [23]byte
	if _, err := sl.File.ReadAt(hdr[:], sl.Pos); err != nil {
		t.Fatal(err)
	}
	if codec := binary.BigEndian.Uint16(hdr[21:]) & 7; codec != 3 {
		t.Errorf("stored codec %d on a topic of a compression.type=lz4 broker, want 3", codec)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "default-lz4", []string{"compression.type"}
	dc.Resources = append(dc.Resources, rr)
	resp := rc.roundTrip(dc).(*kmsg.DescribeConfigsResponse)
	if c := resp.Resources[0].Configs; len(c) != 1 || c[0].Value == nil || *c[0].Value != "lz4" {
		t.Errorf("DescribeConfigs compression.type: %+v", c)
	}
}
