package broker

import (
	"strconv"
)

// topicConfig is a topic-level config key and the broker key whose value
// it defaults to (Kafka's synonyms: retention.ms <- log.retention.ms).
type topicConfig struct {
	name       string
	brokerKey  string
	defaultFor func(c Config) string
	sensitive  bool
}

// topicConfigs are the topic configs the broker reports and accepts in
// CreateTopics and DescribeConfigs.
var topicConfigs = []topicConfig{
	{name: "cleanup.policy", brokerKey: "log.cleanup.policy", defaultFor: func(Config) string { return "delete" }},
	{name: "flush.messages", brokerKey: "log.flush.interval.messages", defaultFor: func(c Config) string {
		if c.FlushIntervalMessages == 0 {
			return "9223372036854775807"
		}
		return strconv.FormatInt(c.FlushIntervalMessages, 10)
	}},
	{name: "flush.ms", brokerKey: "log.flush.interval.ms", defaultFor: func(c Config) string {
		if c.FlushInterval == 0 {
			return "9223372036854775807"
		}
		return strconv.FormatInt(c.FlushInterval.Milliseconds(), 10)
	}},
	{name: "index.interval.bytes", brokerKey: "log.index.interval.bytes", defaultFor: func(c Config) string { return strconv.Itoa(int(c.IndexIntervalBytes)) }},
	{name: "max.message.bytes", brokerKey: "message.max.bytes", defaultFor: func(c Config) string { return strconv.Itoa(int(c.MessageMaxBytes)) }},
	{name: "message.timestamp.type", brokerKey: "log.message.timestamp.type", defaultFor: func(Config) string { return "CreateTime" }},
	{name: "retention.bytes", brokerKey: "log.retention.bytes", defaultFor: func(c Config) string { return strconv.FormatInt(c.RetentionBytes, 10) }},
	{name: "retention.ms", brokerKey: "log.retention.ms", defaultFor: func(c Config) string {
		if c.Retention < 0 {
			return "-1"
		}
		return strconv.FormatInt(c.Retention.Milliseconds(), 10)
	}},
	{name: "segment.bytes", brokerKey: "log.segment.bytes", defaultFor: func(c Config) string { return strconv.FormatInt(c.SegmentBytes, 10) }},
	{name: "segment.index.bytes", brokerKey: "log.index.size.max.bytes", defaultFor: func(c Config) string { return strconv.Itoa(int(c.IndexSizeMaxBytes)) }},
	{name: "segment.ms", brokerKey: "log.roll.ms", defaultFor: func(c Config) string { return strconv.FormatInt(c.RollInterval.Milliseconds(), 10) }},
}

func lookupTopicConfig(name string) (topicConfig, bool) {
	for _, tc := range topicConfigs {
		if tc.name == name {
			return tc, true
		}
	}
	return topicConfig{}, false
}
