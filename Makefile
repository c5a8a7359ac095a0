# brokerlab: run `make help` for the targets.
GO       ?= go
BIN      := bin
RESULTS  ?= results
# Flags for `go test` in `make test`; CI adds nothing: LAB_REQUIRE_PRIVILEGED=1 comes from the environment.
TESTFLAGS ?= -count=1 -timeout 14m
export PATH := $(CURDIR)/$(BIN):$(PATH)

.DEFAULT_GOAL := build

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/broker, bin/lab and bin/kfake
	@echo ">> building $(BIN)/broker $(BIN)/lab $(BIN)/kfake"
	@$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: deps
deps: ## install the missing system packages of tools/deps/packages.tsv (root) and kafkajs; a no-op when all is there
	@tools/deps/install.sh $(DEPS_FLAGS)

.PHONY: tools
tools: ## build the C client tools the tests and benches drive (rdkafka_performance); skipped without librdkafka-dev
	@if tools/rdkafka_performance/build.sh --check; then \
		$(MAKE) --no-print-directory $(BIN)/rdkafka_performance; \
	else \
		echo ">> skipping $(BIN)/rdkafka_performance: librdkafka-dev is not installed (make deps as root installs it)"; \
	fi

$(BIN)/rdkafka_performance: tools/rdkafka_performance/build.sh tools/rdkafka_performance/compat/rd.h
	@echo ">> building $@ from librdkafka-dev's example source"
	@tools/rdkafka_performance/build.sh $@

.PHONY: generate
generate: ## regenerate the eBPF objects with bpf2go (needs clang, llvm, libbpf-dev, bpftool)
	@echo ">> generating eBPF objects"
	@$(GO) generate ./bpf/...

.PHONY: check-generated
check-generated: generate ## regenerate and fail if the committed eBPF objects differ
	@echo ">> checking generated files are up to date"
	@git diff --exit-code -- bpf/ || { echo "generated files differ: run make generate and commit"; exit 1; }

.PHONY: test
test: deps build tools ## run all tests (privileged ones skip without root; LAB_REQUIRE_PRIVILEGED=1 makes them fail)
	@echo ">> running tests"
	@$(GO) test $(TESTFLAGS) ./...

.PHONY: bench
# Only results reach stdout (make bench > summary.txt keeps the summary and
# tables): the preparation and progress lines go to stderr.
bench: ## the main job: ceilings, broker vs kfake, load generator, quick XFS/EXT4 plan -> results/<timestamp>/, a summary last
	@$(MAKE) --no-print-directory deps build tools >&2
	@echo ">> running the default bench (results under $(RESULTS)/)" >&2
	@$(BIN)/lab bench -out $(RESULTS) $(BENCH_FLAGS)

.PHONY: bench-fetch
bench-fetch: build tools ## fill a 10 GB partition, read it back in sendfile and copy modes (rdkafka_performance and the null consumer): MB/s, broker CPU/GB verdict, RSS, share of the sendfile ceiling
	@echo ">> running the fetch-path bench (needs ~10 GB free under $${TMPDIR:-/tmp})"
	@$(BIN)/lab fetch -out $(RESULTS)

.PHONY: bench-versus
bench-versus: build tools ## broker vs kfake over the full grid: 100 B, 1 KiB, 64 KiB records x 1, 100, 1000 partitions (MB/s, server CPU/GB, peak RSS; ~30 min)
	@echo ">> running broker vs kfake over record sizes and partitions"
	@$(BIN)/lab versus -grid -out $(RESULTS) $(VERSUS_FLAGS)

.PHONY: bench-requests
bench-requests: build ## broker CPU s/GB and us/request at 50k msg/s x 1 KiB: BASE (default main) vs this tree, interleaved
	@echo ">> building the broker of $${BASE:-main} and comparing it with this tree's"
	@tmp=$$(mktemp -d) && trap 'git worktree remove --force '"$$tmp"'/src >/dev/null 2>&1; rm -rf '"$$tmp" EXIT && \
	git worktree add --detach -q $$tmp/src $${BASE:-main} && \
	(cd $$tmp/src && $(GO) build -o $$tmp/broker-base ./cmd/broker) && \
	$(BIN)/lab requests -brokers base=$$tmp/broker-base,this=$(BIN)/broker -repetitions $${ROUNDS:-3} -out $(RESULTS)

