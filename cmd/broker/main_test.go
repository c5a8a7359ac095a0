package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// brokerBin is this command, built once for all tests.
var (
	buildOnce sync.Once
	brokerBin string
	buildErr  error
)

func buildBroker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "brokerlab-cmd-broker")
		if err != nil {
			buildErr = err
			return
		}
		brokerBin = filepath.Join(dir, "broker")
		if out, err := exec.Command("go", "build", "-o", brokerBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return brokerBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if brokerBin != "" {
		os.RemoveAll(filepath.Dir(brokerBin))
	}
	os.Exit(code)
}

func TestCheck(t *testing.T) {
	bin := buildBroker(t)
	t.Run("the sample config checks clean", func(t *testing.T) {
		cmd := exec.Command(bin, "--check", "../../config/server.properties", "--override", "log.dirs="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("--check: %v\n%s", err, stderr.String())
		}
		testutil.Contains(t, "--check output", stdout.String(), "listeners=PLAINTEXT://127.0.0.1:9092\n", "brokerlab.fetch.mode=sendfile\n", "log.retention.ms=604800000\n")
	})
	t.Run("every error is reported at once, with a non-zero exit", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "bad.properties")
		os.WriteFile(cfg, []byte("log.dirs=/tmp/x\nnum.partitions=zero\nlog.segment.bytes=1\nzookeeper.connect=zk:2181\n"), 0o644)
		cmd := exec.Command(bin, "--check", cfg, "--override", "brokerlab.fetch.mode=mmap")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("--check of a bad config: %v\n%s", err, out)
		}
		testutil.Contains(t, "output", string(out), "num.partitions=zero", "log.segment.bytes=1", "brokerlab.fetch.mode=mmap", "zookeeper.connect=zk:2181")
	})
}

// brokerCommand returns the command that runs the built broker, after
// wrapper and its arguments when given (prlimit ...), like Kafka's start
// script on the shipped config with log.dirs=logDir, a free loopback port
// and no metrics listener, logging JSON; and the Kafka address.
func brokerCommand(t *testing.T, logDir string, wrapper ...string) (*exec.Cmd, string) {
	t.Helper()
	bin := buildBroker(t)
	addr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	args := append(wrapper, bin, "../../config/server.properties",
		"--override", "log.dirs="+logDir, "--override", "listeners=PLAINTEXT://"+addr,
		"--override", "brokerlab.metrics.listen=", "-log.format", "json")
	return exec.Command(args[0], args[1:]...), addr
}

// brokerProcess is the built broker running as a child process.
type brokerProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer // read it once the process has exited
	done   chan struct{} // closed when the process has exited, err set
	err    error
}

// startBroker starts brokerCommand(t, logDir) and waits until it accepts
// connections. The test's end kills it if it still runs.
func startBroker(t *testing.T, logDir string) *brokerProcess {
	t.Helper()
	cmd, addr := brokerCommand(t, logDir)
	p := &brokerProcess{cmd: cmd, addr: addr, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	testutil.WaitFor(t, 20*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return p
}

// kill SIGKILLs the broker, if it still runs, and waits for it to exit.
func (p *brokerProcess) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("broker did not exit after SIGKILL")
	}
}

// TestServeAndSignal runs the command like Kafka's start script, produces
// to it, sends SIGTERM and checks the clean exit and the clean-shutdown
// marker.
func TestServeAndSignal(t *testing.T) {
	testutil.RequireCommand(t, "go", "install Go")
	dir := t.TempDir()
	p := startBroker(t, dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic("signal"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before the signal")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("broker exited with %v after SIGTERM:\n%s", p.err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("broker did not exit within 20s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, ".kafka_cleanshutdown")); err != nil {
		t.Errorf("no clean-shutdown marker after SIGTERM: %v", err)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"broker stopped cleanly"`) {
		t.Errorf("no clean stop in the log:\n%s", p.stderr.String())
	}
}

func TestHelpExitsZero(t *testing.T) {
	if code := run([]string{"-h"}); code != 0 {
		t.Errorf("broker -h: exit status %d, want 0", code)
	}
	if code := run([]string{"-no-such-flag"}); code != 2 {
		t.Errorf("broker -no-such-flag: exit status %d, want 2", code)
	}
}
