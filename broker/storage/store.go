package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sync/errgroup"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Store is the broker's log: every partition of every topic, spread over
// the log dirs. It is safe for concurrent use.
type Store struct {
	cfg       Config
	log       *slog.Logger
	clusterID string
	dirs      []*logDir

	// mu guards topics, creating, closed, every logDir's partition count
	// and every topicState's deleting flag. It is never held across file
	// I/O: CreateTopic and DeleteTopic reserve under it, work without it,
	// and publish under it again.
	mu       sync.RWMutex
	topics   map[string]*topicState
	creating map[string]bool // names of topics being created
	closed   bool

	// ops counts CreateTopic and DeleteTopic calls working on files
	// without mu; Close waits for them.
	ops sync.WaitGroup

	// cfgMu serialises SetTopicConfigs (it writes topic.json files
	// without holding mu); taken before mu.
	cfgMu sync.Mutex

	// startMu serialises log start offset moves by DeleteRecords and the
	// writes of log-start-offset-checkpoint (held across them); taken
	// before mu.
	startMu sync.Mutex

	// pidMu guards the producer id block.
	pidMu            sync.Mutex
	pidNext, pidLast int64

	// bg owns the background flushes started by segment rolls; Close
	// waits for them.
	bg sync.WaitGroup

	// dec decompresses batches for validation and timestamp lookups,
	// bounded by MaxDecompressedBytes.
	dec *decompressor
	// comp compresses batches anew for a topic's compression.type.
	comp compressor

	stats counters
}

// logDir is one of log.dirs.
type logDir struct {
	path       string
	lock       *os.File
	partitions int // guarded by Store.mu
}

// topicState is one topic. configs, configVersion and cfg change only in
// SetTopicConfigs, under Store.cfgMu and Store.mu; the other fields never
// change after creation.
type topicState struct {
	deleting      bool // a DeleteTopic is renaming its dirs (Store.mu)
	growing       bool // an AddPartitions is making its new partitions (Store.mu)
	name          string
	id            [16]byte
	partitions    int32
	configs       map[string]string
	configVersion int64
	cfg           *topicConfig
	parts         []*Partition
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte // the topic id (a UUID), persisted with the topic
	Partitions int32
	Configs    map[string]string // the configs set on the topic (not the defaults)
}

// Open locks the log dirs, checks or writes meta.properties, and loads
// every partition: a log dir with a clean-shutdown marker is loaded without
// a scan; otherwise the segments after the recovery point are recovered
// with RecoveryThreadsPerDir workers per dir. The caller must Close the
// Store.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid storage config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, log: cfg.Logger.With("component", "storage"), topics: map[string]*topicState{}, creating: map[string]bool{}, dec: newDecompressor(cfg.MaxDecompressedBytes)}
	ok := false
	defer func() {
		if !ok {
			s.releaseDirs()
		}
	}()
	for _, d := range cfg.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating log dir %s: %w", d, err)
		}
		lock, err := lockDir(d)
		if err != nil {
			return nil, err
		}
		s.dirs = append(s.dirs, &logDir{path: d, lock: lock})
	}
	var err error
	if s.clusterID, err = checkMeta(cfg.Dirs, cfg.NodeID, cfg.ClusterID, cfg.Now()); err != nil {
		return nil, err
	}
	if err := s.loadProducerIDBlock(); err != nil {
		return nil, err
	}
	if err := s.loadDirs(); err != nil {
		return nil, err
	}
	if err := s.writeStartCheckpoints(); err != nil {
		s.closeAllPartitions()
		return nil, err
	}
	// The markers go only after every partition loaded: a crash from now
	// on must be seen as unclean.
	for _, ld := range s.dirs {
		if err := os.Remove(filepath.Join(ld.path, cleanShutdownFile)); err == nil {
			if err := fsutil.SyncDir(ld.path); err != nil {
				s.closeAllPartitions()
				return nil, err
			}
		}
	}
	ok = true
	return s, nil
}

func (s *Store) releaseDirs() {
	for _, ld := range s.dirs {
		if ld.lock != nil {
			ld.lock.Close()
			ld.lock = nil
		}
	}
}

