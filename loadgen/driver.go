package loadgen

import (
	"github.com/brokerlab/brokerlab/internal/properties"

	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Driver holds the client settings, read from a driver file shaped like
// OpenMessaging Benchmark's driver-kafka/*.yaml: name, replicationFactor,
// topicConfig, commonConfig, producerConfig and consumerConfig, the last four
// as Java-properties text with Kafka's client key names. ParseDriver maps the
// keys this loader understands onto franz-go options; any other key is an
// error that names it (a silently ignored setting would make a result lie).
type Driver struct {
	// Name labels the settings in results. Default: the file's base name.
	Name string `json:"name"`
	// ReplicationFactor of the topics the run creates. Default 1.
	ReplicationFactor int `json:"replication_factor"`
	// TopicConfig is passed to CreateTopics as topic configs.
	TopicConfig map[string]string `json:"topic_config,omitempty"`
	// BootstrapServers from commonConfig bootstrap.servers; the -brokers
	// flag (Options.Brokers) wins over it.
	BootstrapServers []string `json:"bootstrap_servers,omitempty"`
	// ClientID from commonConfig client.id. Default "brokerlab-loadgen".
	ClientID string `json:"client_id"`
	// Producer settings.
	Producer ProducerConfig `json:"producer"`
	// Consumer settings.
	Consumer ConsumerConfig `json:"consumer"`
}

// ProducerConfig is the producer half of a Driver. Defaults are Kafka's
// Java client defaults where franz-go has the same knob.
type ProducerConfig struct {
	// Acks is "0", "1" or "all" (acks). Default "all".
	Acks string `json:"acks"`
	// Idempotent is enable.idempotence. Default true when acks=all,
	// otherwise false (franz-go requires acks=all for idempotence).
	Idempotent bool `json:"idempotent"`
	// Linger is linger.ms. Default 0 (Kafka Java client before 4.0; franz-go
	// itself defaults to 10 ms, so it is always set explicitly).
	Linger time.Duration `json:"linger_ns"`
	// BatchBytes is batch.size, the maximum size of one batch. Default 1 MiB
	// (franz-go's ProducerBatchMaxBytes default).
	BatchBytes int32 `json:"batch_bytes"`
	// Compression is compression.type: none, gzip, snappy, lz4, zstd.
	// Default none.
	Compression string `json:"compression"`
	// MaxInFlight is max.in.flight.requests.per.connection. Default 5. An
	// idempotent producer allows at most 5, and franz-go then chooses the
	// limit itself (5 against Kafka 1.0+), so the value is only applied when
	// idempotence is off.
	MaxInFlight int `json:"max_in_flight"`
	// BufferBytes is buffer.memory, the most bytes buffered before Produce
	// blocks (0 = unlimited bytes; franz-go then bounds by records).
	BufferBytes int64 `json:"buffer_bytes,omitempty"`
	// BufferRecords is franz-go's max.buffered.records (no Java key): the
	// most records buffered before Produce blocks. Default 10000.
	BufferRecords int `json:"buffer_records"`
}

// ConsumerConfig is the consumer half of a Driver.
type ConsumerConfig struct {
	// FetchMaxBytes is fetch.max.bytes. Default 50 MiB.
	FetchMaxBytes int32 `json:"fetch_max_bytes"`
	// MaxPartitionFetchBytes is max.partition.fetch.bytes. Default 1 MiB.
	MaxPartitionFetchBytes int32 `json:"max_partition_fetch_bytes"`
	// FetchMinBytes is fetch.min.bytes. Default 1.
	FetchMinBytes int32 `json:"fetch_min_bytes"`
	// FetchMaxWait is fetch.max.wait.ms. Default 500 ms.
	FetchMaxWait time.Duration `json:"fetch_max_wait_ns"`
	// AutoOffsetReset is auto.offset.reset: earliest (default) or latest.
	AutoOffsetReset string `json:"auto_offset_reset"`
	// AutoCommit is enable.auto.commit. Default false (as OMB's drivers).
	AutoCommit bool `json:"auto_commit"`
}

// DefaultDriver returns the defaults documented on Driver's fields.
func DefaultDriver() Driver {
	return Driver{
		Name:              "default",
		ReplicationFactor: 1,
		ClientID:          "brokerlab-loadgen",
		Producer: ProducerConfig{
			Acks:          "all",
			Idempotent:    true,
			BatchBytes:    1 << 20,
			Compression:   "none",
			MaxInFlight:   5,
			BufferRecords: 10000,
		},
		Consumer: ConsumerConfig{
			FetchMaxBytes:          50 << 20,
			MaxPartitionFetchBytes: 1 << 20,
			FetchMinBytes:          1,
			FetchMaxWait:           500 * time.Millisecond,
			AutoOffsetReset:        "earliest",
		},
	}
}

// driverFile is the YAML shape of a driver file (OMB's).
type driverFile struct {
	Name              string `yaml:"name"`
	DriverClass       string `yaml:"driverClass"`
	ReplicationFactor *int   `yaml:"replicationFactor"`
	Reset             bool   `yaml:"reset"`
	TopicConfig       string `yaml:"topicConfig"`
	CommonConfig      string `yaml:"commonConfig"`
	ProducerConfig    string `yaml:"producerConfig"`
	ConsumerConfig    string `yaml:"consumerConfig"`
}

// ParseDriver decodes a driver file, applies its settings over
// DefaultDriver and validates. Every problem is reported at once.
func ParseDriver(data []byte) (Driver, error) {
	var f driverFile
	if err := decodeStrict(data, &f); err != nil {
		return Driver{}, fmt.Errorf("decoding driver: %w", err)
	}
	d := DefaultDriver()
	d.Name = f.Name // LoadDriver names an unnamed driver after its file

	if f.ReplicationFactor != nil {
		d.ReplicationFactor = *f.ReplicationFactor
	}
	var errs []error
	bad := func(section, key, val, fix string) {
		errs = append(errs, fmt.Errorf("driver %s %s=%s: %s", section, key, val, fix))
	}
	topic, err := parseProperties(f.TopicConfig)
	if err != nil {
		errs = append(errs, fmt.Errorf("driver topicConfig: %w", err))
	}
	if len(topic) > 0 {
		d.TopicConfig = topic
	}
	common, err := parseProperties(f.CommonConfig)
	if err != nil {
		errs = append(errs, fmt.Errorf("driver commonConfig: %w", err))
	}
	for _, k := range sortedKeys(common) {
		v := common[k]
		switch k {
		case "bootstrap.servers":
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					d.BootstrapServers = append(d.BootstrapServers, s)
				}
			}
		case "client.id":
			d.ClientID = v
		case "default.api.timeout.ms", "request.timeout.ms":
			// Accepted for OMB compatibility; franz-go's per-request
			// timeouts follow the context and its own defaults.
		default:
			bad("commonConfig", k, v, "unknown key; known: bootstrap.servers, client.id")
		}
	}
	prod, err := parseProperties(f.ProducerConfig)
	if err != nil {
		errs = append(errs, fmt.Errorf("driver producerConfig: %w", err))
	}
	idemSet := false
	for _, k := range sortedKeys(prod) {
		v := prod[k]
		p := &d.Producer
		switch k {
		case "acks":
			switch v {
			case "0", "1", "all":
				p.Acks = v
			case "-1":
				p.Acks = "all"
			default:
				bad("producerConfig", k, v, "want 0, 1 or all")
			}
		case "enable.idempotence":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("producerConfig", k, v, "want true or false")
			}
			p.Idempotent, idemSet = b, true
		case "linger.ms":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 {
				bad("producerConfig", k, v, "want milliseconds, 0 or more")
			}
			p.Linger = time.Duration(n * float64(time.Millisecond))
		case "batch.size":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1024 {
				bad("producerConfig", k, v, "want bytes, at least 1024")
			}
			p.BatchBytes = int32(n)
		case "compression.type":
			switch v {
			case "none", "gzip", "snappy", "lz4", "zstd":
				p.Compression = v
			default:
				bad("producerConfig", k, v, "want none, gzip, snappy, lz4 or zstd")
			}
		case "max.in.flight.requests.per.connection":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad("producerConfig", k, v, "want 1 or more")
			}
			p.MaxInFlight = n
		case "buffer.memory":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				bad("producerConfig", k, v, "want bytes, 0 or more")
			}
			p.BufferBytes = n
		case "max.buffered.records":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad("producerConfig", k, v, "want 1 or more")
			}
			p.BufferRecords = n
		case "key.serializer", "value.serializer":
			// Java-only; the payload is bytes already.
		default:
			bad("producerConfig", k, v, "unknown key; known: acks, enable.idempotence, linger.ms, batch.size, compression.type, max.in.flight.requests.per.connection, buffer.memory, max.buffered.records")
		}
	}
	if !idemSet && d.Producer.Acks != "all" {
		d.Producer.Idempotent = false
	}
	if d.Producer.Idempotent && d.Producer.Acks != "all" {
		bad("producerConfig", "enable.idempotence", "true", fmt.Sprintf("needs acks=all (acks is %s): set acks=all or enable.idempotence=false", d.Producer.Acks))
	}
	cons, err := parseProperties(f.ConsumerConfig)
	if err != nil {
		errs = append(errs, fmt.Errorf("driver consumerConfig: %w", err))
	}
	for _, k := range sortedKeys(cons) {
		v := cons[k]
		c := &d.Consumer
		i32 := func(min int64) int32 {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < min {
				bad("consumerConfig", k, v, fmt.Sprintf("want an integer, at least %d", min))
			}
			return int32(n)
		}
		switch k {
		case "fetch.max.bytes":
			c.FetchMaxBytes = i32(1)
		case "max.partition.fetch.bytes":
			c.MaxPartitionFetchBytes = i32(1)
		case "fetch.min.bytes":
			c.FetchMinBytes = i32(1)
		case "fetch.max.wait.ms":
			c.FetchMaxWait = time.Duration(i32(0)) * time.Millisecond
		case "auto.offset.reset":
			if v != "earliest" && v != "latest" {
				bad("consumerConfig", k, v, "want earliest or latest")
			}
			c.AutoOffsetReset = v
		case "enable.auto.commit":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("consumerConfig", k, v, "want true or false")
			}
			c.AutoCommit = b
		case "key.deserializer", "value.deserializer", "auto.commit.interval.ms", "group.id":
			// Java-only or chosen by the run (one group per subscription).
		default:
			bad("consumerConfig", k, v, "unknown key; known: fetch.max.bytes, max.partition.fetch.bytes, fetch.min.bytes, fetch.max.wait.ms, auto.offset.reset, enable.auto.commit")
		}
	}
	if err := d.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Driver{}, err
	}
	return d, nil
}

