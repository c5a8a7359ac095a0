package broker

// FindCoordinator: v0-4
//
// Behaviour: this node coordinates every group and every transactional id
// (key type 1), at its advertised address as in Metadata; v4's batched
// keys get one answer each. This file also builds the broker's group
// coordinator (Broker.groups, package group), which the group APIs (08,
// 09, 11-16, 42, 47) share: its committed offsets live in
// <first log dir>/__consumer_offsets (see package group's doc); and the
// transaction coordinator (Broker.txns, package txn), which the
// transactional APIs (22, 24-26, 28, 65, 66) share: its log lives in
// <first log dir>/__transaction_state.

import (
	"context"
	"errors"
	"net"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/group"
	"github.com/brokerlab/brokerlab/broker/txn"
)

// offsetsDirName is the directory in the first log dir that holds the
// committed offsets. It has no "-<partition>" suffix, so the storage
// package does not take it for a partition.
const offsetsDirName = offsetsTopicName

// offsetsTopicName is Kafka's internal offsets topic
// (Topic.GROUP_METADATA_TOPIC_NAME), which Metadata reports (03_metadata.go).
const offsetsTopicName = "__consumer_offsets"

// txnDirName is the directory in the first log dir that holds the
// transaction log: Kafka's internal topic name, without a "-<partition>"
// suffix so that the storage package does not take it for a partition.
const txnDirName = "__transaction_state"

func init() { register(10, 0, 4, handleFindCoordinator) }

// newTxnCoordinator builds the transaction coordinator over the log and
// the group coordinator.
func newTxnCoordinator(b *Broker) (*txn.Coordinator, error) {
	cfg := b.Config()
	return txn.New(txn.Config{
		Dir:           filepath.Join(cfg.LogDirs[0], txnDirName),
		MaxTimeout:    cfg.TransactionMaxTimeout,
		IDExpiration:  cfg.TransactionalIDExpiration,
		CheckInterval: cfg.TransactionCheckInterval,
		MaxIDs:        cfg.TransactionalIDsMax,
		MaxPartitions: cfg.TransactionPartitionsMax,
		NewProducerID: b.store.NextProducerID,
		PartitionExists: func(tp txn.TopicPartition) bool {
			return b.store.Partition(tp.Topic, tp.Partition) != nil
		},
		WriteMarker: func(tp txn.TopicPartition, pid int64, epoch int16, commit bool) error {
			p := b.store.Partition(tp.Topic, tp.Partition)
			if p == nil {
				return nil // deleted since: Kafka skips it too
			}
			err := p.WriteTxnMarker(pid, epoch, commit, 0)
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil
			}
			return err
		},
		CommitOffsets: func(g string, offs []txn.PendingOffset) error {
			out := make([]group.TxnOffset, len(offs))
			for i, o := range offs {
				out[i] = group.TxnOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
			}
			return b.groups.CommitTxnOffsets(g, out)
		},
		Now:    cfg.Now,
		Logger: cfg.Logger,
	})
}

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
	req := kreq.(*kmsg.FindCoordinatorRequest)
	host, port := b.advertised()
	if req.CoordinatorType != 1 {
		return b.groups.FindCoordinator(req, group.Node{ID: b.NodeID(), Host: host, Port: port}), nil
	}
	// Transactional ids: this node.
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			sc := kmsg.NewFindCoordinatorResponseCoordinator()
			sc.Key, sc.NodeID, sc.Host, sc.Port = key, b.NodeID(), host, port
			resp.Coordinators = append(resp.Coordinators, sc)
		}
		return resp, nil
	}
	resp.NodeID, resp.Host, resp.Port = b.NodeID(), host, port
	return resp, nil
}
