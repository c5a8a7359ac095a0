package framedlog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func frames(bodies ...string) []byte {
	var b []byte
	for _, s := range bodies {
		b = AppendFrame(b, func(dst []byte) []byte { return append(dst, s...) })
	}
	return b
}

func bodies(data []byte, minBody int) ([]string, int) {
	var out []string
	valid := Frames(data, minBody, 1<<10, func(b []byte) { out = append(out, string(b)) })
	return out, valid
}

// TestFramesStopAtTheFirstBadFrame: a torn tail, a flipped byte, a length
// out of bounds each end the sound prefix, and what comes after is not read.
func TestFramesStopAtTheFirstBadFrame(t *testing.T) {
	whole := frames("one", "two", "three")
	sound := len(frames("one", "two"))
	corrupt := func(f func(b []byte) []byte) []byte { return f(slices.Clone(whole)) }
	for _, tc := range []struct {
		name    string
		data    []byte
		minBody int
		want    []string
		valid   int
	}{
		{"whole", whole, 0, []string{"one", "two", "three"}, len(whole)},
		{"torn body", whole[:len(whole)-1], 0, []string{"one", "two"}, sound},
		{"torn header", whole[:sound+HeaderLen-1], 0, []string{"one", "two"}, sound},
		{"crc mismatch", corrupt(func(b []byte) []byte { b[sound+HeaderLen]++; return b }), 0, []string{"one", "two"}, sound},
		{"length out of bounds", corrupt(func(b []byte) []byte { b[sound] = 1; return b }), 0, []string{"one", "two"}, sound},
		{"below minBody", frames("one", "", "three"), 1, []string{"one"}, len(frames("one"))},
		{"empty body allowed", frames("one", "", "three"), 0, []string{"one", "", "three"}, len(frames("one", "", "three"))},
	} {
		got, valid := bodies(tc.data, tc.minBody)
		if !slices.Equal(got, tc.want) || valid != tc.valid {
			t.Errorf("%s: bodies %q valid %d, want %q valid %d", tc.name, got, valid, tc.want, tc.valid)
		}
	}
}

// TestFileAppendReplaceReopen appends, compacts and reads the file back,
// and refuses appends once closed.
func TestFileAppendReplaceReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, data, err := Read(dir, "x.log")
	if err != nil || len(data) != 0 {
		t.Fatalf("Read of a new log: %d bytes, %v", len(data), err)
	}
	if err := l.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(frames("a", "b")); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(frames("c")); err != nil {
		t.Fatal(err)
	}
	if l.Size() != int64(len(frames("a", "b", "c"))) {
		t.Errorf("size %d after appends", l.Size())
	}
	if err := l.Replace(frames("c")); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(frames("d")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Path() + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left after Replace: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(frames("e")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("append after Close: %v, want os.ErrClosed", err)
	}
	_, data, err = Read(dir, "x.log")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := bodies(data, 0); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("reopened log holds %q, want [c d]", got)
	}
}
