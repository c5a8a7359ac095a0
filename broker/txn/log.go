package txn

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/brokerlab/brokerlab/internal/framedlog"
)

// logName is the transaction log's file name inside Config.Dir.
const logName = "txn.log"

// Record layout, framed by internal/framedlog (length, CRC32C):
//
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
	recordVersion = 1
	// maxRecordLen bounds a length prefix read back from disk, so a torn
	// prefix cannot make load allocate gigabytes; appendRecord refuses
	// larger records. A record holds at most
	// brokerlab.transaction.partitions.max partitions and offsets, each
	// with a topic name of at most 249 bytes and metadata of at most
	// offset.metadata.max.bytes, which Config.Validate keeps below it.
	maxRecordLen = 1 << 26
)

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
	file      *framedlog.File
	liveBytes int64
	latest    map[string]int64  // encoded size of each id's latest record
	recs      map[string]record // each id's latest record, for compaction
	// compactBytes is the size below which the file is never compacted.
	compactBytes int64
}

// openLog loads dir/txn.log, drops a torn or corrupt tail and returns the
// latest record of every live transactional id.
func openLog(dir string, logger *slog.Logger) (*txnLog, []record, error) {
	file, data, err := framedlog.Read(dir, logName)
	if err != nil {
		return nil, nil, fmt.Errorf("transaction log: %w", err)
	}
	l := &txnLog{dir: dir, logger: logger, file: file, latest: map[string]int64{}, recs: map[string]record{}, compactBytes: 1 << 20}
	path := file.Path()
	n, skipped := 0, 0
	valid := framedlog.Frames(data, 0, maxRecordLen, func(body []byte) {
		n++
		var r record
		if len(body) < 1 || body[0] != recordVersion || json.Unmarshal(body[1:], &r) != nil || r.ID == "" {
			skipped++
			return
		}
		if r.State == stateDead.String() {
			delete(l.recs, r.ID)
			delete(l.latest, r.ID)
			return
		}
		l.recs[r.ID] = r
		l.latest[r.ID] = int64(framedlog.HeaderLen + len(body))
	})
	for _, sz := range l.latest {
		l.liveBytes += sz
	}
	if valid < len(data) {
		logger.Warn("dropping torn or corrupt tail of transaction log", "path", path, "valid_bytes", valid, "dropped_bytes", len(data)-valid)
	}
	if skipped > 0 {
		logger.Warn("skipping transaction log records that do not decode", "path", path, "records", skipped)
	}
	recs := l.sortedRecords()
	if valid < len(data) || n > len(recs) {
		if err := l.rewrite(recs); err != nil {
			return nil, nil, err
		}
		return l, recs, nil
	}
	if err := file.Resume(); err != nil {
		return nil, nil, fmt.Errorf("transaction log: %w", err)
	}
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
	return framedlog.AppendFrame(dst, func(dst []byte) []byte {
		return append(append(dst, recordVersion), body...)
	}), nil
}

// append writes r with one write and one fsync.
func (l *txnLog) append(r record) error {
	buf, err := appendRecord(nil, r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.file.Append(buf); err != nil {
		return fmt.Errorf("transaction log: %w", err)
	}
	l.liveBytes -= l.latest[r.ID]
	if r.State == stateDead.String() {
		delete(l.latest, r.ID)
		delete(l.recs, r.ID)
	} else {
		l.latest[r.ID] = int64(len(buf))
		l.recs[r.ID] = r
		l.liveBytes += int64(len(buf))
	}
	if size := l.file.Size(); size > l.compactBytes && size > 4*l.liveBytes {
		if err := l.rewrite(l.sortedRecords()); err != nil {
			// r is durable; a failed compaction leaves the old file.
			l.logger.Error("compacting transaction log", "dir", l.dir, "err", err)
		}
	}
	return nil
}

// sortedRecords returns the latest record of every live transactional id,
// sorted by id.
func (l *txnLog) sortedRecords() []record {
	recs := make([]record, 0, len(l.recs))
	for _, r := range l.recs {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	return recs
}

// rewrite replaces the file with recs (framedlog.File.Replace; l.mu held,
// or l not yet shared).
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
	if err := l.file.Replace(buf); err != nil {
		return fmt.Errorf("compacting transaction log: %w", err)
	}
	l.latest, l.liveBytes = latest, int64(len(buf))
	return nil
}

func (l *txnLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("transaction log: %w", err)
	}
	return nil
}
