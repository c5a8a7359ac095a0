package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/broker/group"
	"github.com/brokerlab/brokerlab/broker/storage"
	"github.com/brokerlab/brokerlab/broker/txn"
)

// Fetch modes (brokerlab.fetch.mode).
const (
	// FetchModeSendfile sends record bytes from the segment file to the
	// socket with sendfile(2): no copy through user space.
	FetchModeSendfile = "sendfile"
	// FetchModeCopy reads record bytes into a buffer with pread(2) and
	// writes them: the copying path the lab compares against.
	FetchModeCopy = "copy"
)

// Config is the broker's configuration. DefaultConfig returns Kafka's
// defaults; ConfigFromProperties fills it from a server.properties file.
// The property each field comes from is named in its comment.
type Config struct {
	// NodeID is node.id / broker.id. Default 0.
	NodeID int32
	// ListenAddr is the host:port of listeners=PLAINTEXT://host:port (or
	// host.name + port). Default 127.0.0.1:9092. Ignored when Listener is set.
	ListenAddr string
	// AdvertisedAddr is the host:port clients are told in Metadata
	// (advertised.listeners). Default: the listener's actual address.
	AdvertisedAddr string
	// LogDirs is log.dirs (or log.dir). Required.
	LogDirs []string
	// RecoveryThreadsPerDataDir is num.recovery.threads.per.data.dir. Default 1.
	RecoveryThreadsPerDataDir int
	// AutoCreateTopics is auto.create.topics.enable. Default true.
	AutoCreateTopics bool
	// NumPartitions is num.partitions, for auto-created topics. Default 1.
	NumPartitions int32
	// Retention is log.retention.ms (or .minutes, .hours); negative keeps
	// forever. Default 168h.
	Retention time.Duration
	// RetentionBytes is log.retention.bytes per partition; -1 = no limit.
	// Default -1.
	RetentionBytes int64
	// RetentionCheckInterval is log.retention.check.interval.ms. Default 5m.
	RetentionCheckInterval time.Duration
	// SegmentBytes is log.segment.bytes. Default 1 GiB.
	SegmentBytes int64
	// RollInterval is log.roll.ms (or log.roll.hours). Default 168h.
	RollInterval time.Duration
	// IndexIntervalBytes is log.index.interval.bytes. Default 4096.
	IndexIntervalBytes int32
	// IndexSizeMaxBytes is log.index.size.max.bytes. Default 10 MiB.
	IndexSizeMaxBytes int32
	// CompressionType is compression.type: the codec batches are stored
	// with on topics that set none (producer: as the client sent them;
	// uncompressed, gzip, snappy, lz4, zstd). Default producer.
	CompressionType string
	// MessageMaxBytes is message.max.bytes: the largest record batch.
	// Default 1048588 (Kafka's).
	MessageMaxBytes int32
	// FlushIntervalMessages is log.flush.interval.messages: fsync after
	// this many messages; 0 = never by count (Kafka's default is
	// Long.MAX_VALUE, which means the same). Default 0.
	FlushIntervalMessages int64
	// FlushInterval is log.flush.interval.ms: fsync data older than this;
	// 0 = never by time. Default 0.
	FlushInterval time.Duration
	// FlushSyncOnAck is log.flush.sync.on.ack (brokerlab): fsync before
	// acknowledging acks=-1 produce requests (group commit). Default false.
	FlushSyncOnAck bool
	// GroupMinSessionTimeout and GroupMaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms: a
	// JoinGroup's session timeout must lie between them. Defaults 6s and
	// 30m.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration
	// OffsetsRetention is offsets.retention.minutes: committed offsets of
	// a group empty this long are deleted; -1 keeps them forever. Default
	// 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	// Default 10m.
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes: the longest
	// metadata string of a committed offset. Default 4096.
	OffsetMetadataMaxBytes int
	// ProducerIDExpiration is producer.id.expiration.ms: a partition
	// forgets an idempotent producer idle this long. Default 24h.
	ProducerIDExpiration time.Duration
	// ProducerIDExpirationCheck is producer.id.expiration.check.interval.ms.
	// Default 10m.
	ProducerIDExpirationCheck time.Duration
	// MessageMaxDecompressedBytes is brokerlab.message.max.decompressed.bytes:
	// the most bytes one compressed batch may decompress to; beyond it the
	// partition answers MESSAGE_TOO_LARGE and nothing is stored. Kafka
	// validates records streaming and has no such bound. Default 16 MiB.
	MessageMaxDecompressedBytes int
	// LogPreallocateBytes is brokerlab.log.preallocate.bytes: the active
	// segment's disk space is fallocated ahead of its data in steps of
	// 64 KiB doubling up to this, and given back when the segment rolls
	// or the broker stops; 0 turns it off. Kafka's log.preallocate (a
	// whole segment's size, up front) is the coarser relative. Default
	// 16 MiB.
	LogPreallocateBytes int64
	// MaxBrokerPartitions is max.broker.partitions (KIP-578's name): the
	// most partitions this broker holds. Default 10000.
	MaxBrokerPartitions int
	// CreateTopicsMaxPartitions is brokerlab.create.topics.partitions.max:
	// the most partitions one CreateTopics request may create, or one
	// CreatePartitions request may add, all its topics together; above it
	// every topic of the request fails with
	// INVALID_PARTITIONS and nothing is created. Default 10000, the most
	// records Kafka's KRaft controller lets one request write
	// (QuorumController.MAX_RECORDS_PER_USER_OP).
	CreateTopicsMaxPartitions int
	// GroupProtocolMetadataMaxBytes is
	// brokerlab.group.protocol.metadata.max.bytes: the most bytes of
	// protocols (names and metadata) one JoinGroup may bring; a member
	// keeps them while it is in the group. Default 1 MiB.
	GroupProtocolMetadataMaxBytes int
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms: the
	// first rebalance of an empty group waits this long, and again after
	// each new member, up to the rebalance timeout. 0 = none. Default 3s.
	GroupInitialRebalanceDelay time.Duration
	// OffsetsTopicNumPartitions is offsets.topic.num.partitions: the
	// partitions Metadata reports for the internal __consumer_offsets
	// topic. Default 50.
	OffsetsTopicNumPartitions int32
	// TransactionMaxTimeout is transaction.max.timeout.ms: the longest
	// transaction timeout a transactional producer may ask for. Default
	// 900000 (Kafka's).
	TransactionMaxTimeout time.Duration
	// TransactionalIDExpiration is transactional.id.expiration.ms: a
	// transactional id without a transaction for this long is forgotten.
	// Default 604800000 (Kafka's, 7 days).
	TransactionalIDExpiration time.Duration
	// TransactionCheckInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms: how
	// often timed-out transactions are aborted (and expired ids removed).
	// Default 10000 (Kafka's).
	TransactionCheckInterval time.Duration
	// TransactionalIDsMax is brokerlab.transactional.ids.max: the
	// transactional ids the coordinator holds; a new one beyond it gets
	// POLICY_VIOLATION. Default 100000.
	TransactionalIDsMax int
	// TransactionPartitionsMax is brokerlab.transaction.partitions.max:
	// partitions, groups and pending offsets in one transaction. Default
	// 10000.
	TransactionPartitionsMax int
	// FetchMode is brokerlab.fetch.mode: "sendfile" or "copy". Default sendfile.
	FetchMode string
	// SocketSendBufferBytes is socket.send.buffer.bytes (SO_SNDBUF); -1 =
	// the OS default: Linux autotunes each socket's buffer up to
	// net.ipv4.tcp_wmem's maximum. Default 102400, Kafka's: on the
	// project's 2-vCPU VM autotuning read faster with less broker CPU in
	// one ad-hoc test (3 GB consumed by rdkafka_performance) but slower,
	// at twice the broker's CPU per GB, in lab versus (0.5 GB passes,
	// 2026-12-04), so the default stays.
	SocketSendBufferBytes int
	// SocketReceiveBufferBytes is socket.receive.buffer.bytes (SO_RCVBUF);
	// -1 = the OS default: Linux autotunes each socket's buffer up to
	// net.ipv4.tcp_rmem's maximum (bounded for all sockets by
	// net.ipv4.tcp_mem); a size bounds each connection's buffer instead.
	// Default -1, where Kafka's is 102400, which turns autotuning off: the
	// client's 1 MB batches then arrive ~200 KiB at a time, a read and a
	// wakeup each. lab versus on the project's 2-vCPU VM (rdkafka_performance,
	// 1 KiB records, 5 interleaved pairs with kfake, 2026-12-04): produce
	// 1,130-1,138 MB/s at 0.63-0.65 broker CPU s/GB with -1, against
	// 779-791 MB/s at 0.98-1.00 s/GB with 102400; consume unchanged.
	SocketReceiveBufferBytes int
	// SocketRequestMaxBytes is socket.request.max.bytes: a larger request
	// closes the connection. Default 104857600.
	SocketRequestMaxBytes int32
	// ConnectionsMaxIdle is connections.max.idle.ms: a connection that
	// sends nothing for this long is closed, also in the middle of a
	// request; <= 0 never. Default 600000 (Kafka's).
	ConnectionsMaxIdle time.Duration
	// MaxConnections is max.connections: connections beyond it are closed
	// at accept. It is also capped at half of RLIMIT_NOFILE, leaving the
	// rest to the log's segment files. Default 4096 (Kafka: unbounded).
	MaxConnections int
	// MaxConnectionsPerIP is max.connections.per.ip. Default 2147483647
	// (Kafka's: the lab's clients all share 127.0.0.1).
	MaxConnectionsPerIP int
	// QueuedMaxRequestBytes is queued.max.request.bytes: request bytes read
	// or being handled, outside the connections' read buffers, before
	// connections stop being read; -1 = no bound. Default 104857600
	// (Kafka: -1).
	QueuedMaxRequestBytes int64
	// FetchMaxWait is brokerlab.fetch.max.wait.ms: the longest a Fetch
	// waits for min.bytes, whatever max.wait.ms it asks for. Default 30000.
	FetchMaxWait time.Duration
	// MetricsListen is brokerlab.metrics.listen: host:port serving
	// /metrics (and /debug/pprof with MetricsPprof); empty = off. Default
	// empty; the sample server.properties uses 127.0.0.1:7071.
	MetricsListen string
	// MetricsPprof is brokerlab.metrics.pprof: also serve /debug/pprof/*
	// on the metrics listener, which must then be a loopback address.
	// Default false.
	MetricsPprof bool
	// PyroscopeServer is brokerlab.pyroscope.server: the pyroscope server
	// URL for continuous profiling; empty = off. Default empty.
	PyroscopeServer string
	// PyroscopeTags is brokerlab.pyroscope.tags: key=value pairs separated
	// by commas, added to every profile sent to the pyroscope server (the
	// lab tags each run with plan, cell and rep). Default empty.
	PyroscopeTags string
	// PprofMutexFraction is brokerlab.metrics.pprof.mutex.fraction: on
	// average 1 in this many mutex contention events is recorded for
	// /debug/pprof/mutex (runtime.SetMutexProfileFraction, set by
	// cmd/broker); 0 = off. Default 0.
	PprofMutexFraction int
	// PprofBlockRate is brokerlab.metrics.pprof.block.rate: one blocking
	// event is recorded per this many nanoseconds blocked, for
	// /debug/pprof/block (runtime.SetBlockProfileRate, set by cmd/broker);
	// 0 = off. Default 0.
	PprofBlockRate int

	// Listener, when set, is used instead of listening on ListenAddr (tests
	// pass a 127.0.0.1:0 listener). The broker closes it.
	Listener net.Listener
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	// explicit holds the keys set in the properties file or overrides
	// (DescribeConfigs reports them as STATIC_BROKER_CONFIG).
	explicit map[string]bool
}

