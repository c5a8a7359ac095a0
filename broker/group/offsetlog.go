package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"

	"github.com/brokerlab/brokerlab/internal/framedlog"
)

// offsetLogName is the offsets log's file name inside Config.Dir.
const offsetLogName = "offsets.log"

// Record layout, all integers big-endian, framed by internal/framedlog
// (length, CRC32C):
//
//	body:
//	  version   uint8   1 (0: the first layout, read but no longer written)
//	  kind      uint8   0 commit, 1 tombstone (offset deleted)
//	  commitMs  int64   commit time, Unix milliseconds
//	  partition int32
//	  offset    int64
//	  epoch     int32   leader epoch, -1 unknown
//	  group     uint32 length + bytes (version 0: uint16)
//	  topic     uint32 length + bytes (version 0: uint16)
//	  metadata  int32 length (-1 = null) + bytes
//
// Version 0 stored the group and topic lengths as uint16 and wrote
// len&0xffff for longer strings: a group id of 65,549 bytes was framed as a
// 13-byte one, and the rest of it, chosen by the client, decoded as another
// commit. Version 1 lengths cover every string a request can carry, and
// appendRecord refuses strings above maxGroupIDLen/maxTopicLen rather than
// ever writing a length that does not match its bytes. Version 0 records
// still load (a log written before version 1 needs no migration: each
// record names its own version, and the next compaction rewrites the file in
// version 1); a record whose envelope is sound (length in bounds, CRC
// matches) but whose body does not decode is skipped, not taken for a torn
// tail, so one bad record can never cut off the commits written after it.
const (
	recordHeaderLen = framedlog.HeaderLen
	recordFixedLen  = 1 + 1 + 8 + 4 + 8 + 4 + 4 + 4 + 4
	recordV0Fixed   = 1 + 1 + 8 + 4 + 8 + 4 + 2 + 2 + 4
	recordVersion   = 1
	kindCommit      = 0
	kindTombstone   = 1
	// maxRecordLen bounds a length prefix read back from disk, so a torn
	// or corrupted prefix cannot make load allocate gigabytes. Every
	// record the coordinator accepts is smaller: see maxGroupIDLen,
	// maxTopicLen and MaxMetadataBytesLimit.
	maxRecordLen = 1 << 24
)

// Bounds on the strings a commit stores.
const (
	// maxGroupIDLen is the longest group id the coordinator accepts:
	// Kafka's own offsets-topic record key stores the group as a STRING
	// (int16 length, at most 32767 bytes; OffsetCommitKey.json), so a
	// longer id can never be committed on Kafka either. Requests with a
	// longer id get INVALID_GROUP_ID.
	maxGroupIDLen = 1<<15 - 1
	// maxTopicLen is Kafka's topic name limit (Topic.MAX_NAME_LENGTH,
	// 249): no longer topic can exist, so a commit to one gets
	// UNKNOWN_TOPIC_OR_PARTITION.
	maxTopicLen = 249
	// MaxMetadataBytesLimit is the largest offset.metadata.max.bytes
	// accepted: it keeps every record below maxRecordLen with room for
	// the longest group id and topic.
	MaxMetadataBytesLimit = maxRecordLen - recordFixedLen - maxGroupIDLen - maxTopicLen
)

// errRecordTooLarge reports a record appendRecord refuses to encode.
var errRecordTooLarge = errors.New("offsets record field too long")

// errUnknownVersion reports a record of a version or kind this code does
// not know (a newer broker's file): it is skipped, with a warning.
var errUnknownVersion = errors.New("unknown offsets record layout")

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// offsetValue is one committed offset.
type offsetValue struct {
	offset      int64
	leaderEpoch int32
	metadata    *string
	commitMs    int64
}

// offsetRecord is one entry of the offsets log.
type offsetRecord struct {
	group     string
	tp        tp
	tombstone bool
	value     offsetValue
}

// offsetLog is the durable store of committed offsets: an append-only file
// of checksummed records, the latest value per (group, topic, partition)
// kept in memory. It is safe for concurrent use.
type offsetLog struct {
	dir          string
	compactBytes int64
	logger       *slog.Logger

	mu        sync.Mutex
	file      *framedlog.File
	liveBytes int64 // encoded bytes of the records in latest
	latest    map[string]map[tp]offsetValue
}

