package storage

import (
	"fmt"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// LogDirInfo describes one log dir for DescribeLogDirs.
type LogDirInfo struct {
	// Path is the dir's absolute path.
	Path string
	// TotalBytes and UsableBytes are the size of the filesystem holding
	// the dir and the bytes an unprivileged writer may still use, from
	// statfs(2) (f_blocks and f_bavail times f_frsize, as Java's
	// FileStore.getTotalSpace/getUsableSpace, which Kafka reports); -1
	// when Err is set.
	TotalBytes, UsableBytes int64
	// Partitions are the dir's partitions that the filter kept, sorted by
	// topic and partition.
	Partitions []LogDirPartition
	// Err is set when the dir cannot be described (statfs failed).
	Err error
}

// LogDirPartition is one partition of a log dir.
type LogDirPartition struct {
	Topic     string
	Partition int32
	// Size is the bytes in the partition's segments.
	Size int64
}

// LogDirs describes every log dir in log.dirs order, with the partitions
// for which keep returns true (nil keeps all).
func (s *Store) LogDirs(keep func(topic string, partition int32) bool) []LogDirInfo {
	byDir := map[*logDir][]LogDirPartition{}
	for _, p := range s.partitions() {
		if keep != nil && !keep(p.topic, p.id) {
			continue
		}
		byDir[p.ld] = append(byDir[p.ld], LogDirPartition{Topic: p.topic, Partition: p.id, Size: p.Size()})
	}
	out := make([]LogDirInfo, 0, len(s.dirs))
	for _, ld := range s.dirs {
		info := LogDirInfo{Path: ld.path, TotalBytes: -1, UsableBytes: -1, Partitions: byDir[ld]}
		if abs, err := filepath.Abs(ld.path); err == nil {
			info.Path = abs
		}
		sort.Slice(info.Partitions, func(i, j int) bool {
			a, b := info.Partitions[i], info.Partitions[j]
			if a.Topic != b.Topic {
				return a.Topic < b.Topic
			}
			return a.Partition < b.Partition
		})
		var st unix.Statfs_t
		if err := unix.Statfs(ld.path, &st); err != nil {
			info.Err = fmt.Errorf("statfs %s: %w", ld.path, err)
		} else {
			frsize := int64(st.Frsize)
			if frsize <= 0 {
				frsize = int64(st.Bsize)
			}
			info.TotalBytes = int64(st.Blocks) * frsize
			info.UsableBytes = int64(st.Bavail) * frsize
		}
		out = append(out, info)
	}
	return out
}
