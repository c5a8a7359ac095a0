package storage

import (
	"bytes"
	"testing"
)

func TestAppendReadRoundTripAcrossRolls(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 1024
	s := openStore(t, cfg)
	p := onePartition(t, s, "rt")
	var want [][]byte
	var next int64
	for i := range 60 {
		b := simple(t, "rt", 1+i%5, 300)
		res := mustAppend(t, p, b)
		if res.BaseOffset != next {
			t.Fatalf("append %d: base offset %d, want %d", i, res.BaseOffset, next)
		}
		next += int64(1 + i%5)
		want = append(want, bytes.Clone(b))
	}
	if got := p.HighWatermark(); got != next {
		t.Fatalf("high watermark %d, want %d", got, next)
	}
	if n := len(p.Segments()); n < 5 {
		t.Fatalf("%d segments, want several rolls", n)
	}
	got := readAll(t, p, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs from what was appended", i)
		}
	}
	// Every offset finds the batch holding it.
	for off := int64(0); off < next; off++ {
		data := readAt(t, p, off, 1)
		h := parseHeader(data)
		if off < h.baseOffset || off > h.lastOffset() || int64(len(data)) != h.size() {
			t.Fatalf("Read(%d, 1) gave batch [%d, %d] of %d bytes (%d returned)", off, h.baseOffset, h.lastOffset(), h.size(), len(data))
		}
	}
}