// openOffsetLog loads dir/offsets.log, drops a torn or corrupt tail, and
// compacts the file to its latest record per key when that drops anything.
func openOffsetLog(dir string, compactBytes int64, logger *slog.Logger) (*offsetLog, error) {
	file, data, err := framedlog.Read(dir, offsetLogName)
	if err != nil {
		return nil, fmt.Errorf("offsets log: %w", err)
	}
	l := &offsetLog{dir: dir, compactBytes: compactBytes, logger: logger, file: file, latest: make(map[string]map[tp]offsetValue)}
	path := file.Path()
	records, valid, skipped := decodeRecords(data)
	for _, r := range records {
		if len(r.group) > maxGroupIDLen || len(r.tp.topic) > maxTopicLen {
			// Only a version 0 file can hold one (see the layout
			// comment); it cannot be written back.
			skipped++
			continue
		}
		l.apply(r)
	}
	dropped := len(records) - l.liveCount()
	if valid < len(data) {
		logger.Warn("dropping torn or corrupt tail of offsets log", "path", path, "valid_bytes", valid, "dropped_bytes", len(data)-valid)
	}
	if skipped > 0 {
		logger.Warn("skipping offsets log records that do not decode", "path", path, "records", skipped)
	}
	if valid < len(data) || dropped > 0 || skipped > 0 {
		if err := l.rewrite(); err != nil {
			return nil, err
		}
		logger.Info("compacted offsets log", "path", path, "records", len(records), "live", l.liveCount())
		return l, nil
	}
	if err := file.Resume(); err != nil {
		return nil, fmt.Errorf("offsets log: %w", err)
	}
	return l, nil
}

// apply records r in memory.
func (l *offsetLog) apply(r offsetRecord) {
	ps := l.latest[r.group]
	if old, ok := ps[r.tp]; ok {
		l.liveBytes -= int64(encodedLen(r.group, r.tp.topic, old.metadata))
		delete(ps, r.tp)
	}
	if r.tombstone {
		if len(ps) == 0 {
			delete(l.latest, r.group)
		}
		return
	}
	if ps == nil {
		ps = make(map[tp]offsetValue)
		l.latest[r.group] = ps
	}
	ps[r.tp] = r.value
	l.liveBytes += int64(encodedLen(r.group, r.tp.topic, r.value.metadata))
}

func (l *offsetLog) liveCount() int {
	n := 0
	for _, ps := range l.latest {
		n += len(ps)
	}
	return n
}

// append writes records as one write and one fsync, then applies them. On a
// write error nothing is applied and the file is cut back to its old size.
func (l *offsetLog) append(records []offsetRecord) error {
	if len(records) == 0 {
		return nil
	}
	var buf []byte
	for _, r := range records {
		var err error
		if buf, err = appendRecord(buf, r); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(records, buf)
}

// deleteTopic writes a tombstone for every group's offset of topic.
func (l *offsetLog) deleteTopic(topic string, nowMs int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var tombs []offsetRecord
	var buf []byte
	for g, ps := range l.latest {
		for k := range ps {
			if k.topic == topic {
				r := offsetRecord{group: g, tp: k, tombstone: true, value: offsetValue{commitMs: nowMs}}
				var err error
				if buf, err = appendRecord(buf, r); err != nil {
					return 0, err
				}
				tombs = append(tombs, r)
			}
		}
	}
	if len(tombs) == 0 {
		return 0, nil
	}
	return len(tombs), l.appendLocked(tombs, buf)
}

// appendLocked writes buf, the encoding of records, under l.mu.
func (l *offsetLog) appendLocked(records []offsetRecord, buf []byte) error {
	if err := l.file.Append(buf); err != nil {
		return fmt.Errorf("offsets log: %w", err)
	}
	for _, r := range records {
		l.apply(r)
	}
	if size := l.file.Size(); size > l.compactBytes && size > 4*l.liveBytes {
		if err := l.rewrite(); err != nil {
			// The appended records are durable; a failed compaction
			// leaves the old file in place.
			l.logger.Error("compacting offsets log", "dir", l.dir, "err", err)
		}
	}
	return nil
}

// rewrite replaces the file with the latest record per key
// (framedlog.File.Replace). l.mu is held or l is not yet shared.
func (l *offsetLog) rewrite() error {
	var buf []byte
	groups := make([]string, 0, len(l.latest))
	for g := range l.latest {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		ps := l.latest[g]
		keys := make([]tp, 0, len(ps))
		for k := range ps {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].topic != keys[j].topic {
				return keys[i].topic < keys[j].topic
			}
			return keys[i].partition < keys[j].partition
		})
		for _, k := range keys {
			var err error
			if buf, err = appendRecord(buf, offsetRecord{group: g, tp: k, value: ps[k]}); err != nil {
				return fmt.Errorf("compacting offsets log in %s: %w", l.dir, err)
			}
		}
	}
	if err := l.file.Replace(buf); err != nil {
		return fmt.Errorf("compacting offsets log: %w", err)
	}
	l.liveBytes = int64(len(buf))
	return nil
}

// get returns the committed offset of group's partition.
func (l *offsetLog) get(group string, p tp) (offsetValue, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.latest[group][p]
	return v, ok
}

// all returns a copy of every committed offset of group.
func (l *offsetLog) all(group string) map[tp]offsetValue {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[tp]offsetValue, len(l.latest[group]))
	for k, v := range l.latest[group] {
		out[k] = v
	}
	return out
}