// LoadDriver reads and parses a driver file; the name defaults to the
// file's base name without extension.
func LoadDriver(path string) (Driver, error) {
	return loadFile(path, "driver", ParseDriver, func(d *Driver) *string { return &d.Name })
}

// Validate checks the typed settings (for drivers built in code).
func (d *Driver) Validate() error {
	var errs []error
	if d.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("driver replicationFactor: %d: want at least 1", d.ReplicationFactor))
	}
	if d.Producer.Idempotent && d.Producer.MaxInFlight > 5 {
		errs = append(errs, fmt.Errorf("driver producerConfig max.in.flight.requests.per.connection=%d: an idempotent producer allows at most 5: lower it or set enable.idempotence=false", d.Producer.MaxInFlight))
	}
	if d.Producer.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("driver producerConfig max.in.flight.requests.per.connection=%d: want 1 or more", d.Producer.MaxInFlight))
	}
	if d.Producer.BufferRecords < 1 {
		errs = append(errs, fmt.Errorf("driver producerConfig max.buffered.records=%d: want 1 or more", d.Producer.BufferRecords))
	}
	if d.Consumer.MaxPartitionFetchBytes > d.Consumer.FetchMaxBytes {
		errs = append(errs, fmt.Errorf("driver consumerConfig max.partition.fetch.bytes=%d: above fetch.max.bytes=%d: raise fetch.max.bytes or lower max.partition.fetch.bytes", d.Consumer.MaxPartitionFetchBytes, d.Consumer.FetchMaxBytes))
	}
	return errors.Join(errs...)
}

