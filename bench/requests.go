package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
)

// The requests experiment measures what the broker spends per request at a held
// rate: CPU seconds per GB produced and microseconds of CPU per request,
// with the syscalls per request by kind that explain them, comparing two
// broker builds run interleaved on the same machine.
//
// Each pass starts a broker binary as its own process (internal/launch)
// with a fresh log, runs the load generator in this process at a fixed rate
// with its default driver (franz-go, linger 0, acks=all, idempotent: what
// most applications run) on one partition, and reads around the run:
// the broker's CPU (utime+stime from /proc/PID/stat), its requests
// (brokerlab_broker_requests_total) and appended bytes
// (brokerlab_broker_storage_appended_bytes_total) from its /metrics, and,
// as root, its syscalls by number (bpf.SyscallCounter on its tgid). All of
// them cover the same interval (set-up, warm-up, measure, drain), so the
// ratios hold; publish latency comes from the measured phase.

// RequestsConfig says what to compare and how hard to push.
type RequestsConfig struct {
	// Builds are the broker binaries, by label (e.g. "before", "after").
	Builds []RequestsBuild
	// Rate is the producer rate in messages/s. Default 50000.
	Rate float64
	// Size is each message's size in bytes. Default 1024.
	Size int
	// Duration is the measured phase. Default 20 s.
	Duration time.Duration
	// Warmup runs at the rate before it. Default 5 s.
	Warmup time.Duration
	// Rounds is how many times each build runs; within a round the order
	// alternates (A B, B A, ...). Default 3.
	Rounds int
	// WorkDir holds each pass's log dir and broker log.
	WorkDir string
	// Logger receives progress; nil discards.
	Logger *slog.Logger `json:"-"`
}

// RequestsBuild is one broker binary, with the environment it runs in:
// the same binary under two labels compares runtime settings
// (GOMAXPROCS=1, GOGC=200, GODEBUG=...).
type RequestsBuild struct {
	Label, Path string `json:",omitempty"`
	// Env is added to the broker's environment, KEY=VALUE.
	Env []string `json:",omitempty"`
}

// RequestsPass is one run of one build.
type RequestsPass struct {
	Label string
	Round int
	// Env is what the build's broker ran with beyond the lab's own
	// environment (RequestsBuild.Env).
	Env []string `json:",omitempty"`
	// CPUSeconds is the broker's user+system CPU over the pass;
	// SystemSeconds is its system part.
	CPUSeconds, SystemSeconds float64
	// Voluntary and Involuntary are the broker's context switches over the
	// pass, summed over its threads: a thread that blocked (a read with no
	// data, an idle thread's futex or epoll wait, the Go runtime's
	// monitor thread sleeping) and one that was preempted. On a VM a
	// switch is expensive, and at a held rate a request wakes the broker.
	Voluntary, Involuntary float64
	// Requests by API, and their total.
	Requests      map[string]float64
	TotalRequests float64
	// AppendedBytes were written to the log.
	AppendedBytes float64
	// PublishP99Us is the producers' publish latency p99 (measured phase).
	PublishP99Us int64
	// PublishRate is what the producers achieved, msg/s.
	PublishRate float64
	// Syscalls by name, nil without root.
	Syscalls []bpf.SyscallCount
}

// CPUPerGB returns CPU seconds per GB (1e9 bytes) appended.
func (p RequestsPass) CPUPerGB() float64 { return p.CPUSeconds / (p.AppendedBytes / 1e9) }

// MicrosPerRequest returns µs of CPU per request.
func (p RequestsPass) MicrosPerRequest() float64 { return p.CPUSeconds * 1e6 / p.TotalRequests }

// BytesPerProduce returns the bytes appended per Produce request: the
// client batches more records per request when the broker answers later,
// so CPU per request is only comparable between passes at a similar size.
func (p RequestsPass) BytesPerProduce() float64 { return p.AppendedBytes / p.Requests["Produce"] }

