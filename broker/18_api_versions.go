package broker

// ApiVersions: v0-3
//
// Behaviour:
//   - Answers every API key registered in this package (registry.go) with
//     its version range, so the ranges cannot drift from the handlers.
//   - A request of a version above 3 is answered the way Kafka answers it
//     (KIP-511): a v0 response with error 35 UNSUPPORTED_VERSION and the
//     supported ranges, without decoding the request body, so the client
//     retries with a version we speak.
//   - An unsupported version of any other API closes the connection, as
//     Kafka does.
//
// Not implemented: client software name/version validation (v3),
// supported/finalized features (v3 tagged fields).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(18, 0, 3, handleApiVersions) }

func apiVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range registeredAPIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	return keys
}

func handleApiVersions(_ context.Context, _ *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionKeys()
	return resp, nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a
// version above ours.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionKeys()
	return resp
}
