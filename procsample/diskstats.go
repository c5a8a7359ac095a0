package procsample

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/procfs/blockdevice"
)

// ErrNoDevice is returned when /proc/diskstats has no line for the device.
var ErrNoDevice = errors.New("device not in diskstats")

// DiskStats holds one device's /proc/diskstats counters.
type DiskStats struct {
	Device       string `json:"device"` // name, e.g. vda
	ReadIOs      uint64 `json:"read_ios"`
	WriteIOs     uint64 `json:"write_ios"`
	ReadSectors  uint64 `json:"read_sectors"` // 512-byte sectors
	WriteSectors uint64 `json:"write_sectors"`
	ReadTicks    uint64 `json:"read_ms"`
	WriteTicks   uint64 `json:"write_ms"`
	FlushIOs     uint64 `json:"flush_ios"`
	IOTicks      uint64 `json:"io_ms"` // time the device was busy
}

// ReadDiskStats reads procRoot/diskstats and returns the line of device,
// given as a name ("vda") or "MAJOR:MINOR".
func ReadDiskStats(procRoot, sysRoot, device string) (DiskStats, error) {
	fs, err := blockdevice.NewFS(procRoot, sysRoot)
	if err != nil {
		return DiskStats{}, fmt.Errorf("opening block device stats: %w", err)
	}
	all, err := fs.ProcDiskstats()
	if err != nil {
		return DiskStats{}, fmt.Errorf("reading diskstats: %w", err)
	}
	return pickDisk(all, device)
}

func pickDisk(all []blockdevice.Diskstats, device string) (DiskStats, error) {
	for _, d := range all {
		id := strconv.FormatUint(uint64(d.MajorNumber), 10) + ":" + strconv.FormatUint(uint64(d.MinorNumber), 10)
		if d.DeviceName != device && id != device {
			continue
		}
		return DiskStats{
			Device: d.DeviceName, ReadIOs: d.ReadIOs, WriteIOs: d.WriteIOs,
			ReadSectors: d.ReadSectors, WriteSectors: d.WriteSectors,
			ReadTicks: d.ReadTicks, WriteTicks: d.WriteTicks,
			FlushIOs: d.FlushRequestsCompleted, IOTicks: d.IOsTotalTicks,
		}, nil
	}
	return DiskStats{}, fmt.Errorf("diskstats %q: %w", device, ErrNoDevice)
}

// Delta returns d minus prev.
func (d DiskStats) Delta(prev DiskStats) DiskStats {
	return DiskStats{
		Device: d.Device, ReadIOs: sub(d.ReadIOs, prev.ReadIOs), WriteIOs: sub(d.WriteIOs, prev.WriteIOs),
		ReadSectors: sub(d.ReadSectors, prev.ReadSectors), WriteSectors: sub(d.WriteSectors, prev.WriteSectors),
		ReadTicks: sub(d.ReadTicks, prev.ReadTicks), WriteTicks: sub(d.WriteTicks, prev.WriteTicks),
		FlushIOs: sub(d.FlushIOs, prev.FlushIOs), IOTicks: sub(d.IOTicks, prev.IOTicks),
	}
}
