package storage

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults, each taken from Apache Kafka's broker configuration of the same name.
const (
	DefaultSegmentBytes          = 1 << 30          // log.segment.bytes
	DefaultRollInterval          = 168 * time.Hour  // log.roll.hours
	DefaultIndexIntervalBytes    = 4096             // log.index.interval.bytes
	DefaultMaxIndexBytes         = 10 << 20         // log.index.size.max.bytes
	DefaultMessageMaxBytes       = 1048588          // message.max.bytes (1 MiB + 12 bytes of log overhead)
	DefaultRecoveryThreadsPerDir = 1                // num.recovery.threads.per.data.dir
	DefaultRetention             = 168 * time.Hour  // log.retention.hours
	DefaultRetentionCheck        = 5 * time.Minute  // log.retention.check.interval.ms
	defaultCheckpointInterval    = 60 * time.Second // log.flush.offset.checkpoint.interval.ms
	DefaultProducerIDExpiration  = 24 * time.Hour   // producer.id.expiration.ms (86400000)
	DefaultProducerIDCheck       = 10 * time.Minute // producer.id.expiration.check.interval.ms (600000)
	// DefaultMaxPartitions is max.broker.partitions, KIP-578's name (not
	// in Apache Kafka, which has no per-broker limit). Each partition
	// holds three fds (the active segment's log and two indexes) plus one
	// per read of a sealed segment in flight; 10,000 is also the most
	// records Kafka's KRaft controller lets one request create
	// (QuorumController.MAX_RECORDS_PER_USER_OP).
	DefaultMaxPartitions = 10000
	// DefaultMaxDecompressedBytes is brokerlab.message.max.decompressed.bytes:
	// 16 times Kafka's default message.max.bytes, room for well-compressed
	// batches of clients that fill batches by compressed size (the Java
	// producer estimates it) while a compression bomb stops there.
	DefaultMaxDecompressedBytes = 16 << 20
	// DefaultPreallocateBytes is brokerlab.log.preallocate.bytes: the
	// largest step of space fallocated ahead of the active segment's data
	// (prealloc.go); steps start at 64 KiB and double up to it.
	DefaultPreallocateBytes = 16 << 20
	minSegmentBytes         = 14            // Kafka's lower bound for segment.bytes (LegacyRecord.RECORD_OVERHEAD_V0)
	maxSegmentBytes         = math.MaxInt32 // positions in the offset index are uint32 and Kafka caps segment.bytes at Int.MaxValue
)

// Config configures a Store. Zero values mean the documented default.
type Config struct {
	// Dirs are the log directories (log.dirs); at least one is required.
	// A new partition goes to the directory holding the fewest partitions.
	Dirs []string
	// NodeID is node.id / broker.id; it is written to meta.properties and
	// must match the one stored there.
	NodeID int32
	// ClusterID, when set, must match the cluster.id stored in
	// meta.properties; when empty the stored id is used, or a new one is
	// generated for fresh directories.
	ClusterID string
	// SegmentBytes is log.segment.bytes (default 1 GiB, at most 2 GiB-1).
	SegmentBytes int64
	// RollInterval is log.roll.ms / log.roll.hours (default 168h).
	RollInterval time.Duration
	// IndexIntervalBytes is log.index.interval.bytes (default 4096).
	IndexIntervalBytes int32
	// MaxIndexBytes is log.index.size.max.bytes (default 10 MiB).
	MaxIndexBytes int32
	// CompressionType is compression.type, the codec of topics that set
	// none (default producer: the client's).
	CompressionType string
	// MessageMaxBytes is message.max.bytes (default 1048588).
	MessageMaxBytes int32
	// RecoveryThreadsPerDir is num.recovery.threads.per.data.dir (default 1).
	RecoveryThreadsPerDir int
	// Flush is the flush policy; the zero value leaves flushing to the
	// page cache (Kafka's default).
	Flush FlushPolicy
	// Retention is the broker-wide retention; topics override it with
	// retention.ms and retention.bytes.
	Retention Retention
	// ProducerIDExpiration is producer.id.expiration.ms: a partition
	// forgets an idempotent producer that has not appended for this long
	// (default 24h).
	ProducerIDExpiration time.Duration
	// ProducerIDCheckInterval is producer.id.expiration.check.interval.ms:
	// how often Run looks for expired producers (default 10m).
	ProducerIDCheckInterval time.Duration
	// MaxDecompressedBytes is brokerlab.message.max.decompressed.bytes:
	// the most bytes one compressed batch's records may decompress to;
	// beyond it Append fails with MessageTooLarge having produced at most
	// this many bytes (default 16 MiB).
	MaxDecompressedBytes int
	// PreallocateBytes is brokerlab.log.preallocate.bytes: the active
	// segment's space is fallocated ahead of its data in steps of 64 KiB
	// doubling up to this (default 16 MiB; negative: off).
	PreallocateBytes int64
	// MaxPartitions is max.broker.partitions: the most partitions this
	// store holds; CreateTopic beyond it fails with InvalidPartitions
	// before making anything, and Open refuses a topic.json claiming more
	// (default 10000).
	MaxPartitions int
	// CheckpointInterval is how often Run writes the recovery-point
	// checkpoint files (log.flush.offset.checkpoint.interval.ms, default 60s).
	CheckpointInterval time.Duration
	// Now is the clock used for roll, retention, LogAppendTime and flush
	// decisions; nil means time.Now.
	Now func() time.Time
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
}

