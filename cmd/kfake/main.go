// Command kfake runs franz-go's pkg/kfake as a standalone single-node Kafka
// peer on a fixed loopback port. The lab runs it beside the project's broker
// and drives both with the same clients, so the broker's numbers always have
// a reference measured on the same machine in the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9192", "address to listen on (host:port)")
	dataDir := flag.String("data-dir", "", "directory for kfake's persisted data (empty: in memory)")
	partitions := flag.Int("partitions", 1, "partitions of an auto-created topic")
	flag.Parse()

	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		fatalf("-listen %q: %v (want host:port, e.g. 127.0.0.1:9192)", *listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 {
		fatalf("-listen %q: port must be a fixed number above 0: clients are told this address", *listen)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fatalf("starting kfake: %v", err)
	}
	fmt.Fprintf(os.Stderr, "kfake listening on %s (data dir %q)\n", c.ListenAddrs()[0], *dataDir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	c.Close()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kfake: "+format+"\n", args...)
	os.Exit(2)
}