// groups returns the names of the groups that have committed offsets.
func (l *offsetLog) groups() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.latest))
	for g := range l.latest {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// close closes the file; later appends fail with os.ErrClosed. Idempotent.
func (l *offsetLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("offsets log: %w", err)
	}
	return nil
}

func encodedLen(group, topic string, metadata *string) int {
	n := recordHeaderLen + recordFixedLen + len(group) + len(topic)
	if metadata != nil {
		n += len(*metadata)
	}
	return n
}

// appendRecord appends r's encoding to dst. It refuses a group id, topic or
// metadata longer than the coordinator accepts (the handlers check first; this
// is the last line of defence of the file's framing).
func appendRecord(dst []byte, r offsetRecord) ([]byte, error) {
	if len(r.group) > maxGroupIDLen || len(r.tp.topic) > maxTopicLen || (r.value.metadata != nil && len(*r.value.metadata) > MaxMetadataBytesLimit) {
		return dst, fmt.Errorf("encoding offset of group (%d bytes) topic (%d bytes): %w", len(r.group), len(r.tp.topic), errRecordTooLarge)
	}
	return appendRecordVersion(dst, r, recordVersion), nil
}

// appendRecordVersion appends r's encoding in layout version (the mirror of
// decodeBody). Version 0 writes the group and topic lengths as uint16s,
// len&0xffff for a longer string as the brokers that wrote it did: only
// tests write it, to make the files those brokers left.
func appendRecordVersion(dst []byte, r offsetRecord, version byte) []byte {
	kind := byte(kindCommit)
	if r.tombstone {
		kind = kindTombstone
	}
	appendName := func(dst []byte, s string) []byte { // the group or the topic
		if version == 0 {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		} else {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		}
		return append(dst, s...)
	}
	return framedlog.AppendFrame(dst, func(dst []byte) []byte {
		dst = append(dst, version, kind)
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.value.commitMs))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.tp.partition))
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.value.offset))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.value.leaderEpoch))
		dst = appendName(dst, r.group)
		dst = appendName(dst, r.tp.topic)
		if r.value.metadata == nil {
			return binary.BigEndian.AppendUint32(dst, 0xffffffff)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(*r.value.metadata)))
		return append(dst, *r.value.metadata...)
	})
}

// decodeRecords decodes data up to the first torn or corrupt envelope (a
// length out of bounds or past the end, or a CRC mismatch) and returns the
// records, the length of the valid prefix and how many sound envelopes held
// a body that does not decode (skipped).
func decodeRecords(data []byte) (out []offsetRecord, valid, skipped int) {
	valid = framedlog.Frames(data, 2, maxRecordLen, func(body []byte) {
		r, err := decodeBody(body)
		if err != nil {
			skipped++
			return
		}
		out = append(out, r)
	})
	return out, valid, skipped
}

func decodeBody(b []byte) (offsetRecord, error) {
	var r offsetRecord
	var lenSize int
	switch b[0] {
	case 0:
		if len(b) < recordV0Fixed {
			return r, io.ErrUnexpectedEOF
		}
		lenSize = 2
	case recordVersion:
		if len(b) < recordFixedLen {
			return r, io.ErrUnexpectedEOF
		}
		lenSize = 4
	default:
		return r, fmt.Errorf("offsets record version %d: %w", b[0], errUnknownVersion)
	}
	if b[1] != kindCommit && b[1] != kindTombstone {
		return r, fmt.Errorf("offsets record kind %d: %w", b[1], errUnknownVersion)
	}
	r.tombstone = b[1] == kindTombstone
	r.value.commitMs = int64(binary.BigEndian.Uint64(b[2:]))
	r.tp.partition = int32(binary.BigEndian.Uint32(b[10:]))
	r.value.offset = int64(binary.BigEndian.Uint64(b[14:]))
	r.value.leaderEpoch = int32(binary.BigEndian.Uint32(b[22:]))
	rest := b[26:]
	str := func(limit int) (string, bool) {
		if len(rest) < lenSize {
			return "", false
		}
		var n int
		if lenSize == 2 {
			n = int(binary.BigEndian.Uint16(rest))
		} else {
			n = int(binary.BigEndian.Uint32(rest))
		}
		if n > limit || len(rest)-lenSize < n {
			return "", false
		}
		s := string(rest[lenSize : lenSize+n])
		rest = rest[lenSize+n:]
		return s, true
	}
	var ok bool
	if r.group, ok = str(maxGroupIDLen); !ok {
		return r, io.ErrUnexpectedEOF
	}
	if r.tp.topic, ok = str(1<<16 - 1); !ok {
		return r, io.ErrUnexpectedEOF
	}
	if len(rest) < 4 {
		return r, io.ErrUnexpectedEOF
	}
	n := int32(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	switch {
	case n == -1:
	case n < 0 || int(n) != len(rest):
		return r, io.ErrUnexpectedEOF
	default:
		m := string(rest)
		r.value.metadata = &m
		rest = nil
	}
	if len(rest) != 0 {
		return r, io.ErrUnexpectedEOF
	}
	return r, nil
}