// FlushPolicy says when appended data is forced to disk with fdatasync(2).
type FlushPolicy struct {
	// Messages is log.flush.interval.messages: flush once this many
	// messages are unflushed. 0 means never (Kafka's default, Long.MAX_VALUE).
	Messages int64
	// Interval is log.flush.interval.ms: Run flushes a partition whose
	// oldest unflushed data is older than this. 0 means never.
	Interval time.Duration
}

// Retention is the broker-wide retention policy.
type Retention struct {
	// Duration is log.retention.ms/minutes/hours: a closed segment whose
	// largest timestamp is older than this is deleted. 0 means the default
	// (168h); negative means keep forever (-1 in Kafka).
	Duration time.Duration
	// Bytes is log.retention.bytes: the oldest closed segments are deleted
	// while the partition is larger than this. 0 means the default
	// (unlimited); negative means unlimited (-1 in Kafka).
	Bytes int64
	// CheckInterval is log.retention.check.interval.ms (default 5m).
	CheckInterval time.Duration
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	c.SegmentBytes = cmp.Or(c.SegmentBytes, DefaultSegmentBytes)
	c.RollInterval = cmp.Or(c.RollInterval, DefaultRollInterval)
	c.IndexIntervalBytes = cmp.Or(c.IndexIntervalBytes, DefaultIndexIntervalBytes)
	c.MaxIndexBytes = cmp.Or(c.MaxIndexBytes, DefaultMaxIndexBytes)
	c.MessageMaxBytes = cmp.Or(c.MessageMaxBytes, DefaultMessageMaxBytes)
	c.CompressionType = cmp.Or(c.CompressionType, "producer")
	c.RecoveryThreadsPerDir = cmp.Or(c.RecoveryThreadsPerDir, DefaultRecoveryThreadsPerDir)
	c.Retention.Duration = cmp.Or(c.Retention.Duration, DefaultRetention)
	c.Retention.Bytes = cmp.Or(c.Retention.Bytes, -1)
	c.Retention.CheckInterval = cmp.Or(c.Retention.CheckInterval, DefaultRetentionCheck)
	c.CheckpointInterval = cmp.Or(c.CheckpointInterval, defaultCheckpointInterval)
	c.ProducerIDExpiration = cmp.Or(c.ProducerIDExpiration, DefaultProducerIDExpiration)
	c.ProducerIDCheckInterval = cmp.Or(c.ProducerIDCheckInterval, DefaultProducerIDCheck)
	c.MaxDecompressedBytes = cmp.Or(c.MaxDecompressedBytes, DefaultMaxDecompressedBytes)
	c.PreallocateBytes = cmp.Or(c.PreallocateBytes, DefaultPreallocateBytes)
	c.MaxPartitions = cmp.Or(c.MaxPartitions, DefaultMaxPartitions)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the configuration at once. Zero values
// are valid (they mean the default).
func (c Config) Validate() error {
	var errs []error
	if len(c.Dirs) == 0 {
		errs = append(errs, errors.New("log.dirs: at least one log directory is required"))
	}
	seen := map[string]bool{}
	for _, d := range c.Dirs {
		if d == "" {
			errs = append(errs, errors.New("log.dirs: empty directory name"))
		}
		if seen[d] {
			errs = append(errs, fmt.Errorf("log.dirs: %s listed twice", d))
		}
		seen[d] = true
	}
	errs = append(errs, negative("node.id", c.NodeID))
	if c.SegmentBytes != 0 && (c.SegmentBytes < minSegmentBytes || c.SegmentBytes > maxSegmentBytes) {
		errs = append(errs, fmt.Errorf("log.segment.bytes: %d is outside [%d, %d]", c.SegmentBytes, minSegmentBytes, int64(maxSegmentBytes)))
	}
	errs = append(errs, negative("log.roll.ms", c.RollInterval), negative("log.index.interval.bytes", c.IndexIntervalBytes))
	if c.MaxIndexBytes != 0 && c.MaxIndexBytes < 4*offsetEntrySize {
		errs = append(errs, fmt.Errorf("log.index.size.max.bytes: %d is below %d", c.MaxIndexBytes, 4*offsetEntrySize))
	}
	errs = append(errs, negative("message.max.bytes", c.MessageMaxBytes))
	if c.CompressionType != "" && !ValidCompressionType(c.CompressionType) {
		errs = append(errs, fmt.Errorf("compression.type: %q is not one of uncompressed, zstd, lz4, snappy, gzip, producer", c.CompressionType))
	}
	errs = append(errs,
		negative("num.recovery.threads.per.data.dir", c.RecoveryThreadsPerDir),
		negative("log.flush.interval.messages", c.Flush.Messages),
		negative("log.flush.interval.ms", c.Flush.Interval),
		negative("log.retention.check.interval.ms", c.Retention.CheckInterval),
		negative("producer.id.expiration.ms", c.ProducerIDExpiration),
		negative("producer.id.expiration.check.interval.ms", c.ProducerIDCheckInterval),
		negative("brokerlab.message.max.decompressed.bytes", c.MaxDecompressedBytes),
		negative("max.broker.partitions", c.MaxPartitions),
		negative("log.flush.offset.checkpoint.interval.ms", c.CheckpointInterval))
	return errors.Join(errs...)
}

// negative is the error of key's value v when it is negative, else nil
// (which errors.Join leaves out).
func negative[T ~int | ~int32 | ~int64](key string, v T) error {
	if v < 0 {
		return fmt.Errorf("%s: %v is negative", key, v)
	}
	return nil
}
