package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brokerlab/brokerlab/broker/storage"
)

// storageCollector exports the log's counters (storage.Store.Stats) at
// scrape time, so the append and fetch paths pay nothing for them.
type storageCollector struct{ b *Broker }

func storageDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

var (
	descAppends         = storageDesc("storage_appends_total", "Appends to the log that wrote.")
	descAppendedBatches = storageDesc("storage_appended_batches_total", "Record batches appended to the log.")
	descAppendedRecords = storageDesc("storage_appended_records_total", "Records appended to the log.")
	descAppendedBytes   = storageDesc("storage_appended_bytes_total", "Bytes appended to the log.")
	descDuplicates      = storageDesc("storage_duplicate_batches_total", "Idempotent resends answered without a write.")
	descRejected        = storageDesc("storage_rejected_appends_total", "Appends refused by validation or producer state.")
	descStorageErrors   = storageDesc("storage_errors_total", "Write, sync and read failures (KAFKA_STORAGE_ERROR).")
	descSyncs           = storageDesc("storage_sync_duration_seconds", "Latency of fdatasync(2) on segment files.")
	descSyncsAvoided    = storageDesc("storage_syncs_avoided_total", "Flushes already covered by another caller's fdatasync (group commit).")
	descReads           = storageDesc("storage_reads_total", "Log reads that returned data.")
	descReadBytes       = storageDesc("storage_read_bytes_total", "Bytes of the log handed to Fetch.")
	descRolls           = storageDesc("storage_segment_rolls_total", "Segments rolled.")
	descSegDeleted      = storageDesc("storage_retention_deleted_segments_total", "Segments deleted by retention.")
	descBytesDeleted    = storageDesc("storage_retention_deleted_bytes_total", "Bytes deleted by retention.")
	descRecovered       = storageDesc("storage_recovered_segments_total", "Segments CRC-scanned at startup.")
	descTruncated       = storageDesc("storage_truncated_bytes_total", "Bytes cut at startup as torn or corrupt.")
	descPartitions      = storageDesc("storage_partitions", "Partitions in the log.")
)

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAppends, descAppendedBatches, descAppendedRecords, descAppendedBytes,
		descDuplicates, descRejected, descStorageErrors, descSyncs, descSyncsAvoided, descReads, descReadBytes,
		descRolls, descSegDeleted, descBytesDeleted, descRecovered, descTruncated, descPartitions} {
		ch <- d
	}
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	if c.b.store == nil {
		return
	}
	s := c.b.store.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descAppends, s.Appends)
	counter(descAppendedBatches, s.AppendedBatches)
	counter(descAppendedRecords, s.AppendedRecords)
	counter(descAppendedBytes, s.AppendedBytes)
	counter(descDuplicates, s.Duplicates)
	counter(descRejected, s.Rejected)
	counter(descStorageErrors, s.StorageErrors)
	counter(descSyncsAvoided, s.SyncsAvoided)
	counter(descReads, s.Reads)
	counter(descReadBytes, s.ReadBytes)
	counter(descRolls, s.Rolls)
	counter(descSegDeleted, s.SegmentsDeleted)
	counter(descBytesDeleted, s.BytesDeleted)
	counter(descRecovered, s.SegmentsRecovered)
	counter(descTruncated, s.BytesTruncated)
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(s.Partitions))
	// Stats.SyncBuckets holds per-bucket counts; a histogram wants
	// cumulative ones.
	buckets := make(map[float64]uint64, len(storage.SyncLatencyBuckets))
	var cum uint64
	for i, ub := range storage.SyncLatencyBuckets {
		if i < len(s.SyncBuckets) {
			cum += s.SyncBuckets[i]
		}
		buckets[ub] = cum
	}
	ch <- prometheus.MustNewConstHistogram(descSyncs, s.Syncs, s.SyncSeconds, buckets)
}