// DefaultConfig returns the configuration with every default set and no
// log directory.
func DefaultConfig() Config {
	return Config{
		ListenAddr:                    "127.0.0.1:9092",
		RecoveryThreadsPerDataDir:     storage.DefaultRecoveryThreadsPerDir,
		AutoCreateTopics:              true,
		NumPartitions:                 1,
		Retention:                     storage.DefaultRetention,
		RetentionBytes:                -1,
		RetentionCheckInterval:        storage.DefaultRetentionCheck,
		SegmentBytes:                  storage.DefaultSegmentBytes,
		RollInterval:                  storage.DefaultRollInterval,
		IndexIntervalBytes:            storage.DefaultIndexIntervalBytes,
		IndexSizeMaxBytes:             storage.DefaultMaxIndexBytes,
		MessageMaxBytes:               storage.DefaultMessageMaxBytes,
		CompressionType:               "producer",
		FetchMode:                     FetchModeSendfile,
		MaxBrokerPartitions:           storage.DefaultMaxPartitions,
		MessageMaxDecompressedBytes:   storage.DefaultMaxDecompressedBytes,
		LogPreallocateBytes:           storage.DefaultPreallocateBytes,
		ProducerIDExpiration:          storage.DefaultProducerIDExpiration,
		ProducerIDExpirationCheck:     storage.DefaultProducerIDCheck,
		CreateTopicsMaxPartitions:     storage.DefaultMaxPartitions,
		GroupMinSessionTimeout:        group.DefaultMinSessionTimeout,
		GroupMaxSessionTimeout:        group.DefaultMaxSessionTimeout,
		OffsetsRetention:              group.DefaultOffsetsRetention,
		OffsetsRetentionCheckInterval: group.DefaultOffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        group.DefaultMaxMetadataBytes,
		GroupProtocolMetadataMaxBytes: group.DefaultMaxProtocolMetadataBytes,
		GroupInitialRebalanceDelay:    3 * time.Second,
		OffsetsTopicNumPartitions:     50,
		TransactionMaxTimeout:         txn.DefaultMaxTimeout,
		TransactionalIDExpiration:     txn.DefaultIDExpiration,
		TransactionCheckInterval:      txn.DefaultCheckInterval,
		TransactionalIDsMax:           txn.DefaultMaxIDs,
		TransactionPartitionsMax:      txn.DefaultMaxPartitions,
		SocketSendBufferBytes:         102400,
		SocketReceiveBufferBytes:      -1,
		SocketRequestMaxBytes:         104857600,
		ConnectionsMaxIdle:            600 * time.Second,
		MaxConnections:                4096,
		MaxConnectionsPerIP:           1<<31 - 1,
		QueuedMaxRequestBytes:         104857600,
		FetchMaxWait:                  30 * time.Second,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(key string, v any, fix string) {
		errs = append(errs, fmt.Errorf("%s=%v: %s", key, v, fix))
	}
	if c.NodeID < 0 {
		bad("node.id", c.NodeID, "must be 0 or more")
	}
	if c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			bad("listeners", c.ListenAddr, "want PLAINTEXT://host:port, e.g. PLAINTEXT://127.0.0.1:9092")
		}
	}
	if c.AdvertisedAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedAddr); err != nil {
			bad("advertised.listeners", c.AdvertisedAddr, "want PLAINTEXT://host:port")
		}
	}
	if len(c.LogDirs) == 0 {
		bad("log.dirs", "", "set at least one directory, e.g. log.dirs=/var/lib/brokerlab")
	}
	for _, d := range c.LogDirs {
		if d == "" {
			bad("log.dirs", strings.Join(c.LogDirs, ","), "has an empty entry; list directories separated by commas")
		}
	}
	if c.RecoveryThreadsPerDataDir < 1 {
		bad("num.recovery.threads.per.data.dir", c.RecoveryThreadsPerDataDir, "must be 1 or more")
	}
	if c.NumPartitions < 1 {
		bad("num.partitions", c.NumPartitions, "must be 1 or more")
	}
	if c.RetentionBytes < -1 {
		bad("log.retention.bytes", c.RetentionBytes, "must be -1 (no limit) or 0 or more")
	}
	if c.RetentionCheckInterval <= 0 {
		bad("log.retention.check.interval.ms", c.RetentionCheckInterval.Milliseconds(), "must be above 0")
	}
	if c.SegmentBytes < 14 || c.SegmentBytes > 1<<31-1 {
		bad("log.segment.bytes", c.SegmentBytes, "must be between 14 and 2147483647 (Kafka's limits); the default is 1073741824")
	}
	if c.RollInterval <= 0 {
		bad("log.roll.ms", c.RollInterval.Milliseconds(), "must be above 0")
	}
	if c.IndexIntervalBytes < 0 {
		bad("log.index.interval.bytes", c.IndexIntervalBytes, "must be 0 or more")
	}
	if c.IndexSizeMaxBytes < 32 {
		bad("log.index.size.max.bytes", c.IndexSizeMaxBytes, "must be at least 32 (four index entries); the default is 10485760")
	}
	if !storage.ValidCompressionType(c.CompressionType) {
		bad("compression.type", c.CompressionType, "must be one of uncompressed, zstd, lz4, snappy, gzip, producer (the default)")
	}
	if c.MessageMaxBytes < 0 {
		bad("message.max.bytes", c.MessageMaxBytes, "must be 0 or more")
	}
	if c.FlushIntervalMessages < 0 {
		bad("log.flush.interval.messages", c.FlushIntervalMessages, "must be 0 (off) or more")
	}
	if c.FlushInterval < 0 {
		bad("log.flush.interval.ms", c.FlushInterval.Milliseconds(), "must be 0 (off) or more")
	}
	if c.GroupMinSessionTimeout <= 0 {
		bad("group.min.session.timeout.ms", c.GroupMinSessionTimeout.Milliseconds(), "must be above 0; the default is 6000")
	}
	if c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout {
		bad("group.max.session.timeout.ms", c.GroupMaxSessionTimeout.Milliseconds(), fmt.Sprintf("must be at least group.min.session.timeout.ms (%d); the default is 1800000", c.GroupMinSessionTimeout.Milliseconds()))
	}
	if c.OffsetsRetention != -1 && c.OffsetsRetention < time.Minute {
		bad("offsets.retention.minutes", int64(c.OffsetsRetention/time.Minute), "must be 1 or more, or -1 to keep committed offsets forever; the default is 10080 (7 days)")
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		bad("offsets.retention.check.interval.ms", c.OffsetsRetentionCheckInterval.Milliseconds(), "must be above 0; the default is 600000")
	}
	if c.GroupProtocolMetadataMaxBytes < 1 {
		bad("brokerlab.group.protocol.metadata.max.bytes", c.GroupProtocolMetadataMaxBytes, "must be 1 or more; the default is 1048576")
	}
	if c.GroupInitialRebalanceDelay < 0 {
		bad("group.initial.rebalance.delay.ms", c.GroupInitialRebalanceDelay.Milliseconds(), "must be 0 or more; the default is 3000")
	}
	if c.TransactionMaxTimeout < time.Millisecond {
		bad("transaction.max.timeout.ms", c.TransactionMaxTimeout.Milliseconds(), "must be 1 or more; the default is 900000")
	}
	if c.TransactionalIDExpiration < time.Millisecond {
		bad("transactional.id.expiration.ms", c.TransactionalIDExpiration.Milliseconds(), "must be 1 or more; the default is 604800000")
	}
	if c.TransactionCheckInterval < time.Millisecond {
		bad("transaction.abort.timed.out.transaction.cleanup.interval.ms", c.TransactionCheckInterval.Milliseconds(), "must be 1 or more; the default is 10000")
	}
	if c.TransactionalIDsMax < 1 {
		bad("brokerlab.transactional.ids.max", c.TransactionalIDsMax, "must be 1 or more; the default is 100000")
	}
	if c.TransactionPartitionsMax < 1 || c.TransactionPartitionsMax > txn.MaxPartitionsLimit {
		bad("brokerlab.transaction.partitions.max", c.TransactionPartitionsMax, fmt.Sprintf("must be 1 to %d (one transaction is one record of the transaction log); the default is 10000", txn.MaxPartitionsLimit))
	}
	if c.OffsetsTopicNumPartitions < 1 {
		bad("offsets.topic.num.partitions", c.OffsetsTopicNumPartitions, "must be 1 or more; the default is 50")
	}
	if c.OffsetMetadataMaxBytes < 1 || c.OffsetMetadataMaxBytes > group.MaxMetadataBytesLimit {
		bad("offset.metadata.max.bytes", c.OffsetMetadataMaxBytes, fmt.Sprintf("must be 1 to %d (each committed offset is one record of the offsets log); the default is 4096", group.MaxMetadataBytesLimit))
	}
	if c.ProducerIDExpiration < time.Millisecond {
		bad("producer.id.expiration.ms", c.ProducerIDExpiration.Milliseconds(), "must be 1 or more; the default is 86400000 (24 hours)")
	}
	if c.ProducerIDExpirationCheck < time.Millisecond {
		bad("producer.id.expiration.check.interval.ms", c.ProducerIDExpirationCheck.Milliseconds(), "must be 1 or more; the default is 600000")
	}
	if c.MessageMaxDecompressedBytes < 1 {
		bad("brokerlab.message.max.decompressed.bytes", c.MessageMaxDecompressedBytes, "must be 1 or more; the default is 16777216")
	}
	if c.MaxBrokerPartitions < 1 {
		bad("max.broker.partitions", c.MaxBrokerPartitions, "must be 1 or more; the default is 10000")
	}
	if c.CreateTopicsMaxPartitions < 1 {
		bad("brokerlab.create.topics.partitions.max", c.CreateTopicsMaxPartitions, "must be 1 or more; the default is 10000")
	}
	if c.LogPreallocateBytes != 0 && (c.LogPreallocateBytes < 4096 || c.LogPreallocateBytes > 1<<31-1) {
		bad("brokerlab.log.preallocate.bytes", c.LogPreallocateBytes, "must be 0 (off) or 4096 to 2147483647; the default is 16777216")
	}
	if c.FetchMode != FetchModeSendfile && c.FetchMode != FetchModeCopy {
		bad("brokerlab.fetch.mode", c.FetchMode, "must be sendfile or copy")
	}
	if c.SocketSendBufferBytes < -1 || c.SocketSendBufferBytes == 0 {
		bad("socket.send.buffer.bytes", c.SocketSendBufferBytes, "must be -1 (OS default) or above 0")
	}
	if c.SocketReceiveBufferBytes < -1 || c.SocketReceiveBufferBytes == 0 {
		bad("socket.receive.buffer.bytes", c.SocketReceiveBufferBytes, "must be -1 (OS default) or above 0")
	}
	if c.SocketRequestMaxBytes < 1 {
		bad("socket.request.max.bytes", c.SocketRequestMaxBytes, "must be above 0; the default is 104857600")
	}
	if c.MaxConnections < 1 {
		bad("max.connections", c.MaxConnections, "must be 1 or more; the default is 4096")
	}
	if c.MaxConnectionsPerIP < 1 {
		bad("max.connections.per.ip", c.MaxConnectionsPerIP, "must be 1 or more; the default is 2147483647")
	}
	if c.QueuedMaxRequestBytes == 0 || c.QueuedMaxRequestBytes < -1 {
		bad("queued.max.request.bytes", c.QueuedMaxRequestBytes, "must be above 0, or -1 for no bound; the default is 104857600")
	}
	if c.FetchMaxWait <= 0 {
		bad("brokerlab.fetch.max.wait.ms", c.FetchMaxWait.Milliseconds(), "must be above 0; the default is 30000")
	}
	if c.MetricsListen != "" {
		host, _, err := net.SplitHostPort(c.MetricsListen)
		if err != nil {
			bad("brokerlab.metrics.listen", c.MetricsListen, "want host:port, e.g. 127.0.0.1:9100, or empty for off")
		} else if c.MetricsPprof && !isLoopbackHost(host) {
			bad("brokerlab.metrics.pprof", c.MetricsPprof, "profiles and the command line would be served beyond this host (brokerlab.metrics.listen="+c.MetricsListen+"); listen on 127.0.0.1 or set brokerlab.metrics.pprof=false")
		}
	}
	if _, err := c.PyroscopeTagMap(); err != nil {
		bad("brokerlab.pyroscope.tags", c.PyroscopeTags, err.Error())
	}
	if c.PprofMutexFraction < 0 {
		bad("brokerlab.metrics.pprof.mutex.fraction", c.PprofMutexFraction, "must be 0 (off) or more; 1 records every contention event, 100 one in 100")
	}
	if c.PprofBlockRate < 0 {
		bad("brokerlab.metrics.pprof.block.rate", c.PprofBlockRate, "must be 0 (off) or more nanoseconds; 1 records every blocking event")
	}
	if c.PyroscopeServer != "" {
		if u, err := url.Parse(c.PyroscopeServer); err != nil || u.Scheme == "" || u.Host == "" {
			bad("brokerlab.pyroscope.server", c.PyroscopeServer, "want a URL such as http://127.0.0.1:4040, or empty for off")
		}
	}
	return errors.Join(errs...)
}

