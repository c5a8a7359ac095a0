package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Key distributors, named as in OpenMessaging Benchmark's KeyDistributorType.
const (
	// KeyNone sends records without a key (the client's sticky partitioner
	// spreads them).
	KeyNone = "NO_KEY"
	// KeyRoundRobin cycles through a fixed pool of keys.
	KeyRoundRobin = "KEY_ROUND_ROBIN"
	// KeyRandomNano picks a random key from the pool for every record.
	KeyRandomNano = "RANDOM_NANO"
)

// MinMessageSize is the smallest messageSize: every value starts with a
// 16-byte header (intended send time and run tag) that the consumers read
// back for end-to-end latency.
const MinMessageSize = headerSize

// Workload describes what to run, in OpenMessaging Benchmark's field names
// where they mean the same (see OMB's workloads/*.yaml). Client settings
// live in a Driver. The zero value is not valid; ParseWorkload fills the
// documented defaults before validating.
type Workload struct {
	// Name labels the run in tables and charts. Default: the file's base name.
	Name string `yaml:"name" json:"name"`
	// Topics is the number of topics, each created fresh for the run.
	Topics int `yaml:"topics" json:"topics"`
	// PartitionsPerTopic is each topic's partition count.
	PartitionsPerTopic int `yaml:"partitionsPerTopic" json:"partitions_per_topic"`
	// MessageSize is each record value's size in bytes (at least 16).
	MessageSize int `yaml:"messageSize" json:"message_size"`
	// PayloadFile, if set, is the value template (relative paths are
	// resolved against the workload file's directory); its first
	// MessageSize bytes are used (repeated if the file is shorter).
	PayloadFile string `yaml:"payloadFile" json:"payload_file,omitempty"`
	// UseRandomizedPayloads makes a pool of payloads with RandomBytesRatio
	// random bytes each (OMB's field; RandomBytesRatio > 0 implies it).
	UseRandomizedPayloads bool `yaml:"useRandomizedPayloads" json:"use_randomized_payloads,omitempty"`
	// RandomBytesRatio is the share (0..1) of each payload's bytes that are
	// random, the rest zero: it sets how well the data compresses.
	RandomBytesRatio float64 `yaml:"randomBytesRatio" json:"random_bytes_ratio"`
	// RandomizedPayloadPoolSize is how many distinct payloads to cycle
	// through. Default 1000 (OMB's).
	RandomizedPayloadPoolSize int `yaml:"randomizedPayloadPoolSize" json:"randomized_payload_pool_size"`
	// KeyDistributor is NO_KEY (default), KEY_ROUND_ROBIN or RANDOM_NANO.
	KeyDistributor string `yaml:"keyDistributor" json:"key_distributor"`
	// SubscriptionsPerTopic is the number of consumer groups per topic.
	SubscriptionsPerTopic int `yaml:"subscriptionsPerTopic" json:"subscriptions_per_topic"`
	// ConsumerPerSubscription is the number of consumers in each group.
	ConsumerPerSubscription int `yaml:"consumerPerSubscription" json:"consumer_per_subscription"`
	// ProducersPerTopic is the number of producers (clients) per topic.
	ProducersPerTopic int `yaml:"producersPerTopic" json:"producers_per_topic"`
	// ProducerRate is the total target rate in messages/s over all
	// producers; 0 searches for the maximum sustainable rate first.
	ProducerRate float64 `yaml:"producerRate" json:"producer_rate"`
	// ConsumerBacklogSizeGB, when above 0, runs the backlog mode: consumers
	// stay paused until this much data waits unconsumed, then drain.
	ConsumerBacklogSizeGB float64 `yaml:"consumerBacklogSizeGB" json:"consumer_backlog_size_gb"`
	// BacklogDrainRatio is the share (0..1] of the backlog that must drain
	// for the drain to count as complete. Default 1 (OMB's).
	BacklogDrainRatio float64 `yaml:"backlogDrainRatio" json:"backlog_drain_ratio"`
	// TestDurationMinutes and TestDurationSeconds add up to the measured
	// phase's length (in backlog mode: the time limit of build + drain).
	TestDurationMinutes int `yaml:"testDurationMinutes" json:"test_duration_minutes,omitempty"`
	TestDurationSeconds int `yaml:"testDurationSeconds" json:"test_duration_seconds,omitempty"`
	// WarmupDurationMinutes and WarmupDurationSeconds add up to the warm-up
	// (run at the target rate, not counted in the aggregates). Default 0.
	WarmupDurationMinutes int `yaml:"warmupDurationMinutes" json:"warmup_duration_minutes,omitempty"`
	WarmupDurationSeconds int `yaml:"warmupDurationSeconds" json:"warmup_duration_seconds,omitempty"`
}

