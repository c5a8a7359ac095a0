package report

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Powercut is what lab powercut found beside the run (make tune and make
// bench-flush run it into the same result dir): acknowledged records lost
// per power cut, by flush policy, on the FUSE power-cut filesystem for each
// of its semantics and, where it ran, on ext4 over a loop device. The
// guide's flush section shows it beside the policies' latency, so that ops
// choose with both prices in view.
type Powercut struct {
	// File is the powercut.json, relative to the result dir.
	File string
	// Kernel and Commit are the run's, as it recorded them ("" if not).
	Kernel, Commit string
	// Semantics are the FUSE filesystem's semantics the run cut under, in
	// its order ("data", "data+metadata").
	Semantics []string
	// SegmentBytes is the trials' log.segment.bytes, and MinRun..MaxRun
	// how long after the producers started the cuts came (0 if not
	// recorded).
	SegmentBytes   int64
	MinRun, MaxRun time.Duration
	// Policies are the flush policies in the run's order.
	Policies []PowercutPolicy
}

// PowercutPolicy is one flush policy's losses.
type PowercutPolicy struct {
	// Name is the policy's name in lab powercut ("fsync-on-ack").
	Name string
	// Broker are the server.properties lines the policy set.
	Broker map[string]string
	// Model is the FUSE filesystem's count by semantics.
	Model map[string]Losses
	// Loop is ext4 over a loop device; nil when the run made no loop
	// trials.
	Loop *Losses
}

// Losses sums the cuts of one policy under one kind of cut.
type Losses struct {
	// Cuts counts the power cuts; Checked those after which the broker
	// started and its log was read back in full. Lost figures are over
	// Checked.
	Cuts, Checked int
	// Losing counts the checked cuts that lost an acknowledged record.
	Losing int
	// Median and Max are acknowledged records lost per checked cut.
	Median, Max int64
	// Corrupt counts cuts after which a fetch served a batch that failed
	// the client's checks; NotStarted those after which the broker did not
	// start. Both must be 0.
	Corrupt, NotStarted int
}

// powercutFile is the part of lab powercut's powercut.json (and of
// loop.json beside it) the guide reads.
type powercutFile struct {
	Environment struct {
		Kernel string `json:"kernel"`
		Build  struct {
			Commit string `json:"commit"`
		} `json:"build"`
	} `json:"environment"`
	Report struct {
		Trials       []powercutTrial `json:"trials"`
		Semantics    []string        `json:"semantics"`
		SegmentBytes int64           `json:"segment_bytes"`
		MinRun       time.Duration   `json:"min_run_ns"`
		MaxRun       time.Duration   `json:"max_run_ns"`
		Policies     []struct {
			Name  string   `json:"name"`
			Props []string `json:"props"`
		} `json:"policies"`
	} `json:"report"`
}

type loopFile struct {
	Report []powercutTrial `json:"report"`
}

// powercutTrial is one cut in powercut.json or loop.json.
type powercutTrial struct {
	Policy     string `json:"policy"`
	Semantics  string `json:"semantics"`
	Lost       int64  `json:"lost"`
	Corrupt    int    `json:"corrupt_served"`
	Started    bool   `json:"started"`
	CheckError string `json:"check_error"`
}

// ReadPowercut reads the newest dir/*-powercut/powercut.json and the
// loop.json beside it, if any; nil, nil when there is none.
func ReadPowercut(dir string) (*Powercut, error) {
	path, err := newestBeside(dir, "*-powercut", "powercut.json")
	if err != nil || path == "" {
		return nil, err
	}
	var f powercutFile
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	if len(f.Report.Policies) == 0 {
		return nil, fmt.Errorf("%s: no flush policies", path)
	}
	p := &Powercut{File: relTo(dir, path), Kernel: f.Environment.Kernel, Semantics: f.Report.Semantics,
		SegmentBytes: f.Report.SegmentBytes, MinRun: f.Report.MinRun, MaxRun: f.Report.MaxRun}
	if c := f.Environment.Build.Commit; c != "" {
		p.Commit = c[:min(len(c), 7)]
	}
	var loop []powercutTrial
	var lf loopFile
	switch err := readJSON(filepath.Join(filepath.Dir(path), "loop.json"), &lf); {
	case err == nil:
		loop = lf.Report
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	for _, pol := range f.Report.Policies {
		pp := PowercutPolicy{Name: pol.Name, Broker: map[string]string{}, Model: map[string]Losses{}}
		for _, kv := range pol.Props {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%s: policy %s: setting %q is not key=value", path, pol.Name, kv)
			}
			pp.Broker[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		for _, sem := range p.Semantics {
			pp.Model[sem] = lossesOf(f.Report.Trials, func(t powercutTrial) bool { return t.Policy == pol.Name && t.Semantics == sem })
		}
		if l := lossesOf(loop, func(t powercutTrial) bool { return t.Policy == pol.Name }); l.Cuts > 0 {
			pp.Loop = &l
		}
		p.Policies = append(p.Policies, pp)
	}
	return p, nil
}

// lossesOf sums the trials that match.
func lossesOf(trials []powercutTrial, match func(powercutTrial) bool) Losses {
	var l Losses
	var lost []int64
	for _, t := range trials {
		if !match(t) {
			continue
		}
		l.Cuts++
		if t.Corrupt > 0 {
			l.Corrupt++
		}
		switch {
		case !t.Started:
			l.NotStarted++
		case t.CheckError == "":
			l.Checked++
			lost = append(lost, t.Lost)
			if t.Lost > 0 {
				l.Losing++
			}
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		l.Median, l.Max = lost[(len(lost)-1)/2], lost[len(lost)-1]
	}
	return l
}

// flushKeys are the broker settings a flush policy is made of, with the
// values that mean "off" (the broker's defaults).
var flushKeys = map[string][]string{
	"log.flush.sync.on.ack":       {"false"},
	"log.flush.interval.messages": {"0", "9223372036854775807"},
	"log.flush.interval.ms":       {"0", "9223372036854775807"},
}

// flushOf is the flush policy that broker settings make: the flush keys
// set to something other than off, as "key=value" lines in order.
func flushOf(broker map[string]string) string {
	var on []string
	for k, off := range flushKeys {
		if v, ok := broker[k]; ok && !slices.Contains(off, strings.TrimSpace(v)) {
			on = append(on, k+"="+strings.TrimSpace(v))
		}
	}
	slices.Sort(on)
	return strings.Join(on, ",")
}

// policyFor is the policy of p that the broker settings make; nil when p
// has none (or when the settings set no flush key the plan varies).
func (p *Powercut) policyFor(broker map[string]string) *PowercutPolicy {
	want := flushOf(broker)
	for i := range p.Policies {
		if flushOf(p.Policies[i].Broker) == want {
			return &p.Policies[i]
		}
	}
	return nil
}