// keySpec describes one server.properties key the broker uses.
type keySpec struct {
	name string
	set  func(c *Config, v string) error
	get  func(c Config) string
}

// errFix is a parse error with the fix the user should apply.
func errFix(format string, args ...any) error { return fmt.Errorf(format, args...) }

func parseInt(v string, bits int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
	if err != nil {
		return 0, errFix("not a whole number")
	}
	return n, nil
}

// intFuncKey is a whole-number key of bits bits that set stores and get
// reads back.
func intFuncKey(name string, bits int, set func(*Config, int64), get func(Config) int64) keySpec {
	return keySpec{
		name: name,
		set: func(c *Config, v string) error {
			n, err := parseInt(v, bits)
			if err != nil {
				return err
			}
			set(c, n)
			return nil
		},
		get: func(c Config) string { return strconv.FormatInt(get(c), 10) },
	}
}

// intKey is a whole-number key of bits bits kept in the field of c that
// field points to.
func intKey[T ~int | ~int32 | ~int64](name string, bits int, field func(c *Config) *T) keySpec {
	return intFuncKey(name, bits,
		func(c *Config, n int64) { *field(c) = T(n) },
		func(c Config) int64 { return int64(*field(&c)) })
}

// boolKey is a true/false key kept in the field of c that field points to.
func boolKey(name string, field func(c *Config) *bool) keySpec {
	return keySpec{
		name: name,
		set: func(c *Config, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				*field(c) = true
			case "false":
				*field(c) = false
			default:
				return errFix("not true or false")
			}
			return nil
		},
		get: func(c Config) string { return strconv.FormatBool(*field(&c)) },
	}
}

