package storage

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ConfigKind is a topic config's value type (Kafka's ConfigDef.Type).
type ConfigKind int8

// The kinds of topic configs.
const (
	KindString ConfigKind = iota
	KindInt
	KindLong
	KindDouble
	KindBoolean
	KindList // comma-separated; IncrementalAlterConfigs APPEND/SUBTRACT apply
)

// TopicConfigSpec describes one topic-level config Kafka knows (LogConfig).
type TopicConfigSpec struct {
	// Name is the topic config key, e.g. retention.ms.
	Name string
	// BrokerKey is the broker config whose value is the topic's default
	// (Kafka's synonym, e.g. log.retention.ms); empty when this broker
	// reports no default for it.
	BrokerKey string
	// Kind is the value's type.
	Kind ConfigKind
	// Effective says the config changes how the store behaves; the others
	// are accepted and stored (so admin tools round-trip them) but have no
	// effect.
	Effective bool

	// def is the default from the store's config (nil: none reported);
	// apply parses a value into tc (nil: any value is stored as given).
	def   func(c Config) string
	apply func(tc *topicConfig, k, v string) error
}

// neverMs is Kafka's Long.MAX_VALUE default of flush.messages and flush.ms
// ("never").
const neverMs = "9223372036854775807"

// topicConfigSpecs is the one table of topic configs, sorted by name.
var topicConfigSpecs = []TopicConfigSpec{
	{Name: "cleanup.policy", BrokerKey: "log.cleanup.policy", Kind: KindList, def: func(Config) string { return "delete" },
		apply: func(_ *topicConfig, k, v string) error {
			if v != "delete" {
				return fmt.Errorf("topic config %s=%q: only delete is supported (no log compaction): %w", k, v, kerr.InvalidConfig)
			}
			return nil
		}},
	{Name: "compression.type", BrokerKey: "compression.type", Kind: KindString, Effective: true,
		def: func(c Config) string { return c.CompressionType },
		apply: func(tc *topicConfig, k, v string) error {
			codec, ok := compressionCodecs[v]
			if !ok {
				return fmt.Errorf("topic config %s=%q: want one of uncompressed, zstd, lz4, snappy, gzip, producer: %w", k, v, kerr.InvalidConfig)
			}
			tc.compression = codec
			return nil
		}},
	{Name: "delete.retention.ms", Kind: KindLong},
	{Name: "file.delete.delay.ms", Kind: KindLong},
	{Name: "flush.messages", BrokerKey: "log.flush.interval.messages", Kind: KindLong, Effective: true,
		def: func(c Config) string {
			if c.Flush.Messages == 0 {
				return neverMs
			}
			return strconv.FormatInt(c.Flush.Messages, 10)
		},
		apply: func(tc *topicConfig, k, v string) error {
			n, err := num(k, v, 1, math.MaxInt64)
			if n == math.MaxInt64 {
				n = 0
			}
			tc.flushMessages = n
			return err
		}},
	{Name: "flush.ms", BrokerKey: "log.flush.interval.ms", Kind: KindLong, Effective: true,
		def: func(c Config) string {
			if c.Flush.Interval == 0 {
				return neverMs
			}
			return strconv.FormatInt(c.Flush.Interval.Milliseconds(), 10)
		},
		apply: func(tc *topicConfig, k, v string) error {
			n, err := num(k, v, 0, math.MaxInt64)
			tc.flushInterval = 0
			if n < math.MaxInt64/int64(time.Millisecond) {
				tc.flushInterval = time.Duration(n) * time.Millisecond
			}
			return err
		}},
	{Name: "follower.replication.throttled.replicas", Kind: KindList},
	{Name: "index.interval.bytes", BrokerKey: "log.index.interval.bytes", Kind: KindInt, Effective: true,
		def:   func(c Config) string { return strconv.Itoa(int(c.IndexIntervalBytes)) },
		apply: intSetting(0, math.MaxInt32, func(tc *topicConfig) *int32 { return &tc.indexInterval })},
	{Name: "leader.replication.throttled.replicas", Kind: KindList},
	{Name: "local.retention.bytes", Kind: KindLong},
	{Name: "local.retention.ms", Kind: KindLong},
	{Name: "max.compaction.lag.ms", Kind: KindLong},
	{Name: "max.message.bytes", BrokerKey: "message.max.bytes", Kind: KindInt, Effective: true,
		def:   func(c Config) string { return strconv.Itoa(int(c.MessageMaxBytes)) },
		apply: intSetting(0, math.MaxInt32, func(tc *topicConfig) *int32 { return &tc.maxMessageBytes })},
	{Name: "message.downconversion.enable", Kind: KindBoolean},
	{Name: "message.format.version", Kind: KindString},
	{Name: "message.timestamp.after.max.ms", Kind: KindLong},
	{Name: "message.timestamp.before.max.ms", Kind: KindLong},
	{Name: "message.timestamp.difference.max.ms", Kind: KindLong},
	{Name: "message.timestamp.type", BrokerKey: "log.message.timestamp.type", Kind: KindString, Effective: true,
		def: func(Config) string { return "CreateTime" },
		apply: func(tc *topicConfig, k, v string) error {
			switch v {
			case "CreateTime":
				tc.logAppendTime = false
			case "LogAppendTime":
				tc.logAppendTime = true
			default:
				return fmt.Errorf("topic config %s=%q: want CreateTime or LogAppendTime: %w", k, v, kerr.InvalidConfig)
			}
			return nil
		}},
	{Name: "min.cleanable.dirty.ratio", Kind: KindDouble},
	{Name: "min.compaction.lag.ms", Kind: KindLong},
	{Name: "min.insync.replicas", Kind: KindInt},
	{Name: "preallocate", Kind: KindBoolean},
	{Name: "remote.log.copy.disable", Kind: KindBoolean},
	{Name: "remote.log.delete.on.disable", Kind: KindBoolean},
	{Name: "remote.storage.enable", Kind: KindBoolean},
	{Name: "retention.bytes", BrokerKey: "log.retention.bytes", Kind: KindLong, Effective: true,
		def:   func(c Config) string { return strconv.FormatInt(c.Retention.Bytes, 10) },
		apply: intSetting(-1, math.MaxInt64, func(tc *topicConfig) *int64 { return &tc.retentionBytes })},
	{Name: "retention.ms", BrokerKey: "log.retention.ms", Kind: KindLong, Effective: true,
		def: func(c Config) string {
			if c.Retention.Duration < 0 {
				return "-1"
			}
			return strconv.FormatInt(c.Retention.Duration.Milliseconds(), 10)
		},
		apply: func(tc *topicConfig, k, v string) error {
			n, err := num(k, v, -1, math.MaxInt64/int64(time.Millisecond))
			tc.retention = -1
			if n >= 0 {
				tc.retention = time.Duration(n) * time.Millisecond
			}
			return err
		}},
	{Name: "segment.bytes", BrokerKey: "log.segment.bytes", Kind: KindInt, Effective: true,
		def:   func(c Config) string { return strconv.FormatInt(c.SegmentBytes, 10) },
		apply: intSetting(minSegmentBytes, maxSegmentBytes, func(tc *topicConfig) *int64 { return &tc.segmentBytes })},
	{Name: "segment.index.bytes", BrokerKey: "log.index.size.max.bytes", Kind: KindInt, Effective: true,
		def:   func(c Config) string { return strconv.Itoa(int(c.MaxIndexBytes)) },
		apply: intSetting(4*offsetEntrySize, math.MaxInt32, func(tc *topicConfig) *int32 { return &tc.maxIndexBytes })},
	{Name: "segment.jitter.ms", Kind: KindLong},
	{Name: "segment.ms", BrokerKey: "log.roll.ms", Kind: KindLong, Effective: true,
		def: func(c Config) string { return strconv.FormatInt(c.RollInterval.Milliseconds(), 10) },
		apply: func(tc *topicConfig, k, v string) error {
			n, err := num(k, v, 1, math.MaxInt64/int64(time.Millisecond))
			tc.roll = time.Duration(n) * time.Millisecond
			return err
		}},
	{Name: "unclean.leader.election.enable", Kind: KindBoolean},
}

