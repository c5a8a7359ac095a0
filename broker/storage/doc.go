// Package storage is brokerlab's log: Apache Kafka's on-disk layout, written
// with plain write(2) appends through the page cache and read back as byte
// ranges of whole record batches for sendfile(2).
//
// # Use
//
//	s, err := storage.Open(storage.Config{Dirs: []string{"/var/lib/brokerlab"}, NodeID: 1, Logger: logger})
//	if err != nil { ... }           // e.g. a *ClusterIDMismatchError, with the fix in its text
//	defer s.Close()                 // flush, checkpoints, clean-shutdown marker
//	go s.Run(ctx)                   // retention, time-based flushes, checkpoints
//	err = s.CreateTopic("events", 3, nil)
//	p := s.Partition("events", 0)
//	res, err := p.Append(batch, false) // errors wrap kerr codes; true: fdatasync before returning
//	sl, err := p.Read(res.BaseOffset, 1<<20)
//	defer sl.Release()              // unix.Sendfile(conn, sl.File.Fd(), &sl.Pos, sl.Size)
//
// # Files on disk
//
// Every log dir (log.dirs) holds:
//
//	meta.properties                    Kafka's format: version=1, cluster.id, node.id. Every dir
//	                                   must agree, and node.id must match Config.NodeID, or Open
//	                                   fails with a message naming the file, both ids and the fix.
//	.lock                              flock(2)ed while a Store has the dir open.
//	.kafka_cleanshutdown               written by Close when everything was flushed; Open skips
//	                                   the recovery scan when present and deletes it once loaded.
//	recovery-point-offset-checkpoint   Kafka's OffsetCheckpointFile: "0", a count, then
//	                                   "topic partition offset" lines; written by Close and every
//	                                   CheckpointInterval by Run.
//	log-start-offset-checkpoint        the same format: each partition's log start offset, written
//	                                   (fsync'd) by DeleteRecords before its new start takes
//	                                   effect, and at Open and after a topic deletion (dropping
//	                                   entries of deleted topics); at load a partition's start is
//	                                   the larger of its first segment's base and this entry.
//	brokerlab-producer-id-block        (ours) the last producer id reserved; NextProducerID hands
//	                                   out ids in blocks of 1000 after writing this file in every
//	                                   dir, so ids stay unique across restarts and crashes.
//	<topic>-<partition>/               one directory per partition, in the dir holding the fewest
//	                                   partitions when the topic was created.
//
// and every partition directory holds:
//
//	00000000000000000000.log           record batches (magic v2) exactly as the client sent them,
//	                                   except baseOffset and partitionLeaderEpoch (outside the CRC)
//	                                   and, for LogAppendTime topics, maxTimestamp and the
//	                                   timestamp-type bit (the CRC32C is recomputed then), and for
//	                                   topics whose compression.type is not producer, the codec:
//	                                   such a batch is rebuilt with the topic's codec (same header
//	                                   and records, new length and CRC32C), as Kafka's LogValidator
//	                                   does. The name is the segment's base offset, 20 digits.
//	00000000000000000000.index         sparse offset index: 8-byte big-endian entries
//	                                   (offset - base uint32, file position uint32), one per
//	                                   log.index.interval.bytes; preallocated (sparse) to
//	                                   log.index.size.max.bytes while active, trimmed on roll/close.
//	                                   Entries are kept in memory and written (one pwrite) when
//	                                   the segment is flushed, rolls or closes, not per append.
//	00000000000000000000.timeindex     12-byte entries (max timestamp so far int64, its offset -
//	                                   base uint32), added with the offset index entries and once
//	                                   more when the segment stops being active.
//	00000000000000000000.txnindex      Kafka's aborted-transaction index: 34-byte entries (version,
//	                                   producer id, first offset, marker offset, LSO) for each
//	                                   transaction aborted by a marker in this segment; written and
//	                                   fsynced before the marker, rebuilt from the log at recovery.
//	<offset>.snapshot                  producer state as of <offset> (Kafka's name, our content:
//	                                   8 hex digits of CRC32C, a newline, JSON), written when a
//	                                   segment rolls and at Close; the newest three are kept.
//	topic.json                         (ours) topic name, topic id, partition count and the
//	                                   topic's configs, written atomically (temp file, fsync,
//	                                   rename, fsync of the dir) when the topic is created (last,
//	                                   once every partition dir exists: a dir without it is an
//	                                   unfinished creation, removed at load; a count above
//	                                   max.broker.partitions is refused at load) and
//	                                   by SetTopicConfigs, with a config_version counting the
//	                                   changes. Every partition dir has a copy, so topics survive
//	                                   restarts and the loss of a log dir (missing partitions come
//	                                   back empty); at load the copy with the highest
//	                                   config_version wins.
//	partition.metadata                 Kafka's file: "version: 0", "topic_id: <base64 uuid>".
//
// # Appends
//
// Partition.Append first validates every batch without locks, as Kafka's
// LogValidator does: length, magic, CRC32C (Castagnoli), message.max.bytes or
// the topic's max.message.bytes, record count against lastOffsetDelta, and the
// records themselves (varint walk, after decompression for compressed
// batches, decompressed to at most MaxDecompressedBytes, else
// MessageTooLarge). Then, under the partition lock, it checks idempotent producers'
// sequences (the last five batches per producer id; duplicates answer with
// the original offsets and write nothing), assigns offsets by rewriting
// baseOffset, rolls the segment if needed (log.segment.bytes / segment.bytes,
// log.roll.ms / segment.ms counted from the segment's first append, a full
// index), issues one write(2), adds index entries in memory, advances the high
// watermark and closes the Wait channel. A failed write is truncated back, so
// no partial batch is ever visible (a full disk returns KafkaStorageError
// and appends work again once there is space). A failed fdatasync takes the
// partition offline until restart: after it the page cache state is unknown.
//
// Flush policy: Append(records, true) returns after an fdatasync that
// covers its write (the broker asks for it for acks=-1 with
// log.flush.sync.on.ack); appends waiting on one partition share
// one fdatasync (group commit through Partition.syncMu). flush.messages /
// log.flush.interval.messages flush in the append path, flush.ms /
// log.flush.interval.ms from Run. A rolled segment is always flushed in the
// background (Kafka's flushUptoOffsetExclusive), which advances the recovery
// point.
//
// # Reads
//
// Partition.Read finds the segment, looks the offset up in the in-memory
// copy of the offset index and preads 61-byte batch headers from there to
// the batch holding the offset; it extends the range over whole batches up
// to maxBytes (jumping to the last index entry that fits and preading
// 12-byte headers from there) and always returns at least one batch
// (KIP-74). The Slice holds a use of the segment's log file: it stays open
// until Release even if retention or DeleteTopic removes it.
//
// File descriptors: the active segment keeps its log and two index files
// open; a sealed segment's index entries are served from memory and its log
// is opened only while a read, flush or lookup uses it, so a partition holds
// three descriptors plus one per read in flight, however small
// segment.bytes is.
//
// # Recovery
//
// Open loads every partition with RecoveryThreadsPerDir workers per log dir.
// After a clean shutdown the indexes are trusted (only the headers after the
// last index entry are read). Otherwise each segment from the one holding the
// partition's recovery point on is read batch by batch, CRC-checked and its
// indexes rebuilt; at the first invalid batch the file is truncated, later
// segments are deleted and what was cut is logged (offsets, bytes, reason).
// Producer state is then rebuilt from the newest snapshot at or below the
// log end plus the batch headers after it. Index files are read a chunk at
// a time only up to their first unused entry: a crashed active segment's
// indexes are still preallocated to log.index.size.max.bytes of zeros.
//
// # Retention
//
// Run calls enforceRetention every Retention.CheckInterval: whole closed
// segments go, oldest first, while their largest timestamp is older than
// retention.ms, then while the partition stays at or above retention.bytes
// without them. The active segment is never deleted; the log start offset
// moves to the first remaining segment (if it was below). DeleteRecords
// (Partition.DeleteRecords) moves the log start offset to any offset up to
// the high watermark, checkpointed first, and deletes the segments wholly
// below it at once.
//
// # Differences from Kafka
//
// Single node: the high watermark is the log end offset and partitionLeaderEpoch
// is always 0. No log compaction (cleanup.policy=compact is refused), no
// transactions (transactional batches are stored like idempotent ones, no
// markers), no legacy message formats (magic 0/1 gets
// UNSUPPORTED_FOR_MESSAGE_FORMAT). Idle producers expire after
// producer.id.expiration.ms (ProducerIDExpiration), counted from the broker's
// clock at their last append. A roll's producer snapshot is written in the
// background, reading the state a chunk at a time (a snapshot may hold
// batches after its offset; the replay skips them), at most one at a time
// per partition. Compressed records are decompressed whole, up to
// MaxDecompressedBytes, where Kafka streams them record by record.
//
// # Topics
//
// CreateTopic checks the count against max.broker.partitions, reserves the
// name and places the partitions under Store.mu, makes every partition dir
// and first segment without holding it (16 at a time), writes topic.json
// into each, and
// publishes the topic under Store.mu; on failure it removes what it made
// (topic.json first) and a failed removal is part of the error. DeleteTopic
// renames every partition dir to Kafka's capped "-delete" name
// (LocalLog.logDeleteDirName, at most 255 bytes) before dropping the topic
// from memory; a failed rename puts the others back and keeps the topic.
//
// # Topic configs
//
// One table (TopicConfigSpecs) lists every topic config: its name, the
// broker key it defaults to, its kind, its default and whether it takes
// effect here; the broker's handlers use it and only map errors.
// CreateTopic and SetTopicConfigs validate a topic's configs against the
// broker defaults (every bad key named, kerr.InvalidConfig).
// SetTopicConfigs replaces the whole set, writes it to every partition
// dir's topic.json, then swaps each partition's effective config (an
// atomic pointer read by Append, the flushes and retention), so changes
// apply to the next append or Run tick without a restart. Run's flush tick
// follows the shortest flush.ms of any topic (at least 10ms).
//
// # Concurrency
//
// All exported methods are safe for concurrent use. Locks, in the order
// they may be taken (never the reverse):
//
//	Store.cfgMu       one SetTopicConfigs at a time (held while writing topic.json)
//	Store.mu          topics map, names being created, closed flag, per-dir partition
//	                  counts, topic configs; never held across file I/O
//	Partition.syncMu  one fdatasync at a time per partition (group commit)
//	Partition.mu      segments list, segment fields, producer state, Wait channel,
//	                  unflushed counters; RWMutex, Read only takes it to pick the
//	                  segment and copy its size and index slice header
//	segment.fmu       a segment's log file, its users and pin (a leaf, taken under
//	                  Partition.mu or alone)
//	Store.pidMu       producer id block (a leaf)
//
// No code takes Store.mu while holding a partition's lock. Append, Read and
// the flushes never touch Store.mu. The high watermark, log start offset,
// recovery point and Stats counters are atomics. Bytes below a segment's committed size never change,
// so readers pread them without locks.
//
// Goroutines: Run's caller owns Run. A segment roll starts one short-lived
// goroutine (fdatasync of the rolled segment, producer snapshot) tracked by
// Store.bg, which Close waits for; Close also waits for topic creations and
// deletions working on files (Store.ops). Open's recovery workers (errgroup, labelled
// storage=recovery) finish before Open returns.
package storage
