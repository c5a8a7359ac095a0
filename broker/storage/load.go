package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// newPartition returns an open partition around segs (oldest first, the
// last active) with its offsets set from them.
func newPartition(s *Store, t *topicState, id int32, dir string, ld *logDir, segs []*segment) *Partition {
	p := &Partition{
		store: s, topic: t.name, id: id, dir: dir, ld: ld,
		segs: segs, producers: producerState{}, ongoing: map[int64]int64{},
	}
	p.stable.Store(-1)
	p.cfg.Store(t.cfg)
	p.hwm.Store(segs[len(segs)-1].next)
	p.lso.Store(segs[0].base)
	return p
}

// createPartition makes a new, empty partition directory with a first
// segment at offset 0, without topic.json (the caller writes it once every
// partition exists). On error it removes what it made; a failed removal is
// part of the error.
func createPartition(s *Store, t *topicState, id int32, ld *logDir) (*Partition, error) {
	p, err := createPartitionUnsynced(s, t, id, ld)
	if err != nil {
		return nil, err
	}
	if err := fsutil.SyncDir(ld.path); err != nil {
		p.drop()
		return nil, err
	}
	return p, nil
}

// createPartitionUnsynced is createPartition without the log dir's fsync:
// a caller making many partitions syncs each log dir once after them all.
func createPartitionUnsynced(s *Store, t *topicState, id int32, ld *logDir) (*Partition, error) {
	dir := filepath.Join(ld.path, fmt.Sprintf("%s-%d", t.name, id))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating partition dir %s: %w", dir, err)
	}
	seg, err := createSegment(dir, 0, t.cfg.maxIndexBytes, s.cfg.Now())
	if err != nil {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", dir, rerr))
		}
		return nil, err
	}
	return newPartition(s, t, id, dir, ld, []*segment{seg}), nil
}

// loadPartition opens a partition directory found at startup. With clean
// set (the log dir had a clean-shutdown marker) segments are trusted;
// otherwise every segment from the one holding recoveryPoint on is
// recovered: CRC-checked batch by batch, indexes rebuilt, the log cut at the
// first invalid batch and later segments deleted. Producer state is then
// rebuilt from the newest usable snapshot plus the batch headers after it.
func loadPartition(s *Store, t *topicState, id int32, dir string, ld *logDir, clean bool, recoveryPoint int64) (*Partition, error) {
	if testHookLoadPartition != nil {
		testHookLoadPartition(ld.path)
	}
	log := s.log.With("partition", fmt.Sprintf("%s-%d", t.name, id))
	bases, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var segs []*segment
	closeAll := func() {
		for _, sg := range segs {
			sg.closeFiles()
		}
	}
	for _, b := range bases {
		sg, err := openSegment(dir, b, t.cfg.maxIndexBytes, now)
		if err != nil {
			closeAll()
			return nil, err
		}
		segs = append(segs, sg)
	}
	if len(segs) == 0 {
		sg, err := createSegment(dir, 0, t.cfg.maxIndexBytes, now)
		if err != nil {
			return nil, err
		}
		segs = append(segs, sg)
	}

	// first is the first segment to recover. After a clean shutdown every
	// segment is trusted (a segment that fails to load is recovered from
	// there on); otherwise recovery starts at the segment holding the
	// recovery point, as Kafka's LogLoader does.
	first := len(segs)
	if !clean {
		first = max(sort.Search(len(segs), func(i int) bool { return segs[i].base > recoveryPoint })-1, 0)
	}
	for i := 0; i < first; i++ {
		if err := segs[i].loadTail(); err != nil {
			log.Warn("segment does not load, recovering from it", "segment", segs[i].logPath, "err", err)
			first = i
			break
		}
	}
	recovered := 0
	for i := first; i < len(segs); i++ {
		sg := segs[i]
		start := time.Now()
		cut, reason, err := sg.recoverSegment(t.cfg.indexInterval, nil)
		if err != nil {
			closeAll()
			return nil, err
		}
		recovered++
		s.stats.segmentsRecovered.Add(1)
		if reason == nil && cut > 0 && i < len(segs)-1 {
			// Only the active segment appends into preallocated space: a
			// sealed one whose data did not reach the disk lost offsets
			// that later segments follow.
			reason = fmt.Errorf("%w: zero-filled tail in a segment before the last", errTorn)
		}
		if reason == nil {
			if cut > 0 {
				log.Info("cut zero-filled tail", "segment", sg.logPath, "valid_bytes", sg.size, "bytes_cut", cut, "took", time.Since(start))
			}
			continue
		}
		s.stats.bytesTruncated.Add(uint64(cut))
		log.Warn("truncated torn tail", "segment", sg.logPath, "valid_bytes", sg.size, "bytes_cut", cut,
			"first_lost_offset", sg.next, "reason", reason.Error(), "took", time.Since(start))
		// Everything after an invalid batch is unreachable: delete later segments.
		for _, later := range segs[i+1:] {
			log.Warn("deleting segment after a torn tail", "segment", later.logPath, "base_offset", later.base, "bytes", later.size)
			s.stats.bytesTruncated.Add(uint64(later.size))
			later.closeFiles()
			if err := later.removeFiles(); err != nil {
				segs = segs[:i+1]
				closeAll()
				return nil, err
			}
		}
		segs = segs[:i+1]
		break
	}
	if recovered > 0 {
		log.Info("recovered partition", "segments", recovered, "from_offset", segs[first].base, "log_end_offset", segs[len(segs)-1].next)
	}
	// Empty last segments after a hole (their predecessor lost its tail or
	// its data in a power cut) would put the log end above offsets that no
	// longer exist, and no fetch could reach it: end the log at the data.
	// A hole with data after it stays, as Kafka keeps one (fetches skip it).
	for n := len(segs); n > 1 && segs[n-1].size == 0 && segs[n-2].next < segs[n-1].base; n-- {
		last := segs[n-1]
		log.Warn("removing an empty last segment after lost offsets", "segment", last.logPath,
			"first_lost_offset", segs[n-2].next, "base_offset", last.base)
		last.closeFiles()
		if err := last.removeFiles(); err != nil {
			closeAll()
			return nil, err
		}
		segs = segs[:n-1]
	}
	// An empty segment before the last one (a roll interrupted by a crash)
	// holds no offsets and would shadow its predecessor's: remove it.
	for i := len(segs) - 2; i >= 0; i-- {
		if sg := segs[i]; sg.size == 0 {
			log.Warn("removing empty segment that is not the last", "segment", sg.logPath)
			sg.closeFiles()
			sg.removeFiles()
			segs = append(segs[:i], segs[i+1:]...)
		}
	}
	active := segs[len(segs)-1]
	if err := active.preallocate(); err != nil {
		closeAll()
		return nil, err
	}
	if err := active.pin(); err != nil {
		closeAll()
		return nil, err
	}
	for _, sg := range segs[:len(segs)-1] {
		if err := sg.seal(); err != nil {
			log.Warn("trimming indexes", "segment", sg.logPath, "err", err)
		}
		if err := sg.closeIndexes(); err != nil {
			log.Warn("closing indexes", "segment", sg.logPath, "err", err)
		}
	}
	p := newPartition(s, t, id, dir, ld, segs)
	if clean {
		p.flushed.Store(p.hwm.Load())
	} else {
		p.flushed.Store(min(recoveryPoint, p.hwm.Load()))
	}
	if err := p.rebuildProducers(); err != nil {
		closeAll()
		return nil, err
	}
	return p, nil
}