// TopicConfigSpecs returns every topic config this store accepts, sorted
// by name.
func TopicConfigSpecs() []TopicConfigSpec { return slices.Clone(topicConfigSpecs) }

// LookupTopicConfig returns the spec of the topic config name.
func LookupTopicConfig(name string) (TopicConfigSpec, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigSpecs, name, func(s TopicConfigSpec, n string) int { return strings.Compare(s.Name, n) })
	if !ok {
		return TopicConfigSpec{}, false
	}
	return topicConfigSpecs[i], true
}

// TopicConfigDefault returns the value a topic config takes when the
// topic does not set it (from the broker's configuration, as Kafka prints
// it), and false when this broker reports none for it.
func (s *Store) TopicConfigDefault(name string) (string, bool) {
	spec, ok := LookupTopicConfig(name)
	if !ok || spec.def == nil {
		return "", false
	}
	return spec.def(s.cfg), true
}

// num parses an integer topic config value in [lo, hi]; the error wraps
// kerr.InvalidConfig.
func num(k, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < lo || n > hi {
		return n, fmt.Errorf("topic config %s=%q: want an integer in [%d, %d]: %w", k, v, lo, hi, kerr.InvalidConfig)
	}
	return n, nil
}

// intSetting is the apply of an integer config in [lo, hi] that is kept in
// the field of tc that field points to.
func intSetting[T int32 | int64](lo, hi int64, field func(tc *topicConfig) *T) func(tc *topicConfig, k, v string) error {
	return func(tc *topicConfig, k, v string) error {
		n, err := num(k, v, lo, hi)
		*field(tc) = T(n)
		return err
	}
}

