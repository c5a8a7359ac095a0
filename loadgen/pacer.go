package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// schedule is the intended send schedule shared by all producers: message
// slot i is due at base + (i-baseSlot)/rate. Producers take the next slot from
// one atomic counter and sleep until it is due, so the aggregate rate is held
// however the work is spread over goroutines, and a producer that falls behind
// sends at once: the lag shows up as publish delay (actual - intended send
// time) instead of silently lowering the rate (coordinated omission). The
// rate can change (the max-rate search does): a change starts a new segment
// at the next untaken slot, due no earlier than now, so debt from an
// overloaded step is not carried into the next one.
//
// A schedule is safe for concurrent use.
type schedule struct {
	start time.Time // the run's monotonic origin
	next  atomic.Int64
	mu    sync.Mutex // serialises setRate
	seg   atomic.Pointer[segment]
}

// segment is one constant-rate stretch of the schedule.
type segment struct {
	firstSlot int64
	baseNs    int64   // intended time of firstSlot, ns since start
	nsPerMsg  float64 // 0: unpaced (every slot is due when taken)
	prev      *segment
}

func newSchedule(start time.Time, rate float64, at time.Duration) *schedule {
	s := &schedule{start: start}
	s.seg.Store(&segment{baseNs: int64(at), nsPerMsg: nsPer(rate)})
	return s
}

func nsPer(rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return 1e9 / rate
}

// take claims the next slot and returns its intended send time in ns since
// start. For an unpaced schedule the intended time is now.
func (s *schedule) take() (slot int64, dueNs int64) {
	slot = s.next.Add(1) - 1
	seg := s.seg.Load()
	for seg.prev != nil && slot < seg.firstSlot {
		seg = seg.prev
	}
	if seg.nsPerMsg == 0 {
		return slot, int64(time.Since(s.start))
	}
	return slot, seg.baseNs + int64(float64(slot-seg.firstSlot)*seg.nsPerMsg)
}

// setRate switches to rate (0: unpaced) from the next untaken slot on.
func (s *schedule) setRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.seg.Load()
	first := s.next.Load()
	now := int64(time.Since(s.start))
	base := now
	if old.nsPerMsg > 0 {
		if due := old.baseNs + int64(float64(first-old.firstSlot)*old.nsPerMsg); due > now {
			base = due
		}
	}
	// Producers that already took a slot below first use old; keep two
	// segments of history, which covers every slot taken but not yet due.
	old = &segment{firstSlot: old.firstSlot, baseNs: old.baseNs, nsPerMsg: old.nsPerMsg, prev: trimPrev(old.prev)}
	s.seg.Store(&segment{firstSlot: first, baseNs: base, nsPerMsg: nsPer(rate), prev: old})
}

func trimPrev(p *segment) *segment {
	if p == nil {
		return nil
	}
	return &segment{firstSlot: p.firstSlot, baseNs: p.baseNs, nsPerMsg: p.nsPerMsg}
}

// lag is how far the schedule's next untaken slot is overdue: about zero
// while producers keep up (they sleep until slots come due), growing when
// they fall behind. Momentary stalls recover, so unlike a delay quantile it
// does not flag noise. Unpaced schedules have no lag.
func (s *schedule) lag() time.Duration {
	seg := s.seg.Load()
	if seg.nsPerMsg == 0 {
		return 0
	}
	next := s.next.Load()
	due := seg.baseNs + int64(float64(next-seg.firstSlot)*seg.nsPerMsg)
	if l := time.Duration(int64(time.Since(s.start)) - due); l > 0 {
		return l
	}
	return 0
}

// sleepUntil sleeps until dueNs (ns since start) or ctx ends; it returns
// ctx's error in the latter case. A slot already due returns at once.
func (s *schedule) sleepUntil(ctx context.Context, dueNs int64) error {
	d := time.Duration(dueNs) - time.Since(s.start)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
