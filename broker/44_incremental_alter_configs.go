package broker

// IncrementalAlterConfigs: v0-1
//
// Behaviour:
//   - Topic resources: each config op changes the topic's current set:
//     SET (a value is required), DELETE (back to the broker's default),
//     APPEND and SUBTRACT for the list-valued topic configs
//     (cleanup.policy and the replication throttle lists: comma-separated
//     items added if missing, removed if present). The resulting set goes
//     through storage.Store.SetTopicConfigs as in AlterConfigs (33):
//     INVALID_CONFIG naming the key for a bad value or unknown key,
//     persisted before the answer, applied at once.
//   - validate_only checks everything and changes nothing.
//   - A key named twice in one resource, or a resource named twice, gets
//     INVALID_REQUEST; APPEND/SUBTRACT on a non-list config INVALID_CONFIG.
//   - Broker resources get INVALID_REQUEST (static broker configs); other
//     resource types INVALID_REQUEST; a missing topic
//     UNKNOWN_TOPIC_OR_PARTITION.
//
// Not implemented: dynamic broker configs, broker loggers.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

// listTopicConfigs names the topic configs whose values are
// comma-separated lists (storage.KindList, Kafka's ConfigDef type LIST),
// the only ones APPEND and SUBTRACT apply to.
func listTopicConfigs() []string {
	var out []string
	for _, spec := range storage.TopicConfigSpecs() {
		if spec.Kind == storage.KindList {
			out = append(out, spec.Name)
		}
	}
	return out
}

func handleIncrementalAlterConfigs(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	twice := namedTwice(req.Resources, func(rr kmsg.IncrementalAlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	})
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = alterResource(b, rr.ResourceType, rr.ResourceName, twice(rr), req.ValidateOnly,
			func(current map[string]string) (map[string]*string, *kerr.Error, string) {
				return applyConfigOps(current, rr.Configs)
			})
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// applyConfigOps applies incremental config ops to a topic's current
// configs and returns the complete new set.
func applyConfigOps(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]*string, *kerr.Error, string) {
	set := map[string]*string{}
	for k, v := range current {
		set[k] = &v
	}
	named := map[string]bool{}
	for _, op := range ops {
		if named[op.Name] {
			return nil, kerr.InvalidRequest, fmt.Sprintf("config %q is given more than once", op.Name)
		}
		named[op.Name] = true
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return nil, kerr.InvalidConfig, fmt.Sprintf("config %q: SET needs a value (use DELETE to go back to the default)", op.Name)
			}
			set[op.Name] = op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(set, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if spec, _ := storage.LookupTopicConfig(op.Name); spec.Kind != storage.KindList {
				return nil, kerr.InvalidConfig, fmt.Sprintf("config %q: %s applies only to list configs (%s)", op.Name, op.Op, strings.Join(listTopicConfigs(), ", "))
			}
			var items []string
			if v := set[op.Name]; v != nil && *v != "" {
				items = strings.Split(*v, ",")
			}
			var given []string
			if op.Value != nil && *op.Value != "" {
				given = strings.Split(*op.Value, ",")
			}
			for _, g := range given {
				g = strings.TrimSpace(g)
				i := slices.Index(items, g)
				switch {
				case op.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
					items = append(items, g)
				case op.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
					items = slices.Delete(items, i, i+1)
				}
			}
			if len(items) == 0 {
				delete(set, op.Name)
			} else {
				v := strings.Join(items, ",")
				set[op.Name] = &v
			}
		default:
			return nil, kerr.InvalidRequest, fmt.Sprintf("config %q: unknown op %d", op.Name, op.Op)
		}
	}
	return set, nil, ""
}
