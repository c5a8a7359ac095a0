package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/fsutil"
	"github.com/brokerlab/brokerlab/procsample"
)

// NewRunDir creates out/<UTC timestamp><suffix>, the directory of one run's
// results.
func NewRunDir(out, suffix string) (string, error) {
	dir := filepath.Join(out, time.Now().UTC().Format("20060102T150405Z")+suffix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating run dir: %w", err)
	}
	return dir, nil
}

// SaveRun writes dir/name holding the command line, the environment and the
// report, so every result file says how to reproduce it and where it was
// measured. workDir is where the experiment's broker wrote its log.
func SaveRun(dir, name, workDir string, report any) error {
	return WriteJSON(filepath.Join(dir, name), struct {
		Command     string                 `json:"command"`
		Environment procsample.Environment `json:"environment"`
		Report      any                    `json:"report"`
	}{strings.Join(os.Args, " "), Environment(workDir), report})
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeMarkdown creates dir/name and hands it to write.
func writeMarkdown(dir, name string, write func(f *os.File) error) error {
	return fsutil.WriteFileWith(filepath.Join(dir, name), write)
}

// Environment reads what a result depends on (procsample.Environment);
// dir, when set, is the directory whose disk and filesystem it records.
func Environment(dir string) procsample.Environment {
	env, _ := procsample.ReadEnvironment(procsample.EnvConfig{Dir: dir}) // what is unreadable stays empty
	return env
}
