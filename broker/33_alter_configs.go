package broker

// AlterConfigs: v0-2
//
// Behaviour:
//   - Topic resources: the configs given replace every config set on the
//     topic (a key left out, or given a null value, goes back to the
//     broker's default), as in Kafka's legacy AlterConfigs. The values are
//     validated by the log (storage.Store.SetTopicConfigs): a bad value or
//     an unknown key fails the resource with INVALID_CONFIG and a message
//     naming the key. The new configs are written to every partition's
//     topic.json before the answer and apply at once (next append,
//     retention check, flush tick); DescribeConfigs shows them.
//   - validate_only checks everything and changes nothing.
//   - Broker resources get INVALID_REQUEST: every broker config is static
//     here (server.properties plus --override, read at start-up).
//   - A resource named twice gets INVALID_REQUEST; a missing topic
//     UNKNOWN_TOPIC_OR_PARTITION; other resource types INVALID_REQUEST.
//
// Not implemented: dynamic broker configs, broker loggers.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	twice := namedTwice(req.Resources, func(rr kmsg.AlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	})
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = alterResource(b, rr.ResourceType, rr.ResourceName, twice(rr), req.ValidateOnly,
			func(map[string]string) (map[string]*string, *kerr.Error, string) {
				set := map[string]*string{}
				for _, c := range rr.Configs {
					if _, dup := set[c.Name]; dup {
						return nil, kerr.InvalidRequest, fmt.Sprintf("config %q is given more than once", c.Name)
					}
					set[c.Name] = c.Value
				}
				return set, nil, ""
			})
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// configResource names a resource of AlterConfigs and
// IncrementalAlterConfigs.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// namedTwice says which of a request's entries (resources, topics) it
// names more than once, each named by key: Kafka answers every such entry
// INVALID_REQUEST.
func namedTwice[R any, K comparable](rs []R, key func(R) K) func(R) bool {
	seen := map[K]int{}
	for _, r := range rs {
		seen[key(r)]++
	}
	return func(r R) bool {
		return seen[key(r)] > 1
	}
}

// alterResource applies one AlterConfigs or IncrementalAlterConfigs
// resource. next computes the topic's new complete config set from its
// current one (or a protocol error). It returns the error code and
// message for the response (0 and nil on success).
func alterResource(b *Broker, typ kmsg.ConfigResourceType, name string, duplicate, validateOnly bool,
	next func(current map[string]string) (map[string]*string, *kerr.Error, string)) (int16, *string) {
	code, msg := alterResourceCode(b, typ, name, duplicate, validateOnly, next)
	if msg == "" {
		return code, nil
	}
	return code, &msg
}

func alterResourceCode(b *Broker, typ kmsg.ConfigResourceType, name string, duplicate, validateOnly bool,
	next func(current map[string]string) (map[string]*string, *kerr.Error, string)) (int16, string) {
	switch {
	case duplicate:
		return kerr.InvalidRequest.Code, fmt.Sprintf("resource %s %q is named more than once in the request", typ, name)
	case typ == kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(b.cfg.NodeID)) {
			return kerr.InvalidRequest.Code, "this broker is node " + strconv.Itoa(int(b.cfg.NodeID))
		}
		return kerr.InvalidRequest.Code, "broker configs cannot be changed while the broker runs: set them in server.properties (or with --override) and restart"
	case typ != kmsg.ConfigResourceTypeTopic:
		return kerr.InvalidRequest.Code, fmt.Sprintf("resource type %s is not supported: only topics can be altered", typ)
	}
	ti, ok := b.store.Topic(name)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, "topic " + name + " does not exist"
	}
	set, perr, msg := next(ti.Configs)
	if perr != nil {
		return perr.Code, msg
	}
	var err error
	if validateOnly {
		err = b.store.ValidateTopicConfigs(set)
	} else {
		err = b.store.SetTopicConfigs(name, set)
	}
	if err != nil {
		return kafkaErrorCode(err), err.Error()
	}
	return 0, ""
}
