package main

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// apiVersions sends an ApiVersions request on c and reports whether a
// response came back (false: the broker closed the connection).
func apiVersions(t *testing.T, c net.Conn) bool {
	t.Helper()
	req := kmsg.NewRequestFormatter(kmsg.FormatterClientID("limits")).AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	if _, err := c.Write(req); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("no answer and no close within 10s")
		}
		return false
	}
	_, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:])))
	return err == nil
}

// TestConnectionsCappedByOpenFileLimit starts the broker under prlimit with
// RLIMIT_NOFILE 64: max.connections (4096 by default)
// is then capped at 32, so that clients cannot take the descriptors the log
// needs (600 abandoned connections used to stop new clients at a limit of
// 512). The 33rd connection is closed, the 32 open ones are served, and a
// freed slot is usable again.
func TestConnectionsCappedByOpenFileLimit(t *testing.T) {
	testutil.RequireCommand(t, "go", "install Go")
	// prlimit sets soft and hard limit: a Go program raises its soft
	// limit to the hard one at startup, so lowering the soft one alone
	// would not reach the broker.
	prlimit := testutil.RequireCommand(t, "prlimit", "apt-get install util-linux")
	cmd, addr := brokerCommand(t, t.TempDir(), prlimit, "--nofile=64:64")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	testutil.WaitFor(t, 20*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		open = append(open, c)
		return nil
	})
	if !apiVersions(t, open[0]) {
		t.Fatalf("first connection not served:\n%s", stderr.String())
	}
	refused := 0
	for range 39 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if apiVersions(t, c) {
			open = append(open, c)
		} else {
			refused++
			c.Close()
		}
	}
	if len(open) != 32 || refused != 8 {
		t.Errorf("%d connections served and %d refused, want 32 and 8 (half of RLIMIT_NOFILE 64)", len(open), refused)
	}
	for _, c := range open {
		if !apiVersions(t, c) {
			t.Fatal("an open connection is no longer served")
		}
	}
	open[0].Close()
	open = open[1:]
	testutil.WaitFor(t, 20*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		if !apiVersions(t, c) {
			c.Close()
			return errors.New("a freed slot is not usable yet")
		}
		open = append(open, c)
		return nil
	})
	if !strings.Contains(stderr.String(), "max.connections capped at half the open-file limit") {
		t.Errorf("the broker did not log the capped max.connections:\n%s", stderr.String())
	}
}
