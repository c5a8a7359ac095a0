package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryAdvertisedVersionIsServed sends a plausible request of every
// registered key at every version ApiVersions advertises and checks that
// the answer decodes at that version, and that no range goes beyond the
// newest version the protocol defines (kmsg's, generated from Kafka's
// message JSON).
func TestEveryAdvertisedVersionIsServed(t *testing.T) {
	b := newTestBroker(t, fuzzBrokerConfig)
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "t", 2)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "test", "1"
	advertised := rc.roundTrip(av).(*kmsg.ApiVersionsResponse)
	if len(advertised.ApiKeys) != len(registeredAPIs()) {
		t.Fatalf("ApiVersions lists %d keys, %d are registered", len(advertised.ApiKeys), len(registeredAPIs()))
	}
	for _, k := range advertised.ApiKeys {
		name := kmsg.NameForKey(k.ApiKey)
		if top := kmsg.RequestForKey(k.ApiKey).MaxVersion(); k.MaxVersion > top {
			t.Errorf("%s: advertised up to v%d, the protocol's newest is v%d", name, k.MaxVersion, top)
		}
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := seedRequestFor(k.ApiKey)
			req.SetVersion(v)
			if pr, ok := req.(*kmsg.ProduceRequest); ok {
				pr.Acks = 1
			}
			if fr, ok := req.(*kmsg.FetchRequest); ok {
				fr.MaxWaitMillis = 0
			}
			resp, err := rc.tryRoundTrip(req)
			if err != nil {
				t.Errorf("%s v%d: %v", name, v, err)
				rc = dialRaw(t, b.addr)
				continue
			}
			if resp.GetVersion() != v {
				t.Errorf("%s v%d: answered as v%d", name, v, resp.GetVersion())
			}
		}
	}
}