func strKey(name string, set func(*Config, string), get func(Config) string) keySpec {
	return keySpec{
		name: name,
		set:  func(c *Config, v string) error { set(c, strings.TrimSpace(v)); return nil },
		get:  get,
	}
}

// durKey reads a number of unit into the duration field of c that field
// points to; negative numbers stay negative (-1 = forever for retention).
func durKey(name string, unit time.Duration, field func(c *Config) *time.Duration) keySpec {
	return keySpec{
		name: name,
		set: func(c *Config, v string) error {
			n, err := parseInt(v, 64)
			if err != nil {
				return err
			}
			if n < 0 {
				*field(c) = -1
				return nil
			}
			*field(c) = time.Duration(n) * unit
			return nil
		},
		get: func(c Config) string {
			d := *field(&c)
			if d < 0 {
				return "-1"
			}
			return strconv.FormatInt(int64(d/unit), 10)
		},
	}
}

// flushKey reads a log.flush.interval.* key, where Kafka's default,
// Long.MAX_VALUE, means never and is kept as 0 (off).
func flushKey(name string, set func(*Config, int64), get func(Config) int64) keySpec {
	return intFuncKey(name, 64, func(c *Config, n int64) {
		if n == math.MaxInt64 {
			n = 0
		}
		set(c, n)
	}, get)
}

