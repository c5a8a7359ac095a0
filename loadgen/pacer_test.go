package loadgen

import (
	"testing"
	"time"
)

// TestScheduleDueTimes checks the schedule's arithmetic, which needs no
// clock: slot i of a segment is due at base + i/rate, a rate change starts
// at the next untaken slot no earlier than the old schedule had it due,
// and slots taken before the change keep their old due times.
func TestScheduleDueTimes(t *testing.T) {
	start := time.Now()
	s := newSchedule(start, 1, time.Second) // 1 msg/s from 1 s on
	for i := range int64(10) {
		slot, due := s.take()
		if slot != i || due != int64(time.Second)+i*int64(time.Second) {
			t.Fatalf("take %d: slot %d due %v, want slot %d due %v", i, slot, time.Duration(due), i, time.Second*time.Duration(1+i))
		}
	}
	// Slot 10 was due at 11 s, far ahead of now: the new rate starts there.
	s.setRate(1000)
	slot, due := s.take()
	if slot != 10 || due != int64(11*time.Second) {
		t.Errorf("first slot after the change: slot %d due %v, want 10 at 11s", slot, time.Duration(due))
	}
	if slot, due = s.take(); slot != 11 || due != int64(11*time.Second+time.Millisecond) {
		t.Errorf("second slot after the change: slot %d due %v, want 11 at 11.001s", slot, time.Duration(due))
	}
	// The schedule is ahead of the clock: no lag.
	if l := s.lag(); l != 0 {
		t.Errorf("lag %v while the schedule is ahead of the clock, want 0", l)
	}

	// A schedule whose slots are long overdue restarts at now, so the debt
	// of an overloaded step is not carried into the next.
	past := newSchedule(time.Now().Add(-time.Hour), 10, 0)
	past.take()
	if l := past.lag(); l < 59*time.Minute {
		t.Errorf("lag %v of a schedule an hour behind, want about an hour", l)
	}
	past.setRate(10)
	if _, due := past.take(); time.Duration(due) < time.Hour {
		t.Errorf("after a rate change an hour late, the next slot is due at %v, want no earlier than now (1h)", time.Duration(due))
	}

	// Unpaced: every slot is due when taken.
	u := newSchedule(start, 0, 0)
	before := int64(time.Since(start))
	if _, due := u.take(); due < before {
		t.Errorf("unpaced slot due at %v, before it was taken (%v)", time.Duration(due), time.Duration(before))
	}
	if l := u.lag(); l != 0 {
		t.Errorf("unpaced lag %v, want 0", l)
	}
}
