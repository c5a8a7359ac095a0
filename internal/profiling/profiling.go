// Package profiling takes pprof profiles of a broker for each measured
// window of a lab run, through the broker's /debug/pprof endpoints on a
// loopback port the lab chose (brokerlab.metrics.listen with
// brokerlab.metrics.pprof=true), and saves them beside the run's results as
// profiles/<run>.<kind>.pprof.
package profiling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Kind is a profile kind.
type Kind string

// The kinds a run can save.
const (
	// CPU samples the broker's CPU over the measured window.
	CPU Kind = "cpu"
	// Heap is the heap at the end of the measured window (in-use and
	// allocated since start).
	Heap Kind = "heap"
	// Mutex is contention over the measured window; the broker samples
	// it only with brokerlab.metrics.pprof.mutex.fraction > 0, which the
	// lab sets when asked for this kind.
	Mutex Kind = "mutex"
	// Block is time blocked on channels, selects and locks over the
	// window (brokerlab.metrics.pprof.block.rate > 0).
	Block Kind = "block"
)

// Kinds returns every kind in order.
func Kinds() []Kind { return []Kind{CPU, Heap, Mutex, Block} }

// ParseKinds parses a -profile flag value: kinds separated by commas; ""
// is none.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	if s == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if !slices.Contains(Kinds(), k) {
			return nil, fmt.Errorf("-profile %q: unknown profile %q; want a comma-separated list of cpu, heap, mutex, block", s, f)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// File is one saved profile.
type File struct {
	Kind Kind `json:"kind"`
	// Path is relative to the run directory (profiles/c01-r2.cpu.pprof).
	Path string `json:"path"`
}

// Dir is where profiles go under a run directory.
const Dir = "profiles"

// Window takes the profiles of kinds for one measured window of the
// broker whose /debug/pprof is at base (http://127.0.0.1:PORT): it samples
// CPU, mutex and block over measure while the load runs, and reads the heap
// at the end. Call it as the measured window starts. Files are written to
// runDir/profiles/<name>.<kind>.pprof (characters of name other than
// letters, digits, '.', '_' and '-' become '_'); it returns those written,
// and an error naming every kind it could not take.
func Window(ctx context.Context, base, runDir, name string, kinds []Kind, measure time.Duration) ([]File, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	name = fileName(name)
	if err := os.MkdirAll(filepath.Join(runDir, Dir), 0o755); err != nil {
		return nil, fmt.Errorf("creating the profile directory: %w", err)
	}
	secs := strconv.Itoa(max(1, int(measure.Round(time.Second)/time.Second)))
	var (
		mu    sync.Mutex
		files []File
		errs  []error
		wg    sync.WaitGroup
	)
	take := func(k Kind, query string) {
		defer wg.Done()
		rel := filepath.Join(Dir, name+"."+string(k)+".pprof")
		err := fetch(ctx, base+"/debug/pprof/"+query, filepath.Join(runDir, rel))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s profile of %s: %w", k, name, err))
			return
		}
		files = append(files, File{Kind: k, Path: rel})
	}
	for _, k := range kinds {
		switch k {
		case CPU:
			wg.Add(1)
			go take(k, "profile?seconds="+secs)
		case Mutex, Block:
			// A delta over the window, not the totals since start.
			wg.Add(1)
			go take(k, string(k)+"?seconds="+secs)
		}
	}
	if slices.Contains(kinds, Heap) {
		// The heap as it is when the window ends.
		select {
		case <-ctx.Done():
		case <-time.After(measure):
		}
		wg.Add(1)
		take(Heap, "heap")
	}
	wg.Wait()
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, errors.Join(errs...)
}

// fetch saves the answer to url in path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s (is brokerlab.metrics.pprof=true?)", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return fsutil.WriteFileWith(path, func(f *os.File) error {
		if _, err := io.Copy(f, resp.Body); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
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
