package procsample

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SNMP holds the TCP counters of /proc/net/snmp.
type SNMP struct {
	TCPInSegs      uint64 `json:"tcp_in_segs"`
	TCPOutSegs     uint64 `json:"tcp_out_segs"`
	TCPRetransSegs uint64 `json:"tcp_retrans_segs"`
	TCPInErrs      uint64 `json:"tcp_in_errs"`
	TCPOutRsts     uint64 `json:"tcp_out_rsts"`
}

// ReadSNMP reads procRoot/net/snmp (the calling process's network namespace).
func ReadSNMP(procRoot string) (SNMP, error) {
	return readParse(procRoot, "net/snmp", ParseSNMP)
}

// ParseSNMP parses /proc/net/snmp: pairs of lines per protocol, a header
// line of names and a line of values ("Tcp: InSegs ..." / "Tcp: 1 ...").
func ParseSNMP(r io.Reader) (SNMP, error) {
	var out SNMP
	fields := map[string]*uint64{
		"InSegs": &out.TCPInSegs, "OutSegs": &out.TCPOutSegs, "RetransSegs": &out.TCPRetransSegs,
		"InErrs": &out.TCPInErrs, "OutRsts": &out.TCPOutRsts,
	}
	sc := bufio.NewScanner(r)
	var header []string
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Tcp:") {
			continue
		}
		cols := strings.Fields(strings.TrimPrefix(line, "Tcp:"))
		if header == nil {
			header = cols
			continue
		}
		if len(cols) != len(header) {
			return SNMP{}, fmt.Errorf("parsing net/snmp: Tcp has %d names and %d values", len(header), len(cols))
		}
		for i, name := range header {
			dst, ok := fields[name]
			if !ok {
				continue
			}
			// MaxConn is -1; the counters we keep are unsigned.
			n, err := strconv.ParseUint(cols[i], 10, 64)
			if err != nil {
				return SNMP{}, fmt.Errorf("parsing net/snmp Tcp %s: %w", name, err)
			}
			*dst = n
		}
		found = true
		break
	}
	if err := sc.Err(); err != nil {
		return SNMP{}, fmt.Errorf("parsing net/snmp: %w", err)
	}
	if !found {
		return SNMP{}, fmt.Errorf("parsing net/snmp: no Tcp lines")
	}
	return out, nil
}

// Delta returns s minus prev.
func (s SNMP) Delta(prev SNMP) SNMP {
	return SNMP{
		TCPInSegs: sub(s.TCPInSegs, prev.TCPInSegs), TCPOutSegs: sub(s.TCPOutSegs, prev.TCPOutSegs),
		TCPRetransSegs: sub(s.TCPRetransSegs, prev.TCPRetransSegs),
		TCPInErrs:      sub(s.TCPInErrs, prev.TCPInErrs), TCPOutRsts: sub(s.TCPOutRsts, prev.TCPOutRsts),
	}
}
