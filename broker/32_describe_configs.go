package broker

// DescribeConfigs: v0-4
//
// Behaviour:
//   - Broker resources (name = node.id, or empty): every key the broker
//     uses with its effective value; source STATIC_BROKER_CONFIG when set in
//     server.properties or an override, DEFAULT_CONFIG otherwise (v0:
//     is_default). Read-only, as in Kafka without dynamic broker configs.
//   - Topic resources: the topic configs of storage.TopicConfigSpecs that
//     have a broker default; a value set on the topic has source
//     DYNAMIC_TOPIC_CONFIG, otherwise the broker's value is shown with its
//     broker key as synonym (v1+ include_synonyms). Other configs set on
//     the topic are listed with their value.
//   - config_names limits the answer to the names asked for.
//   - Errors per resource: UNKNOWN_TOPIC_OR_PARTITION,
//     INVALID_REQUEST for another node id or an unsupported resource type.
//
// Not implemented: documentation (v3, answered null), config types other
// than STRING/INT/LONG/BOOLEAN guesses, broker loggers.

import (
	"context"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

func init() { register(32, 0, 4, handleDescribeConfigs) }

// Config sources (org.apache.kafka.common.requests.DescribeConfigsResponse.ConfigSource).
const (
	sourceTopic        = 1 // DYNAMIC_TOPIC_CONFIG
	sourceStaticBroker = 4 // STATIC_BROKER_CONFIG
	sourceDefault      = 5 // DEFAULT_CONFIG
)

func handleDescribeConfigs(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		want := func(name string) bool {
			if rr.ConfigNames == nil {
				return true
			}
			for _, n := range rr.ConfigNames {
				if n == name {
					return true
				}
			}
			return false
		}
		add := func(name, value string, source int8, readOnly bool, syn *kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) {
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = name
			c.Value = &value
			c.ReadOnly = readOnly
			c.Source = kmsg.ConfigSource(source)
			c.IsDefault = source == sourceDefault
			c.ConfigType = configType(value)
			if req.IncludeSynonyms {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = name, &value, kmsg.ConfigSource(source)
				c.ConfigSynonyms = append(c.ConfigSynonyms, s)
				if syn != nil {
					c.ConfigSynonyms = append(c.ConfigSynonyms, *syn)
				}
			}
			sr.Configs = append(sr.Configs, c)
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				msg := "this broker is node " + strconv.Itoa(int(b.cfg.NodeID))
				sr.ErrorMessage = &msg
				break
			}
			for _, line := range b.cfg.Properties() {
				k, v, _ := strings.Cut(line, "=")
				if !want(k) {
					continue
				}
				src := int8(sourceDefault)
				if b.cfg.explicit[k] {
					src = sourceStaticBroker
				}
				add(k, v, src, true, nil)
			}
		case kmsg.ConfigResourceTypeTopic:
			ti, ok := b.store.Topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, spec := range storage.TopicConfigSpecs() {
				bv, hasDefault := b.store.TopicConfigDefault(spec.Name)
				v, set := ti.Configs[spec.Name]
				if !want(spec.Name) || (!hasDefault && !set) {
					continue
				}
				if !hasDefault {
					// Accepted and stored, no broker default here (like
					// segment.jitter.ms).
					add(spec.Name, v, sourceTopic, false, nil)
					continue
				}
				bsrc := int8(sourceDefault)
				if b.cfg.explicit[spec.BrokerKey] {
					bsrc = sourceStaticBroker
				}
				bsyn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				bsyn.Name, bsyn.Value, bsyn.Source = spec.BrokerKey, &bv, kmsg.ConfigSource(bsrc)
				if set {
					add(spec.Name, v, sourceTopic, false, &bsyn)
				} else {
					add(spec.Name, bv, bsrc, false, nil)
				}
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			msg := "only topic and broker resources are supported"
			sr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// configType guesses the config type (v3+) from the value.
func configType(v string) kmsg.ConfigType {
	if v == "true" || v == "false" {
		return kmsg.ConfigTypeBoolean
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return kmsg.ConfigTypeLong
	}
	return kmsg.ConfigTypeString
}