// TestDuration is the measured phase's length.
func (w *Workload) TestDuration() time.Duration {
	return time.Duration(w.TestDurationMinutes)*time.Minute + time.Duration(w.TestDurationSeconds)*time.Second
}

// WarmupDuration is the warm-up's length.
func (w *Workload) WarmupDuration() time.Duration {
	return time.Duration(w.WarmupDurationMinutes)*time.Minute + time.Duration(w.WarmupDurationSeconds)*time.Second
}

// BacklogBytes is ConsumerBacklogSizeGB in bytes (1 GB = 2^30 bytes, as OMB).
func (w *Workload) BacklogBytes() int64 {
	return int64(w.ConsumerBacklogSizeGB * (1 << 30))
}

// Producers is the total number of producers.
func (w *Workload) Producers() int { return w.Topics * w.ProducersPerTopic }

// Consumers is the total number of consumers.
func (w *Workload) Consumers() int {
	return w.Topics * w.SubscriptionsPerTopic * w.ConsumerPerSubscription
}

// setDefaults fills the documented defaults of unset fields.
func (w *Workload) setDefaults() {
	if w.KeyDistributor == "" {
		w.KeyDistributor = KeyNone
	}
	if w.RandomizedPayloadPoolSize == 0 {
		w.RandomizedPayloadPoolSize = 1000
	}
	if w.BacklogDrainRatio == 0 {
		w.BacklogDrainRatio = 1
	}
}

