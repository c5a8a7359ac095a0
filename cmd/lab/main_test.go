package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// TestEveryCommandHelpExitsZero runs each subcommand with -h: each must
// answer with the shared header and an error main maps to exit status 0,
// and a bad flag with exit status 2.
func TestEveryCommandHelpExitsZero(t *testing.T) {
	stderr := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = w
	t.Cleanup(func() { os.Stderr = stderr })
	var out bytes.Buffer
	read := make(chan error)
	go func() { _, err := out.ReadFrom(r); read <- err }()
	for name, c := range commands {
		err := c.run(context.Background(), slog.New(slog.DiscardHandler), []string{"-h"})
		if code := exitCode(err); code != 0 {
			t.Errorf("lab %s -h: %v (exit status %d), want the help error (0)", name, err, code)
		}
		err = c.run(context.Background(), slog.New(slog.DiscardHandler), []string{"-no-such-flag"})
		if code := exitCode(err); code != 2 {
			t.Errorf("lab %s -no-such-flag: %v (exit status %d), want 2", name, err, code)
		}
	}
	w.Close()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	for name := range commands {
		if !strings.Contains(out.String(), "usage: lab "+name+" [flags]") {
			t.Errorf("no shared usage header for lab %s in:\n%s", name, out.String())
		}
	}
}