// listenerAddr parses "PLAINTEXT://host:port[,...]" into host:port.
func listenerAddr(v string) (string, error) {
	for _, l := range strings.Split(v, ",") {
		l = strings.TrimSpace(l)
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			return "", errFix("want NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092")
		}
		if !strings.EqualFold(name, "PLAINTEXT") {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", errFix("want PLAINTEXT://host:port, e.g. PLAINTEXT://127.0.0.1:9092")
		}
		return addr, nil
	}
	return "", errFix("needs a PLAINTEXT listener (only PLAINTEXT is supported), e.g. PLAINTEXT://127.0.0.1:9092")
}

// keySpecs lists the keys the broker uses, in the order they are applied
// and printed: a key that overrides another comes after it (Kafka's
// precedence: log.retention.ms over .minutes over .hours, log.roll.ms over
// log.roll.hours, log.dirs over log.dir, listeners over host.name/port).
var keySpecs = []keySpec{
	intKey("broker.id", 32, func(c *Config) *int32 { return &c.NodeID }),
	intKey("node.id", 32, func(c *Config) *int32 { return &c.NodeID }),
	strKey("host.name", func(c *Config, v string) {
		_, port, _ := net.SplitHostPort(c.ListenAddr)
		c.ListenAddr = net.JoinHostPort(v, port)
	}, func(c Config) string { h, _, _ := net.SplitHostPort(c.ListenAddr); return h }),
	{name: "port", set: func(c *Config, v string) error {
		n, err := parseInt(v, 32)
		if err != nil || n < 0 || n > 65535 {
			return errFix("not a port number (0-65535)")
		}
		host, _, _ := net.SplitHostPort(c.ListenAddr)
		c.ListenAddr = net.JoinHostPort(host, strconv.FormatInt(n, 10))
		return nil
	}, get: func(c Config) string { _, p, _ := net.SplitHostPort(c.ListenAddr); return p }},
	{name: "listeners", set: func(c *Config, v string) error {
		a, err := listenerAddr(v)
		if err == nil {
			c.ListenAddr = a
		}
		return err
	}, get: func(c Config) string { return "PLAINTEXT://" + c.ListenAddr }},
	{name: "advertised.listeners", set: func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			c.AdvertisedAddr = ""
			return nil
		}
		a, err := listenerAddr(v)
		if err == nil {
			c.AdvertisedAddr = a
		}
		return err
	}, get: func(c Config) string {
		if c.AdvertisedAddr == "" {
			return ""
		}
		return "PLAINTEXT://" + c.AdvertisedAddr
	}},
	strKey("log.dir", func(c *Config, v string) { c.LogDirs = splitDirs(v) }, func(c Config) string { return strings.Join(c.LogDirs, ",") }),
	strKey("log.dirs", func(c *Config, v string) { c.LogDirs = splitDirs(v) }, func(c Config) string { return strings.Join(c.LogDirs, ",") }),
	intKey("num.recovery.threads.per.data.dir", 32, func(c *Config) *int { return &c.RecoveryThreadsPerDataDir }),
	boolKey("auto.create.topics.enable", func(c *Config) *bool { return &c.AutoCreateTopics }),
	intKey("num.partitions", 32, func(c *Config) *int32 { return &c.NumPartitions }),
	durKey("log.retention.hours", time.Hour, func(c *Config) *time.Duration { return &c.Retention }),
	durKey("log.retention.minutes", time.Minute, func(c *Config) *time.Duration { return &c.Retention }),
	durKey("log.retention.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.Retention }),
	intKey("log.retention.bytes", 64, func(c *Config) *int64 { return &c.RetentionBytes }),
	durKey("log.retention.check.interval.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.RetentionCheckInterval }),
	intKey("log.segment.bytes", 64, func(c *Config) *int64 { return &c.SegmentBytes }),
	durKey("log.roll.hours", time.Hour, func(c *Config) *time.Duration { return &c.RollInterval }),
	durKey("log.roll.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.RollInterval }),
	intKey("log.index.interval.bytes", 32, func(c *Config) *int32 { return &c.IndexIntervalBytes }),
	intKey("log.index.size.max.bytes", 32, func(c *Config) *int32 { return &c.IndexSizeMaxBytes }),
	strKey("compression.type", func(c *Config, v string) { c.CompressionType = v }, func(c Config) string { return c.CompressionType }),
	intKey("message.max.bytes", 32, func(c *Config) *int32 { return &c.MessageMaxBytes }),
	flushKey("log.flush.interval.messages", func(c *Config, n int64) { c.FlushIntervalMessages = n }, func(c Config) int64 { return c.FlushIntervalMessages }),
	flushKey("log.flush.interval.ms", func(c *Config, n int64) { c.FlushInterval = time.Duration(n) * time.Millisecond }, func(c Config) int64 { return c.FlushInterval.Milliseconds() }),
	boolKey("log.flush.sync.on.ack", func(c *Config) *bool { return &c.FlushSyncOnAck }),
	durKey("group.min.session.timeout.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.GroupMinSessionTimeout }),
	durKey("group.max.session.timeout.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.GroupMaxSessionTimeout }),
	durKey("offsets.retention.minutes", time.Minute, func(c *Config) *time.Duration { return &c.OffsetsRetention }),
	durKey("offsets.retention.check.interval.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.OffsetsRetentionCheckInterval }),
	intKey("brokerlab.group.protocol.metadata.max.bytes", 32, func(c *Config) *int { return &c.GroupProtocolMetadataMaxBytes }),
	durKey("group.initial.rebalance.delay.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.GroupInitialRebalanceDelay }),
	durKey("transaction.max.timeout.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.TransactionMaxTimeout }),
	durKey("transactional.id.expiration.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.TransactionalIDExpiration }),
	durKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.TransactionCheckInterval }),
	intKey("brokerlab.transactional.ids.max", 32, func(c *Config) *int { return &c.TransactionalIDsMax }),
	intKey("brokerlab.transaction.partitions.max", 32, func(c *Config) *int { return &c.TransactionPartitionsMax }),
	intKey("offsets.topic.num.partitions", 32, func(c *Config) *int32 { return &c.OffsetsTopicNumPartitions }),
	intKey("offset.metadata.max.bytes", 32, func(c *Config) *int { return &c.OffsetMetadataMaxBytes }),
	durKey("producer.id.expiration.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.ProducerIDExpiration }),
	durKey("producer.id.expiration.check.interval.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.ProducerIDExpirationCheck }),
	intKey("brokerlab.message.max.decompressed.bytes", 32, func(c *Config) *int { return &c.MessageMaxDecompressedBytes }),
	intKey("brokerlab.log.preallocate.bytes", 64, func(c *Config) *int64 { return &c.LogPreallocateBytes }),
	intKey("max.broker.partitions", 32, func(c *Config) *int { return &c.MaxBrokerPartitions }),
	intKey("brokerlab.create.topics.partitions.max", 32, func(c *Config) *int { return &c.CreateTopicsMaxPartitions }),
	strKey("brokerlab.fetch.mode", func(c *Config, v string) { c.FetchMode = strings.ToLower(v) }, func(c Config) string { return c.FetchMode }),
	intKey("socket.send.buffer.bytes", 32, func(c *Config) *int { return &c.SocketSendBufferBytes }),
	intKey("socket.receive.buffer.bytes", 32, func(c *Config) *int { return &c.SocketReceiveBufferBytes }),
	intKey("socket.request.max.bytes", 32, func(c *Config) *int32 { return &c.SocketRequestMaxBytes }),
	strKey("brokerlab.metrics.listen", func(c *Config, v string) { c.MetricsListen = v }, func(c Config) string { return c.MetricsListen }),
	boolKey("brokerlab.metrics.pprof", func(c *Config) *bool { return &c.MetricsPprof }),
	durKey("connections.max.idle.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.ConnectionsMaxIdle }),
	intKey("max.connections", 32, func(c *Config) *int { return &c.MaxConnections }),
	intKey("max.connections.per.ip", 32, func(c *Config) *int { return &c.MaxConnectionsPerIP }),
	intKey("queued.max.request.bytes", 64, func(c *Config) *int64 { return &c.QueuedMaxRequestBytes }),
	durKey("brokerlab.fetch.max.wait.ms", time.Millisecond, func(c *Config) *time.Duration { return &c.FetchMaxWait }),
	strKey("brokerlab.pyroscope.server", func(c *Config, v string) { c.PyroscopeServer = v }, func(c Config) string { return c.PyroscopeServer }),
	strKey("brokerlab.pyroscope.tags", func(c *Config, v string) { c.PyroscopeTags = v }, func(c Config) string { return c.PyroscopeTags }),
	intKey("brokerlab.metrics.pprof.mutex.fraction", 32, func(c *Config) *int { return &c.PprofMutexFraction }),
	intKey("brokerlab.metrics.pprof.block.rate", 32, func(c *Config) *int { return &c.PprofBlockRate }),
}

// PyroscopeTagMap parses brokerlab.pyroscope.tags: "plan=quick,cell=c01"
// becomes {plan: quick, cell: c01}; "" is none.
func (c Config) PyroscopeTagMap() (map[string]string, error) {
	tags := map[string]string{}
	if strings.TrimSpace(c.PyroscopeTags) == "" {
		return tags, nil
	}
	for _, kv := range strings.Split(c.PyroscopeTags, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || v == "" || strings.ContainsAny(k, " ={}") {
			return nil, fmt.Errorf("want key=value pairs separated by commas, e.g. plan=quick,cell=c01,rep=2; %q is not one", kv)
		}
		tags[k] = v
	}
	return tags, nil
}

// pyroscopeTags are the tags of every profile the broker sends: node_id
// and brokerlab.pyroscope.tags (checked by Validate).
func (c Config) pyroscopeTags() map[string]string {
	tags, _ := c.PyroscopeTagMap()
	tags["node_id"] = strconv.Itoa(int(c.NodeID))
	return tags
}

func splitDirs(v string) []string {
	var out []string
	for _, d := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// unusedKafkaKeys are real Kafka broker keys that a single-node broker
// without replication, ZooKeeper, KRaft, security or a log cleaner accepts
// and ignores; each gets a warning naming it.
var unusedKafkaKeys = map[string]string{
	"zookeeper.connect":                        "single node: no ZooKeeper is used",
	"zookeeper.connection.timeout.ms":          "single node: no ZooKeeper is used",
	"zookeeper.session.timeout.ms":             "single node: no ZooKeeper is used",
	"process.roles":                            "single node: no KRaft controller",
	"controller.quorum.voters":                 "single node: no KRaft controller",
	"controller.quorum.bootstrap.servers":      "single node: no KRaft controller",
	"controller.listener.names":                "single node: no KRaft controller",
	"inter.broker.listener.name":               "single node: no inter-broker traffic",
	"listener.security.protocol.map":           "only PLAINTEXT is supported",
	"security.inter.broker.protocol":           "only PLAINTEXT is supported",
	"num.network.threads":                      "one goroutine per connection instead",
	"num.io.threads":                           "one goroutine per connection instead",
	"num.replica.fetchers":                     "no replication",
	"offsets.topic.replication.factor":         "no replication",
	"transaction.state.log.replication.factor": "no replication",
	"transaction.state.log.min.isr":            "no replication",
	"min.insync.replicas":                      "no replication",
	"unclean.leader.election.enable":           "no replication",
	"log.cleaner.enable":                       "no log compaction",
	"log.cleanup.policy":                       "only delete retention",
	"delete.topic.enable":                      "topics can always be deleted",
	"log.message.format.version":               "only record batch v2",
	"inter.broker.protocol.version":            "no inter-broker traffic",
	"auto.leader.rebalance.enable":             "single node",
	"queued.max.requests":                      "not used by this broker",
	"replica.lag.time.max.ms":                  "no replication",
	"log.preallocate":                          "not used by this broker",
	"log.segment.delete.delay.ms":              "segments are deleted when their last reader releases them",
}

// ConfigFromProperties builds a Config from DefaultConfig and the entries
// of a server.properties file, then applies overrides ("key=value", as
// given with --override). It returns the configuration, warnings about
// keys that are accepted but unused or unknown, and every error at once
// (each naming the key, its value and the fix), including Validate's.
func ConfigFromProperties(props []Property, overrides []string) (Config, []string, error) {
	c := DefaultConfig()
	var (
		errs     []error
		warnings []string
		values   = map[string]string{}
		where    = map[string]string{}
	)
	for _, p := range props {
		values[p.Key] = p.Value
		where[p.Key] = "line " + strconv.Itoa(p.Line)
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("--override %q: want key=value, e.g. --override log.dirs=/tmp/brokerlab", o))
			continue
		}
		k = strings.TrimSpace(k)
		values[k] = v
		where[k] = "--override"
	}
	known := map[string]bool{}
	for _, ks := range keySpecs {
		known[ks.name] = true
	}
	// broker.id and node.id must agree when both are given (Kafka's rule).
	if b, ok := values["broker.id"]; ok {
		if n, ok := values["node.id"]; ok && strings.TrimSpace(b) != strings.TrimSpace(n) {
			errs = append(errs, fmt.Errorf("broker.id=%s and node.id=%s differ: set only one of them, or the same value", b, n))
		}
	}
	// default.replication.factor: every topic of a single broker has one
	// replica, and Kafka refuses a topic with more replicas than brokers
	// (INVALID_REPLICATION_FACTOR), so any other value could only fail
	// every auto-created topic later.
	known["default.replication.factor"] = true
	if v, ok := values["default.replication.factor"]; ok {
		if n, err := parseInt(v, 16); err != nil || n != 1 {
			errs = append(errs, fmt.Errorf("default.replication.factor=%s (%s): a single broker holds one replica of every topic; set 1 or remove the key", v, where["default.replication.factor"]))
		}
	}
	_, hasListeners := values["listeners"]
	for _, ks := range keySpecs {
		v, ok := values[ks.name]
		if !ok {
			continue
		}
		if hasListeners && (ks.name == "port" || ks.name == "host.name") {
			warnings = append(warnings, fmt.Sprintf("%s=%s (%s) is ignored because listeners is set", ks.name, v, where[ks.name]))
			continue
		}
		if c.explicit == nil {
			c.explicit = map[string]bool{}
		}
		c.explicit[ks.name] = true
		if err := ks.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%s (%s): %w", ks.name, v, where[ks.name], err))
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if known[k] {
			continue
		}
		if why, ok := unusedKafkaKeys[k]; ok {
			warnings = append(warnings, fmt.Sprintf("%s=%s (%s) is not used: %s", k, values[k], where[k], why))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s=%s (%s) is not a key this broker knows; check the spelling", k, values[k], where[k]))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, warnings, errors.Join(errs...)
}

// LoadConfig reads the server.properties file at path and applies
// overrides; see ConfigFromProperties.
func LoadConfig(path string, overrides []string) (Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("opening config %s: %w", path, err)
	}
	defer f.Close()
	props, err := ParseProperties(f)
	if err != nil {
		return Config{}, nil, fmt.Errorf("parsing config %s: %w", path, err)
	}
	c, warnings, err := ConfigFromProperties(props, overrides)
	if err != nil {
		return c, warnings, fmt.Errorf("config %s:\n%w", path, err)
	}
	return c, warnings, nil
}

// Properties returns the effective configuration as server.properties
// lines (key=value), one per key the broker uses.
func (c Config) Properties() []string {
	seen := map[string]bool{}
	var out []string
	for _, ks := range keySpecs {
		switch ks.name { // print the canonical key of each alias group once
		case "broker.id", "host.name", "port", "log.dir", "log.retention.hours", "log.retention.minutes", "log.roll.hours":
			continue
		}
		if seen[ks.name] {
			continue
		}
		seen[ks.name] = true
		out = append(out, ks.name+"="+ks.get(c))
	}
	return out
}

// isLoopbackHost reports whether host (of a host:port) names only this
// machine: a loopback IP or "localhost". An empty host or a wildcard
// listens on every interface.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
