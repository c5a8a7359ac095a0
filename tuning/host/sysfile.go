package host

import (
	"fmt"
	"os"
	"strings"
)

// readValue reads a /proc or /sys file and trims the trailing newline.
func readValue(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// writeValue writes value to an existing /proc or /sys file in one write,
// as the kernel expects, without creating it (O_TRUNC is what a shell redirect does; sysfs and procfs ignore it).
func writeValue(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}
	return nil
}

// sameValue compares sysctl-style values ignoring whitespace differences
// ("4096\t131072" equals "4096 131072").
func sameValue(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}
