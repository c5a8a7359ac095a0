package storage

import (
	"sync/atomic"
	"time"
)

// SyncLatencyBuckets are the upper bounds, in seconds, of the buckets of
// Stats.SyncBuckets; the last bucket of SyncBuckets counts everything
// slower than the last bound.
var SyncLatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Stats are the store's counters since Open, plain numbers for the broker
// to export (all are monotonic counters except Partitions).
type Stats struct {
	Appends         uint64 // successful Append calls that wrote
	AppendedBatches uint64
	AppendedRecords uint64
	AppendedBytes   uint64
	Duplicates      uint64 // idempotent duplicates answered without a write
	Rejected        uint64 // appends refused by validation or producer state
	StorageErrors   uint64 // write, sync and read failures (KAFKA_STORAGE_ERROR)

	Syncs        uint64   // fdatasync calls on segment files
	SyncSeconds  float64  // their total latency
	SyncBuckets  []uint64 // per-bucket counts (not cumulative), len(SyncLatencyBuckets)+1
	SyncsAvoided uint64   // flush requests already covered by another caller's fdatasync (group commit)

	Reads     uint64 // Read calls that returned data
	ReadBytes uint64

	Rolls             uint64
	SegmentsDeleted   uint64 // by retention
	BytesDeleted      uint64
	SegmentsRecovered uint64 // CRC-scanned at startup
	BytesTruncated    uint64 // cut at startup as torn or corrupt

	Partitions int
}

type counters struct {
	appends, appendedBatches, appendedRecords, appendedBytes atomic.Uint64
	duplicates, rejected, storageErrors                      atomic.Uint64
	syncs, syncNanos, syncsAvoided                           atomic.Uint64
	syncBuckets                                              [15]atomic.Uint64
	reads, readBytes                                         atomic.Uint64
	rolls, segmentsDeleted, bytesDeleted                     atomic.Uint64
	segmentsRecovered, bytesTruncated                        atomic.Uint64
}

func (c *counters) observeSync(d time.Duration) {
	c.syncs.Add(1)
	c.syncNanos.Add(uint64(d))
	secs := d.Seconds()
	i := 0
	for i < len(SyncLatencyBuckets) && secs > SyncLatencyBuckets[i] {
		i++
	}
	c.syncBuckets[i].Add(1)
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	c := &s.stats
	st := Stats{
		Appends: c.appends.Load(), AppendedBatches: c.appendedBatches.Load(),
		AppendedRecords: c.appendedRecords.Load(), AppendedBytes: c.appendedBytes.Load(),
		Duplicates: c.duplicates.Load(), Rejected: c.rejected.Load(), StorageErrors: c.storageErrors.Load(),
		Syncs: c.syncs.Load(), SyncSeconds: time.Duration(c.syncNanos.Load()).Seconds(), SyncsAvoided: c.syncsAvoided.Load(),
		Reads: c.reads.Load(), ReadBytes: c.readBytes.Load(),
		Rolls: c.rolls.Load(), SegmentsDeleted: c.segmentsDeleted.Load(), BytesDeleted: c.bytesDeleted.Load(),
		SegmentsRecovered: c.segmentsRecovered.Load(), BytesTruncated: c.bytesTruncated.Load(),
		Partitions: len(s.partitions()),
	}
	st.SyncBuckets = make([]uint64, len(SyncLatencyBuckets)+1)
	for i := range st.SyncBuckets {
		st.SyncBuckets[i] = c.syncBuckets[i].Load()
	}
	return st
}