# The same broker under Go runtime settings: GOMAXPROCS=1, and a GODEBUG
# that keeps the runtime's monitor thread (sysmon) from parking while the
# broker idles between requests, so that no system call has to wake it (a
# diagnostic of what that costs, not a production setting; README).
SYSMON_AWAKE := GODEBUG=schedtrace=2147483647
.PHONY: bench-runtime
bench-runtime: build ## broker CPU s/GB and us/request at 50k msg/s x 1 KiB under Go runtime settings (GOMAXPROCS=1, sysmon kept awake), interleaved
	@echo ">> comparing the broker under Go runtime settings at a held rate"
	@$(BIN)/lab requests -brokers default=$(BIN)/broker,gmp1=$(BIN)/broker,sysmon=$(BIN)/broker,both=$(BIN)/broker \
		-broker-env gmp1:GOMAXPROCS=1 -broker-env sysmon:$(SYSMON_AWAKE) -broker-env both:GOMAXPROCS=1 -broker-env both:$(SYSMON_AWAKE) \
		-repetitions $${ROUNDS:-3} -out $(RESULTS)

.PHONY: bench-abuse
bench-abuse: build ## soak: a producer and consumer beside misbehaving clients (slowloris, long polls, bombs, floods, group churn) for ABUSE_DURATION (10m); ratio, RSS, fds, goroutines, no acked record lost
	@echo ">> running the abuse soak ($${ABUSE_DURATION:-10m} of misbehaving clients, solo phases besides)"
	@$(BIN)/lab abuse -duration $${ABUSE_DURATION:-10m} -out $(RESULTS) $(ABUSE_FLAGS)

.PHONY: bench-kill
bench-kill: build ## SIGKILL the broker 100 times under acks=all load; every acknowledged record must survive
	@echo ">> running the kill test (100 trials)"
	@$(BIN)/lab kill -trials 100 -out $(RESULTS)

.PHONY: bench-kill-txn
bench-kill-txn: build ## SIGKILL the broker 20 times during a stream of transactions; read_committed must see each committed one exactly once
	@echo ">> running the transactions kill test (20 trials)"
	@$(BIN)/lab kill -txn -trials 20 -out $(RESULTS)

.PHONY: test-kgo
test-kgo: ## franz-go's pkg/kgo integration suite against the broker (all but KIP-848 and share groups; ~30 min)
	@echo ">> running franz-go's kgo integration suite against the broker"
	@BROKERLAB_KGO_RUN=. $(GO) test -count=1 -timeout 120m -run TestKgoSuite -v ./e2e

.PHONY: bench-fetch-isolation
bench-fetch-isolation: build tools ## 1 GB of transactions read back at read_uncommitted and read_committed, broker CPU s/GB (5 interleaved rounds)
	@echo ">> running the fetch isolation bench"
	@$(BIN)/lab fetch-isolation -out $(RESULTS)

.PHONY: bench-powercut
bench-powercut: build ## cut the power 50 times per flush policy (25 per filesystem semantics) on the FUSE power-cut filesystem, 3 loop-device checks per policy (root; ~15 min)
	@echo ">> running the power-cut lab (25 trials per policy and semantics, 3 ext4-on-loop trials per policy)"
	@$(BIN)/lab powercut -trials 25 -loop-trials 3 -out $(RESULTS) $(POWERCUT_FLAGS)

.PHONY: bench-loadgen
bench-loadgen: build tools ## lab load's max produce throughput vs rdkafka_performance's, 5 interleaved pairs (kfake target)
	@echo ">> comparing the load generator with rdkafka_performance"
	@LAB_BENCH_PAIRS=$${LAB_BENCH_PAIRS:-5} LAB_BENCH_SECONDS=$${LAB_BENCH_SECONDS:-10} \
		$(GO) test -count=1 -run '^$$' -bench MaxThroughputVsRdkafka -benchtime 1x ./bench/

.PHONY: ab-fs
ab-fs: build ## the XFS vs EXT4 A/B test on loop devices, sequential, at most 45 min (plans/ab-fs.yaml; root); AB_FLAGS adds lab ab flags
	@echo ">> running the XFS vs EXT4 A/B test"
	@$(BIN)/lab ab -plan plans/ab-fs.yaml -out $(RESULTS) $(AB_FLAGS)

.PHONY: bench-probes
bench-probes: build ## what the eBPF probes cost the broker: max-rate throughput and p99 with all probes vs none (root)
	@echo ">> measuring probe overhead (plans/overhead.yaml)"
	@$(BIN)/lab sweep -plan plans/overhead.yaml -out $(RESULTS) $(SWEEP_FLAGS)

