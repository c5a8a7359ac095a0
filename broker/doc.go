// Package broker is a single-node, Kafka-wire-compatible broker: it reads a
// Kafka server.properties (ParseProperties, ConfigFromProperties), listens
// for Kafka clients, decodes requests with franz-go's kmsg and answers them
// from the log in package storage. Each Kafka API lives in its own file
// NN_name.go and registers itself (registry.go). Fetch is zero-copy: the
// record bytes go from the segment file to the socket with sendfile(2).
//
// Example:
//
//	cfg := broker.DefaultConfig()
//	cfg.LogDirs = []string{"/var/lib/brokerlab"}
//	b, err := broker.New(cfg)
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//	return b.Run(ctx) // serves until ctx is done, then drains and flushes
package broker
