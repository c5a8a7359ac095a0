package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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
// measured.
func SaveRun(dir, name string, report any) error {
	return WriteJSON(filepath.Join(dir, name), struct {
		Command     string            `json:"command"`
		Environment map[string]string `json:"environment"`
		Report      any               `json:"report"`
	}{strings.Join(os.Args, " "), environment(), report})
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
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// environment records what a result depends on: kernel, CPU, host.
func environment() map[string]string {
	env := map[string]string{}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				env["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		env["host"] = h
	}
	return env
}

// Environment is what a result depends on (kernel, CPU, host), as the run
// files record it.
func Environment() map[string]string { return environment() }
