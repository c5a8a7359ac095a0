package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/report"
)

// RunPrefixes are the result dirs lab check takes its advice from by
// default: the runs of make tune and make ab-fs.
var RunPrefixes = []string{"tune-", "ab-fs-"}

// NewestRun returns the newest result dir under results whose name starts
// with one of RunPrefixes and that has a plan.yaml, by the timestamp after
// the prefix; "" when there is none.
func NewestRun(results string) (string, error) {
	ents, err := os.ReadDir(results)
	if err != nil {
		return "", err
	}
	best, bestStamp := "", ""
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		for _, p := range RunPrefixes {
			stamp, ok := strings.CutPrefix(e.Name(), p)
			if !ok {
				continue
			}
			if _, err := os.Stat(filepath.Join(results, e.Name(), "plan.yaml")); err != nil {
				continue
			}
			if stamp > bestStamp {
				best, bestStamp = filepath.Join(results, e.Name()), stamp
			}
		}
	}
	return best, nil
}

// FromRun reads a lab run (a result dir of lab sweep or lab ab): its
// Apply files as advice (FromApply) and, from its run files and what lies
// beside them, the verdict of its guide's seed table on each setting the
// advice is about. h is the host the run was made on.
func FromRun(dir string, h report.Host) ([]Advice, []RunVerdict, error) {
	adv, err := FromApply(dir)
	if err != nil {
		return nil, nil, err
	}
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		return nil, nil, err
	}
	a, err := report.AnalyzeDir(dir, plan, h)
	if err != nil {
		return nil, nil, err
	}
	seed, err := report.SeedVerdicts(a)
	if err != nil {
		return nil, nil, err
	}
	name := filepath.Base(filepath.Clean(dir))
	var out []RunVerdict
	seen := map[string]bool{}
	for _, s := range seed {
		for _, setting := range s.Settings {
			if seen[setting] {
				return nil, nil, fmt.Errorf("run %s: two pieces of advice about %s", dir, setting)
			}
			seen[setting] = true
			out = append(out, RunVerdict{Setting: setting, Run: name, Verdict: s.Verdict, Evidence: s.Evidence})
		}
	}
	if len(out) == 0 {
		return nil, nil, errors.New("run " + dir + ": its guide has no verdict on any setting lab check reads")
	}
	return adv, out, nil
}
