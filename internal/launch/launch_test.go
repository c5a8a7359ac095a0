package launch

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestStartBrokerWritesConfigAnswersAndStops starts a freshly built broker
// the way every experiment does and checks the pieces the launcher
// promises: the server.properties and the log kept in the run dir, a real
// Kafka answer on Addr, and a clean stop.
func TestStartBrokerWritesConfigAnswersAndStops(t *testing.T) {
	dir := t.TempDir()
	p, err := StartBroker(context.Background(), Broker{Path: testutil.BuildBroker(t), Dir: dir, Label: "t", Props: []string{"num.partitions=3"}})
	if err != nil {
		t.Fatal(err)
	}
	props, err := os.ReadFile(filepath.Join(dir, "server-t.properties"))
	if err != nil || !strings.Contains(string(props), "listeners=PLAINTEXT://"+p.Addr()) || !strings.Contains(string(props), "num.partitions=3") {
		t.Errorf("server-t.properties: %q, %v", props, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Errorf("ping %s: %v", p.Addr(), err)
	}
	cl.Close()
	if err := p.Stop(time.Minute); err != nil {
		t.Errorf("stop: %v", err)
	}
	if fi, err := os.Stat(p.LogFile()); err != nil || fi.Size() == 0 {
		t.Errorf("broker log %s kept: %v", p.LogFile(), err)
	}
}

// TestStartBrokerMovesOffATakenPort hands StartBroker a port another
// process holds, as happens when something binds it between FreeAddr and
// the broker's start: the broker fails to bind, and StartBroker starts it
// again on the next free port.
func TestStartBrokerMovesOffATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	freeAddr = func() (string, error) {
		calls++
		if calls == 1 {
			return taken.Addr().String(), nil
		}
		return FreeAddr()
	}
	t.Cleanup(func() { freeAddr = FreeAddr })
	p, err := StartBroker(context.Background(), Broker{Path: testutil.BuildBroker(t), Dir: t.TempDir(), Label: "t"})
	if err != nil {
		t.Fatalf("start with the first port taken: %v", err)
	}
	defer p.Stop(time.Minute)
	if calls != 2 || p.Addr() == taken.Addr().String() {
		t.Errorf("broker on %s after %d ports; want the second port, not the taken %s", p.Addr(), calls, taken.Addr())
	}
}

// The test binary doubles as the misbehaving child of the tests below.
const childEnv = "LAUNCH_TEST_CHILD"

func init() {
	switch os.Getenv(childEnv) {
	case "exit":
		os.Exit(3)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		os.Stdout.WriteString("ignoring SIGTERM\n") // the parent waits for this
		select {}
	}
}

func TestStartReportsAnEarlyExit(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Spec{Name: "child", Path: os.Args[0], Env: []string{childEnv + "=exit"}, Addr: addr, LogFile: filepath.Join(t.TempDir(), "false.log")})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("start of a child that exits: %v, want an early-exit error", err)
	}
}

// TestStartWithoutAddrSkipsReadiness starts a process that serves no Kafka
// (Addr empty): Start returns once it runs, and Stop reports its own exit.
func TestStartWithoutAddrSkipsReadiness(t *testing.T) {
	p, err := Start(context.Background(), Spec{Name: "child", Path: os.Args[0], Env: []string{childEnv + "=exit"}, LogFile: filepath.Join(t.TempDir(), "child.log")})
	if err != nil {
		t.Fatalf("start without an address: %v", err)
	}
	<-p.Done()
	if err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("stop of a child that exited 3: %v, want its exit status", err)
	}
}

func TestStopContextKillsAfterGrace(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// A child that ignores SIGTERM and serves nothing cannot become ready;
	// start it by hand to test the stop path alone.
	p := &Process{spec: Spec{Name: "child", Addr: addr}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), childEnv+"=ignore-term")
	ready, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := ready.Read(make([]byte, 1)); err != nil {
		t.Fatalf("waiting for the child to ignore SIGTERM: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := p.StopContext(ctx); !errors.Is(err, ErrKilled) {
		t.Fatalf("stop of a process ignoring SIGTERM: %v, want ErrKilled", err)
	}
}
