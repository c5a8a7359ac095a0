package txn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Transaction log file names inside Config.Dir.
const (
	logName = "txn.log"
	tmpName = "txn.log.tmp"
)

// Record layout, integers big-endian:
//
//	length  uint32  bytes of body
//	crc     uint32  CRC32C (Castagnoli) of body
//	body:
//	  version uint8  1
//	  JSON of record: one transactional id's whole state
//
// Each record replaces the previous one of its transactional id, as the
// records of Kafka's __transaction_state topic do (TransactionLogValue
// carries the full partition list); state "Dead" is a tombstone. The file
// is compacted to the latest record per id at load and when it grows past
// four times its live bytes.
const (
	headerLen     = 8
	recordVersion = 1
	// maxRecordLen bounds a length prefix read back from disk, so a torn
	// prefix cannot make load allocate gigabytes; appendRecord refuses
	// larger records. A record holds at most
	// brokerlab.transaction.partitions.max partitions and offsets, each
	// with a topic name of at most 249 bytes and metadata of at most
	// offset.metadata.max.bytes, which Config.Validate keeps below it.
	maxRecordLen = 1 << 26
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is the durable state of one transactional id.
type record struct {
	ID         string           `json:"id"`
	PID        int64            `json:"pid"`
	Epoch      int16            `json:"epoch"`
	TimeoutMs  int64            `json:"timeout_ms"`
	State      string           `json:"state"`
	Partitions []TopicPartition `json:"partitions,omitempty"`
	Groups     []string         `json:"groups,omitempty"`
	Offsets    []PendingOffset  `json:"offsets,omitempty"`
	StartMs    int64            `json:"start_ms,omitempty"`
	UpdateMs   int64            `json:"update_ms"`
}

// txnLog is the durable store of transaction states: an append-only file
// of checksummed records, fsynced per append. Safe for concurrent use.
type txnLog struct {
	dir    string
	logger *slog.Logger

	mu        sync.Mutex
	f         *os.File // nil once closed
	size      int64
	liveBytes int64
	latest    map[string]int64  // encoded size of each id's latest record
	recs      map[string]record // each id's latest record, for compaction
	// compactBytes is the size below which the file is never compacted.
	compactBytes int64
}

// openLog loads dir/txn.log, drops a torn or corrupt tail and returns the
// latest record of every live transactional id.
func openLog(dir string, logger *slog.Logger) (*txnLog, []record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating transaction log dir %s: %w", dir, err)
	}
	l := &txnLog{dir: dir, logger: logger, latest: map[string]int64{}, recs: map[string]record{}, compactBytes: 1 << 20}
	path := filepath.Join(dir, logName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading transaction log %s: %w", path, err)
	}
	byID := map[string]record{}
	valid, n, skipped := 0, 0, 0
	for b := data; len(b) >= headerLen; {
		size := binary.BigEndian.Uint32(b)
		if size > maxRecordLen || int(size) > len(b)-headerLen {
			break
		}
		body := b[headerLen : headerLen+int(size)]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		valid += headerLen + int(size)
		b = b[headerLen+int(size):]
		n++
		var r record
		if len(body) < 1 || body[0] != recordVersion || json.Unmarshal(body[1:], &r) != nil || r.ID == "" {
			skipped++
			continue
		}
		if r.State == stateDead.String() {
			delete(byID, r.ID)
			delete(l.latest, r.ID)
			continue
		}
		byID[r.ID] = r
		l.latest[r.ID] = int64(headerLen + len(body))
	}
	for _, sz := range l.latest {
		l.liveBytes += sz
	}
	if valid < len(data) {
		logger.Warn("dropping torn or corrupt tail of transaction log", "path", path, "valid_bytes", valid, "dropped_bytes", len(data)-valid)
	}
	if skipped > 0 {
		logger.Warn("skipping transaction log records that do not decode", "path", path, "records", skipped)
	}
	recs := make([]record, 0, len(byID))
	for _, r := range byID {
		recs = append(recs, r)
		l.recs[r.ID] = r
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	if valid < len(data) || n > len(recs) {
		if err := l.rewrite(recs); err != nil {
			return nil, nil, err
		}
		return l, recs, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("opening transaction log %s: %w", path, err)
	}
	if len(data) == 0 {
		if err := fsutil.SyncDir(dir); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	l.f, l.size = f, int64(len(data))
	return l, recs, nil
}

func appendRecord(dst []byte, r record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return dst, fmt.Errorf("encoding transaction record of %q: %w", r.ID, err)
	}
	if len(body)+1 > maxRecordLen {
		return dst, fmt.Errorf("encoding transaction record of %q: %d bytes exceed the record bound of %d", r.ID, len(body)+1, maxRecordLen)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)+1))
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = append(dst, recordVersion)
	dst = append(dst, body...)
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+headerLen:], castagnoli))
	return dst, nil
}

// append writes r with one write and one fsync.
func (l *txnLog) append(r record) error {
	buf, err := appendRecord(nil, r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("appending to transaction log in %s: %w", l.dir, os.ErrClosed)
	}
	if _, err := l.f.Write(buf); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("writing transaction log in %s: %w", l.dir, err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("syncing transaction log in %s: %w", l.dir, err)
	}
	l.size += int64(len(buf))
	l.liveBytes -= l.latest[r.ID]
	if r.State == stateDead.String() {
		delete(l.latest, r.ID)
		delete(l.recs, r.ID)
	} else {
		l.latest[r.ID] = int64(len(buf))
		l.recs[r.ID] = r
		l.liveBytes += int64(len(buf))
	}
	if l.size > l.compactBytes && l.size > 4*l.liveBytes {
		recs := make([]record, 0, len(l.recs))
		for _, r := range l.recs {
			recs = append(recs, r)
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
		if err := l.rewrite(recs); err != nil {
			// r is durable; a failed compaction leaves the old file.
			l.logger.Error("compacting transaction log", "dir", l.dir, "err", err)
		}
	}
	return nil
}

// rewrite replaces the file with recs: a temp file, fsync, rename, fsync
// of the dir (l.mu held, or l not yet shared).
func (l *txnLog) rewrite(recs []record) error {
	var buf []byte
	latest := make(map[string]int64, len(recs))
	for _, r := range recs {
		n := len(buf)
		var err error
		if buf, err = appendRecord(buf, r); err != nil {
			return fmt.Errorf("compacting transaction log in %s: %w", l.dir, err)
		}
		latest[r.ID] = int64(len(buf) - n)
	}
	tmp := filepath.Join(l.dir, tmpName)
	if err := fsutil.WriteFileSync(tmp, buf); err != nil {
		return fmt.Errorf("compacting transaction log: %w", err)
	}
	path := filepath.Join(l.dir, logName)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compacting transaction log: %w", err)
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		return fmt.Errorf("compacting transaction log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("reopening transaction log %s: %w", path, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size, l.latest, l.liveBytes = f, int64(len(buf)), latest, int64(len(buf))
	return nil
}

func (l *txnLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("closing transaction log in %s: %w", l.dir, err)
	}
	return nil
}
