// Package txn is brokerlab's transaction coordinator: Kafka's
// TransactionCoordinator and TransactionStateManager (KIP-98, KIP-447) for
// a single node.
//
// A transactional id maps to a producer id and epoch; InitProducerId
// bumps the epoch (fencing older producers) after aborting an ongoing
// transaction. A transaction goes Empty -> Ongoing (AddPartitions,
// AddOffsets) -> PrepareCommit/PrepareAbort (EndTxn, or its timeout) ->
// CompleteCommit/CompleteAbort. The coordinator does not touch the log or
// the groups itself: Config.WriteMarker writes a partition's control
// batch and Config.CommitOffsets applies a committed transaction's
// TxnOffsetCommit offsets, which wait here until then (PendingOffset
// answers OffsetFetch's require_stable).
//
// # Durability
//
// Every state change is one record of Config.Dir/txn.log, written and
// fsynced before the request is answered:
//
//	length uint32 | crc32c uint32 | version uint8 (1) | JSON of the id's whole state
//
// The latest record per id wins ("Dead" removes it), as in Kafka's
// __transaction_state; a torn or corrupt tail is cut at load, and the file
// is compacted when it grows past four times its live records. After a
// crash, Recover finishes the transactions that were prepared: their
// markers are written again (a marker is idempotent for the consumer) and
// a commit's offsets applied again.
package txn
