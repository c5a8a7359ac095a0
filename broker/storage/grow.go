package storage

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AddPartitions grows a topic to count partitions (Kafka's
// CreatePartitions), each new one placed in the log dir holding the fewest
// partitions at that moment, within max.broker.partitions. With
// validateOnly it checks everything and changes nothing.
//
// The growth is whole or not at all. The new partition dirs and their first
// segments are made first, without topic.json (a dir without one is an
// unfinished creation, removed at load). Then topic.json, with the new
// count and a config version one above the old one, is written into the new
// dirs and then into the old ones (each set with its fsyncs batched, as
// CreateTopic writes them): the first of those writes to become durable is
// the commit point, because at load the copy with the highest config
// version gives the topic's partition count and a missing partition dir is
// recreated empty. On a failure the new dirs are removed (topic.json first)
// and, once the old copies were being rewritten, all of them are written
// again with the old count above the new version; a rollback that fails too
// is part of the returned error. Files are made without Store.mu held (Store.cfgMu,
// which serialises topic.json writers, is held throughout).
//
// Errors wrap kerr.UnknownTopicOrPartition (no such topic),
// kerr.InvalidTopicException (the topic is being deleted),
// kerr.InvalidPartitions (count not above the current one, or beyond
// max.broker.partitions) or kerr.KafkaStorageError.
func (s *Store) AddPartitions(name string, count int32, validateOnly bool) error {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	t, lds, err := s.reserveGrowth(name, count, validateOnly)
	if err != nil || validateOnly {
		if err != nil {
			return fmt.Errorf("adding partitions to topic %s: %w", name, err)
		}
		return nil
	}
	defer s.ops.Done()

	// t's fields other than parts and partitions change only under
	// cfgMu (held), so they are read here without s.mu.
	old := topicState{name: t.name, id: t.id, partitions: t.partitions, configs: t.configs, configVersion: t.configVersion, cfg: t.cfg}
	next := old
	next.partitions, next.configVersion = count, old.configVersion+1
	var parts []*Partition
	rewriting := false // the old partitions' topic.json copies may say count
	err = func() error {
		// As CreateTopic: the new partitions whole, then the old
		// partitions' topic.json copies.
		var err error
		if parts, err = createPartitions(s, &next, old.partitions, lds); err != nil {
			return err
		}
		rewriting = true
		olds := make([]string, 0, len(t.parts))
		for _, p := range t.parts {
			if testHookGrowRewrite != nil {
				if err := testHookGrowRewrite(p.id); err != nil {
					return err
				}
			}
			olds = append(olds, p.dir)
		}
		return writeTopicMetas(olds, &next)
	}()

	s.mu.Lock()
	t.growing = false
	if err = s.endPlacement(err, lds); err != nil {
		s.mu.Unlock()
		var rerrs []error
		// The new dirs first (topic.json goes first inside each), so that
		// a crash during the rollback leaves at most a roll-forward to
		// empty partitions, never a half topic.
		if rerr := removePartitions(parts); rerr != nil {
			rerrs = append(rerrs, rerr)
		}
		if rewriting {
			// Every old copy back to the old count, above the new
			// version (a batched write may have renamed any of them).
			back := old
			back.configVersion = next.configVersion + 1
			olds := make([]string, 0, len(t.parts))
			for _, p := range t.parts {
				olds = append(olds, p.dir)
			}
			if rerr := writeTopicMetas(olds, &back); rerr != nil {
				rerrs = append(rerrs, rerr)
			}
			s.mu.Lock()
			t.configVersion = back.configVersion
			s.mu.Unlock()
		}
		if rerr := errors.Join(rerrs...); rerr != nil {
			s.log.Error("rolling back a failed partition growth", "topic", name, "err", rerr)
			err = errors.Join(err, fmt.Errorf("rolling back (the next start may load %d partitions, the new ones empty): %w", count, rerr))
		}
		return fmt.Errorf("adding partitions to topic %s: %w: %w", name, err, kerr.KafkaStorageError)
	}
	grown := make([]*Partition, 0, count)
	grown = append(append(grown, t.parts...), parts...)
	t.parts, t.partitions, t.configVersion = grown, count, next.configVersion
	s.mu.Unlock()
	s.log.Info("added partitions", "topic", name, "partitions", count, "added", len(parts))
	return nil
}

// testHookGrowRewrite, when set by a test, runs before an old partition's
// topic.json is rewritten by AddPartitions; an error fails the write.
var testHookGrowRewrite func(partition int32) error

// reserveGrowth checks a growth of topic name to count partitions and,
// unless validateOnly, places the new partitions (counted in their log dirs
// from now on) and marks the topic growing, under s.mu. The caller must
// call s.ops.Done when it reserved.
func (s *Store) reserveGrowth(name string, count int32, validateOnly bool) (*topicState, []*logDir, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("%w: %w", ErrClosed, kerr.KafkaStorageError)
	}
	t, ok := s.topics[name]
	switch {
	case !ok:
		return nil, nil, kerr.UnknownTopicOrPartition
	case t.deleting:
		return nil, nil, fmt.Errorf("the topic is being deleted: %w", kerr.InvalidTopicException)
	case t.growing:
		return nil, nil, fmt.Errorf("partitions are being added to the topic by another request: %w", kerr.ReassignmentInProgress)
	case count <= t.partitions:
		// Kafka's ReplicationControlManager.createPartitions words it so.
		if count == t.partitions {
			return nil, nil, fmt.Errorf("topic already has %d partition(s): %w", t.partitions, kerr.InvalidPartitions)
		}
		return nil, nil, fmt.Errorf("the topic %s currently has %d partition(s); %d would not be an increase: %w", name, t.partitions, count, kerr.InvalidPartitions)
	}
	total := 0
	for _, ld := range s.dirs {
		total += ld.partitions
	}
	add := int(count - t.partitions)
	if int64(total)+int64(add) > int64(s.cfg.MaxPartitions) {
		return nil, nil, fmt.Errorf("%d more partitions would make %d, more than max.broker.partitions=%d: %w", add, total+add, s.cfg.MaxPartitions, kerr.InvalidPartitions)
	}
	if validateOnly {
		return t, nil, nil
	}
	lds := make([]*logDir, add)
	for i := range lds {
		lds[i] = s.leastLoadedDir()
		lds[i].partitions++
	}
	t.growing = true
	s.ops.Add(1)
	return t, lds, nil
}