// producerOpts maps the producer settings onto franz-go options.
func (d *Driver) producerOpts() []kgo.Opt {
	p := d.Producer
	opts := []kgo.Opt{
		kgo.ProducerLinger(p.Linger),
		kgo.ProducerBatchMaxBytes(p.BatchBytes),
		kgo.MaxBufferedRecords(p.BufferRecords),
	}
	if !p.Idempotent {
		// franz-go picks the in-flight limit itself for idempotent
		// producers (5, or 1 before Kafka 1.0) and rejects the option.
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(p.MaxInFlight))
	}
	if p.BufferBytes > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(int(p.BufferBytes)))
	}
	switch p.Acks {
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !p.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch p.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	return opts
}

// consumerOpts maps the consumer settings onto franz-go options.
func (d *Driver) consumerOpts() []kgo.Opt {
	c := d.Consumer
	opts := []kgo.Opt{
		kgo.FetchMaxBytes(c.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(c.MaxPartitionFetchBytes),
		kgo.FetchMinBytes(c.FetchMinBytes),
		kgo.FetchMaxWait(c.FetchMaxWait),
	}
	if c.AutoOffsetReset == "latest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	if !c.AutoCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	return opts
}

// parseProperties parses a driver's Java-properties text with the project's
// one parser (internal/properties). A line with neither '=' nor ':' is
// refused, though Java would read it as a key with an empty value: in a
// client config it is always a typo.
func parseProperties(s string) (map[string]string, error) {
	var errs []error
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line[0] != '#' && line[0] != '!' && !strings.ContainsAny(line, "=:") {
			errs = append(errs, fmt.Errorf("line %d %q: want key=value", i+1, line))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return properties.Map(strings.NewReader(s))
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