// RunRequests runs every round and returns the passes in the order they ran.
func RunRequests(ctx context.Context, cfg RequestsConfig) ([]RequestsPass, error) {
	orDefault(&cfg.Rate, 50000)
	orDefault(&cfg.Size, 1024)
	orDefault(&cfg.Duration, 20*time.Second)
	orDefault(&cfg.Warmup, 5*time.Second)
	orDefault(&cfg.Rounds, 3)
	orDefault(&cfg.Logger, slog.New(slog.DiscardHandler))
	if len(cfg.Builds) == 0 {
		return nil, errors.New("requests bench: no broker builds to run")
	}
	var passes []RequestsPass
	for round := range cfg.Rounds {
		order := append([]RequestsBuild(nil), cfg.Builds...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, b := range order {
			cfg.Logger.Info("pass", "round", round+1, "of", cfg.Rounds, "build", b.Label)
			p, err := requestsPass(ctx, cfg, b, round)
			if err != nil {
				return passes, fmt.Errorf("round %d, %s: %w", round+1, b.Label, err)
			}
			passes = append(passes, p)
		}
	}
	return passes, nil
}

func requestsPass(ctx context.Context, cfg RequestsConfig, b RequestsBuild, round int) (RequestsPass, error) {
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-%d", b.Label, round))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return RequestsPass{}, err
	}
	defer os.RemoveAll(filepath.Join(dir, "data"))
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		return RequestsPass{}, err
	}
	p, err := launch.StartBroker(ctx, launch.Broker{Path: b.Path, Dir: dir, Label: b.Label, Env: b.Env,
		Props: []string{"num.partitions=1", "brokerlab.metrics.listen=" + metricsAddr}})
	if err != nil {
		return RequestsPass{}, err
	}
	addr := p.Addr()
	defer p.Stop(30 * time.Second)

	var counter *bpf.SyscallCounter
	if os.Geteuid() == 0 {
		if counter, err = bpf.NewSyscallCounter(uint32(p.Pid()), 0); err != nil {
			cfg.Logger.Warn("no syscall counts", "err", err)
			counter = nil
		} else {
			defer counter.Close()
		}
	}
	before, err := readCounters(ctx, p.Pid(), metricsAddr, counter)
	if err != nil {
		return RequestsPass{}, err
	}

	w := loadgen.Workload{
		Name: "requests", Topics: 1, PartitionsPerTopic: 1, MessageSize: cfg.Size,
		SubscriptionsPerTopic: 1, ConsumerPerSubscription: 1, ProducersPerTopic: 1,
		ProducerRate:          cfg.Rate,
		TestDurationSeconds:   int(cfg.Duration / time.Second),
		WarmupDurationSeconds: int(cfg.Warmup / time.Second),
	}
	res, err := loadgen.Run(ctx, w, loadgen.DefaultDriver(), loadgen.Options{Brokers: []string{addr}, Label: b.Label})
	if err != nil {
		return RequestsPass{}, fmt.Errorf("load: %w", err)
	}

	after, err := readCounters(ctx, p.Pid(), metricsAddr, counter)
	if err != nil {
		return RequestsPass{}, err
	}
	u0, u1, m0, m1 := before.usage, after.usage, before.metrics, after.metrics
	pass := RequestsPass{
		Label: b.Label, Round: round, Env: b.Env, Requests: map[string]float64{},
		CPUSeconds: u1.CPUSeconds - u0.CPUSeconds, SystemSeconds: u1.SystemSeconds - u0.SystemSeconds,
		Voluntary: float64(u1.voluntary - u0.voluntary), Involuntary: float64(u1.involuntary - u0.involuntary),
		AppendedBytes: m1["brokerlab_broker_storage_appended_bytes_total"] - m0["brokerlab_broker_storage_appended_bytes_total"],
		PublishP99Us:  res.Aggregate.PublishLatency.P99Us,
		PublishRate:   res.Aggregate.PublishRate,
	}
	for k, v := range m1 {
		if api, ok := strings.CutPrefix(k, `brokerlab_broker_requests_total{api="`); ok {
			api = strings.TrimSuffix(api, `"}`)
			if d := v - m0[k]; d > 0 {
				pass.Requests[api] = d
				pass.TotalRequests += d
			}
		}
	}
	if counter != nil {
		pass.Syscalls = after.syscalls.Sub(before.syscalls).Sorted()
	}
	return pass, p.Stop(30 * time.Second)
}

// brokerCounters are what a requests pass reads of the broker before and
// after its load: CPU and context switches, /metrics, and the syscall
// counts where they are counted.
type brokerCounters struct {
	usage    usage
	metrics  map[string]float64
	syscalls bpf.SyscallCounts
}

