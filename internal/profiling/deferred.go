package profiling

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Deferred is a Window that starts later, when the load's measured phase
// does (loadgen.Options.OnMeasure, the tuning runner's measure hook): Start
// begins it, Wait ends it and returns what it saved.
type Deferred struct {
	start  func()
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	files  []File
	err    error
}

// Defer returns a Window of kinds over measure from the broker's pprof at
// base into runDir, to be started by Start. Its goroutine ends with ctx,
// with Wait(true), or when the window is taken.
func Defer(ctx context.Context, base, runDir, name string, kinds []Kind, measure time.Duration) *Deferred {
	pctx, cancel := context.WithCancel(ctx)
	d := &Deferred{cancel: cancel, done: make(chan struct{})}
	d.start = func() {
		go func() {
			defer close(d.done)
			d.files, d.err = Window(pctx, base, runDir, name, kinds, measure)
		}()
	}
	return d
}

// Start begins the window; calls after the first do nothing. It does not
// block, so it can be an OnMeasure hook.
func (d *Deferred) Start() {
	d.once.Do(d.start)
}

// Wait returns the saved profiles (paths relative to the run directory);
// abort stops taking them first (the load failed, so the window they cover
// is not a measured one). A window never started is an error unless
// aborted. A nil Deferred has nothing to wait for.
func (d *Deferred) Wait(abort bool) ([]File, error) {
	if d == nil {
		return nil, nil
	}
	if abort {
		d.cancel()
	}
	started := true
	d.once.Do(func() { started = false }) // never started: nothing to wait for
	if started {
		<-d.done
	}
	d.cancel()
	if !started && !abort {
		return nil, errors.New("the load reported no measured window to profile")
	}
	return d.files, d.err
}
