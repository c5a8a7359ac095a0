package storage

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// topicConfigNames are the topic-level configs Kafka knows (LogConfig).
// The ones marked true change how this store behaves; the others are
// accepted and stored (so admin tools round-trip them) but have no effect.
var topicConfigNames = map[string]bool{
	"cleanup.policy":                          false,
	"compression.type":                        false,
	"delete.retention.ms":                     false,
	"file.delete.delay.ms":                    false,
	"flush.messages":                          true,
	"flush.ms":                                true,
	"follower.replication.throttled.replicas": false,
	"index.interval.bytes":                    true,
	"leader.replication.throttled.replicas":   false,
	"local.retention.bytes":                   false,
	"local.retention.ms":                      false,
	"max.compaction.lag.ms":                   false,
	"max.message.bytes":                       true,
	"message.downconversion.enable":           false,
	"message.format.version":                  false,
	"message.timestamp.after.max.ms":          false,
	"message.timestamp.before.max.ms":         false,
	"message.timestamp.difference.max.ms":     false,
	"message.timestamp.type":                  true,
	"min.cleanable.dirty.ratio":               false,
	"min.compaction.lag.ms":                   false,
	"min.insync.replicas":                     false,
	"preallocate":                             false,
	"remote.log.copy.disable":                 false,
	"remote.log.delete.on.disable":            false,
	"remote.storage.enable":                   false,
	"retention.bytes":                         true,
	"retention.ms":                            true,
	"segment.bytes":                           true,
	"segment.index.bytes":                     true,
	"segment.jitter.ms":                       false,
	"segment.ms":                              true,
	"unclean.leader.election.enable":          false,
}

// TopicConfigNames returns the topic config names CreateTopic accepts,
// sorted.
func TopicConfigNames() []string {
	out := make([]string, 0, len(topicConfigNames))
	for k := range topicConfigNames {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
	}
	var errs []error
	num := func(k, v string, lo, hi int64) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("topic config %s=%q: want an integer in [%d, %d]: %w", k, v, lo, hi, kerr.InvalidConfig))
		}
		return n
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := configs[k]
		if _, ok := topicConfigNames[k]; !ok {
			errs = append(errs, fmt.Errorf("unknown topic config %q: %w", k, kerr.InvalidConfig))
			continue
		}
		switch k {
		case "segment.bytes":
			tc.segmentBytes = num(k, v, minSegmentBytes, maxSegmentBytes)
		case "segment.ms":
			tc.roll = time.Duration(num(k, v, 1, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
		case "retention.ms":
			if n := num(k, v, -1, math.MaxInt64/int64(time.Millisecond)); n < 0 {
				tc.retention = -1
			} else {
				tc.retention = time.Duration(n) * time.Millisecond
			}
		case "retention.bytes":
			tc.retentionBytes = num(k, v, -1, math.MaxInt64)
		case "max.message.bytes":
			tc.maxMessageBytes = int32(num(k, v, 0, math.MaxInt32))
		case "index.interval.bytes":
			tc.indexInterval = int32(num(k, v, 0, math.MaxInt32))
		case "segment.index.bytes":
			tc.maxIndexBytes = int32(num(k, v, 4*offsetEntrySize, math.MaxInt32))
		case "flush.messages":
			if n := num(k, v, 1, math.MaxInt64); n != math.MaxInt64 {
				tc.flushMessages = n
			} else {
				tc.flushMessages = 0
			}
		case "flush.ms":
			if n := num(k, v, 0, math.MaxInt64); n < math.MaxInt64/int64(time.Millisecond) {
				tc.flushInterval = time.Duration(n) * time.Millisecond
			} else {
				tc.flushInterval = 0
			}
		case "message.timestamp.type":
			switch v {
			case "CreateTime":
				tc.logAppendTime = false
			case "LogAppendTime":
				tc.logAppendTime = true
			default:
				errs = append(errs, fmt.Errorf("topic config %s=%q: want CreateTime or LogAppendTime: %w", k, v, kerr.InvalidConfig))
			}
		case "cleanup.policy":
			if v != "delete" {
				errs = append(errs, fmt.Errorf("topic config %s=%q: only delete is supported (no log compaction): %w", k, v, kerr.InvalidConfig))
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
