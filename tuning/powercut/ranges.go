package powercut

import "slices"

// span is a half-open byte range [off, end).
type span struct{ off, end int64 }

// spans is a sorted set of disjoint, non-adjacent byte ranges: the bytes of
// a file written since its last fsync.
type spans []span

// add merges [off, end) into s.
func (s spans) add(off, end int64) spans {
	if end <= off {
		return s
	}
	i, _ := slices.BinarySearchFunc(s, off, func(x span, off int64) int {
		switch {
		case x.end < off:
			return -1
		case x.off > off:
			return 1
		}
		return 0
	})
	// s[i:] are the ranges that end at or after off; merge the ones that
	// start at or before end.
	j := i
	for j < len(s) && s[j].off <= end {
		off = min(off, s[j].off)
		end = max(end, s[j].end)
		j++
	}
	return slices.Replace(s, i, j, span{off, end})
}

// clip drops every byte at or beyond size.
func (s spans) clip(size int64) spans {
	out := s[:0]
	for _, x := range s {
		if x.off >= size {
			break
		}
		x.end = min(x.end, size)
		out = append(out, x)
	}
	return out
}

// bytes is the number of bytes in s.
func (s spans) bytes() int64 {
	var n int64
	for _, x := range s {
		n += x.end - x.off
	}
	return n
}
