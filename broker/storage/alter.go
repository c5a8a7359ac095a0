package storage

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ValidateTopicConfigs checks topic configs as CreateTopic and
// SetTopicConfigs would (nil values mean the default), without changing
// anything. Every problem is reported, each naming its key and wrapping
// kerr.InvalidConfig.
func (s *Store) ValidateTopicConfigs(configs map[string]*string) error {
	_, err := resolveTopicConfig(s.cfg, setConfigs(configs))
	return err
}

// setConfigs drops the nil (default) values.
func setConfigs(configs map[string]*string) map[string]string {
	set := make(map[string]string, len(configs))
	for k, v := range configs {
		if v != nil {
			set[k] = *v
		}
	}
	return set
}

// SetTopicConfigs replaces every config set on a topic with configs (nil
// values mean the default, as in Kafka's AlterConfigs: a key left out goes
// back to the broker's default). The new set is validated first (errors
// wrap kerr.InvalidConfig and name the key), then written to the
// topic.json of every partition dir (each atomically: temp file, fsync,
// rename, fsync of the dir, with a config version one above the old one,
// so that after a crash half way the newest copy wins), then applied to
// the live partitions: the next append sees the new max.message.bytes,
// message.timestamp.type, segment.bytes, segment.ms, index.interval.bytes
// and flush.messages; the next Run tick the new retention and flush.ms. A
// new segment.index.bytes applies to segments created from now on.
//
// Errors wrap kerr.UnknownTopicOrPartition for a missing topic and
// kerr.KafkaStorageError when a file could not be written (the copies
// already written are put back to the old configs and the live configs
// stay as they were; a copy that cannot be put back is part of the error).
func (s *Store) SetTopicConfigs(name string, configs map[string]*string) error {
	set := setConfigs(configs)
	tc, err := resolveTopicConfig(s.cfg, set)
	if err != nil {
		return fmt.Errorf("setting configs of topic %s: %w", name, err)
	}
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	s.mu.RLock()
	t, ok := s.topics[name]
	closed := s.closed
	var old topicState
	if ok {
		old = topicState{name: t.name, id: t.id, partitions: t.partitions, configs: t.configs, configVersion: t.configVersion}
	}
	s.mu.RUnlock()
	switch {
	case closed:
		return fmt.Errorf("setting configs of topic %s: %w: %w", name, ErrClosed, kerr.KafkaStorageError)
	case !ok:
		return fmt.Errorf("setting configs of topic %s: %w", name, kerr.UnknownTopicOrPartition)
	}
	next := old
	next.configs, next.configVersion = set, old.configVersion+1
	for i, p := range t.parts {
		if err := writeTopicMeta(p.dir, &next); err != nil {
			// Put the old configs back, above the new version, where
			// the new ones were written.
			back := old
			back.configVersion = next.configVersion + 1
			var rerrs []error
			for _, q := range t.parts[:i+1] {
				if rerr := writeTopicMeta(q.dir, &back); rerr != nil {
					s.log.Error("restoring topic configs after a failed write", "partition", q.String(), "err", rerr)
					rerrs = append(rerrs, rerr)
				}
			}
			if rerr := errors.Join(rerrs...); rerr != nil {
				// The newest copy on disk may now hold the new configs
				// while the live ones stay old: say so.
				err = errors.Join(err, fmt.Errorf("rolling back (the next start may load the new configs): %w", rerr))
			}
			s.mu.Lock()
			if s.topics[name] == t {
				t.configVersion = back.configVersion
			}
			s.mu.Unlock()
			return fmt.Errorf("setting configs of topic %s: %w: %w", name, err, kerr.KafkaStorageError)
		}
	}
	s.mu.Lock()
	if s.topics[name] == t {
		t.configs, t.configVersion, t.cfg = set, next.configVersion, &tc
		for _, p := range t.parts {
			p.cfg.Store(&tc)
		}
	}
	s.mu.Unlock()
	s.log.Info("set topic configs", "topic", name, "configs", set, "config_version", next.configVersion)
	return nil
}
