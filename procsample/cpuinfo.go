package procsample

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadCPUModel reads the first "model name" of procRoot/cpuinfo.
func ReadCPUModel(procRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "cpuinfo"))
	if err != nil {
		return "", fmt.Errorf("reading cpuinfo: %w", err)
	}
	return ParseCPUModel(b), nil
}

// ParseCPUModel returns the first "model name" in the text of /proc/cpuinfo
// ("" on architectures that have none, such as many arm64 kernels).
func ParseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
