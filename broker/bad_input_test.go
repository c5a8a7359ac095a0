package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBadInput sends what a broken or hostile client sends, and checks the
// answer and that another client still works afterwards.
func TestBadInput(t *testing.T) {
	b := newTestBroker(t, func(c *Config) {
		c.AutoCreateTopics = false
		c.MessageMaxBytes = 4096
		c.SocketRequestMaxBytes = 1 << 20
	})
	setup := dialRaw(t, b.addr)
	createTopicRaw(t, setup, "bad", 1)

	stillWorks := func(t *testing.T) {
		t.Helper()
		cl := newClient(t, b.addr, kgo.DefaultProduceTopic("bad"))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
			t.Fatalf("another client cannot produce afterwards: %v", err)
		}
	}
	// onNewConn runs f as subtest name on a connection of its own, then
	// checks another client still works.
	onNewConn := func(name string, f func(t *testing.T, rc *rawConn)) {
		t.Run(name, func(t *testing.T) {
			f(t, dialRaw(t, b.addr))
			stillWorks(t)
		})
	}

	onNewConn("a batch with a bad CRC gets CORRUPT_MESSAGE", func(t *testing.T, rc *rawConn) {
		batch := makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("hello"))
		batch[len(batch)-3] ^= 0xff // corrupt a value byte: the CRC no longer matches
		if p := produceRaw(t, rc, "bad", 0, batch); p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("error %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(p.ErrorCode))
		}
		// The connection stays usable.
		if p := produceRaw(t, rc, "bad", 0, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("x"))); p.ErrorCode != 0 {
			t.Errorf("good batch after a bad one: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	})

	onNewConn("a batch above message.max.bytes gets MESSAGE_TOO_LARGE", func(t *testing.T, rc *rawConn) {
		batch := makeBatch(-1, -1, -1, time.Now().UnixMilli(), bytes.Repeat([]byte("x"), 8000))
		if p := produceRaw(t, rc, "bad", 0, batch); p.ErrorCode != kerr.MessageTooLarge.Code {
			t.Errorf("error %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(p.ErrorCode))
		}
	})

	onNewConn("a truncated request closes the connection", func(t *testing.T, rc *rawConn) {
		full := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq("bad", 0, 1, makeBatch(-1, -1, -1, 1, []byte("v"))), 1)
		frame := full[4 : len(full)-20] // a frame that ends inside the records
		var size [4]byte
		binary.BigEndian.PutUint32(size[:], uint32(len(frame)))
		rc.nc.Write(append(size[:], frame...))
		rc.expectClosed()
	})

	t.Run("random bytes close the connection", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 20 {
			rc := dialRaw(t, b.addr)
			junk := make([]byte, 64+i*10)
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			binary.BigEndian.PutUint32(junk, uint32(len(junk)-4))
			rc.nc.Write(junk)
			rc.expectClosed()
		}
		stillWorks(t)
	})

	onNewConn("a frame above socket.request.max.bytes closes the connection", func(t *testing.T, rc *rawConn) {
		rc.nc.Write([]byte{0x7f, 0, 0, 0})
		rc.expectClosed()
	})

	onNewConn("a too new ApiVersions gets a v0 answer with UNSUPPORTED_VERSION", func(t *testing.T, rc *rawConn) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 9
		corr := rc.send(req)
		body, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		v0 := kmsg.NewPtrApiVersionsRequest()
		v0.Version = 0
		resp, err := decodeResponse(v0, corr, body)
		if err != nil {
			t.Fatal(err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("error %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(av.ErrorCode))
		}
		var found bool
		for _, k := range av.ApiKeys {
			if k.ApiKey == 18 && k.MinVersion == 0 && k.MaxVersion == 3 {
				found = true
			}
		}
		if !found {
			t.Errorf("ApiVersions range 0-3 not in the answer: %+v", av.ApiKeys)
		}
	})

	onNewConn("an unsupported Produce version closes the connection", func(t *testing.T, rc *rawConn) {
		req := produceReq("bad", 0, 1, makeBatch(-1, -1, -1, 1, []byte("v")))
		req.Version = 2
		rc.send(req)
		rc.expectClosed()
	})

	onNewConn("acks=0 gets no response, and a failure closes the connection", func(t *testing.T, rc *rawConn) {
		rc.send(produceReq("bad", 0, 0, makeBatch(-1, -1, -1, 1, []byte("fire and forget"))))
		// The next answer on the connection is the next request's.
		if resp := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Errorf("ApiVersions after acks=0: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		batch := makeBatch(-1, -1, -1, 1, []byte("corrupt"))
		batch[len(batch)-2] ^= 0xff
		rc.send(produceReq("bad", 0, 0, batch))
		rc.expectClosed()
	})

	onNewConn("an unknown topic with auto-create off is UNKNOWN_TOPIC_OR_PARTITION", func(t *testing.T, rc *rawConn) {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 9
		rt := kmsg.NewMetadataRequestTopic()
		name := "does-not-exist"
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("metadata: %+v", resp.Topics)
		}
		if p := produceRaw(t, rc, name, 0, makeBatch(-1, -1, -1, 1, []byte("v"))); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	})
}
