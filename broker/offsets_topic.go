package broker

// The internal __consumer_offsets topic in Fetch and ListOffsets.
//
// Metadata lists __consumer_offsets as Kafka does (is_internal,
// offsets.topic.num.partitions partitions) once a group coordinator was
// looked up, but its contents are not a log here: the group coordinator
// keeps committed offsets in its own CRC-checked file (package group), not
// as Kafka's offset-commit key/value records. Fetch and ListOffsets answer
// for its partitions as for an empty log (log start 0, high watermark 0,
// no records; a fetch at any other offset gets OFFSET_OUT_OF_RANGE, which
// clients answer by resetting to 0), so that a client that subscribes to
// it, or a tool that reads it to its end (kcat -C -e), sees an empty topic
// and goes on, instead of retrying UNKNOWN_TOPIC_OR_PARTITION for a topic
// Metadata lists. A Fetch of it waits out max.wait.ms like any empty
// partition. Committed offsets are read with OffsetFetch (kadm, kcat -G
// consumers, kafka-consumer-groups).

import "github.com/twmb/franz-go/pkg/kerr"

// neverWakes is the wait channel of the offsets topic's partitions: no
// append ever wakes a Fetch of them.
var neverWakes = make(chan struct{})

// isOffsetsTopicPartition reports whether topic-partition is a partition
// of the internal offsets topic as Metadata currently lists it.
func (b *Broker) isOffsetsTopicPartition(topic string, partition int32) bool {
	return topic == offsetsTopicName && partition >= 0 && partition < b.cfg.OffsetsTopicNumPartitions &&
		b.groups.OffsetsTopicExists()
}

// offsetsTopicFetch fills a Fetch answer for a partition of the offsets
// topic at offset: empty at 0, OFFSET_OUT_OF_RANGE elsewhere (then the
// Fetch must answer at once, as for any error).
func offsetsTopicFetch(offset int64) (hwm, logStart int64, code int16, answerNow bool) {
	if offset != 0 {
		return 0, 0, kerr.OffsetOutOfRange.Code, true
	}
	return 0, 0, 0, false
}
