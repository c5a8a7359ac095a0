package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/procsample"
)

// schedulerPath returns the queue/scheduler file of dev's whole disk.
func (s *Session) schedulerPath(dev string) (string, error) {
	d, err := resolveBlock(s.cfg.SysRoot, dev)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.disk, "queue", "scheduler"), nil
}

// parseScheduler returns the active scheduler ("[mq-deadline]") and all
// offered ones from the text of queue/scheduler.
func parseScheduler(text string) (active string, offered []string) {
	return procsample.ParseBracketed(text)
}

// Scheduler returns dev's active I/O scheduler and the offered ones.
func (s *Session) Scheduler(dev string) (string, []string, error) {
	p, err := s.schedulerPath(dev)
	if err != nil {
		return "", nil, err
	}
	v, err := readValue(p)
	if err != nil {
		return "", nil, err
	}
	a, o := parseScheduler(v)
	return a, o, nil
}

// SetScheduler journals and sets dev's I/O scheduler ("none",
// "mq-deadline", "kyber", "bfq").
func (s *Session) SetScheduler(dev, scheduler string) error {
	p, err := s.schedulerPath(dev)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := readValue(p)
	if err != nil {
		return err
	}
	active, offered := parseScheduler(v)
	if active == scheduler {
		return nil
	}
	found := false
	for _, o := range offered {
		found = found || o == scheduler
	}
	if !found {
		return fmt.Errorf("setting I/O scheduler of %s to %q: not offered; %s offers %s", dev, scheduler, p, strings.Join(offered, ", "))
	}
	if _, err := s.record(Entry{Kind: KindScheduler, Target: p, Old: active, New: scheduler,
		Attrs: map[string]string{"device": dev},
		Undo:  fmt.Sprintf("write %q to %s", active, p)}); err != nil {
		return err
	}
	return writeValue(p, scheduler)
}

func undoScheduler(e Entry) (string, string, error) {
	v, err := readValue(e.Target)
	if os.IsNotExist(unwrapPathErr(err)) {
		return "skipped", e.Target + " no longer exists (the device is gone)", nil
	}
	if err != nil {
		return "", "", err
	}
	if active, _ := parseScheduler(v); active == e.Old {
		return "skipped", "scheduler is " + e.Old + " already", nil
	}
	if err := writeValue(e.Target, e.Old); err != nil {
		return "", "", err
	}
	return "undone", "wrote " + e.Old, nil
}
