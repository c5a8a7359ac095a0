package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequest feeds arbitrary frames (a request without its size prefix)
// to the request decoder: it must never panic, and whatever it accepts
// must survive a kmsg round trip. Seeds: testdata/fuzz/FuzzRequest (real
// requests of several APIs and versions).
func FuzzRequest(f *testing.F) {
	for _, req := range seedRequests() {
		f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, 7)[4:])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, req, err := parseRequest(frame)
		if err != nil || req == nil {
			return
		}
		if req.Key() != h.key || req.GetVersion() != h.version {
			t.Fatalf("decoded %s v%d from a header of key %d v%d", kmsg.NameForKey(req.Key()), req.GetVersion(), h.key, h.version)
		}
		again := kmsg.RequestForKey(h.key)
		again.SetVersion(h.version)
		if err := again.ReadFrom(req.AppendTo(nil)); err != nil {
			t.Fatalf("re-encoded %s v%d does not decode: %v", kmsg.NameForKey(h.key), h.version, err)
		}
	})
}

// seedRequests are real requests of the APIs the broker serves.
func seedRequests() []kmsg.Request {
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "fuzz", "1.0"
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	t := "topic"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &t
	md.Topics = append(md.Topics, mt)
	pr := produceReq("topic", 0, -1, makeBatch(1, 0, 0, 1700000000000, []byte("value")))
	pr.Version = 9
	fe := kmsg.NewPtrFetchRequest()
	fe.Version = 12
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "topic"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 3, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fe.Topics = append(fe.Topics, ft)
	fe4 := *fe
	fe4.Version = 4
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 5
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version = 4
	return []kmsg.Request{av, md, pr, fe, &fe4, lo, ct, dc}
}
