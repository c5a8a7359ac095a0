package procsample

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// VMStat holds the /proc/vmstat counters the lab cross-checks (in pages or
// events, since boot).
type VMStat struct {
	PgpgIn     uint64 `json:"pgpgin"`  // KiB read from block devices (the kernel counts 1 KiB units)
	PgpgOut    uint64 `json:"pgpgout"` // KiB written to block devices
	PswpIn     uint64 `json:"pswpin"`  // pages swapped in
	PswpOut    uint64 `json:"pswpout"` // pages swapped out
	PgFault    uint64 `json:"pgfault"`
	PgMajFault uint64 `json:"pgmajfault"`
}

// ReadVMStat reads procRoot/vmstat.
func ReadVMStat(procRoot string) (VMStat, error) {
	return readParse(procRoot, "vmstat", ParseVMStat)
}

// readParse reads root/rel and hands it to parse: reading is kept apart
// from parsing, so parsers are tested on bytes.
func readParse[T any](root, rel string, parse func(io.Reader) (T, error)) (T, error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("reading %s: %w", rel, err)
	}
	return parse(bytes.NewReader(b))
}

// ParseVMStat parses the "name value" lines of /proc/vmstat; names it does
// not know are skipped.
func ParseVMStat(r io.Reader) (VMStat, error) {
	var v VMStat
	fields := map[string]*uint64{
		"pgpgin": &v.PgpgIn, "pgpgout": &v.PgpgOut, "pswpin": &v.PswpIn,
		"pswpout": &v.PswpOut, "pgfault": &v.PgFault, "pgmajfault": &v.PgMajFault,
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		name, val, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if !ok {
			return VMStat{}, fmt.Errorf("parsing vmstat line %d %q: want NAME VALUE", line, sc.Text())
		}
		dst, want := fields[string(name)]
		if !want {
			continue
		}
		n, err := strconv.ParseUint(string(val), 10, 64)
		if err != nil {
			return VMStat{}, fmt.Errorf("parsing vmstat %s: %w", name, err)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return VMStat{}, fmt.Errorf("parsing vmstat: %w", err)
	}
	return v, nil
}

// Delta returns v minus prev (all fields are counters).
func (v VMStat) Delta(prev VMStat) VMStat {
	return VMStat{
		PgpgIn: sub(v.PgpgIn, prev.PgpgIn), PgpgOut: sub(v.PgpgOut, prev.PgpgOut),
		PswpIn: sub(v.PswpIn, prev.PswpIn), PswpOut: sub(v.PswpOut, prev.PswpOut),
		PgFault: sub(v.PgFault, prev.PgFault), PgMajFault: sub(v.PgMajFault, prev.PgMajFault),
	}
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
