package broker

// FindCoordinator: v0-4
//
// Behaviour: this node coordinates every group (at its advertised address,
// as in Metadata); v4's batched keys get one answer each. This file also
// builds the broker's group coordinator (Broker.groups, package group),
// which the group APIs (08, 09, 11-16, 42, 47) share: its committed offsets
// live in <first log dir>/__consumer_offsets (see package group's doc).
//
// Not implemented: transaction coordinators (key type 1 gets
// COORDINATOR_NOT_AVAILABLE).

import (
	"context"
	"net"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/group"
)

// offsetsDirName is the directory in the first log dir that holds the
// committed offsets. It has no "-<partition>" suffix, so the storage
// package does not take it for a partition.
const offsetsDirName = offsetsTopicName

// offsetsTopicName is Kafka's internal offsets topic
// (Topic.GROUP_METADATA_TOPIC_NAME), which Metadata reports (03_metadata.go).
const offsetsTopicName = "__consumer_offsets"

func init() { register(10, 0, 4, handleFindCoordinator) }

// newGroupCoordinator builds the group coordinator from the broker's config.
func newGroupCoordinator(b *Broker) (*group.Coordinator, error) {
	return group.New(group.Config{
		Dir:                           filepath.Join(b.Config().LogDirs[0], offsetsDirName),
		MinSessionTimeout:             b.Config().GroupMinSessionTimeout,
		MaxSessionTimeout:             b.Config().GroupMaxSessionTimeout,
		OffsetsRetention:              b.Config().OffsetsRetention,
		OffsetsRetentionCheckInterval: b.Config().OffsetsRetentionCheckInterval,
		MaxMetadataBytes:              b.Config().OffsetMetadataMaxBytes,
		MaxProtocolMetadataBytes:      b.Config().GroupProtocolMetadataMaxBytes,
		InitialRebalanceDelay:         b.Config().GroupInitialRebalanceDelay,
		Partitions: func(topic string) (int32, bool) {
			ti, ok := b.Store().Topic(topic)
			return ti.Partitions, ok
		},
		Logger: b.cfg.Logger, // not b.Logger(): that one already says component=broker
	})
}

// groupClient describes a connection for the group coordinator: the client
// id and the peer's host as Kafka shows it ("/127.0.0.1").
func groupClient(cc *Conn) group.Client {
	host := cc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return group.Client{ID: cc.ClientID(), Host: "/" + host}
}

func handleFindCoordinator(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	host, port := b.advertised()
	return b.groups.FindCoordinator(kreq.(*kmsg.FindCoordinatorRequest), group.Node{ID: b.NodeID(), Host: host, Port: port}), nil
}