// Validate reports every problem at once; each names the key, the value and
// what to do.
func (w *Workload) Validate() error {
	var errs []error
	bad := func(key string, val any, fix string) {
		errs = append(errs, fmt.Errorf("workload %s: %v: %s", key, val, fix))
	}
	if w.Topics < 1 {
		bad("topics", w.Topics, "want at least 1")
	}
	if w.PartitionsPerTopic < 1 {
		bad("partitionsPerTopic", w.PartitionsPerTopic, "want at least 1")
	}
	if w.MessageSize < MinMessageSize {
		bad("messageSize", w.MessageSize, fmt.Sprintf("want at least %d bytes (the latency header)", MinMessageSize))
	}
	if w.MessageSize > 64<<20 {
		bad("messageSize", w.MessageSize, "want at most 64 MiB")
	}
	if w.RandomBytesRatio < 0 || w.RandomBytesRatio > 1 {
		bad("randomBytesRatio", w.RandomBytesRatio, "want a share between 0 and 1")
	}
	if w.RandomizedPayloadPoolSize < 1 || w.RandomizedPayloadPoolSize > 100000 {
		bad("randomizedPayloadPoolSize", w.RandomizedPayloadPoolSize, "want 1..100000")
	}
	if w.PayloadFile != "" && (w.RandomBytesRatio > 0 || w.UseRandomizedPayloads) {
		bad("payloadFile", w.PayloadFile, "set either payloadFile or randomized payloads, not both")
	}
	switch w.KeyDistributor {
	case KeyNone, KeyRoundRobin, KeyRandomNano:
	default:
		bad("keyDistributor", fmt.Sprintf("%q", w.KeyDistributor), "want NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO")
	}
	if w.SubscriptionsPerTopic < 0 {
		bad("subscriptionsPerTopic", w.SubscriptionsPerTopic, "want 0 (no consumers) or more")
	}
	if w.SubscriptionsPerTopic > 0 && w.ConsumerPerSubscription < 1 {
		bad("consumerPerSubscription", w.ConsumerPerSubscription, "want at least 1 when subscriptionsPerTopic is set")
	}
	if w.ConsumerPerSubscription < 0 {
		bad("consumerPerSubscription", w.ConsumerPerSubscription, "want 0 or more")
	}
	if w.ProducersPerTopic < 1 {
		bad("producersPerTopic", w.ProducersPerTopic, "want at least 1")
	}
	if w.ProducerRate < 0 {
		bad("producerRate", w.ProducerRate, "want messages/s above 0, or 0 to search for the maximum sustainable rate")
	}
	if w.ConsumerBacklogSizeGB < 0 {
		bad("consumerBacklogSizeGB", w.ConsumerBacklogSizeGB, "want 0 (no backlog) or a size in GiB")
	}
	if w.ConsumerBacklogSizeGB > 0 && w.SubscriptionsPerTopic == 0 {
		bad("consumerBacklogSizeGB", w.ConsumerBacklogSizeGB, "a backlog needs consumers: set subscriptionsPerTopic and consumerPerSubscription")
	}
	if w.ConsumerBacklogSizeGB > 0 && w.ProducerRate == 0 {
		bad("producerRate", w.ProducerRate, "the backlog mode needs a fixed rate: the max-rate search would measure consumers that are paused on purpose")
	}
	if w.BacklogDrainRatio <= 0 || w.BacklogDrainRatio > 1 {
		bad("backlogDrainRatio", w.BacklogDrainRatio, "want a share above 0 and at most 1")
	}
	if w.TestDurationMinutes < 0 {
		bad("testDurationMinutes", w.TestDurationMinutes, "want 0 or more")
	}
	if w.TestDurationSeconds < 0 {
		bad("testDurationSeconds", w.TestDurationSeconds, "want 0 or more")
	}
	if w.TestDurationMinutes >= 0 && w.TestDurationSeconds >= 0 && w.TestDuration() <= 0 {
		bad("testDurationMinutes", w.TestDurationMinutes, "set testDurationMinutes or testDurationSeconds above 0")
	}
	if w.WarmupDurationMinutes < 0 {
		bad("warmupDurationMinutes", w.WarmupDurationMinutes, "want 0 or more")
	}
	if w.WarmupDurationSeconds < 0 {
		bad("warmupDurationSeconds", w.WarmupDurationSeconds, "want 0 or more")
	}
	return errors.Join(errs...)
}

// ParseWorkload decodes a workload from YAML, rejects unknown keys, fills
// defaults and validates. dir resolves a relative payloadFile ("" = cwd).
func ParseWorkload(data []byte, dir string) (Workload, error) {
	var w Workload
	if err := decodeStrict(data, &w); err != nil {
		return Workload{}, fmt.Errorf("decoding workload: %w", err)
	}
	if w.PayloadFile != "" && dir != "" && !filepath.IsAbs(w.PayloadFile) {
		w.PayloadFile = filepath.Join(dir, w.PayloadFile)
	}
	w.setDefaults()
	if err := w.Validate(); err != nil {
		return Workload{}, err
	}
	return w, nil
}

// LoadWorkload reads and parses a workload file; the name defaults to the
// file's base name without extension.
func LoadWorkload(path string) (Workload, error) {
	parse := func(data []byte) (Workload, error) { return ParseWorkload(data, filepath.Dir(path)) }
	return loadFile(path, "workload", parse, func(w *Workload) *string { return &w.Name })
}

// loadFile reads the kind file (workload, driver) at path and parses it;
// the name that name points to defaults to the file's base name without
// extension.
func loadFile[T any](path, kind string, parse func([]byte) (T, error), name func(*T) *string) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("reading %s: %w", kind, err)
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", kind, path, err)
	}
	if n := name(&v); *n == "" {
		*n = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return v, nil
}

// decodeStrict decodes one YAML document into v, failing on keys v does not
// have (yaml names the key and line).
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
