package group

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file is the group side of transactional offset commits (KIP-98,
// KIP-447): TxnOffsetCommit's member check, and applying a committed
// transaction's offsets. The transaction coordinator (package txn) holds
// the offsets until the transaction ends.

// TxnOffset is one offset of a committed transaction.
type TxnOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// CheckTxnCommit validates TxnOffsetCommit's member fields as Kafka's
// GroupCoordinator.doTxnCommitOffsets does: a fenced static member, an
// unknown member (when one is named) or another generation (when one is
// given) is refused. An unknown group is created, as Kafka does.
func (c *Coordinator) CheckTxnCommit(group, memberID string, generation int32, instanceID *string) *kerr.Error {
	if e := checkGroupID(group); e != nil {
		return e
	}
	g := c.lockGroup(group, true)
	defer g.mu.Unlock()
	if instanceID != nil && memberID != "" {
		if known, ok := g.static[*instanceID]; ok && known != memberID {
			return kerr.FencedInstanceID
		}
	}
	if memberID != "" {
		if _, ok := g.members[memberID]; !ok {
			return kerr.UnknownMemberID
		}
	}
	if generation >= 0 && generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// CheckTxnOffset validates one partition of a TxnOffsetCommit as
// OffsetCommit does.
func (c *Coordinator) CheckTxnOffset(topic string, partition int32, metadata *string) *kerr.Error {
	nparts, known := int32(-1), true
	if c.cfg.Partitions != nil {
		nparts, known = c.cfg.Partitions(topic)
	}
	switch {
	case !known || len(topic) > maxTopicLen || partition < 0 || (nparts >= 0 && partition >= nparts):
		return kerr.UnknownTopicOrPartition
	case metadata != nil && len(*metadata) > c.cfg.MaxMetadataBytes:
		return kerr.OffsetMetadataTooLarge
	}
	return nil
}

// CommitTxnOffsets stores the offsets of a committed transaction (one
// fsync), whatever the group's state: the member was checked when the
// offsets joined the transaction.
func (c *Coordinator) CommitTxnOffsets(group string, offsets []TxnOffset) error {
	g := c.lockGroup(group, true)
	defer g.mu.Unlock()
	now := c.cfg.Clock.Now().UnixMilli()
	records := make([]offsetRecord, 0, len(offsets))
	for _, o := range offsets {
		records = append(records, offsetRecord{
			group: g.name,
			tp:    tp{topic: o.Topic, partition: o.Partition},
			value: offsetValue{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata, commitMs: now},
		})
	}
	if err := c.log.append(records); err != nil {
		return fmt.Errorf("committing transactional offsets of group %s: %w", group, err)
	}
	return nil
}
