// Package group is the broker's group coordinator: Kafka's classic
// consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// ListGroups, DescribeGroups, FindCoordinator) and committed offsets
// (OffsetCommit, OffsetFetch), on a single node that coordinates every
// group. It knows nothing of connections: each Coordinator method takes a
// kmsg request and returns its kmsg response; the broker's NN_name.go files
// call them.
//
// # Groups
//
// A group moves through Kafka's states Empty, PreparingRebalance,
// CompletingRebalance and Stable, with generations and member ids as Kafka
// (client.id + "-" + UUID): a v4+ JoinGroup without a member id is answered
// MEMBER_ID_REQUIRED with the id to use (KIP-394); a join, a leave or a
// session timeout starts a rebalance; the join barrier completes when every
// member has rejoined or the longest rebalance timeout passes (members that
// did not rejoin are removed); the protocol is chosen by vote among the
// protocols all members support; the leader's SyncGroup hands out the
// assignment. Members that join with a group.instance.id are static
// (KIP-345): rejoining with an empty member id replaces the old member
// (fenced with FENCED_INSTANCE_ID) and, if nothing changed, skips the
// rebalance. The first rebalance of an empty group waits
// Config.InitialRebalanceDelay (group.initial.rebalance.delay.ms), again
// after each new member, up to the rebalance timeout (Kafka's
// InitialDelayedJoin). A member keeps only its protocols (copied out of the
// request, bounded by Config.MaxProtocolMetadataBytes) and timeouts; one
// answered MEMBER_ID_REQUIRED keeps no protocols until it joins. JoinGroup and SyncGroup block until the group answers them: the
// group's state machine sends the response on a channel the handler waits
// on. Session, rebalance and pending-sync timeouts are one-shot timers from
// Config.Clock, owned by the group; there is no polling loop.
//
// Group membership is not persisted: after a restart every member gets
// UNKNOWN_MEMBER_ID and joins again, as after a coordinator failover.
//
// # Committed offsets
//
// Offsets are stored durably in Config.Dir, which the broker sets to
// <first log dir>/__consumer_offsets: a directory without a "-<partition>"
// suffix, so the storage package's partition loader ignores it. It holds
// offsets.log, an append-only file of records (length, CRC32C, then a layout
// version, group, topic, partition, offset, leader epoch, metadata and
// commit time; the layout, and why layout 0 records still load, is in
// offsetlog.go), and offsets.topic, an empty file that says Metadata lists
// the internal __consumer_offsets topic (written at the first
// FindCoordinator for a group, as Kafka creates the topic then). Each OffsetCommit appends its offsets with one
// write and one fsync before it answers. New reads the file, drops a torn
// or corrupt tail (a crash during an append) and, if anything was dropped or
// superseded, rewrites the latest record per (group, topic, partition) to
// offsets.log.tmp, fsyncs it and renames it over offsets.log. A running
// coordinator compacts the same way when the file passes Config.CompactBytes
// and four times its live size. Run expires the offsets of groups empty for
// longer than Config.OffsetsRetention (offsets.retention.minutes, KIP-211)
// and removes empty groups without offsets at each check, as Kafka's
// cleanupGroupMetadata. DeleteGroups and OffsetDelete write tombstones.
//
// Example:
//
//	c, err := group.New(group.Config{Dir: filepath.Join(logDir, "__consumer_offsets")})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	go c.Run(ctx)
//	resp := c.JoinGroup(ctx, group.Client{ID: "client", Host: "/127.0.0.1"}, req)
package group
