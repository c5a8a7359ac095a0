package powercut

import (
	"math/rand/v2"
	"testing"
)

func TestSpansMatchABitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var s spans
		var bits [256]bool
		for op := 0; op < 20; op++ {
			off := r.Int64N(256)
			end := off + r.Int64N(256-off+1)
			if r.IntN(8) == 0 {
				s = s.clip(off)
				for i := off; i < 256; i++ {
					bits[i] = false
				}
				continue
			}
			s = s.add(off, end)
			for i := off; i < end; i++ {
				bits[i] = true
			}
		}
		var want spans
		for i := int64(0); i < 256; i++ {
			if bits[i] {
				if n := len(want); n > 0 && want[n-1].end == i {
					want[n-1].end++
				} else {
					want = append(want, span{i, i + 1})
				}
			}
		}
		if len(s) != len(want) {
			t.Fatalf("round %d: spans %v, want %v", round, s, want)
		}
		for i := range s {
			if s[i] != want[i] {
				t.Fatalf("round %d: spans %v, want %v", round, s, want)
			}
		}
	}
}
