// Package bench holds the lab's experiments, one file per experiment, each
// a Config, a Run function that returns a report together with the first
// error, and the report's tables:
//
//   - versus.go: the broker against franz-go's kfake, same client
//     (rdkafka_performance), interleaved pairs.
//   - fetch.go: a large partition read back in sendfile and copy fetch modes,
//     sampling the broker's RSS.
//   - recovery.go: crash-recovery time by num.recovery.threads.per.data.dir,
//     cold and warm page cache.
//   - kill.go: SIGKILL under idempotent acks=all load; every acknowledged
//     record must come back (CheckAcked is the reusable checker).
//   - load.go: the franz-go load generator against the broker, max rate then
//     half of it.
//   - rdkafka.go: the load generator's maximum produce rate against
//     rdkafka_performance's on the same target (BenchmarkMaxThroughputVsRdkafka,
//     make bench-loadgen).
//   - requests.go: broker builds' CPU per GB and per request at a held rate,
//     with syscalls per request by kind (lab requests, make bench-requests).
//   - powercut.go, powercut_loop.go: power cuts on the FUSE power-cut
//     filesystem under acks=all load, per flush policy and filesystem
//     semantics, and the same policies on ext4 over a loop device as the
//     model's check (lab powercut, make bench-powercut).
//   - probecost.go: what the eBPF probes cost, the broker's CPU per GB and
//     publish p99 at a fixed rate, every probe vs none (lab probe-cost,
//     make bench-probe-cost); serveruse.go measures a server's CPU per GB and
//     peak RSS over a pass for it and the others.
//   - suite.go: lab bench, the stages above that make bench runs, in order.
//
// The shared pieces: every broker is started by internal/launch
// (launch.StartBroker: server.properties on a free port, readiness by a real
// ApiVersions round trip, logs kept under the run directory, stop with grace
// then kill); rounds are ordered by one seeded shuffle (newRounds); defaults are filled
// by orDefault and seedAndLogger; tables
// are drawn by one tablewriter set-up (newTable); results go to one run
// directory (RunDir) whose JSON files carry the command and the
// environment (procsample.Environment).
package bench