// topicConfig is the effective configuration of one topic: the broker's
// defaults overridden by the topic's own configs.
type topicConfig struct {
	segmentBytes    int64
	roll            time.Duration
	retention       time.Duration // < 0: forever
	retentionBytes  int64         // < 0: unlimited
	maxMessageBytes int32
	logAppendTime   bool
	indexInterval   int32
	maxIndexBytes   int32
	flushMessages   int64         // 0: never
	flushInterval   time.Duration // 0: never
	compression     int16         // the codec batches are stored with; codecProducer: the client's
}

// resolveTopicConfig applies a topic's configs over the broker defaults in
// cfg (which has its defaults filled in). Every problem wraps
// kerr.InvalidConfig.
func resolveTopicConfig(cfg Config, configs map[string]string) (topicConfig, error) {
	tc := topicConfig{
		segmentBytes:    cfg.SegmentBytes,
		roll:            cfg.RollInterval,
		retention:       cfg.Retention.Duration,
		retentionBytes:  cfg.Retention.Bytes,
		maxMessageBytes: cfg.MessageMaxBytes,
		indexInterval:   cfg.IndexIntervalBytes,
		maxIndexBytes:   cfg.MaxIndexBytes,
		flushMessages:   cfg.Flush.Messages,
		flushInterval:   cfg.Flush.Interval,
		compression:     codecProducer,
	}
	if codec, ok := compressionCodecs[cfg.CompressionType]; ok {
		tc.compression = codec
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		spec, ok := LookupTopicConfig(k)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown topic config %q: %w", k, kerr.InvalidConfig))
			continue
		}
		if spec.apply != nil {
			if err := spec.apply(&tc, k, configs[k]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return tc, errors.Join(errs...)
}

// ValidateTopicName applies Kafka's Topic.validate: 1 to 249 characters
// out of [a-zA-Z0-9._-], not "." or "..". The error wraps
// kerr.InvalidTopicException and says what is wrong.
func ValidateTopicName(name string) error {
	const maxLen = 249 // Kafka's Topic.MAX_NAME_LENGTH
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty: %w", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed: %w", name, kerr.InvalidTopicException)
	case len(name) > maxLen:
		return fmt.Errorf("topic name of %d characters is longer than %d: %w", len(name), maxLen, kerr.InvalidTopicException)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has the character %q: only [a-zA-Z0-9._-] are allowed: %w", name, c, kerr.InvalidTopicException)
		}
	}
	return nil
}
