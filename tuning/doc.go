// Package tuning is the lab: it runs tuning experiments on the broker and
// the host it runs on.
//
// A Plan (plans/*.yaml, ParsePlan/LoadPlan) names a workload and a driver
// for the load generator, a base of Settings and a matrix of dimensions,
// each a knob with levels: sysctls, the disk and filesystem under the log
// dir (loop file, tmpfs-backed loop, zram, a named spare disk; ext4 or xfs
// with mkfs and mount options; I/O scheduler; blkio throttling), zram swap,
// the broker's memory cgroup limit, Go runtime settings (GOGC, GOMEMLIMIT, GOMAXPROCS)
// and broker overrides (flush policy, fetch mode, socket buffers). Cells
// expands the matrix (full factorial or one at a time) and Schedule
// interleaves the repetitions, shuffling the order every round. A level
// may also turn the eBPF probes on or off (probes: all|none), which is how
// plans/overhead.yaml measures what the probes cost.
//
// Plan.Override applies the command line's -repetitions, -warmup, -measure
// and -seed and records them in Plan.Invocation (Reduced when the run is
// shorter than the plan). Plan.Degrade fits a plan to the host's
// Capabilities (DetectCapabilities): without root the broker's log dir is a
// plain directory, sysctls, zram, cgroups, drop_caches and probes are left
// out, dimensions whose levels become the same are dropped, and every
// omission is a sentence in Invocation.Skipped that the guide prints.
//
// A Runner executes the schedule. Each run prepares its cell through a
// host.Session (every change journaled before it is made and restored
// after the run), starts the broker (Broker), attaches the probes
// (Probes), drives the load (Load), and writes a Record with its
// Measurement to runs/<cell>-r<n>.json. Package report turns the records
// into tables and the guideline.
//
// Example:
//
//	plan, err := tuning.LoadPlan("plans/quick.yaml")
//	s, _, err := host.Open(host.Config{})
//	defer s.Close()
//	r, err := tuning.NewRunner(tuning.RunnerConfig{Plan: plan, OutDir: dir, Host: s,
//		Broker: tuning.ExecBroker{Path: "bin/broker", Config: "config/server.properties"},
//		Load:   tuning.LoadgenLoad{Workload: w, Driver: d}})
//	records, err := r.Run(ctx)
package tuning
