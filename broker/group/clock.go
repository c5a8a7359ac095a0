package group

import "time"

// Clock is the coordinator's view of time: the current time and one-shot
// timers. Tests inject a manual clock so session and rebalance timeouts fire
// when the test says, not after real waits.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, like time.AfterFunc.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer created by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing and reports whether it did so.
	Stop() bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
