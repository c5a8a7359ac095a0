package group

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults, from Kafka's GroupCoordinatorConfig and OffsetConfig.
const (
	// DefaultMinSessionTimeout is group.min.session.timeout.ms.
	DefaultMinSessionTimeout = 6 * time.Second
	// DefaultMaxSessionTimeout is group.max.session.timeout.ms.
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultMaxMetadataBytes is offset.metadata.max.bytes.
	DefaultMaxMetadataBytes = 4096
	// DefaultOffsetsRetention is offsets.retention.minutes (7 days).
	DefaultOffsetsRetention = 7 * 24 * time.Hour
	// DefaultOffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	// DefaultMaxProtocolMetadataBytes bounds one JoinGroup's protocols
	// (names and metadata). Kafka has no such bound beyond
	// socket.request.max.bytes; 1 MiB is far above what consumers send (a
	// subscription, owned partitions and user data: Kafka Streams' user
	// data is the largest, tens of KiB for large applications).
	DefaultMaxProtocolMetadataBytes = 1 << 20
	// DefaultCompactBytes is the size of the offsets log above which a
	// commit compacts it, if it also holds four times the live records.
	DefaultCompactBytes = 16 << 20
)

// Node is the broker that answers FindCoordinator: on a single node, this
// broker, as its clients reach it.
type Node struct {
	ID   int32
	Host string
	Port int32
}

// Config configures a Coordinator. The zero value of every field but Dir
// means its default.
type Config struct {
	// Dir holds the committed-offsets log (required). The broker uses
	// <first log dir>/__consumer_offsets; see the package doc.
	Dir string

	// MinSessionTimeout and MaxSessionTimeout bound a JoinGroup's session
	// timeout (group.min/max.session.timeout.ms); outside them the join
	// fails with INVALID_SESSION_TIMEOUT. Defaults 6s and 30m.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration

	// MaxMetadataBytes is offset.metadata.max.bytes: a longer commit
	// metadata string fails with OFFSET_METADATA_TOO_LARGE. Default 4096.
	MaxMetadataBytes int

	// MaxProtocolMetadataBytes bounds the bytes of a JoinGroup's protocols
	// (names plus metadata), which a member keeps while it is in the
	// group: a larger join fails with INVALID_REQUEST. Default 1 MiB
	// (brokerlab.group.protocol.metadata.max.bytes).
	MaxProtocolMetadataBytes int

	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: the first
	// rebalance of an empty group waits this long before it completes,
	// and waits again (up to the rebalance timeout in all) while new
	// members keep joining, so members started together land in one
	// generation (Kafka's InitialDelayedJoin). Unlike the other fields,
	// zero means no delay, as in Kafka; the broker passes Kafka's default
	// of 3s.
	InitialRebalanceDelay time.Duration

	// OffsetsRetention is offsets.retention.minutes: Run deletes the
	// offsets of a group that has been empty this long (KIP-211); -1 keeps
	// them forever. Default 7 days. Checked every
	// OffsetsRetentionCheckInterval (default 10m).
	OffsetsRetention              time.Duration
	OffsetsRetentionCheckInterval time.Duration

	// CompactBytes: when the offsets log grows past this many bytes and
	// four times its live records, the next commit rewrites it. Default
	// 16 MiB.
	CompactBytes int64

	// Partitions reports whether a topic exists and its partition count;
	// commits to a partition it does not know fail with
	// UNKNOWN_TOPIC_OR_PARTITION. Nil accepts every partition.
	Partitions func(topic string) (int32, bool)

	// Clock drives session, rebalance and retention timers. Nil is the
	// wall clock.
	Clock Clock

	// Logger receives the coordinator's logs. Nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("offsets dir is required"))
	}
	errs = append(errs, negative("min session timeout", c.MinSessionTimeout), negative("max session timeout", c.MaxSessionTimeout))
	if c.MinSessionTimeout > 0 && c.MaxSessionTimeout > 0 && c.MinSessionTimeout > c.MaxSessionTimeout {
		errs = append(errs, fmt.Errorf("min session timeout %v exceeds max session timeout %v", c.MinSessionTimeout, c.MaxSessionTimeout))
	}
	if c.MaxMetadataBytes < 0 || c.MaxMetadataBytes > MaxMetadataBytesLimit {
		errs = append(errs, fmt.Errorf("max metadata bytes %d: want 0 (default) to %d", c.MaxMetadataBytes, MaxMetadataBytesLimit))
	}
	errs = append(errs, negative("max protocol metadata bytes", c.MaxProtocolMetadataBytes), negative("initial rebalance delay", c.InitialRebalanceDelay))
	if c.OffsetsRetention < -1 {
		errs = append(errs, fmt.Errorf("offsets retention %v: want -1 (forever), 0 (default) or positive", c.OffsetsRetention))
	}
	errs = append(errs, negative("offsets retention check interval", c.OffsetsRetentionCheckInterval), negative("compact bytes", c.CompactBytes))
	return errors.Join(errs...)
}

// negative is the error of the setting what when its value v is negative,
// else nil (which errors.Join leaves out).
func negative[T ~int | ~int32 | ~int64](what string, v T) error {
	if v < 0 {
		return fmt.Errorf("%s %v is negative", what, v)
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.MinSessionTimeout = cmp.Or(c.MinSessionTimeout, DefaultMinSessionTimeout)
	c.MaxSessionTimeout = cmp.Or(c.MaxSessionTimeout, DefaultMaxSessionTimeout)
	c.MaxMetadataBytes = cmp.Or(c.MaxMetadataBytes, DefaultMaxMetadataBytes)
	c.MaxProtocolMetadataBytes = cmp.Or(c.MaxProtocolMetadataBytes, DefaultMaxProtocolMetadataBytes)
	c.OffsetsRetention = cmp.Or(c.OffsetsRetention, DefaultOffsetsRetention)
	c.OffsetsRetentionCheckInterval = cmp.Or(c.OffsetsRetentionCheckInterval, DefaultOffsetsRetentionCheckInterval)
	c.CompactBytes = cmp.Or(c.CompactBytes, DefaultCompactBytes)
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
