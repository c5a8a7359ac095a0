package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/loadgen"
)

// loadProfiles is lab load's profile taking: started by the load's
// OnMeasure hook, waited for by runLoad.
type loadProfiles struct {
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	files  []profiling.File
	err    error
}

// startLoadProfiles sets o.OnMeasure to take the profiles kinds names from
// the broker's pprof at addr over the measured phase, into profiles/ beside
// out (the result file). It returns nil when kinds is empty.
func startLoadProfiles(ctx context.Context, o *loadgen.Options, kinds, addr, out string, w *loadgen.Workload) (*loadProfiles, error) {
	ks, err := profiling.ParseKinds(kinds)
	if err != nil || len(ks) == 0 {
		return nil, err
	}
	if addr == "" {
		return nil, errors.New("-profile needs -pprof host:port: the broker's metrics listener, started with brokerlab.metrics.pprof=true")
	}
	name := o.Label
	if name == "" {
		name = w.Name
	}
	pctx, cancel := context.WithCancel(ctx)
	lp := &loadProfiles{cancel: cancel, done: make(chan struct{})}
	o.OnMeasure = func() {
		lp.once.Do(func() {
			go func() {
				defer close(lp.done)
				lp.files, lp.err = profiling.Window(pctx, "http://"+addr, filepath.Dir(out), fileName(name), ks, w.TestDuration())
			}()
		})
	}
	return lp, nil
}

// fileName keeps letters, digits, '.', '_' and '-' of s; others become '_'.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, s)
}

// wait returns the saved files' paths relative to the result's directory;
// abort stops a window the run did not finish.
func (lp *loadProfiles) wait(logger *slog.Logger, abort bool) []string {
	if lp == nil {
		return nil
	}
	if abort {
		lp.cancel()
	}
	started := true
	lp.once.Do(func() { started = false })
	if started {
		<-lp.done
	}
	lp.cancel()
	if lp.err != nil {
		logger.Warn("saving profiles", "err", lp.err)
	}
	var paths []string
	for _, f := range lp.files {
		paths = append(paths, f.Path)
	}
	return paths
}
