package broker

// OffsetCommit: v0-8
//
// Behaviour: stores committed offsets in the group coordinator's offsets
// log (fsync before the answer), validating member and generation as Kafka
// does; a generation of -1 (and every v0 commit) is a simple commit,
// accepted while the group has no members. Partitions the log does not
// have get UNKNOWN_TOPIC_OR_PARTITION; metadata longer than 4096 bytes
// (offset.metadata.max.bytes) gets OFFSET_METADATA_TOO_LARGE.
//
// Not implemented: v0's ZooKeeper storage (v0 commits go to the same log),
// per-request retention times (v2-4: offsets.retention.minutes applies),
// topic ids (v10+).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(8, 0, 8, handleOffsetCommit) }

func handleOffsetCommit(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.OffsetCommit(kreq.(*kmsg.OffsetCommitRequest)), nil
}