.PHONY: bench-probe-cost
bench-probe-cost: build ## what the eBPF probes cost at a fixed 20k msg/s: broker CPU/GB and publish p99, all probes vs none, 10 interleaved pairs (root; ~10 min)
	@echo ">> measuring the probes' cost at a fixed rate (10 interleaved pairs)"
	@$(BIN)/lab probe-cost -out $(RESULTS) $(PROBE_COST_FLAGS)

.PHONY: bench-flush
bench-flush: build ## produce throughput and p99 ack latency per flush policy on ext4 and XFS loop filesystems, then what a power cut loses per policy into the same run: the guide shows both (root)
	@echo ">> measuring the flush policies (plans/flush.yaml)"
	@$(BIN)/lab sweep -plan plans/flush.yaml -out $(RESULTS) $(SWEEP_FLAGS)
	@run=$$(ls -1d $(RESULTS)/flush-*/ | sort | tail -1); \
	  echo ">> cutting the power under each flush policy into $$run"; \
	  $(BIN)/lab powercut -trials 25 -loop-trials 3 -out $$run $(POWERCUT_FLAGS) && \
	  $(BIN)/lab guide $$run

.PHONY: tune
tune: build ## the wider tuning sweep (plans/tune.yaml; root; ~85 min), then restart times by num.recovery.threads.per.data.dir and what a power cut loses per flush policy into the same run; SWEEP_FLAGS adds lab sweep flags
	@echo ">> running the tuning sweep"
	@$(BIN)/lab sweep -plan plans/tune.yaml -out $(RESULTS) $(SWEEP_FLAGS)
	@run=$$(ls -1d $(RESULTS)/tune-*/ | sort | tail -1); \
	  echo ">> timing crash recovery by num.recovery.threads.per.data.dir into $$run"; \
	  TMPDIR=/var/tmp $(BIN)/lab recovery -out $$run -gb 3 -partitions 1000 -threads 1,4 -repetitions 5 && \
	  echo ">> cutting the power under each flush policy into $$run" && \
	  $(BIN)/lab powercut -trials 25 -loop-trials 3 -out $$run $(POWERCUT_FLAGS) && \
	  $(BIN)/lab guide $$run

.PHONY: guide
guide: build ## re-render the tables and the guideline of a sweep: make guide RUN=results/<plan>-<timestamp>
	@test -n "$(RUN)" || { echo "usage: make guide RUN=results/<plan>-<timestamp>"; exit 2; }
	@echo ">> rendering the guideline of $(RUN)"
	@$(BIN)/lab guide $(RUN)

.PHONY: restore
restore: build ## undo every host change a killed lab run left behind (replays the journal)
	@echo ">> restoring the host from the lab's journal"
	@$(BIN)/lab restore

# The lab's Vagrant VM (Vagrantfile, tools/vm/provision.sh): README.md, "The Vagrant VM".
VAGRANT_PROVIDER ?= libvirt

.PHONY: vm-up
vm-up: ## start and provision the lab's Vagrant VM (VAGRANT_PROVIDER=libvirt or virtualbox)
	@echo ">> starting the VM with $(VAGRANT_PROVIDER)"
	@VAGRANT_EXPERIMENTAL=disks vagrant up --provider=$(VAGRANT_PROVIDER)

.PHONY: vm-bench
vm-bench: ## rsync the checkout into the VM and run make bench there as root; then make vm-results
	@echo ">> running make bench in the VM"
	@VAGRANT_EXPERIMENTAL=disks vagrant rsync
	@vagrant ssh -c 'sudo make -C /brokerlab bench BENCH_FLAGS="$(BENCH_FLAGS)"'

.PHONY: vm-results
vm-results: ## copy the VM's results/ into results/ (adds and updates files, never deletes any)
	@echo ">> copying results/ out of the VM"
	@mkdir -p .vagrant $(RESULTS)
	@vagrant ssh-config >.vagrant/ssh-config
	@rsync -a --info=name1 --rsync-path='sudo rsync' -e 'ssh -F .vagrant/ssh-config' default:/brokerlab/results/ $(RESULTS)/

.PHONY: bench-go
bench-go: ## go test -bench for the packages' micro-benchmarks
	@echo ">> running go benchmarks"
	@$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: fmt
fmt: ## gofmt the tree
	@echo ">> formatting"
	@gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## go vet, gofmt check and shellcheck
	@echo ">> vetting"
	@$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed: make fmt"; exit 1; }
	@if command -v shellcheck >/dev/null; then shellcheck .ci/run tools/*/*.sh; fi

.PHONY: clean
clean: ## remove build output
	@echo ">> cleaning"
	@rm -rf $(BIN)
