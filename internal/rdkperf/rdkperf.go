// Package rdkperf drives librdkafka's rdkafka_performance tool, a client the
// benches use because it is neither ours nor franz-go: it measures the broker
// the way a C client sees it. Run starts one produce or consume pass and
// parses the tool's final statistics row (-u, table format).
package rdkperf

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvPath names the environment variable that overrides where the tool is.
const EnvPath = "LAB_RDKAFKA_PERFORMANCE"

// Find returns the rdkafka_performance executable: $LAB_RDKAFKA_PERFORMANCE,
// then bin/rdkafka_performance in root (the repository), then PATH.
func Find(root string) (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	if root != "" {
		p := filepath.Join(root, "bin", "rdkafka_performance")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("rdkafka_performance"); err == nil {
		return p, nil
	}
	return "", errors.New("rdkafka_performance not found: run `make tools` (needs apt-get install librdkafka-dev) or set " + EnvPath)
}

// Mode is produce or consume.
type Mode string

// The two modes of a pass.
const (
	Produce Mode = "produce"
	Consume Mode = "consume"
)

// Pass describes one run of the tool.
type Pass struct {
	Mode      Mode
	Brokers   string
	Topic     string
	Partition int32 // consume: the partition read; produce: -1 = partitioner
	// Partitions, when set, are the partitions a consume pass reads
	// instead of Partition (the tool's -p, repeated).
	Partitions []int32
	Count      int64 // messages to send or read
	Size       int   // message size in bytes (produce)
	// Props are extra librdkafka properties (-X key=value), e.g. linger.ms.
	Props map[string]string
	// Timeout bounds the pass; zero means 5 minutes.
	Timeout time.Duration
	// Duration, when set, runs a produce pass for that long instead of
	// Count messages: the tool is stopped with SIGINT, which makes it
	// print its final statistics row.
	Duration time.Duration
}

// Result is what the tool reported at the end of a pass.
type Result struct {
	Mode     Mode          `json:"mode"`
	Messages int64         `json:"messages"`
	Bytes    int64         `json:"bytes"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Errors   int64         `json:"errors"`
}

// MBps is megabytes (10^6) per second, as the tool prints it.
func (r Result) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// MsgsPerSec is messages per second.
func (r Result) MsgsPerSec() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// Run runs one pass of the tool at path and returns its final statistics.
func Run(ctx context.Context, path string, p Pass) (Result, error) {
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	args := []string{"-b", p.Brokers, "-t", p.Topic, "-u"}
	if p.Duration == 0 {
		args = append(args, "-c", strconv.FormatInt(p.Count, 10))
	}
	switch p.Mode {
	case Produce:
		args = append(args, "-P", "-s", strconv.Itoa(p.Size))
		if p.Partition >= 0 {
			args = append(args, "-p", strconv.Itoa(int(p.Partition)))
		}
	case Consume:
		args = append(args, "-C", "-o", "beginning", "-e")
		parts := p.Partitions
		if len(parts) == 0 {
			parts = []int32{p.Partition}
		}
		for _, part := range parts {
			args = append(args, "-p", strconv.Itoa(int(part)))
		}
	default:
		return Result{}, fmt.Errorf("rdkafka_performance: unknown mode %q", p.Mode)
	}
	for k, v := range p.Props {
		args = append(args, "-X", k+"="+v)
	}
	if p.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, p.Duration)
		defer stop()
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if p.Duration > 0 {
		// At the end of Duration SIGINT stops the tool, which then prints
		// its final statistics row; a tool that ignores it is killed
		// WaitDelay later.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = 30 * time.Second
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return Result{}, fmt.Errorf("rdkafka_performance %s %s: %w\n%s", p.Mode, strings.Join(args, " "), err, tail(out.Bytes(), 15))
		}
		r, perr := Parse(p.Mode, out.Bytes())
		if perr != nil {
			return Result{}, fmt.Errorf("rdkafka_performance %s: %w\n%s", p.Mode, perr, tail(out.Bytes(), 15))
		}
		return r, nil
	}
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("rdkafka_performance %s %s: %w\n%s", p.Mode, strings.Join(args, " "), err, tail(out.Bytes(), 15))
	}
	r, err := Parse(p.Mode, out.Bytes())
	if err != nil {
		return Result{}, fmt.Errorf("rdkafka_performance %s: %w\n%s", p.Mode, err, tail(out.Bytes(), 15))
	}
	if r.Messages != p.Count {
		return r, fmt.Errorf("rdkafka_performance %s: %d of %d messages (%d errors)\n%s", p.Mode, r.Messages, p.Count, r.Errors, tail(out.Bytes(), 15))
	}
	return r, nil
}

// Parse reads the last row of the tool's -u statistics table. The columns are
// named by the table's header line ("| elapsed | msgs | bytes | ..."); the
// producer counts delivered messages in "dr" and the consumer in "msgs".
func Parse(mode Mode, out []byte) (Result, error) {
	var header, last []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "|") {
			continue
		}
		fields := strings.Fields(strings.ReplaceAll(line, "|", " "))
		if len(fields) > 0 && fields[0] == "elapsed" {
			header = fields
			continue
		}
		if header != nil && len(fields) == len(header) {
			last = fields
		}
	}
	if last == nil {
		return Result{}, errors.New("no statistics row in the output (was -u given?)")
	}
	col := func(name string) (int64, error) {
		for i, h := range header {
			if h == name {
				return strconv.ParseInt(last[i], 10, 64)
			}
		}
		return 0, fmt.Errorf("no %q column in %v", name, header)
	}
	msgsCol, errCol := "msgs", "rx_err"
	if mode == Produce {
		msgsCol, errCol = "dr", "dr_err"
	}
	var r Result
	var ms int64
	var err error
	r.Mode = mode
	if ms, err = col("elapsed"); err != nil {
		return Result{}, err
	}
	r.Elapsed = time.Duration(ms) * time.Millisecond
	if r.Messages, err = col(msgsCol); err != nil {
		return Result{}, err
	}
	if r.Bytes, err = col("bytes"); err != nil {
		return Result{}, err
	}
	if r.Errors, err = col(errCol); err != nil {
		return Result{}, err
	}
	if mode == Produce && r.Messages > 0 {
		// "bytes" counts what was handed to the producer; delivered bytes
		// are the delivered share of it (all messages have one size).
		sent, err := col("msgs")
		if err == nil && sent > 0 {
			r.Bytes = r.Bytes * r.Messages / sent
		}
	}
	if r.Elapsed <= 0 {
		return Result{}, errors.New("elapsed time is zero: the pass was too short to measure")
	}
	return r, nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
