package broker

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the API-key registry, in the style of franz-go pkg/kfake
// (regKey in 18_api_versions.go): every API lives in its own file
// NN_name.go and registers itself from an init function, and ApiVersions is
// built from what is registered, so the advertised ranges can never drift
// from what the broker serves.
//
// How a new API file plugs in (for example 12_heartbeat.go):
//
//	// Heartbeat: v0-4
//	//
//	// Behaviour: ...
//	// Not implemented: ...
//	package broker
//
//	func init() { register(12, 0, 4, handleHeartbeat) }
//
//	func handleHeartbeat(ctx context.Context, b *Broker, cc *Conn, kreq kmsg.Request) (kmsg.Response, error) {
//		req := kreq.(*kmsg.HeartbeatRequest)
//		resp := req.ResponseKind().(*kmsg.HeartbeatResponse) // Version already set to req.Version
//		...
//		return resp, nil
//	}
//
// What a handler gets:
//   - ctx: cancelled when the broker shuts down; a handler that waits
//     (JoinGroup, Fetch long polling) selects on it and answers at once.
//     A connection's requests are read one at a time (as in Kafka, which
//     mutes a connection while its request is in flight); a handler that
//     waits long uses cc.watchPeer to also end when the client goes away.
//   - b: the Broker: b.Store() (the log, *storage.Store), b.Config(),
//     b.Logger(), b.NodeID(), and the group coordinator b.groups
//     (*group.Coordinator).
//   - cc: the connection: cc.ClientID(), cc.RemoteAddr().
//   - kreq: the decoded request; its concrete type is the one
//     kmsg.RequestForKey(key) returns (*kmsg.HeartbeatRequest, ...), with
//     Version set. The version is already checked against the registered
//     [min, max] range: a handler never sees a version it did not register.
//
// What a handler returns:
//   - (resp, nil): resp is written back with the request's correlation id,
//     in request order on this connection. Build it with
//     req.ResponseKind(), which carries the request's version.
//   - (nil, nil): no response at all (Produce with acks=0).
//   - (_, err): the connection is closed (Kafka's answer to a request it
//     cannot make sense of). Protocol errors are kerr codes inside resp,
//     never a Go error.
//   - For Fetch only: resp is a *fetchResponse (fetch_wire.go, embedding
//     *kmsg.FetchResponse with record bytes as file ranges), which the
//     connection encodes and sends itself (conn_write.go: sendfile or copy).
//   - The request's bytes (and, for Produce and Fetch, its strings) may
//     share the connection's buffer, reused once the response is written:
//     conn_body.go says which APIs borrow and which get their own copy.
//
// Handlers of one connection run one at a time, in request order (Kafka's
// own rule: a connection is muted while its request is in flight); handlers
// of different connections run concurrently, so anything shared must be
// safe for concurrent use.

// Handler serves one decoded request; see the comment at the top of
// registry.go for what it gets and returns.
type Handler func(ctx context.Context, b *Broker, cc *Conn, kreq kmsg.Request) (kmsg.Response, error)

// api is one registered API key.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	handle     Handler
}

var (
	registryMu sync.Mutex
	registry   = map[int16]api{}
)

// register adds an API key with its supported version range and handler.
// It is called from the init function of the API's own file and panics on
// a bad or duplicate registration (a programming error).
func register(key, minVersion, maxVersion int16, h Handler) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if key < 0 || minVersion < 0 || maxVersion < minVersion || h == nil {
		panic(fmt.Sprintf("broker: invalid registration key %d versions %d-%d", key, minVersion, maxVersion))
	}
	if kmsg.RequestForKey(key) == nil {
		panic(fmt.Sprintf("broker: key %d unknown to kmsg", key))
	}
	if _, dup := registry[key]; dup {
		panic(fmt.Sprintf("broker: key %d (%s) registered twice", key, kmsg.NameForKey(key)))
	}
	registry[key] = api{key: key, minVersion: minVersion, maxVersion: maxVersion, handle: h}
}

// lookupAPI returns the registration of key.
func lookupAPI(key int16) (api, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	a, ok := registry[key]
	return a, ok
}

// registeredAPIs returns every registration sorted by key.
func registeredAPIs() []api {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]api, 0, len(registry))
	for _, a := range registry {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
