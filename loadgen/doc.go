// Package loadgen drives a Kafka-protocol broker with workloads shaped like
// OpenMessaging Benchmark's (OMB) and measures it honestly.
//
// A Workload (YAML, OMB's field names: topics, partitionsPerTopic,
// messageSize, producerRate, consumerBacklogSizeGB, ...) says what to run; a
// Driver (YAML shaped like OMB's driver-kafka files, with Kafka client keys
// in producerConfig and consumerConfig) says how the franz-go clients are
// set up. Run executes one workload and returns a Result, which is written as
// versioned JSON (SCHEMA.md documents every field).
//
// # Honest latency
//
// Producers share one intended send schedule: message i is due at
// start + i/rate, and each producer takes the next slot from a shared atomic
// counter and sleeps until it is due. A producer that falls behind sends at
// once, so a slow target shows up as publish delay (actual - intended send)
// instead of quietly lowering the rate (coordinated omission). Three
// latencies are recorded in HdrHistograms, one set per goroutine, merged per
// window and in total:
//
//   - publish latency: ack time - actual send time;
//   - publish delay: actual send time - intended send time;
//   - end-to-end: consume time - intended send time, read from a 16-byte
//     header at the start of each value (intended time in monotonic ns since
//     the run's start, and the run's tag). Producers and consumers live in one
//     process, so both times come from one monotonic clock.
//
// A run that achieves less than 99% of its target rate, or whose producers
// end behind the schedule with a growing publish delay, is flagged in
// Result.Verdict. producerRate 0 first searches for the maximum sustainable
// rate (ramp, then bisect; the rule is written into Result.RateSearch) and
// measures at 90% of it. In backlog mode (consumerBacklogSizeGB > 0) the
// consumers stay paused until the backlog is built, then drain while the
// producers continue; the run ends when drained or at its time limit.
//
// MeasureCeilings measures the machine's limits (sequential write and
// write+fdatasync on a directory's filesystem, sendfile of a cached file and
// a plain TCP copy over loopback) so results can be read as a share of what
// the hardware can do.
//
// # Example
//
//	w, _ := loadgen.LoadWorkload("workloads/1-topic-16-partitions-1kb.yaml")
//	d, _ := loadgen.LoadDriver("workloads/driver-acks-all-idempotent.yaml")
//	res, err := loadgen.Run(ctx, w, d, loadgen.Options{Brokers: []string{"127.0.0.1:9092"}, Progress: os.Stderr})
//	if err != nil { ... }
//	_ = res.WriteFile("result.json")
//	_ = loadgen.RenderTable(os.Stdout, []*loadgen.Result{res}, false)
package loadgen
