package storage

import (
	"github.com/brokerlab/brokerlab/internal/properties"

	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Files kept in every log dir, named as Kafka names them.
const (
	metaPropertiesFile     = "meta.properties"
	cleanShutdownFile      = ".kafka_cleanshutdown"
	recoveryCheckpointFile = "recovery-point-offset-checkpoint"
	lockFile               = ".lock"
	producerIDFile         = "brokerlab-producer-id-block" // not Kafka's: see doc.go
)

// metaProperties is the content of meta.properties (Kafka's
// MetaProperties, version 1 as written by KRaft brokers).
type metaProperties struct {
	version   int
	clusterID string
	nodeID    int32
}

func readMetaProperties(path string) (metaProperties, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return metaProperties{}, false, nil
	}
	if err != nil {
		return metaProperties{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	props, err := properties.Map(bytes.NewReader(data))
	if err != nil {
		return metaProperties{}, true, fmt.Errorf("reading %s: %w", path, err)
	}
	m := metaProperties{clusterID: props["cluster.id"]}
	if v, ok := props["version"]; ok {
		if m.version, err = strconv.Atoi(v); err != nil {
			return m, true, fmt.Errorf("reading %s: version %q: %w", path, v, err)
		}
	}
	id, ok := props["node.id"]
	if !ok {
		id, ok = props["broker.id"] // version 0 (ZooKeeper mode) files
	}
	if !ok {
		return m, true, fmt.Errorf("reading %s: neither node.id nor broker.id is set", path)
	}
	n, err := strconv.ParseInt(id, 10, 32)
	if err != nil {
		return m, true, fmt.Errorf("reading %s: node.id %q: %w", path, id, err)
	}
	m.nodeID = int32(n)
	if m.clusterID == "" {
		return m, true, fmt.Errorf("reading %s: cluster.id is not set", path)
	}
	return m, true, nil
}

func writeMetaProperties(path string, m metaProperties, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "#\n#%s\n", now.UTC().Format(time.UnixDate))
	fmt.Fprintf(&b, "cluster.id=%s\nnode.id=%d\nversion=%d\n", m.clusterID, m.nodeID, m.version)
	return writeFileAtomic(path, []byte(b.String()))
}

// newUUID returns a random version-4 UUID.
func newUUID() [16]byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// uuidString encodes a UUID as Kafka's Uuid.toString does: URL-safe
// base64 without padding (22 characters).
func uuidString(u [16]byte) string { return base64.RawURLEncoding.EncodeToString(u[:]) }

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("invalid uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// checkMeta reads meta.properties in every dir, checks that they agree
// with each other and with the configured ids, writes it where it is
// missing and returns the cluster id.
func checkMeta(dirs []string, nodeID int32, clusterID string, now time.Time) (string, error) {
	type found struct {
		path string
		m    metaProperties
	}
	var have []found
	var missing []string
	for _, d := range dirs {
		path := filepath.Join(d, metaPropertiesFile)
		m, ok, err := readMetaProperties(path)
		if err != nil {
			return "", err
		}
		if !ok {
			missing = append(missing, path)
			continue
		}
		have = append(have, found{path, m})
	}
	for _, f := range have {
		if f.m.nodeID != nodeID {
			return "", &NodeIDMismatchError{Path: f.path, Stored: f.m.nodeID, Configured: nodeID}
		}
	}
	if clusterID != "" {
		for _, f := range have {
			if f.m.clusterID != clusterID {
				return "", &ClusterIDMismatchError{Path: f.path, Stored: f.m.clusterID, Other: clusterID}
			}
		}
	}
	for _, f := range have[min(1, len(have)):] {
		if f.m.clusterID != have[0].m.clusterID {
			return "", &ClusterIDMismatchError{Path: f.path, Stored: f.m.clusterID, OtherPath: have[0].path, Other: have[0].m.clusterID}
		}
	}
	switch {
	case len(have) > 0:
		clusterID = have[0].m.clusterID
	case clusterID == "":
		clusterID = uuidString(newUUID())
	}
	for _, path := range missing {
		if err := writeMetaProperties(path, metaProperties{version: 1, clusterID: clusterID, nodeID: nodeID}, now); err != nil {
			return "", err
		}
	}
	return clusterID, nil
}

// lockDir takes Kafka's .lock file lock on a log dir so that two brokers
// never share one. Closing the returned file releases it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking log dir %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking log dir %s: %s is held by another process: is another broker using this log dir? %w", dir, path, errDirLocked)
		}
		return nil, fmt.Errorf("locking log dir %s: %w", dir, err)
	}
	return f, nil
}

// checkpointEntry is one line of an offset checkpoint file.
type checkpointEntry struct {
	topic     string
	partition int32
	offset    int64
}

// readCheckpoint reads Kafka's OffsetCheckpointFile format: a version line
// (0), a count line, then "topic partition offset" lines.
func readCheckpoint(path string) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("reading checkpoint %s: missing version 0 header", path)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("reading checkpoint %s: count line %q does not match %d entries", path, lines[1], len(lines)-2)
	}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("reading checkpoint %s: malformed line %q", path, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reading checkpoint %s: malformed line %q", path, l)
		}
		if out[f[0]] == nil {
			out[f[0]] = map[int32]int64{}
		}
		out[f[0]][int32(p)] = o
	}
	return out, nil
}

func writeCheckpoint(path string, entries []checkpointEntry) error {
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].topic != entries[j].topic {
			return entries[i].topic < entries[j].topic
		}
		return entries[i].partition < entries[j].partition
	})
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %d %d\n", e.topic, e.partition, e.offset)
	}
	return writeFileAtomic(path, []byte(b.String()))
}