// testHookLoadPartition, when set by a test, runs as each partition load
// starts (to observe recovery parallelism).
var testHookLoadPartition func(logDir string)

// listSegments returns the base offsets of the .log files in dir, and
// removes leftovers Kafka would remove too (.tmp files, .deleted and
// .cleaned segments, index files without a log).
func listSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".deleted") || strings.HasSuffix(name, ".cleaned"):
			os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, logSuffix):
			if b, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64); err == nil && b >= 0 {
				logs[b] = true
			}
		case strings.HasSuffix(name, indexSuffix) || strings.HasSuffix(name, timeIndexSuffix) || strings.HasSuffix(name, txnIndexSuffix):
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		stem := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, indexSuffix), timeIndexSuffix), txnIndexSuffix)
		if b, err := strconv.ParseInt(stem, 10, 64); err != nil || !logs[b] {
			os.Remove(filepath.Join(dir, name))
		}
	}
	out := make([]int64, 0, len(logs))
	for b := range logs {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// rebuildProducers loads the newest producer snapshot at or below the high
// watermark and replays the batch headers after it.
func (p *Partition) rebuildProducers() error {
	hwm := p.hwm.Load()
	offs, err := listSnapshots(p.dir)
	if err != nil {
		return err
	}
	start := p.lso.Load()
	ps := producerState{}
	for _, off := range offs {
		path := filepath.Join(p.dir, segmentName(off, snapshotSuffix))
		if off > hwm {
			os.Remove(path) // from offsets a torn tail lost
			continue
		}
		st, at, err := readSnapshot(path, p.store.cfg.Now().UnixMilli())
		if err != nil || at != off {
			p.store.log.Warn("ignoring producer snapshot", "partition", p.String(), "file", path, "err", err)
			os.Remove(path)
			continue
		}
		ps, start = st, max(off, start)
		break
	}
	if err := p.loadTxnIndexes(); err != nil {
		return err
	}
	ongoing := map[int64]int64{}
	for pid, e := range ps {
		if e.InTxn {
			ongoing[pid] = e.TxnFirst
		}
	}
	var buf [batchHeaderSize]byte
	now := p.store.cfg.Now().UnixMilli()
	replayed := 0
	for _, sg := range p.segs {
		if sg.next <= start || sg.size == 0 {
			continue
		}
		pos := int64(0)
		if start > sg.base {
			pos = int64(sg.index.lookup(uint32(start - sg.base)))
		}
		if _, err := sg.acquire(); err != nil {
			return fmt.Errorf("rebuilding producer state of %s: %w", p, err)
		}
		for pos < sg.size {
			h, err := sg.readHeader(pos, &buf)
			if err != nil {
				sg.release()
				return fmt.Errorf("rebuilding producer state of %s: %w", p, err)
			}
			switch {
			case h.baseOffset < start || h.producerID < 0:
			case h.attributes&attrControl != 0:
				if err := p.replayMarker(ps, ongoing, sg, pos, &h, min(h.maxTimestamp, now)); err != nil {
					sg.release()
					return fmt.Errorf("rebuilding producer state of %s: %w", p, err)
				}
				replayed++
			default:
				ps.apply(&h, min(h.maxTimestamp, now))
				if e := ps[h.producerID]; e.InTxn {
					if _, ok := ongoing[h.producerID]; !ok {
						ongoing[h.producerID] = e.TxnFirst
					}
				}
				replayed++
			}
			pos += h.size()
		}
		sg.release()
	}
	p.producers = ps
	p.ongoing = ongoing
	p.stable.Store(oldestOngoing(ongoing))
	if replayed > 0 {
		p.store.log.Debug("rebuilt producer state", "partition", p.String(), "from_offset", start, "batches", replayed, "producers", len(ps))
	}
	return nil
}

// topicMeta is the topic.json file in every partition dir: the durable
// topic id, partition count and configs (see doc.go).
type topicMeta struct {
	Version    int               `json:"version"`
	Topic      string            `json:"topic"`
	TopicID    string            `json:"topic_id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
	// ConfigVersion counts SetTopicConfigs calls; at load the copy with
	// the highest version wins (a crash may leave older copies).
	ConfigVersion int64 `json:"config_version,omitempty"`
}

const topicMetaFile = "topic.json"

// partitionMetadataFile is Kafka's own partition.metadata (topic id).
const partitionMetadataFile = "partition.metadata"

func writeTopicMeta(dir string, t *topicState) error {
	data, err := topicMetaBytes(t)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, topicMetaFile), data); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, partitionMetadataFile), partitionMetadataBytes(t))
}

// writeTopicMetas is writeTopicMeta for every dir in dirs, with their fsyncs
// batched (writeFilesAtomic): a topic of 1,000 partitions took 5,000
// sequential fsyncs before.
func writeTopicMetas(dirs []string, t *topicState) error {
	meta, err := topicMetaBytes(t)
	if err != nil {
		return err
	}
	pm := partitionMetadataBytes(t)
	var paths []string
	var data [][]byte
	for _, dir := range dirs {
		paths = append(paths, filepath.Join(dir, topicMetaFile), filepath.Join(dir, partitionMetadataFile))
		data = append(data, meta, pm)
	}
	return writeFilesAtomic(paths, data)
}

func topicMetaBytes(t *topicState) ([]byte, error) {
	m := topicMeta{Version: 1, Topic: t.name, TopicID: uuidString(t.id), Partitions: t.partitions, Configs: t.configs, ConfigVersion: t.configVersion}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", topicMetaFile, err)
	}
	return data, nil
}

func partitionMetadataBytes(t *topicState) []byte {
	return fmt.Appendf(nil, "version: 0\ntopic_id: %s\n", uuidString(t.id))
}

func readTopicMeta(dir string) (topicMeta, error) {
	var m topicMeta
	data, err := os.ReadFile(filepath.Join(dir, topicMetaFile))
	if err != nil {
		return m, fmt.Errorf("reading topic metadata: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("reading topic metadata %s: %w", filepath.Join(dir, topicMetaFile), err)
	}
	if m.Version != 1 {
		return m, fmt.Errorf("reading topic metadata %s: unknown version %d", filepath.Join(dir, topicMetaFile), m.Version)
	}
	return m, nil
}

// parsePartitionDir splits "<topic>-<partition>"; the topic may itself
// contain dashes. Deleted dirs ("...-delete") and others do not parse.
func parsePartitionDir(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name[i+1:] {
		return "", 0, false
	}
	if ValidateTopicName(name[:i]) != nil {
		return "", 0, false
	}
	return name[:i], int32(n), true
}
