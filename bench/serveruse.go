package bench

import (
	"fmt"

	"github.com/brokerlab/brokerlab/procsample"
)

// ServerUse is what a server process spent on one pass of a bench: its CPU
// over the pass, split into user and system time (utime and stime from
// /proc/PID/stat, read by procsample), its resident set's peak during the
// pass (VmHWM, reset when the pass starts), and the bytes and records the
// pass moved, so that CPU can be read per GB and per million records. A
// server's CPU per GB is what a zero-copy path saves even when the client
// is too slow to show a difference in MB/s.
type ServerUse struct {
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	// PeakRSS is the high-water mark of the resident set over the pass;
	// PeakSinceStart says it could not be reset and covers the process's
	// whole life instead.
	PeakRSS        uint64 `json:"peak_rss_bytes"`
	PeakSinceStart bool   `json:"peak_since_start,omitempty"`
	Bytes          int64  `json:"bytes"`
	Records        int64  `json:"records"`
}

// UseBetween is the use between two samples of the same process that moved
// bytes in records; the peak RSS is after's.
func UseBetween(before, after procsample.Process, bytes, records int64) ServerUse {
	d := after.Delta(before)
	return ServerUse{UserSeconds: d.UserSeconds, SystemSeconds: d.SystemSeconds, PeakRSS: after.PeakRSS, Bytes: bytes, Records: records}
}

// CPUSeconds is user plus system time.
func (u ServerUse) CPUSeconds() float64 { return u.UserSeconds + u.SystemSeconds }

// CPUPerGB is CPU seconds per GB (10^9 bytes) moved; 0 when nothing moved.
func (u ServerUse) CPUPerGB() float64 { return perUnit(u.CPUSeconds(), u.Bytes, 1e9) }

// UserPerGB and SystemPerGB are CPUPerGB's two parts.
func (u ServerUse) UserPerGB() float64   { return perUnit(u.UserSeconds, u.Bytes, 1e9) }
func (u ServerUse) SystemPerGB() float64 { return perUnit(u.SystemSeconds, u.Bytes, 1e9) }

// CPUPerMRecords is CPU seconds per million records moved.
func (u ServerUse) CPUPerMRecords() float64 { return perUnit(u.CPUSeconds(), u.Records, 1e6) }

func perUnit(v float64, n int64, unit float64) float64 {
	if n <= 0 {
		return 0
	}
	return v / (float64(n) / unit)
}

// meter measures one process over one pass: start resets its peak RSS and
// reads its CPU, stop reads both again.
type meter struct {
	procRoot       string
	pid            int
	before         procsample.Process
	peakSinceStart bool
}

func startMeter(pid int) (*meter, error) {
	m := &meter{procRoot: "/proc", pid: pid}
	// A server we started is ours to reset; where it is not (another
	// user's), the peak covers the process's life and says so.
	m.peakSinceStart = procsample.ResetPeakRSS(m.procRoot, pid) != nil
	var err error
	if m.before, err = procsample.ReadProcess(m.procRoot, pid); err != nil {
		return nil, fmt.Errorf("reading server CPU before the pass: %w", err)
	}
	return m, nil
}

func (m *meter) stop(bytes, records int64) (ServerUse, error) {
	after, err := procsample.ReadProcess(m.procRoot, m.pid)
	if err != nil {
		return ServerUse{}, fmt.Errorf("reading server CPU after the pass: %w", err)
	}
	u := UseBetween(m.before, after, bytes, records)
	u.PeakSinceStart = m.peakSinceStart
	return u, nil
}
