package broker

import (
	"strings"
	"testing"
	"time"
)

// TestKcat drives the broker with kcat (librdkafka): produce with keys and
// headers, consume from the beginning until the end, and compare.
func TestKcat(t *testing.T) {
	kc := requireKcat(t)
	b := newTestBroker(t)
	ctx := testContext(t, 60*time.Second)
	run := func(stdin string, args ...string) string {
		t.Helper()
		return kc.run(ctx, t, b.addr, stdin, append([]string{"-t", "kcat"}, args...)...)
	}
	run("k1:first value\nk2:second\nk3:third: with a colon\n", "-P", "-K:", "-H", "trace=abc", "-H", "source=kcat")
	out := run("", "-C", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h|%o\n")
	want := "k1|first value|trace=abc,source=kcat|0\n" +
		"k2|second|trace=abc,source=kcat|1\n" +
		"k3|third: with a colon|trace=abc,source=kcat|2\n"
	if out != want {
		t.Errorf("kcat consumed:\n%s\nwant:\n%s", out, want)
	}
	// Metadata as kcat sees it.
	if md := run("", "-L"); !strings.Contains(md, `topic "kcat" with 1 partitions`) {
		t.Errorf("kcat -L:\n%s", md)
	}
}