func (s *Store) closeAllPartitions() {
	for _, t := range s.topics {
		for _, p := range t.parts {
			if p != nil {
				p.drop()
			}
		}
	}
}

type foundPartition struct {
	ld    *logDir
	dir   string
	topic string
	id    int32
	meta  topicMeta
}

// loadDirs finds and loads every partition of every log dir.
func (s *Store) loadDirs() error {
	var found []foundPartition
	for _, ld := range s.dirs {
		ents, err := os.ReadDir(ld.path)
		if err != nil {
			return fmt.Errorf("listing log dir %s: %w", ld.path, err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(ld.path, e.Name())
			if strings.HasSuffix(e.Name(), "-delete") {
				// A topic deletion that did not finish (Kafka renames to
				// <topic>-<p>.<uuid>-delete first).
				if err := os.RemoveAll(dir); err != nil {
					s.log.Warn("removing deleted partition dir", "dir", dir, "err", err)
				}
				continue
			}
			topic, id, ok := parsePartitionDir(e.Name())
			if !ok {
				continue
			}
			m, err := readTopicMeta(dir)
			if errors.Is(err, os.ErrNotExist) {
				// topic.json is written last when a topic is created: a
				// dir without it is a creation that never finished.
				s.log.Warn("removing partition dir of a topic creation that did not finish", "dir", dir)
				if err := os.RemoveAll(dir); err != nil {
					return fmt.Errorf("removing unfinished partition dir %s: %w", dir, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("loading partition dir %s: %w", dir, err)
			}
			if m.Topic != topic {
				return fmt.Errorf("loading partition dir %s: %s names topic %q", dir, topicMetaFile, m.Topic)
			}
			// Never trust a stored count: it sizes allocations and may
			// make the load create that many partitions.
			if m.Partitions < 1 || int64(m.Partitions) > int64(s.cfg.MaxPartitions) {
				return fmt.Errorf("loading partition dir %s: %s says topic %s has %d partitions, outside [1, %d] (max.broker.partitions): "+
					"raise max.broker.partitions if the topic is real, or remove the topic's %s-* directories", dir, topicMetaFile, topic, m.Partitions, s.cfg.MaxPartitions, topic)
			}
			found = append(found, foundPartition{ld: ld, dir: dir, topic: topic, id: id, meta: m})
		}
	}
	// Every partition dir has a copy of topic.json; SetTopicConfigs
	// rewrites them one by one, so after a crash the newest copy (highest
	// config version) is the topic's.
	newest := map[string]topicMeta{}
	for _, f := range found {
		if m, ok := newest[f.topic]; !ok || f.meta.ConfigVersion > m.ConfigVersion {
			newest[f.topic] = f.meta
		}
	}
	// Build the topics first so partitions can point at their config.
	for _, f := range found {
		t := s.topics[f.topic]
		if t == nil {
			f.meta.Configs, f.meta.ConfigVersion = newest[f.topic].Configs, newest[f.topic].ConfigVersion
			id, err := parseUUID(f.meta.TopicID)
			if err != nil {
				return fmt.Errorf("loading partition dir %s: topic id: %w", f.dir, err)
			}
			tc, err := resolveTopicConfig(s.cfg, f.meta.Configs)
			if err != nil {
				return fmt.Errorf("loading partition dir %s: %w", f.dir, err)
			}
			// The newest copy gives the partition count too:
			// AddPartitions rewrites topic.json with a new count and
			// version (see grow.go).
			n := newest[f.topic].Partitions
			t = &topicState{name: f.topic, id: id, partitions: n, configs: f.meta.Configs, configVersion: f.meta.ConfigVersion, cfg: &tc,
				parts: make([]*Partition, n)}
			s.topics[f.topic] = t
		}
		if uuidString(t.id) != f.meta.TopicID {
			return fmt.Errorf("loading partition dir %s: topic id %s differs from %s in another dir of topic %s", f.dir, f.meta.TopicID, uuidString(t.id), f.topic)
		}
		if f.id >= t.partitions {
			return fmt.Errorf("loading partition dir %s: partition %d but topic %s has %d partitions", f.dir, f.id, f.topic, t.partitions)
		}
		if t.parts[f.id] != nil {
			return fmt.Errorf("loading partition dir %s: partition %s-%d is also in %s", f.dir, f.topic, f.id, t.parts[f.id].dir)
		}
		t.parts[f.id] = &Partition{} // placeholder: claimed
		f.ld.partitions++
	}
	// Load partitions: per dir, RecoveryThreadsPerDir workers.
	var g errgroup.Group
	var mu sync.Mutex
	for _, ld := range s.dirs {
		clean := fileExists(filepath.Join(ld.path, cleanShutdownFile))
		cp, err := readCheckpoint(filepath.Join(ld.path, recoveryCheckpointFile))
		if err != nil {
			s.log.Warn("ignoring unreadable recovery checkpoint, recovering every segment", "dir", ld.path, "err", err)
			cp = map[string]map[int32]int64{}
		}
		starts := s.readStartCheckpoint(ld)
		var mine []foundPartition
		for _, f := range found {
			if f.ld == ld {
				mine = append(mine, f)
			}
		}
		if !clean && len(mine) > 0 {
			s.log.Info("log dir was not shut down cleanly, recovering after the recovery points", "dir", ld.path, "partitions", len(mine))
		}
		g.Go(func() error {
			var dg errgroup.Group
			dg.SetLimit(s.cfg.RecoveryThreadsPerDir)
			for _, f := range mine {
				dg.Go(func() (err error) {
					pprof.Do(context.Background(), pprof.Labels("storage", "recovery", "dir", ld.path), func(context.Context) {
						t := s.topics[f.topic]
						var p *Partition
						p, err = loadPartition(s, t, f.id, f.dir, ld, clean, cp[f.topic][f.id])
						if err == nil {
							p.applyStartCheckpoint(starts[f.topic][f.id])
							mu.Lock()
							t.parts[f.id] = p
							mu.Unlock()
						}
					})
					return err
				})
			}
			return dg.Wait()
		})
	}
	if err := g.Wait(); err != nil {
		s.closeAllPartitions()
		return err
	}
	// Partitions whose dir is gone (a log dir removed from log.dirs) are
	// recreated empty, with a warning, within max.broker.partitions.
	total := 0
	for _, t := range s.topics {
		total += int(t.partitions)
	}
	if total > s.cfg.MaxPartitions {
		s.closeAllPartitions()
		return fmt.Errorf("loading log dirs: the topics in %s have %d partitions, more than max.broker.partitions=%d: "+
			"raise max.broker.partitions, or delete topics' directories", strings.Join(s.cfg.Dirs, ","), total, s.cfg.MaxPartitions)
	}
	for _, t := range s.topics {
		for i, p := range t.parts {
			if p != nil && p.store != nil {
				continue
			}
			ld := s.leastLoadedDir()
			s.log.Warn("partition dir missing, creating it empty", "partition", fmt.Sprintf("%s-%d", t.name, i), "dir", ld.path)
			np, err := createPartition(s, t, int32(i), ld)
			if err == nil {
				if err = writeTopicMeta(np.dir, t); err != nil {
					np.drop()
				}
			}
			if err != nil {
				s.closeAllPartitions()
				return err
			}
			t.parts[i] = np
			ld.partitions++
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// leastLoadedDir is the log dir holding the fewest partitions (the first
// such in log.dirs order), Kafka's placement rule (s.mu held).
func (s *Store) leastLoadedDir() *logDir {
	best := s.dirs[0]
	for _, ld := range s.dirs[1:] {
		if ld.partitions < best.partitions {
			best = ld
		}
	}
	return best
}

// ClusterID returns the cluster id from meta.properties.
func (s *Store) ClusterID() string { return s.clusterID }

// CreateTopic creates a topic with the given number of partitions, each in
// the log dir holding the fewest partitions at that moment. configs are
// Kafka topic configs (nil values mean the default). The topic appears
// whole or not at all: every partition dir and first segment are made
// first, topic.json is written into each of them last (a dir without one
// is removed at load), and on failure everything made is removed again; a
// removal that fails too is part of the returned error. Files are made
// without Store.mu held, so other topics are served meanwhile. Errors wrap
// kerr.TopicAlreadyExists, kerr.InvalidTopicException,
// kerr.InvalidPartitions (also beyond max.broker.partitions),
// kerr.InvalidConfig or kerr.KafkaStorageError.
func (s *Store) CreateTopic(name string, partitions int32, configs map[string]*string) error {
	if err := ValidateTopicName(name); err != nil {
		return fmt.Errorf("creating topic: %w", err)
	}
	if partitions < 1 {
		return fmt.Errorf("creating topic %s: %d partitions: %w", name, partitions, kerr.InvalidPartitions)
	}
	if int64(partitions) > int64(s.cfg.MaxPartitions) {
		return fmt.Errorf("creating topic %s: %d partitions is more than max.broker.partitions=%d: %w", name, partitions, s.cfg.MaxPartitions, kerr.InvalidPartitions)
	}
	set := setConfigs(configs)
	tc, err := resolveTopicConfig(s.cfg, set)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	t := &topicState{name: name, id: newUUID(), partitions: partitions, configs: set, cfg: &tc}
	lds, err := s.reserveTopic(t)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	defer s.ops.Done()

	var parts []*Partition
	err = func() error {
		var err error
		parts, err = createPartitions(s, t, 0, lds)
		return err
	}()

	s.mu.Lock()
	delete(s.creating, name)
	if err = s.endPlacement(err, lds); err != nil {
		s.mu.Unlock()
		if rerr := removePartitions(parts); rerr != nil {
			s.log.Error("removing the partitions of a failed topic creation", "topic", name, "err", rerr)
			err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return fmt.Errorf("creating topic %s: %w: %w", name, err, kerr.KafkaStorageError)
	}
	t.parts = parts
	s.topics[name] = t
	s.mu.Unlock()
	s.log.Info("created topic", "topic", name, "partitions", partitions, "topic_id", uuidString(t.id))
	return nil
}

// testHookCreatedPartition, when set by a test, runs after each partition
// of a CreateTopic or AddPartitions is made, one call at a time.
var testHookCreatedPartition func(partition int32)

// createPartitions makes t's partitions first, first+1, ... in lds[0],
// lds[1], ...: their dirs and empty segments syncParallelism at a time
// (each is a handful of metadata operations that mostly wait on the
// filesystem, so a topic of many partitions is made in a fraction of the
// time one after the other takes), then every topic.json (written last: a
// dir without one is not a partition) with the fsyncs batched, then each
// log dir's entries made durable once. It returns the partitions made, in
// order, also with an error, when the caller removes them; after the first
// error no more are started.
func createPartitions(s *Store, t *topicState, first int32, lds []*logDir) ([]*Partition, error) {
	parts := make([]*Partition, len(lds))
	var (
		g      errgroup.Group
		failed atomic.Bool
		hookMu sync.Mutex
	)
	g.SetLimit(syncParallelism)
	for i, ld := range lds {
		g.Go(func() error {
			if failed.Load() {
				return nil
			}
			p, err := createPartitionUnsynced(s, t, first+int32(i), ld)
			if err != nil {
				failed.Store(true)
				return err
			}
			parts[i] = p
			if testHookCreatedPartition != nil {
				hookMu.Lock()
				defer hookMu.Unlock()
				testHookCreatedPartition(p.id)
			}
			return nil
		})
	}
	err := g.Wait()
	made := parts[:0]
	for _, p := range parts {
		if p != nil {
			made = append(made, p)
		}
	}
	if err != nil {
		return made, err
	}
	dirs := make([]string, 0, len(made))
	for _, p := range made {
		dirs = append(dirs, p.dir)
	}
	if err := writeTopicMetas(dirs, t); err != nil {
		return made, err
	}
	return made, syncDirs(made)
}

// endPlacement ends, under s.mu, an operation that placed partitions in
// lds (CreateTopic, AddPartitions): its error, or ErrClosed when the store
// closed meanwhile; on error the partitions are no longer counted in their
// log dirs.
func (s *Store) endPlacement(err error, lds []*logDir) error {
	if err == nil && s.closed {
		err = ErrClosed
	}
	if err != nil {
		for _, ld := range lds {
			ld.partitions--
		}
	}
	return err
}

// reserveTopic claims t's name and places its partitions (counted in their
// log dirs from now on), under s.mu. The caller must call s.ops.Done.
func (s *Store) reserveTopic(t *topicState) ([]*logDir, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %w", ErrClosed, kerr.KafkaStorageError)
	}
	if _, ok := s.topics[t.name]; ok || s.creating[t.name] {
		return nil, kerr.TopicAlreadyExists
	}
	// Kafka refuses names that collide once '.' and '_' are the same
	// (metric names): Topic.hasCollision.
	norm := strings.ReplaceAll(t.name, ".", "_")
	for other := range s.topics {
		if strings.ReplaceAll(other, ".", "_") == norm {
			return nil, fmt.Errorf("collides with topic %s ('.' and '_' are interchangeable in metric names): %w", other, kerr.InvalidTopicException)
		}
	}
	total := 0
	for _, ld := range s.dirs {
		total += ld.partitions
	}
	if total+int(t.partitions) > s.cfg.MaxPartitions {
		return nil, fmt.Errorf("%d more partitions would make %d, more than max.broker.partitions=%d: %w", t.partitions, total+int(t.partitions), s.cfg.MaxPartitions, kerr.InvalidPartitions)
	}
	lds := make([]*logDir, t.partitions)
	for i := range lds {
		lds[i] = s.leastLoadedDir()
		lds[i].partitions++
	}
	s.creating[t.name] = true
	s.ops.Add(1)
	return lds, nil
}

// removePartitions closes partitions that were never published and removes
// their directories: topic.json first, so that a dir left behind by a
// failed removal is dropped at the next load.
func removePartitions(parts []*Partition) error {
	var errs []error
	for _, p := range parts {
		p.drop()
		if err := os.Remove(filepath.Join(p.dir, topicMetaFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, p := range parts {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteTopic renames every partition dir of a topic to a "-delete" name
// (so a crash from then on never loads it), drops the topic and removes
// the dirs. If a rename fails the renamed dirs are put back and the topic
// stays as it was. Unreleased Slices keep working until released. Errors
// wrap kerr.UnknownTopicOrPartition when the topic does not exist and
// kerr.KafkaStorageError when it could not be deleted.
func (s *Store) DeleteTopic(name string) error {
	s.mu.Lock()
	t, ok := s.topics[name]
	if !ok || s.closed || t.deleting {
		s.mu.Unlock()
		return fmt.Errorf("deleting topic %s: %w", name, kerr.UnknownTopicOrPartition)
	}
	if t.growing {
		s.mu.Unlock()
		return fmt.Errorf("deleting topic %s: partitions are being added to it: %w", name, kerr.ReassignmentInProgress)
	}
	t.deleting = true
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()

	gone := make([]string, 0, len(t.parts))
	var err error
	for _, p := range t.parts {
		g := filepath.Join(p.ld.path, deleteDirName(name, p.id))
		if err = os.Rename(p.dir, g); err != nil {
			err = fmt.Errorf("renaming %s: %w", p.dir, err)
			break
		}
		gone = append(gone, g)
	}
	if err == nil {
		err = syncDirs(t.parts)
	}
	if err != nil {
		var errs []error
		for i, g := range gone {
			if rerr := os.Rename(g, t.parts[i].dir); rerr != nil {
				errs = append(errs, fmt.Errorf("renaming %s back: %w", g, rerr))
			}
		}
		if rerr := errors.Join(errs...); rerr != nil {
			s.log.Error("putting back the dirs of a failed topic deletion", "topic", name, "err", rerr)
			err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		s.mu.Lock()
		t.deleting = false
		s.mu.Unlock()
		return fmt.Errorf("deleting topic %s: %w: %w", name, err, kerr.KafkaStorageError)
	}

	s.mu.Lock()
	delete(s.topics, name)
	for _, p := range t.parts {
		p.ld.partitions--
	}
	s.mu.Unlock()
	for i, p := range t.parts {
		p.drop()
		// What is left is removed at the next load ("-delete" dirs).
		if err := os.RemoveAll(gone[i]); err != nil {
			s.log.Warn("removing deleted partition dir", "dir", gone[i], "err", err)
		}
	}
	// A new topic of the same name must not inherit a start.
	if err := s.writeStartCheckpoints(); err != nil {
		s.log.Warn("writing log start offset checkpoints after a topic deletion", "topic", name, "err", err)
	}
	s.log.Info("deleted topic", "topic", name)
	return nil
}

// deleteDirName is Kafka's name for a partition dir being deleted
// (LocalLog.logDeleteDirName): "<topic>-<partition>.<uuid without
// dashes>-delete", the topic cut so that the name fits in 255 bytes
// (NAME_MAX), as logDirNameWithSuffixCappedLength does.
func deleteDirName(topic string, partition int32) string {
	u := newUUID()
	suffix := fmt.Sprintf("-%d.%x-delete", partition, u[:])
	return topic[:min(len(topic), 255-len(suffix))] + suffix
}

// syncDirs fsyncs the log dirs of parts, each once.
func syncDirs(parts []*Partition) error {
	done := map[*logDir]bool{}
	for _, p := range parts {
		if done[p.ld] {
			continue
		}
		done[p.ld] = true
		if err := fsutil.SyncDir(p.ld.path); err != nil {
			return err
		}
	}
	return nil
}

// Topics returns every topic, sorted by name.
func (s *Store) Topics() []TopicInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]TopicInfo, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Topic returns one topic.
func (s *Store) Topic(name string) (TopicInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.topics[name]
	if !ok {
		return TopicInfo{}, false
	}
	return t.info(), true
}

func (t *topicState) info() TopicInfo {
	c := make(map[string]string, len(t.configs))
	for k, v := range t.configs {
		c[k] = v
	}
	return TopicInfo{Name: t.name, ID: t.id, Partitions: t.partitions, Configs: c}
}

// Partition returns a topic partition, or nil if it does not exist.
func (s *Store) Partition(topic string, partition int32) *Partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.topics[topic]
	if !ok || partition < 0 || partition >= t.partitions {
		return nil
	}
	return t.parts[partition]
}

// partitions returns every open partition.
func (s *Store) partitions() []*Partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Partition
	for _, t := range s.topics {
		out = append(out, t.parts...)
	}
	return out
}

// producerIDBlockSize is how many producer ids are reserved per write of
// the producer id file (Kafka's ProducerIdManager reserves blocks of 1000).
const producerIDBlockSize = 1000

// loadProducerIDBlock reads the end of the last reserved block from every
// log dir; ids handed out after a restart start beyond it.
func (s *Store) loadProducerIDBlock() error {
	var last int64 = -1
	for _, ld := range s.dirs {
		path := filepath.Join(ld.path, producerIDFile)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		last = max(last, n)
	}
	s.pidNext, s.pidLast = last+1, last
	return nil
}

// NextProducerID returns a producer id never returned before by any Store
// on these log dirs, also across restarts.
func (s *Store) NextProducerID() (int64, error) {
	s.pidMu.Lock()
	defer s.pidMu.Unlock()
	if s.pidNext > s.pidLast {
		last := s.pidNext + producerIDBlockSize - 1
		for _, ld := range s.dirs {
			if err := writeFileAtomic(filepath.Join(ld.path, producerIDFile), fmt.Appendf(nil, "%d\n", last)); err != nil {
				return 0, fmt.Errorf("reserving producer ids: %w: %w", err, kerr.KafkaStorageError)
			}
		}
		s.pidLast = last
	}
	id := s.pidNext
	s.pidNext++
	return id, nil
}

// Run does the background work until ctx ends: retention every
// Retention.CheckInterval, time-based flushes (log.flush.interval.ms,
// flush.ms), the recovery-point checkpoints every CheckpointInterval and
// producer expiry every ProducerIDCheckInterval.
// It returns nil when ctx is done.
func (s *Store) Run(ctx context.Context) error {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("storage", "run")))
	retention := time.NewTicker(s.cfg.Retention.CheckInterval)
	defer retention.Stop()
	checkpoint := time.NewTicker(s.cfg.CheckpointInterval)
	defer checkpoint.Stop()
	producers := time.NewTicker(s.cfg.ProducerIDCheckInterval)
	defer producers.Stop()
	flushEvery := s.flushTick()
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retention.C:
			s.enforceRetention()
		case <-flush.C:
			now := s.cfg.Now()
			for _, p := range s.partitions() {
				if err := p.maybeFlushByTime(now); err != nil {
					s.log.Error("time-based flush", "partition", p.String(), "err", err)
				}
			}
			// A topic's flush.ms may have been set or changed since.
			if d := s.flushTick(); d != flushEvery {
				flushEvery = d
				flush.Reset(d)
			}
		case <-producers.C:
			s.expireProducers()
		case <-checkpoint.C:
			if err := s.writeCheckpoints(); err != nil {
				s.log.Warn("writing recovery checkpoints", "err", err)
			}
		}
	}
}

// flushTick is how often Run looks for time-based flushes: every second,
// or more often when log.flush.interval.ms or a topic's flush.ms is
// shorter (at least every 10ms).
func (s *Store) flushTick() time.Duration {
	d := time.Second
	if s.cfg.Flush.Interval > 0 {
		d = min(d, s.cfg.Flush.Interval)
	}
	s.mu.RLock()
	for _, t := range s.topics {
		if t.cfg.flushInterval > 0 {
			d = min(d, t.cfg.flushInterval)
		}
	}
	s.mu.RUnlock()
	return max(d, 10*time.Millisecond)
}

// enforceRetention applies the retention policy to every partition now
// and returns the number of segments deleted. Run calls it every
// Retention.CheckInterval.
func (s *Store) enforceRetention() int {
	now := s.cfg.Now()
	n := 0
	for _, p := range s.partitions() {
		n += p.enforceRetention(now)
	}
	return n
}

// expireProducers forgets, in every partition, the idempotent producers
// that have not appended for producer.id.expiration.ms, and returns how
// many were forgotten. Run calls it every
// producer.id.expiration.check.interval.ms.
func (s *Store) expireProducers() int {
	now := s.cfg.Now()
	n := 0
	for _, p := range s.partitions() {
		n += p.expireProducers(now, s.cfg.ProducerIDExpiration)
	}
	if n > 0 {
		s.log.Info("expired idempotent producers", "producers", n)
	}
	return n
}

// writeCheckpoints writes recovery-point-offset-checkpoint in every dir.
func (s *Store) writeCheckpoints() error {
	byDir := map[*logDir][]checkpointEntry{}
	for _, p := range s.partitions() {
		byDir[p.ld] = append(byDir[p.ld], checkpointEntry{topic: p.topic, partition: p.id, offset: p.flushed.Load()})
	}
	var errs []error
	for _, ld := range s.dirs {
		if err := writeCheckpoint(filepath.Join(ld.path, recoveryCheckpointFile), byDir[ld]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes every partition, writes the recovery-point
// checkpoints and, in each dir where all of that worked, the clean-shutdown
// marker; then it releases the dir locks. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Topic creations and deletions in flight see closed and finish.
	s.ops.Wait()

	failed := map[*logDir]bool{}
	var errs []error
	byDir := map[*logDir][]checkpointEntry{}
	for _, p := range s.partitions() {
		rp, err := p.close()
		if err != nil {
			failed[p.ld] = true
			errs = append(errs, fmt.Errorf("closing %s: %w", p, err))
		}
		byDir[p.ld] = append(byDir[p.ld], checkpointEntry{topic: p.topic, partition: p.id, offset: rp})
	}
	s.bg.Wait()
	for _, ld := range s.dirs {
		if err := writeCheckpoint(filepath.Join(ld.path, recoveryCheckpointFile), byDir[ld]); err != nil {
			errs = append(errs, err)
			continue
		}
		if failed[ld] {
			continue
		}
		if err := os.WriteFile(filepath.Join(ld.path, cleanShutdownFile), nil, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("writing clean shutdown marker: %w", err))
			continue
		}
		if err := fsutil.SyncDir(ld.path); err != nil {
			errs = append(errs, err)
		}
	}
	s.releaseDirs()
	return errors.Join(errs...)
}
