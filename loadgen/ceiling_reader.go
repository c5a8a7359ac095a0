package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/moby/sys/reexec"
)

// The loopback ceilings' reader runs in a process of its own. A client is
// always another process than the server: each time the sender's socket
// fills, the reader's process must be woken, and on a VM whose idle vCPUs
// halt that wakeup costs more than the copy. A reader in the sender's
// process is handed each batch of bytes by the Go scheduler instead, without
// the kernel: on a 2-vCPU VM the same sendfile loop ran at 4.0-5.5 GB/s to a
// reader goroutine and 1.5-2.3 GB/s to a reader process, so a ceiling
// measured in one process is above what any client and server reach.
//
// The reader process is this program again (moby/sys/reexec): a program
// that measures ceilings calls InitCeilingReader first thing in main (and
// in TestMain), which returns true in the reader process once it is done.
// A program that does not is measured with an in-process reader and its
// Ceilings say so (ReaderInProcess).

const ceilingReaderName = "brokerlab-ceiling-reader"

func init() { reexec.Register(ceilingReaderName, runCeilingReader) }

// readerInitCalled says that InitCeilingReader ran in this process, so that
// starting this program again as the reader is safe.
var readerInitCalled atomic.Bool

// InitCeilingReader runs the ceiling reader when this process is one, and
// then returns true: the caller must return from main at once. In any other
// process it returns false. Call it first thing in main, and in TestMain of
// tests that measure loopback ceilings.
func InitCeilingReader() bool {
	readerInitCalled.Store(true)
	return reexec.Init()
}

// runCeilingReader is the reader process: it dials os.Args[1] (host:port)
// os.Args[2] times and drains each connection with reads of os.Args[3]
// bytes until the sender closes it.
func runCeilingReader() {
	if err := ceilingReader(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling reader:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func ceilingReader(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want ADDR STREAMS READ_BYTES, got %q", args)
	}
	streams, err := strconv.Atoi(args[1])
	if err != nil || streams < 1 {
		return fmt.Errorf("streams %q: want a whole number of at least 1", args[1])
	}
	readBytes, err := strconv.Atoi(args[2])
	if err != nil || readBytes < 1 {
		return fmt.Errorf("read bytes %q: want a whole number of at least 1", args[2])
	}
	conns := make([]net.Conn, streams)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", args[0]); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, streams)
	for i, c := range conns {
		wg.Go(func() {
			defer c.Close()
			buf := make([]byte, readBytes)
			for {
				if _, err := c.Read(buf); err != nil {
					if !errors.Is(err, io.EOF) {
						errs[i] = err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startCeilingReader starts the reader process on streams connections to
// ln, or returns nil when this program cannot be started as one (it did not
// call InitCeilingReader): the caller then reads in-process.
func startCeilingReader(ln net.Listener, streams, readBytes int) (*exec.Cmd, error) {
	if !readerInitCalled.Load() {
		return nil, nil
	}
	cmd := reexec.Command(ceilingReaderName, ln.Addr().String(), strconv.Itoa(streams), strconv.Itoa(readBytes))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the ceiling reader process: %w", err)
	}
	return cmd, nil
}