// readCounters reads the counters of the broker pid, its /metrics at
// metricsAddr, and its syscall counts from counter (nil: none).
func readCounters(ctx context.Context, pid int, metricsAddr string, counter *bpf.SyscallCounter) (brokerCounters, error) {
	var c brokerCounters
	var err error
	if c.usage, err = readUsage(pid); err != nil {
		return c, err
	}
	if c.metrics, err = scrape(ctx, metricsAddr); err != nil {
		return c, err
	}
	if counter != nil {
		if c.syscalls, err = counter.Counts(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// usage is a process's CPU and context-switch counters.
type usage struct {
	procsample.Process
	voluntary, involuntary uint64
}

// readUsage reads the broker's CPU and context switches (procsample).
func readUsage(pid int) (usage, error) {
	p, err := procsample.ReadProcess("/proc", pid)
	if err != nil {
		return usage{}, fmt.Errorf("reading broker CPU: %w", err)
	}
	u := usage{Process: p}
	if u.voluntary, u.involuntary, err = procsample.ReadContextSwitches("/proc", pid); err != nil {
		return usage{}, fmt.Errorf("reading broker context switches: %w", err)
	}
	return u, nil
}

// ContextSwitchesPerRequest returns the broker's context switches
// (voluntary and involuntary) per request.
func (p RequestsPass) ContextSwitchesPerRequest() float64 {
	return (p.Voluntary + p.Involuntary) / p.TotalRequests
}

// SystemShare returns the share of the broker's CPU spent in the kernel.
func (p RequestsPass) SystemShare() float64 { return p.SystemSeconds / p.CPUSeconds }

// scrape returns the broker's sample values by series ("name{labels}").
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping broker metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// WriteRequestsTable writes every pass, then the medians and spread per build, and
// the syscalls per request by kind (median over the passes).
func WriteRequestsTable(w io.Writer, passes []RequestsPass) {
	fmt.Fprintf(w, "%-8s %5s %9s %5s %9s %9s %9s %7s %10s %10s %11s\n", "build", "round", "cpu_s", "sys%", "requests", "cpu_s/GB", "us/req", "cs/req", "B/produce", "publish/s", "pub_p99_us")
	for _, p := range passes {
		fmt.Fprintf(w, "%-8s %5d %9.2f %5.0f %9.0f %9.2f %9.1f %7.2f %10.0f %10.0f %11d\n", p.Label, p.Round+1, p.CPUSeconds, 100*p.SystemShare(), p.TotalRequests, p.CPUPerGB(), p.MicrosPerRequest(), p.ContextSwitchesPerRequest(), p.BytesPerProduce(), p.PublishRate, p.PublishP99Us)
	}
	byLabel := map[string][]RequestsPass{}
	var labels []string
	for _, p := range passes {
		if _, ok := byLabel[p.Label]; !ok {
			labels = append(labels, p.Label)
		}
		byLabel[p.Label] = append(byLabel[p.Label], p)
	}
	fmt.Fprintf(w, "\nmedian [min-max] per build\n")
	for _, l := range labels {
		ps := byLabel[l]
		gb, us, p99 := passSpread(ps, RequestsPass.CPUPerGB), passSpread(ps, RequestsPass.MicrosPerRequest), passSpread(ps, func(p RequestsPass) float64 { return float64(p.PublishP99Us) })
		cs := passSpread(ps, RequestsPass.ContextSwitchesPerRequest)
		fmt.Fprintf(w, "%-8s cpu_s/GB %.2f [%.2f-%.2f]  us/req %.1f [%.1f-%.1f]  cs/req %.2f [%.2f-%.2f]  publish_p99_us %.0f [%.0f-%.0f]\n",
			l, gb[0], gb[1], gb[2], us[0], us[1], us[2], cs[0], cs[1], cs[2], p99[0], p99[1], p99[2])
		if len(ps[0].Env) > 0 {
			fmt.Fprintf(w, "         environment %s\n", strings.Join(ps[0].Env, " "))
		}
		var reqs []string
		for api := range ps[0].Requests {
			reqs = append(reqs, api)
		}
		sort.Strings(reqs)
		for _, api := range reqs {
			fmt.Fprintf(w, "         %s requests per pass %.0f\n", api, passMedian(ps, func(p RequestsPass) float64 { return p.Requests[api] }))
		}
	}
	for _, l := range labels[1:] {
		writeRatios(w, [2]string{labels[0], l}, passes)
	}
	fmt.Fprintf(w, "\nbroker syscalls per request by kind (median over passes; root only)\n")
	kinds := map[string]bool{}
	for _, p := range passes {
		for _, s := range p.Syscalls {
			if float64(s.Count)/p.TotalRequests >= 0.01 {
				kinds[s.Name] = true
			}
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-16s", "syscall")
	for _, l := range labels {
		fmt.Fprintf(w, " %10s", l)
	}
	fmt.Fprintln(w)
	for _, n := range append(names, "total") {
		fmt.Fprintf(w, "%-16s", n)
		for _, l := range labels {
			fmt.Fprintf(w, " %10.2f", passMedian(byLabel[l], func(p RequestsPass) float64 {
				var c uint64
				for _, s := range p.Syscalls {
					if s.Name == n || n == "total" {
						c += s.Count
					}
				}
				return float64(c) / p.TotalRequests
			}))
		}
		fmt.Fprintln(w)
	}
}

func passMedian(ps []RequestsPass, f func(RequestsPass) float64) float64 { return passSpread(ps, f)[0] }

// passSpread returns the median, min and max of f over ps.
func passSpread(ps []RequestsPass, f func(RequestsPass) float64) [3]float64 {
	vs := make([]float64, len(ps))
	for i, p := range ps {
		vs[i] = f(p)
	}
	return spread(vs)
}

// spread returns the median, min and max of vs (sorted in place).
func spread(vs []float64) [3]float64 {
	sort.Float64s(vs)
	n := len(vs)
	med := vs[n/2]
	if n%2 == 0 {
		med = (vs[n/2-1] + vs[n/2]) / 2
	}
	return [3]float64{med, vs[0], vs[n-1]}
}

// writeRatios writes, for two builds, the ratio second/first of each
// round's figures (the passes of a round ran back to back, so they shared
// the machine's load): median and spread over the rounds. On a shared
// machine the ratio holds better than either absolute figure.
func writeRatios(w io.Writer, labels [2]string, passes []RequestsPass) {
	byRound := map[int]map[string]RequestsPass{}
	for _, p := range passes {
		if byRound[p.Round] == nil {
			byRound[p.Round] = map[string]RequestsPass{}
		}
		byRound[p.Round][p.Label] = p
	}
	var pairs [][2]RequestsPass
	for r := range len(byRound) {
		a, okA := byRound[r][labels[0]]
		b, okB := byRound[r][labels[1]]
		if okA && okB {
			pairs = append(pairs, [2]RequestsPass{a, b})
		}
	}
	if len(pairs) == 0 {
		return
	}
	ratio := func(f func(RequestsPass) float64) [3]float64 {
		rs := make([]float64, len(pairs))
		for i, pr := range pairs {
			rs[i] = f(pr[1]) / f(pr[0])
		}
		return spread(rs)
	}
	gb, us := ratio(RequestsPass.CPUPerGB), ratio(RequestsPass.MicrosPerRequest)
	p99 := ratio(func(p RequestsPass) float64 { return float64(p.PublishP99Us) })
	fmt.Fprintf(w, "\nratio %s/%s over %d rounds: cpu_s/GB %.2f [%.2f-%.2f]  us/req %.2f [%.2f-%.2f]  publish_p99 %.2f [%.2f-%.2f]\n",
		labels[1], labels[0], len(pairs), gb[0], gb[1], gb[2], us[0], us[1], us[2], p99[0], p99[1], p99[2])
}

// SaveRequests writes a run's passes to dir: requests.json (the command,
// the machine and every pass, bench.SaveRun) and requests.txt (the table
// WriteRequestsTable prints), and the table to w too. workDir is where the
// passes' brokers wrote their logs.
func SaveRequests(dir, workDir string, cfg RequestsConfig, passes []RequestsPass, w io.Writer) error {
	report := struct {
		Config RequestsConfig
		Passes []RequestsPass
	}{cfg, passes}
	if err := SaveRun(dir, "requests.json", workDir, report); err != nil {
		return err
	}
	return writeMarkdown(dir, "requests.txt", func(f *os.File) error {
		WriteRequestsTable(io.MultiWriter(f, w), passes)
		return nil
	})
}
