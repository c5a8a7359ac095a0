package storage

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// startCheckpointFile is Kafka's log-start-offset-checkpoint: the log start
// offset of every partition of the dir, in the OffsetCheckpointFile format
// of recovery-point-offset-checkpoint. Kafka writes it every
// log.flush.start.offset.checkpoint.interval.ms; here it is written before
// a DeleteRecords answers, so an acknowledged deletion survives a crash.
const startCheckpointFile = "log-start-offset-checkpoint"

// DeleteRecordsHighWatermark asks DeleteRecords to delete every record
// (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
const DeleteRecordsHighWatermark = -1

// DeleteRecords moves the partition's log start offset up to offset
// (DeleteRecordsHighWatermark: the high watermark), as Kafka's
// UnifiedLog.maybeIncrementLogStartOffset does for a client's DeleteRecords,
// and returns the log start offset after it (unchanged when offset is not
// above it). The new start is written to the dir's
// log-start-offset-checkpoint (temp file, fsync, rename) before it takes
// effect; then the segments wholly below it are deleted (never the active
// one) and producers whose batches all lie below it are forgotten. Reads
// below the new start get kerr.OffsetOutOfRange from then on; a read at it
// gets the batch that holds it, earlier records included, as in Kafka.
//
// Errors wrap kerr.OffsetOutOfRange (offset negative or above the high
// watermark), kerr.UnknownTopicOrPartition (closed) or
// kerr.KafkaStorageError.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	s := p.store
	s.startMu.Lock()
	defer s.startMu.Unlock()
	p.mu.RLock()
	err := p.unavailable()
	hwm, lso := p.hwm.Load(), p.lso.Load()
	p.mu.RUnlock()
	if err != nil {
		return -1, err
	}
	if offset == DeleteRecordsHighWatermark {
		offset = hwm
	}
	if offset < 0 || offset > hwm {
		return -1, fmt.Errorf("deleting records of %s before offset %d: the offset is outside [0, %d] (the high watermark): %w", p, offset, hwm, kerr.OffsetOutOfRange)
	}
	if offset <= lso {
		return lso, nil
	}
	if err := s.writeStartCheckpoint(p.ld, p, offset); err != nil {
		return -1, fmt.Errorf("deleting records of %s before offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
	}
	p.mu.Lock()
	if err := p.unavailable(); err != nil {
		p.mu.Unlock()
		return -1, err
	}
	// Only DeleteRecords (serialised by startMu) and retention (which
	// moves it to a segment base, never down) change the start.
	if offset > p.lso.Load() {
		p.lso.Store(offset)
	}
	n := 0
	for n < len(p.segs)-1 && p.segs[n].next <= offset {
		n++
	}
	del := p.dropOldest(n)
	lso = p.lso.Load()
	p.mu.Unlock()
	p.removeSegments(del, "log start offset")
	s.log.Info("deleted records", "partition", p.String(), "log_start_offset", lso)
	return lso, nil
}

// writeStartCheckpoint writes ld's log-start-offset-checkpoint from the
// live partitions of ld, with override's entry set to offset when
// override is not nil (s.startMu held).
func (s *Store) writeStartCheckpoint(ld *logDir, override *Partition, offset int64) error {
	var entries []checkpointEntry
	for _, p := range s.partitions() {
		if p.ld != ld {
			continue
		}
		off := p.lso.Load()
		if p == override {
			off = offset
		}
		entries = append(entries, checkpointEntry{topic: p.topic, partition: p.id, offset: off})
	}
	return writeCheckpoint(filepath.Join(ld.path, startCheckpointFile), entries)
}

// writeStartCheckpoints rewrites every dir's log-start-offset-checkpoint
// from the live partitions: at Open (dropping entries of topics deleted
// before a crash, so a new topic of the same name never inherits a start)
// and after a topic deletion.
func (s *Store) writeStartCheckpoints() error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	for _, ld := range s.dirs {
		if err := s.writeStartCheckpoint(ld, nil, 0); err != nil {
			return err
		}
	}
	return nil
}

// readStartCheckpoint reads ld's log-start-offset-checkpoint; an
// unreadable one is ignored with a warning (the starts fall back to the
// first segments' bases, as Kafka's do).
func (s *Store) readStartCheckpoint(ld *logDir) map[string]map[int32]int64 {
	cp, err := readCheckpoint(filepath.Join(ld.path, startCheckpointFile))
	if err != nil {
		s.log.Warn("ignoring unreadable log start offset checkpoint", "dir", ld.path, "err", err)
		return map[string]map[int32]int64{}
	}
	return cp
}

// applyStartCheckpoint raises a loaded partition's log start offset to its
// checkpointed value (at most the high watermark: records a crash lost
// cannot be below it), drops the segments wholly below it and forgets the
// producers below it.
func (p *Partition) applyStartCheckpoint(offset int64) {
	p.mu.Lock()
	offset = min(offset, p.hwm.Load())
	if offset <= p.lso.Load() {
		p.mu.Unlock()
		return
	}
	p.lso.Store(offset)
	n := sort.Search(len(p.segs)-1, func(i int) bool { return p.segs[i].next > offset })
	del := p.dropOldest(n)
	p.mu.Unlock()
	p.removeSegments(del, "log start offset")
}
